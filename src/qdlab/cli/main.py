"""The ``qdlab`` command. Each CLI module exposes ``register(app)``; :data:`MODULES` lists them.

:func:`main` runs the app and maps every user-fixable problem (bad option, unreadable file, invalid
value) to one line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

# typer >= 0.20 vendors click as ``typer._click``; older typer uses click itself.
try:
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as _cx

from qdlab import __version__
from qdlab.data.errors import QdlabError

#: CLI modules, in the order their commands appear in ``qdlab --help``.
MODULES = ("core", "recipe", "twin", "spectra", "ms", "tem", "xrd", "run", "db", "plan", "web")

app = typer.Typer(
    name="qdlab",
    help="qdlab: digital twin and analysis of Cd3P2 quantum-dot growth from magic-sized clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"qdlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """qdlab: digital twin and analysis of Cd3P2 quantum-dot growth from magic-sized clusters."""


for _name in MODULES:
    importlib.import_module(f"qdlab.cli.{_name}").register(app)


def _fail(message: str) -> int:
    msg = " ".join(str(message).split())
    print(f"qdlab: error: {msg}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns/exits with 0 on success, 2 on bad input."""
    try:
        rv = app(args=list(argv) if argv is not None else None, prog_name="qdlab", standalone_mode=False)
    except _cx.NoArgsIsHelpError as exc:
        print(exc.format_message() if hasattr(exc, "format_message") else "", file=sys.stderr)
        code = 0
    except _cx.UsageError as exc:
        hint = f" (see: qdlab {exc.ctx.command_path.partition(' ')[2]} --help)".replace("  ", " ") if exc.ctx else ""
        code = _fail(exc.format_message() + hint)
    except typer.Abort:
        print("qdlab: aborted", file=sys.stderr)
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except QdlabError as exc:
        code = _fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        code = _fail(f"{exc.strerror or exc}{where}")
    except _cx.ClickException as exc:
        code = _fail(exc.format_message())
    else:
        code = rv if isinstance(rv, int) else 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
