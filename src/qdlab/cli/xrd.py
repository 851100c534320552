"""CLI commands ``qdlab xrd simulate | reference | match | synth`` (powder XRD of Cd3P2 QDs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, PlotOpt, emit, existing_file, key_value_table
from qdlab.data.errors import InputError

app = typer.Typer(
    help="Powder XRD: Cd3P2 reference patterns, Debye-equation simulation of QDs, size fit and phase check.",
    no_args_is_help=True,
)

WavelengthOpt = Annotated[
    float | None, typer.Option("--wavelength-angstrom", help="X-ray wavelength in A (default Cu K-alpha1, 1.5406).")
]
PhaseOpt = Annotated[str, typer.Option("--phase", help="Crystal phase: Cd3P2, Cd or CdO.")]


def _check_range(lo: float, hi: float) -> None:
    if not (0 < lo < hi < 180):
        raise InputError(f"need 0 < two-theta-min < two-theta-max < 180, got {lo} and {hi}", field="--two-theta-min/max")


def _phase(name: str) -> str:
    from qdlab.xrd.structure import PHASES

    if name not in PHASES:
        raise InputError(f"unknown phase {name!r}; choose from {', '.join(PHASES)}", field="--phase")
    return name


def _peaks_table(title: str, peaks: list[dict[str, Any]], n: int = 15) -> None:
    from rich.table import Table

    from qdlab.console import out_console

    table = Table(title=title, title_justify="left")
    for col in ("hkl", "2theta (deg)", "d (A)", "I rel", "mult"):
        table.add_column(col, justify="right")
    for p in sorted(peaks, key=lambda r: -r["relative_intensity"])[:n]:
        table.add_row(
            " ".join(str(v) for v in p["hkl"]), f"{p['two_theta_deg']:.3f}", f"{p['d_angstrom']:.4f}",
            f"{p['relative_intensity']:.1f}", str(p["multiplicity"]),
        )
    out_console().print(table)


@app.command("reference")
def reference(
    phase: PhaseOpt = "Cd3P2",
    wavelength_angstrom: WavelengthOpt = None,
    two_theta_min: Annotated[float, typer.Option("--two-theta-min", help="Lower 2-theta limit (deg).")] = 5.0,
    two_theta_max: Annotated[float, typer.Option("--two-theta-max", help="Upper 2-theta limit (deg).")] = 90.0,
    json_out: JsonOpt = False,
) -> None:
    """Bulk reflection list (hkl, 2-theta, d, relative intensity) of a phase (pymatgen XRDCalculator)."""
    from qdlab.xrd.pattern import reference_pattern

    _check_range(two_theta_min, two_theta_max)
    ref = reference_pattern(
        _phase(phase), wavelength_angstrom=wavelength_angstrom, two_theta_min_deg=two_theta_min, two_theta_max_deg=two_theta_max
    )
    out = {"phase": ref.phase, "wavelength_angstrom": ref.wavelength_angstrom, "source": ref.source,
           "peaks": [r.to_dict() for r in ref.reflections]}

    def render(d: dict[str, Any]) -> None:
        _peaks_table(f"bulk {d['phase']} at {d['wavelength_angstrom']:.5f} A (strongest 15)", d["peaks"])

    emit(out, json_out, render)


@app.command("simulate")
def simulate(
    diameter_nm: Annotated[float, typer.Option("--diameter-nm", help="Sphere diameter (nm); mean when --sigma-rel > 0.")],
    sigma_rel: Annotated[float, typer.Option("--sigma-rel", help="Relative width of a lognormal size distribution.")] = 0.0,
    phase: PhaseOpt = "Cd3P2",
    wavelength_angstrom: WavelengthOpt = None,
    two_theta_min: Annotated[float, typer.Option("--two-theta-min", help="Lower 2-theta limit (deg).")] = 10.0,
    two_theta_max: Annotated[float, typer.Option("--two-theta-max", help="Upper 2-theta limit (deg).")] = 80.0,
    step_deg: Annotated[float, typer.Option("--step-deg", help="2-theta step (deg).")] = 0.02,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the pattern as .xy.", dir_okay=False)] = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Debye-equation pattern of Cd3P2 spheres (atoms cut from the crystal), with the bulk peaks."""
    import numpy as np

    from qdlab.data.types import Diffractogram
    from qdlab.xrd.debye import debye_pattern
    from qdlab.xrd.pattern import reference_pattern

    _check_range(two_theta_min, two_theta_max)
    if not (0 < step_deg <= 1):
        raise InputError(f"step must be in (0, 1] deg, got {step_deg}", field="--step-deg")
    if (two_theta_max - two_theta_min) / step_deg > 200_000:
        raise InputError("too many points: increase --step-deg", field="--step-deg")
    if not (0.3 <= diameter_nm <= 15):
        raise InputError(f"diameter must be 0.3-15 nm, got {diameter_nm}", field="--diameter-nm")
    tt = np.arange(two_theta_min, two_theta_max + step_deg / 2, step_deg)
    pat = debye_pattern(diameter_nm, tt, wavelength_angstrom=wavelength_angstrom, phase=_phase(phase), sigma_rel=sigma_rel)
    ref = reference_pattern(phase, wavelength_angstrom=pat.wavelength_angstrom, two_theta_min_deg=two_theta_min, two_theta_max_deg=two_theta_max)
    if out is not None:
        from qdlab.xrd.io import write_xy

        write_xy(Diffractogram(pat.two_theta_deg, pat.intensity, pat.wavelength_angstrom), out,
                 header={"phase": phase, "diameter_nm": diameter_nm, "sigma_rel": sigma_rel, "simulated_by": "qdlab xrd simulate"})
    if plot is not None:
        from qdlab.xrd.plot import plot_pattern

        plot_pattern(pat, ref).savefig(plot, dpi=120)
    result = {
        "phase": pat.phase,
        "diameter_nm": pat.diameter_nm,
        "sigma_rel": pat.sigma_rel,
        "wavelength_angstrom": pat.wavelength_angstrom,
        "n_atoms_mean": pat.n_atoms_mean,
        "b_iso_angstrom2": pat.b_iso_angstrom2,
        "intensity_unit": "electrons^2 per particle x polarisation factor",
        "two_theta_deg": pat.two_theta_deg,
        "intensity": pat.intensity,
        "peaks": [r.to_dict() for r in ref.reflections],
    }

    def render(d: dict[str, Any]) -> None:
        i = int(np.argmax(pat.intensity))
        key_value_table(
            f"Debye pattern: {d['phase']} sphere",
            {**d, "max_two_theta_deg": float(pat.two_theta_deg[i]), "n_points": len(pat.two_theta_deg)},
            [("diameter_nm", "diameter (nm)"), ("sigma_rel", "sigma_rel"), ("n_atoms_mean", "atoms"),
             ("wavelength_angstrom", "wavelength (A)"), ("max_two_theta_deg", "strongest hump (deg)"), ("n_points", "points")],
        )
        _peaks_table("bulk reflections (strongest 10)", d["peaks"], 10)

    emit(result, json_out, render)


