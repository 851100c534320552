"""``qdlab db``: the experiment record (SQLite by default, PostgreSQL via --db): list, show, tag, export, import, upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import DbOpt, JsonOpt, emit
from qdlab.data.errors import InputError

db_app = typer.Typer(help="The experiment record: list, show, tag, export, import, upgrade.", no_args_is_help=True)


@db_app.command("list")
def list_cmd(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """List the experiments in the record."""
    from qdlab.store import Store

    with Store(db) as store:
        data = {"database": store.display_url, "experiments": store.list_experiments()}

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"experiments in {d['database']}", title_justify="left")
        for col in ("id", "key", "material", "aliquots", "measurements", "updated (UTC)", "title", "tags"):
            t.add_column(col)
        for e in d["experiments"]:
            t.add_row(str(e["id"]), e["key"], e["material"], str(e["n_aliquots"]), str(e["n_measurements"]),
                      e["updated_at"], e["title"] + (" [synthetic]" if e["synthetic"] else ""),
                      ", ".join(e.get("tags") or []))
        out_console().print(t)

    emit(data, json_out, render)


@db_app.command("show")
def show_cmd(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Experiment id (number) or key.")],
    version: Annotated[int | None, typer.Option("--version", help="An earlier version (1 = first stored); default: the current one.")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show everything stored about one experiment (or an earlier version of it, and what changed since)."""
    from qdlab.store import Store

    with Store(db) as store:
        data = store.experiment_dict(ident, version=version)

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.cli.common import key_value_table
        from qdlab.console import out_console

        cur = d.get("current_version")
        label = f"version {d['version']}" + (f" of {cur} (earlier version)" if cur else "")
        key_value_table(f"experiment {d['id']}: {d['key']}, {label}", d,
                        [("title", "title"), ("material", "material"), ("seed_batch", "seed batch"),
                         ("folder", "folder"), ("qdlab_version", "qdlab"), ("updated_at", "updated (UTC)")])
        t = Table(title="measurements", title_justify="left")
        for col in ("kind", "file", "aliquot", "role", "bytes", "sha256"):
            t.add_column(col)
        for m in d["measurements"]:
            t.add_row(m["kind"], m["source_name"], m["aliquot"] or "", m["role"] or "", str(m["size_bytes"]),
                      m["sha256"][:12])
        out_console().print(t)
        t = Table(title="analyses", title_justify="left")
        for col in ("analysis", "file", "status"):
            t.add_column(col)
        for r in d["results"]:
            t.add_row(r["analysis"], r["source_name"] or "(series)", r["status"])
        out_console().print(t)
        if d.get("history"):
            t = Table(title="history (what changed in the next version)", title_justify="left")
            for col in ("version", "saved (UTC)", "qdlab", "changes"):
                t.add_column(col)
            for h in d["history"]:
                t.add_row(str(h["version"]), h["saved_at"], h["qdlab_version"], _describe(h["changes"]))
            out_console().print(t)

    emit(data, json_out, render)


