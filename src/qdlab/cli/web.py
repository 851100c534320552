"""``qdlab web``: serve the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from qdlab.cli.common import DbOpt


def web(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="QDLAB_WEB_TOKEN", help=(
        "Secret every request must carry (required when --host is not loopback); open the dashboard once "
        "with ?token=..."))] = None,
) -> None:
    """Serve the web dashboard: experiments (spectra, analyses, downloads), upload, plan, sizing, twin; API docs at /docs.

    Everything it loads is served by itself (no internet needed); see docs/web.md.
    """
    import uvicorn

    from qdlab.web import create_app
    from qdlab.web.security import check_bind

    check_bind(host, token)  # InputError -> exit 2 with one line: not served beyond loopback without a token
    print(f"qdlab dashboard on http://{host}:{port}/  (upload at /upload, API docs at /docs; Ctrl-C to stop)")
    uvicorn.run(create_app(db, token=token), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Attach ``qdlab web`` to the root app."""
    app.command("web")(web)
