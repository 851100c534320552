"""CLI commands for ``qdlab twin``: scenarios, run, calibrate, sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, PlotOpt, SchedulerOpt, ThreadsSchedulerOpt, emit, existing_file
from qdlab.data.errors import InputError

ScenarioArg = Annotated[str, typer.Argument(help="Built-in scenario name (see `qdlab twin scenarios`) or a .toml/.json file.")]


def scenarios(json_out: JsonOpt = False) -> None:
    """List the built-in scenarios (the reference paper's experiments)."""
    from qdlab.twin import list_scenarios, load_scenario

    rows = []
    for name in list_scenarios():
        s = load_scenario(name)
        rows.append({"name": name, "kind": s.kind, "description": s.description})

    def render(data: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title="Built-in twin scenarios", title_justify="left")
        for col in ("name", "kind", "description"):
            t.add_column(col)
        for r in data["scenarios"]:
            t.add_row(r["name"], r["kind"], r["description"])
        out_console().print(t)

    emit({"scenarios": rows}, json_out, render)


def _render_run(data: dict[str, Any]) -> None:
    from rich.table import Table

    from qdlab.console import out_console

    t = Table(title=f"Twin: {data.get('scenario', '')}", title_justify="left")
    cols = [("aliquot_id", "aliquot", "{}"), ("time_min", "t (min)", "{:.1f}"), ("pl_peak_nm", "PL (nm)", "{:.0f}"),
            ("fwhm_mev", "FWHM (meV)", "{:.0f}"), ("fwhm_nm", "FWHM (nm)", "{:.0f}"),
            ("mean_diameter_nm", "d (nm)", "{:.2f}"), ("diameter_std_nm", "sd (nm)", "{:.2f}"),
            ("secondary_fraction", "2nd frac.", "{:.2f}"), ("bimodal", "bimodal", "{}"),
            ("cluster_fraction", "MSC frac.", "{:.3f}")]
    for _, label, _ in cols:
        t.add_column(label, justify="right")
    for a in data["aliquots"]:
        t.add_row(*[("-" if a.get(k) is None else ("yes" if a[k] else "no") if isinstance(a[k], bool) else fmt.format(a[k])) for k, _, fmt in cols])
    out_console().print(t)
    out_console().print(f"mass balance error (relative): {data['mass_balance_error']:.2e}")


def _plot(res: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    n = len(res.aliquots)
    cmap = plt.get_cmap("viridis")
    # show what the spectrometer of the scenario sees (its detector window), normalised in that window
    lo, hi = res.scenario.observation.pl_window_nm or (420.0, 1700.0)
    for i, (s, a) in enumerate(zip(res.pl, res.aliquots, strict=True)):
        m = (s.x >= lo) & (s.x <= hi)
        y = s.y[m] / max(float(np.max(s.y[m])), 1e-30) if np.any(m) else s.y[m]
        label = f"{a.aliquot_id} {a.time_min:.0f} min" + (" (bimodal)" if a.bimodal else "")
        axes[0].plot(s.x[m], y, color=cmap(i / max(n - 1, 1)), label=label)
    axes[0].set_xlabel("wavelength (nm)")
    axes[0].set_ylabel("PL (normalised)")
    axes[0].legend(fontsize=7)
    t = [a.time_min for a in res.aliquots]
    axes[1].plot(t, [a.pl_peak_nm for a in res.aliquots], "o-", label="PL peak (nm)")
    paper = res.scenario.paper
    if "final_pl_nm" in paper:
        axes[1].axhline(paper["final_pl_nm"], ls="--", color="gray", label="paper final PL")
    axes[1].set_xlabel("time (min)")
    axes[1].set_ylabel("PL peak (nm)")
    axes[1].legend(fontsize=8)
    fig.suptitle(res.scenario.name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(scenario: ScenarioArg, json_out: JsonOpt = False, plot: PlotOpt = None) -> None:
    """Simulate a scenario: per-aliquot PL peak, FWHM, sizes, secondary fraction, bimodality."""
    from qdlab.twin import simulate

    res = simulate(scenario)
    if plot is not None:
        _plot(res, plot)
    emit(res.to_dict(), json_out, _render_run)


def calibrate_cmd(
    scenario: ScenarioArg,
    data: Annotated[Path, typer.Option("--data", help="Measured series: .csv or .json with aliquot_id, time_min, pl_peak_nm, fwhm_mev[, diameter_nm].")],
    param: Annotated[list[str] | None, typer.Option("--param", help="Parameter to fit (repeatable), e.g. params.cluster_dissolution_per_s.")] = None,
    starts: Annotated[int, typer.Option("--starts", min=1, help="Candidate starting points (one simulation each).")] = 8,
    refine: Annotated[int, typer.Option("--refine", min=1, help="Least-squares runs, from the best candidates.")] = 2,
    scheduler: ThreadsSchedulerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit kinetic parameters to a measured aliquot series (multi-start least squares)."""
    from qdlab.twin import calibrate, load_scenario
    from qdlab.twin.calibration import read_series

    measured = read_series(existing_file(data, "series file"))
    from qdlab.compute import mapper

    res = calibrate(load_scenario(scenario), measured, params=param or None, starts=starts,
                    refine=refine, map_fn=mapper(scheduler or "threads", "calibrating (multi-start)"))

    def render(_: dict[str, Any]) -> None:
        from qdlab.console import out_console

        out_console().print(res.report())

    emit(res.to_dict(), json_out, render)


def sweep_cmd(
    scenario: ScenarioArg,
    param: Annotated[list[str], typer.Option("--param", help="NAME=LO:HI:N (grid; log spacing if NAME ends with :log).")],
    random: Annotated[int | None, typer.Option("--random", min=1, help="Random (Sobol-free uniform) sample of N points instead of the grid.")] = None,
    scheduler: SchedulerOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for --random.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Sweep scenario fields or parameters over a grid or random sample, in parallel with a progress bar."""
    from qdlab.twin import load_scenario
    from qdlab.twin.sweep import parse_axes, run_sweep

    axes = parse_axes(param)
    from qdlab.compute import mapper

    res = run_sweep(load_scenario(scenario), axes, random=random, seed=seed,
                    map_fn=mapper(scheduler or "local", f"sweeping {scenario}"))

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"Sweep of {d['scenario']} ({d['n_points']} points, {d['wall_s']:.1f} s)", title_justify="left")
        keys = list(d["points"][0]["values"]) if d["points"] else []
        for k in [*keys, "final_pl_nm", "final_fwhm_mev", "mass_balance_error"]:
            t.add_column(k, justify="right")
        for pt in d["points"][:50]:
            t.add_row(*[f"{pt['values'][k]:.4g}" for k in keys],
                      *[("-" if pt.get(k) is None else f"{pt[k]:.4g}") for k in ("final_pl_nm", "final_fwhm_mev", "mass_balance_error")])
        out_console().print(t)

    emit(res, json_out, render)


def register(app: typer.Typer) -> None:
    """Attach ``qdlab twin ...`` to the root app."""
    sub = typer.Typer(help="Digital twin: simulate, calibrate and sweep MSC overgrowth of Cd3P2 QDs.", no_args_is_help=True)
    sub.command("scenarios")(scenarios)
    sub.command("run")(run)
    sub.command("calibrate")(calibrate_cmd)
    sub.command("sweep")(sweep_cmd)
    app.add_typer(sub, name="twin")


__all__ = ["register", "InputError"]
