"""Helpers shared by every CLI module: the ``--json`` option, output, and file checks.

Conventions
-----------
* Every command takes ``--json`` and then prints exactly one JSON object on stdout.
* Without ``--json`` results are drawn with rich (tables) on stdout; progress goes to stderr.
* Problems the user can fix raise :class:`~qdlab.data.errors.QdlabError`; :func:`qdlab.cli.main.main`
  turns them into one line on stderr and exit code 2.
* Heavy imports (pymatgen, scikit-image, SQLAlchemy...) happen inside command functions so that
  ``qdlab --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.console import out_console
from qdlab.data.errors import InputError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
def _plot_style(path: Path | None) -> Path | None:
    """``--plot`` callback: figures drawn by the command use the report's figure style (qdlab.report.style)."""
    if path is not None:
        from qdlab.report.style import use_style

        use_style()
    return path


PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a figure to this PNG file.", dir_okay=False,
                                              callback=_plot_style)]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: QDLAB_DATABASE_URL or an SQLite file in the user data dir).",
        envvar="QDLAB_DATABASE_URL",
    ),
]
_SCHEDULER_HELP = "Where the work runs: 'local' (processes), 'threads', 'serial' or a Dask scheduler address (tcp://host:port)"
#: --scheduler of commands whose parallel items are big (files, sweep points): local processes by default
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help=f"{_SCHEDULER_HELP}; default: local processes."),
]
#: --scheduler of commands that run many short twin runs (calibration, planning): threads by default (the
#: twin's kernel releases the GIL; a process pool would cost more to start than the runs take)
ThreadsSchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help=f"{_SCHEDULER_HELP}; default: threads of this process."),
]


def dumps(obj: Any) -> str:
    """Strict JSON (NaN -> null) of results, dataclasses and numpy values (:func:`qdlab.data.types.dumps_json`)."""
    from qdlab.data.types import dumps_json  # numpy: loaded by the commands that print, not by --help

    return dumps_json(obj)


def emit(result: Any, json_out: bool, render: Callable[[Mapping[str, Any]], None] | None = None) -> None:
    """Print ``result`` as one JSON object (``--json``) or through ``render`` (rich)."""
    from qdlab.data.types import to_jsonable

    data = to_jsonable(result)
    if json_out or render is None:
        print(dumps(data))
        return
    render(data)


def key_value_table(title: str, data: Mapping[str, Any], keys: list[tuple[str, str]] | None = None) -> None:
    """Render selected ``(key, label)`` pairs of ``data`` as a two-column rich table."""
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, label in keys or [(k, k) for k in data]:
        if key not in data:
            continue
        v = data[key]
        if isinstance(v, float):
            v = f"{v:.6g}"
        table.add_row(label, str(v))
    out_console().print(table)


def existing_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is an existing regular file, else raise :class:`InputError` naming it."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found: {p}")
    if p.is_dir():
        raise InputError(f"expected a {what}, got a directory: {p}")
    return p


def parse_param_assignments(values: list[str], what: str = "--param") -> dict[str, str]:
    """Parse ``NAME=VALUE`` strings into a dict, with a clear error for malformed ones."""
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise InputError(f"expected NAME=VALUE, got {v!r}", field=what)
        k, _, val = v.partition("=")
        out[k.strip()] = val.strip()
    return out


__all__ = [
    "JsonOpt",
    "PlotOpt",
    "DbOpt",
    "SchedulerOpt",
    "ThreadsSchedulerOpt",
    "dumps",
    "emit",
    "key_value_table",
    "existing_file",
    "parse_param_assignments",
]
