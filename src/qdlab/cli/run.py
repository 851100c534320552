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
        _print_next_recipe(d.get("next_recipe"))
        con.print(f"report: [bold]{d['report']['html']}[/]")

    emit(result.to_dict(), json_out, render)


def _print_next_recipe(nxt: dict[str, Any] | None) -> None:
    """The next experiment planned from this run (manifest ``[target]``), as the report shows it."""
    if not nxt:
        return
    from qdlab.console import out_console

    con = out_console()
    tgt = nxt.get("target", {}).get("wavelength_nm")
    if nxt.get("status") != "ok":
        con.print(f"[yellow]next experiment ({tgt:g} nm):[/] {nxt.get('status')}: {nxt.get('error')}")
        return
    r, p = nxt["recipe"], nxt["predicted"]
    cs, inj = r["cluster_solution"], r["injection"]
    interval = p.get("pl_peak_nm_interval_68")
    spread = f" (68 %: {interval[0]:.0f}-{interval[1]:.0f} nm)" if interval else " (no uncertainty interval)"
    con.print(f"[bold]next experiment[/] to {tgt:g} nm, planned on the twin calibrated to this run:")
    con.print(f"  feed {cs['volume_ml']:.3g} mL ({cs['p_conc_mol_per_l']:.3g} M P) at "
              f"{inj['rate_ml_per_h']:.3g} -> {inj['final_rate_ml_per_h']:.3g} mL/h, {r['temperature_c']:.0f} C, "
              f"{r['oleic_acid_mmol']:.3g} mmol oleic acid, {r['duration_min']:.0f} min")
    con.print(f"  predicted final PL {p['pl_peak_nm']:.0f} nm{spread}")
    if nxt.get("reason"):
        con.print(f"  [yellow]caution:[/] {nxt['reason']}")
    cmds = nxt.get("commands", {})
    for k in ("new", "tell", "ask"):
        if cmds.get(k):
            con.print(f"  {cmds[k]}", markup=False, highlight=False)


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
