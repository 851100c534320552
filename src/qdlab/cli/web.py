"""CLI commands for `qdlab web` (not implemented yet: nothing is registered)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app (none yet)."""