@app.command("match")
def match(
    file: Annotated[Path, typer.Argument(help="Pattern file: .xy/.txt/.dat, .csv or .xrdml.")],
    sigma_rel: Annotated[float, typer.Option("--sigma-rel", help="Relative size spread (lognormal), e.g. from TEM.")] = 0.10,
    fit_sigma: Annotated[bool, typer.Option("--fit-sigma", help="Fit the size spread too (correlated with D).")] = False,
    wavelength_angstrom: WavelengthOpt = None,
    instrument_fwhm_deg: Annotated[float, typer.Option("--instrument-fwhm-deg", help="Gaussian instrument FWHM (deg).")] = 0.0,
    two_theta_min: Annotated[float, typer.Option("--two-theta-min", help="Fit window start (deg).")] = 15.0,
    two_theta_max: Annotated[float, typer.Option("--two-theta-max", help="Fit window end (deg).")] = 80.0,
    background_order: Annotated[int, typer.Option("--background-order", help="Chebyshev background degree.")] = 8,
    fix_lattice: Annotated[bool, typer.Option("--fix-lattice", help="Keep the bulk lattice constants (no strain fit).")] = False,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Phase check (Cd3P2 vs Cd, CdO, amorphous; minor Cd/CdO beside Cd3P2), Debye-fit size, Scherrer."""
    from qdlab.xrd.io import read_diffractogram
    from qdlab.xrd.match import fit_crystallite_size, match_phases

    _check_range(two_theta_min, two_theta_max)
    d = read_diffractogram(existing_file(file, "pattern file"), wavelength_angstrom=wavelength_angstrom)
    res = match_phases(
        d, sigma_rel=sigma_rel, two_theta_range_deg=(two_theta_min, two_theta_max),
        background_order=background_order, instrument_fwhm_deg=instrument_fwhm_deg, fit_lattice=not fix_lattice,
    )
    if fit_sigma and res.size_fit is not None:
        from dataclasses import replace

        refit = fit_crystallite_size(
            d, sigma_rel=sigma_rel, fit_sigma=True, two_theta_range_deg=(two_theta_min, two_theta_max),
            background_order=background_order, instrument_fwhm_deg=instrument_fwhm_deg, fit_lattice=not fix_lattice,
        )
        extra = [f"Cd3P2 size fit (--fit-sigma): {w}" for w in refit.warnings] if res.matched and res.best_phase == "Cd3P2" else []
        kept = [w for w in res.warnings if not w.startswith("Cd3P2 size fit:")]
        res = replace(res, size_fit=refit, warnings=kept + extra)
    if plot is not None:
        from qdlab.xrd.pattern import reference_pattern
        from qdlab.xrd.plot import plot_match

        ref = reference_pattern("Cd3P2", wavelength_angstrom=d.wavelength_angstrom, two_theta_min_deg=two_theta_min, two_theta_max_deg=two_theta_max)
        plot_match(res, ref).savefig(plot, dpi=120)
    out = res.to_dict()
    out["file"] = str(file)

    def render(data: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"phase check: {file.name}", title_justify="left")
        for col in ("phase", "Rwp", "explained", "unexpl.", "red.chi2", "weight", "D (nm)"):
            t.add_column(col, justify="right")
        for s in data["scores"]:
            dn = "" if s["diameter_nm"] is None else f"{s['diameter_nm']:.2f}" + ("*" if s["at_bound"] else "")
            t.add_row(s["phase"], f"{s['rwp']:.4f}", f"{s['explained_fraction']:.3f}", f"{s['unexplained_peak_rel']:.2f}",
                      f"{s['reduced_chi2']:.3g}", f"{s['weight']:.3f}", dn)
        out_console().print(t)
        if any(s["at_bound"] for s in data["scores"]):
            print("* a fitted parameter sits at its search bound (see warnings)")
        crit = data["criteria"]
        rule = (f"accept: Rwp <= {crit['rwp_max']:g}, explained >= {crit['min_explained_fraction']:g}, "
                f"unexplained peak <= {crit['max_unexplained_peak_rel']:g}")
        if data["matched"]:
            print(f"matched phase: {data['best_phase']} ({rule})")
        else:
            print(f"NO PHASE MATCHED: best candidate {data['best_candidate']} fails {'; '.join(data['reasons'])} ({rule})")
        sf = data["size_fit"]
        if sf is not None and data["matched"] and data["best_phase"] == "Cd3P2":
            key_value_table("Cd3P2 crystallite size (Debye fit)", sf, [
                ("diameter_nm", "diameter (nm)"), ("diameter_std_nm", "+/- (nm, 1 sigma)"), ("sigma_rel", "size spread"),
                ("lattice_a_angstrom", "a (A)"), ("lattice_c_angstrom", "c (A)"), ("lattice_scale", "lattice / bulk"),
                ("reduced_chi2", "reduced chi2"), ("rwp", "Rwp"), ("at_bound", "at search bound")])
        from qdlab.resources import load_toml

        threshold = load_toml("xrd/xrd.toml")["fit"]["impurity_delta_chi2_threshold"]["value"]
        for imp in data.get("impurities") or []:
            verdict = "DETECTED" if imp["significant"] else f"not significant: below {threshold:g} x"
            size = "" if imp["diameter_nm"] is None else f", D = {imp['diameter_nm']:.1f} nm"
            print(f"second phase {imp['phase']}: {100 * imp['weight_fraction']:.1f} wt%{size} ({verdict}, "
                  f"delta chi2 = {imp['delta_chi2_scaled']:.0f} x reduced)")
        sch = data.get("scherrer") or {}
        if "diameter_nm" in sch:
            note = "" if sch.get("applies", True) else " [not applicable: no Cd3P2 matched]"
            print(f"Scherrer: D = {sch['diameter_nm']:.2f} nm (K = {sch['k']} for {sch['breadth_type']} of a sphere, "
                  f"hump at {sch['two_theta_deg']:.2f} deg, FWHM {sch['breadth_deg']:.2f} deg){note}")
        for w in data.get("warnings") or []:
            print(f"WARNING: {w}")

    emit(out, json_out, render)


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="Output file (.xy or .xrdml); the truth goes to <stem>.truth.json.", dir_okay=False)],
    diameter_nm: Annotated[float, typer.Option("--diameter-nm", help="Mean diameter (nm).")] = 4.0,
    sigma_rel: Annotated[float, typer.Option("--sigma-rel", help="Relative size spread (lognormal).")] = 0.08,
    phase: PhaseOpt = "Cd3P2",
    peak_counts: Annotated[float, typer.Option("--peak-counts", help="Counts at the strongest point.")] = 2000.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for Poisson noise.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Write a simulated measured pattern (Debye signal, background, Poisson noise) with exact truth."""
    from qdlab.xrd.synth import simulate_measurement

    if out.suffix.lower() not in (".xy", ".txt", ".dat", ".xrdml"):
        raise InputError(f"output must end in .xy or .xrdml, got {out.name}", field="OUT")
    if not (0.5 <= diameter_nm <= 15):
        raise InputError(f"diameter must be 0.5-15 nm, got {diameter_nm}", field="--diameter-nm")
    s = simulate_measurement(diameter_nm, sigma_rel=sigma_rel, phase=_phase(phase), peak_counts=peak_counts, seed=seed)
    s.write(out)
    result = {"file": str(out), "truth_file": str(out.with_name(out.stem + ".truth.json")), "truth": s.truth}
    emit(result, json_out, lambda d: key_value_table("synthetic XRD pattern", {**d["truth"], "file": d["file"]}))


def register(root: typer.Typer) -> None:
    """Attach ``qdlab xrd ...`` to the root app."""
    root.add_typer(app, name="xrd")