def _describe(changes: dict[str, Any]) -> str:
    """One line per kind of change (files, manifest, qdlab, aliquot results, calibration)."""
    parts = []
    files = changes.get("files") or {}
    for what in ("changed", "added", "removed"):
        if files.get(what):
            parts.append(f"files {what}: {', '.join(files[what])}")
    if changes.get("manifest"):
        parts.append("manifest edited")
    if changes.get("qdlab_version"):
        parts.append(f"qdlab {changes['qdlab_version'][0]} -> {changes['qdlab_version'][1]}")
    for label, fields in (changes.get("aliquots") or {}).items():
        parts.append(f"{label}: " + ", ".join(f"{f} {a} -> {b}" for f, (a, b) in fields.items()))
    if changes.get("calibration"):
        parts.append("calibration: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes["calibration"].items()))
    if changes.get("analyses"):
        parts.append(f"{len(changes['analyses'])} analyses changed status")
    return "\n".join(parts) or "re-stored (same content)"


@db_app.command("export")
def export_cmd(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Experiment id (number) or key.")],
    fmt: Annotated[str, typer.Option("--format", help="eln (RO-Crate zip for eLabFTW & co.) or json.")] = "eln",
    out: Annotated[Path | None, typer.Option("--out", help="Output file (default: <key>.eln / <key>.json).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export one experiment as an .eln archive or a JSON document."""
    from qdlab.store import Store
    from qdlab.store.export import export_eln, export_json

    if fmt not in ("eln", "json"):
        raise InputError(f"expected eln or json, got {fmt!r}", field="--format")
    with Store(db) as store:
        key = store.experiment_dict(ident)["key"]
        target = out or Path(f"{key}.{fmt}")
        path = export_eln(store, ident, target) if fmt == "eln" else export_json(store, ident, target)
    data = {"experiment": key, "format": fmt, "path": str(path), "size_bytes": path.stat().st_size}
    emit(data, json_out, lambda d: print(f"wrote {d['path']} ({d['size_bytes']} bytes)"))


@db_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An .eln archive written by qdlab db export.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore an experiment from an .eln archive (every file checked against its sha256)."""
    from qdlab.store import Store
    from qdlab.store.export import import_eln

    with Store(db) as store:
        saved = import_eln(store, file)
        key = store.experiment_dict(saved.experiment_id)["key"]
        data = {"experiment": key, "experiment_id": saved.experiment_id, "action": saved.action,
                "database": store.display_url, "file": str(file)}
    emit(data, json_out, lambda d: print(f"{d['experiment']}: {d['action']} (id {d['experiment_id']}) from {d['file']}"))


@db_app.command("tag")
def tag_cmd(
    ident: Annotated[str, typer.Argument(metavar="EXPERIMENT", help="Experiment id (number) or key.")],
    add: Annotated[list[str] | None, typer.Option("--add", help="Tag to add (repeat, or separate by commas): "
                                                   "1-32 letters, digits, - or _.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Tag to remove (repeat, or separate by commas).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add or remove an experiment's free-text tags (at most 20); without --add/--remove, show them."""
    from qdlab.store import Store
    from qdlab.store.query import split_tags

    plus, minus = split_tags(add or (), "--add"), split_tags(remove or (), "--remove")
    with Store(db) as store:
        out = store.set_tags(ident, add=plus, remove=minus)
        data = {"experiment": out["key"], "experiment_id": out["id"], "tags": out["tags"], "added": out["added"],
                "removed": out["removed"], "not_tagged": out["unknown"], "database": store.display_url}

    def render(d: dict[str, Any]) -> None:
        done = [f"added {', '.join(d['added'])}"] if d["added"] else []
        done += [f"removed {', '.join(d['removed'])}"] if d["removed"] else []
        done += [f"had no tag {', '.join(d['not_tagged'])}"] if d["not_tagged"] else []
        tags = ", ".join(d["tags"]) or "(no tags)"
        print(f"{d['experiment']}: {'; '.join(done) + ': ' if done else ''}tags {tags}")

    emit(data, json_out, render)


@db_app.command("upgrade")
def upgrade_cmd(
    db: DbOpt = None,
    no_backup: Annotated[bool, typer.Option("--no-backup", help="Do not copy an SQLite file before migrating.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Migrate the record to this qdlab's schema (SQLite files are backed up first)."""
    from qdlab.store import Store

    data = Store.upgrade(db, backup=not no_backup)

    def render(d: dict[str, Any]) -> None:
        if d["action"] == "current":
            print(f"{d['database']}: schema {d['to_revision']} is current, nothing to do")
            return
        was = "empty" if d["from_revision"] is None else f"schema {d['from_revision']}"
        extra = f" (backup: {d['backup']})" if d.get("backup") else ""
        print(f"{d['database']}: {was} -> schema {d['to_revision']}{extra}")

    emit(data, json_out, render)


def register(app: typer.Typer) -> None:
    """Attach the ``db`` sub-app to the root app."""
    app.add_typer(db_app, name="db")
