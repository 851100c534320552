"""Command-line interface (typer + rich). Entry point: :func:`qdlab.cli.main.main`."""
