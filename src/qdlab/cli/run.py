"""``qdlab run DIR`` (the main job: raw files -> record -> report) and ``qdlab init DIR`` (manifest template)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import DbOpt, JsonOpt, SchedulerOpt, emit


def run_cmd(
    folder: Annotated[Path, typer.Argument(help="Experiment folder with experiment.toml.")],
    db: DbOpt = None,
    scheduler: SchedulerOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where report/ goes (default: the experiment folder).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the manifest and files, list the analyses; store nothing.")] = False,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="Store and report even if some files are refused; the report lists each with its reason.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Ingest an experiment folder, analyse every file, calibrate the twin, store the record, write the report."""
    from qdlab.workflow import run_experiment

    result = run_experiment(folder, db=db, scheduler=scheduler, out=out, dry_run=dry_run, keep_going=keep_going)
    if dry_run:
        def render_plan(d: dict[str, Any]) -> None:
            from rich.table import Table

            from qdlab.console import out_console

            t = Table(title=f"{d['experiment']['id']}: planned analyses (dry run, nothing stored)", title_justify="left")
            for col in ("kind", "file", "aliquot", "role", "analysed by"):
                t.add_column(col)
            for a in d["analyses"]:
                t.add_row(a["kind"], a["source_name"], a["aliquot"] or "", a["role"] or "", a["domain"])
            out_console().print(t)
            print(f"{len(d['files'])} files ok; twin scenario: {d['twin_scenario'] or '(none)'}")

        emit(result.to_dict(), json_out, render_plan)
        return

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.cli.common import key_value_table
        from qdlab.console import out_console

        con = out_console()
        t = Table(title=f"{d['experiment']['id']}: aliquot series", title_justify="left")
        for col in ("aliquot", "time (min)", "PL peak (nm)", "FWHM (meV)", "PLQY (%)"):
            t.add_column(col, justify="right")
        for r in d["aliquots"]:
            t.add_row(str(r["aliquot"]), *(("—" if r.get(k) is None else f"{r[k]:.4g}")
                                           for k in ("time_min", "pl_peak_nm", "fwhm_mev", "qy_percent")))
        con.print(t)
        for msg in d.get("warnings", []):
            con.print(f"[yellow]warning:[/] {msg}")
        for msg in d.get("refused", []):
            con.print(f"[red]refused:[/] {msg}")
        key_value_table("record", {**d["record"], **d["counts"]})
        con.print(f"report: [bold]{d['report']['html']}[/]")

    emit(result.to_dict(), json_out, render)


def init_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder to create the manifest in (created if needed).")],
    experiment_id: Annotated[str | None, typer.Option("--id", help="Experiment id (default: the folder name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing experiment.toml.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a commented experiment.toml template into FOLDER."""
    from qdlab.workflow.manifest import write_template

    path = write_template(folder, experiment_id, overwrite=force)
    emit({"manifest": str(path)}, json_out, lambda d: print(f"wrote {d['manifest']}; edit it, then: qdlab run {folder}"))


def register(app: typer.Typer) -> None:
    """Attach ``run`` and ``init`` to the root app."""
    app.command("run")(run_cmd)
    app.command("init")(init_cmd)
