"""CLI commands for `qdlab ms`: composition assignment, peak picking, full analysis of a raw spectrum, QD size from MALDI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, PlotOpt, emit
from qdlab.data.errors import InputError

app = typer.Typer(help="MALDI-TOF MS: read raw spectra, assign cluster compositions, size QDs from the molecular ion.", no_args_is_help=True)

BlocksOpt = Annotated[str, typer.Option("--blocks", help="Building blocks: elements, ligand shorthands (OA) or formulas (NAME:q sets a formal charge), or a set: Cd3P2, InP, CdSe.")]
AdductsOpt = Annotated[str, typer.Option("--adducts", help="Comma-separated adducts: none (radical cation), H, Na, K, DCTB.")]
ChargeOpt = Annotated[list[int] | None, typer.Option("--charge", help="Ion charge(s) to consider (1-3); repeat for several. Default 1.")]
TolOpt = Annotated[str | None, typer.Option("--tolerance-da", help="m/z tolerance in Da, or 'envelope' (0.2 x envelope FWHM). Default 3.")]
WeightsOpt = Annotated[str | None, typer.Option("--weights", help="Atomic weights: iupac2021 (default) or iupac2007 (reproduces the paper's Table 1).")]
RatioOpt = Annotated[str | None, typer.Option("--target-ratio", help="Stoichiometry prior, e.g. Cd=3,P=2 (default for Cd/P blocks); 'none' disables it.")]
MaxCountOpt = Annotated[list[str] | None, typer.Option("--max-count", help="Upper bound on a block count, NAME=N; repeatable.")]
TopOpt = Annotated[int | None, typer.Option("--top", help="Keep only the best N candidates per peak (all are enumerated and counted).")]
CalOpt = Annotated[str, typer.Option("--calibration", help="Bruker flex: auto (quadratic, HPC applied, cubic refused), hpc, quadratic (force ML1-3; refused for HPC) or cubic (NTBCal).")]


def _kv(values: list[str] | str | None, what: str, cast: type = float) -> dict[str, Any]:
    if values is None:
        return {}
    items = values.split(",") if isinstance(values, str) else [v for s in values for v in s.split(",")]
    out: dict[str, Any] = {}
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise InputError(f"expected NAME=VALUE, got {item!r}", field=what)
        k, _, v = item.partition("=")
        try:
            out[k.strip()] = cast(v.strip())
        except ValueError as exc:
            raise InputError(f"not a number: {v!r}", field=what) from exc
    return out


def _calibration(value: str) -> str:
    if value not in ("auto", "quadratic", "cubic", "hpc"):
        raise InputError(f"expected auto, quadratic, cubic or hpc, got {value!r}", field="--calibration")
    return value


def _read(path: Path, calibration: str) -> Any:
    """The spectrum at ``path`` (exit 2 with a message when it is missing or unreadable)."""
    from qdlab.ms.io import read_mass_spectrum

    if not path.exists():
        raise InputError(f"not found: {path}")
    return read_mass_spectrum(path, calibration=_calibration(calibration))  # type: ignore[arg-type]


SnrOpt = Annotated[float | None, typer.Option("--snr", help="Signal-to-noise threshold for peaks (default 3; MALDIquant's is 2).")]
MzMinOpt = Annotated[float | None, typer.Option("--mz-min", help="Lowest m/z to pick peaks from.")]
MzMaxOpt = Annotated[float | None, typer.Option("--mz-max", help="Highest m/z to pick peaks from.")]


def _tolerance(value: str | None) -> float | str | None:
    if value is None or value == "envelope":
        return value
    try:
        tol = float(value)
    except ValueError as exc:
        raise InputError(f"expected a number of Da or 'envelope', got {value!r}", field="--tolerance-da") from exc
    if not tol > 0 or tol == float("inf"):
        raise InputError(f"must be a positive number, got {value}", field="--tolerance-da")
    return tol


def _assign_kwargs(blocks: str, adducts: str, charge: list[int] | None, tolerance_da: str | None, weights: str | None,
                   target_ratio: str | None, max_count: list[str] | None) -> dict[str, Any]:
    ratio: dict[str, float] | None
    if target_ratio is None:
        ratio = None
    elif target_ratio.strip().lower() == "none":
        ratio = {}
    else:
        ratio = _kv(target_ratio, "--target-ratio")
    return dict(blocks=blocks, adducts=adducts, charges=charge or [1], tolerance_da=_tolerance(tolerance_da),
                weights=weights, target_ratio=ratio, max_counts=_kv(max_count, "--max-count", int) or None)


def _render_assignment(d: dict[str, Any], top: int = 8) -> None:
    """Table-1-style tables: theoretical m/z under every atomic-weight table, the chosen one first."""
    from rich.table import Table

    from qdlab.console import out_console

    chosen = d.get("weights", "")
    for pk in d["peaks"]:
        t = Table(title=f"m/z {pk['mass_da']:.2f} ± {pk['tolerance_da']:.2f} Da — {pk['n_candidates']} candidates",
                  title_justify="left")
        tables = sorted(pk["candidates"][0]["masses_by_table"], key=lambda n: n != chosen) if pk["candidates"] else []
        cols = ["#", "formula", *[f"theor. {n} (Da)" for n in tables], "error (Da)", "score", "formal q", "near-isobaric"]
        for col in cols:
            t.add_column(col, no_wrap=col == "formula", overflow="fold")
        for i, c in enumerate(pk["candidates"][:top], start=1):
            alts = ", ".join(a["formula"] for a in c["near_isobaric"][:2])
            masses = [f"{c['masses_by_table'][n]:.2f}" for n in tables]
            t.add_row(str(i), c["formula"], *masses, f"{c['error_da']:+.2f}", f"{c['score']:.3f}",
                      str(c["formal_charge"]), alts)
        out_console().print(t)


def assign(
    mass: Annotated[list[float], typer.Option("--mass", help="Observed m/z (Da); repeat for several peaks.")],
    blocks: BlocksOpt = "Cd,P,OA",
    adducts: AdductsOpt = "none",
    charge: ChargeOpt = None,
    tolerance_da: TolOpt = None,
    weights: WeightsOpt = None,
    target_ratio: RatioOpt = None,
    max_count: MaxCountOpt = None,
    top: TopOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enumerate and rank every building-block composition within the tolerance of each mass."""
    from qdlab.ms.assign import assign_masses

    if not mass:
        raise InputError("give at least one --mass", field="--mass")
    res = assign_masses(mass, max_candidates=top,
                        **_assign_kwargs(blocks, adducts, charge, tolerance_da, weights, target_ratio, max_count))
    emit(res, json_out, _render_assignment)


def analyze(
    path: Annotated[Path, typer.Argument(help="Bruker flex folder/fid, mzML or two-column text file.")],
    blocks: BlocksOpt = "Cd,P,OA",
    adducts: AdductsOpt = "none",
    charge: ChargeOpt = None,
    tolerance_da: TolOpt = None,
    weights: WeightsOpt = None,
    target_ratio: RatioOpt = None,
    max_count: MaxCountOpt = None,
    top: Annotated[int, typer.Option("--top", help="Candidates kept per peak.")] = 10,
    snr: SnrOpt = None,
    mz_min: MzMinOpt = None,
    mz_max: MzMaxOpt = None,
    max_peaks: Annotated[int, typer.Option("--max-peaks", help="Assign at most this many (most intense) peaks.")] = 50,
    calibration: CalOpt = "auto",
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Read a spectrum, preprocess (MALDIquant-style), pick peaks and assign compositions."""
    from qdlab.ms.analysis import analyze as run

    ms = _read(path, calibration)
    res = run(ms, snr=snr, mz_range_da=(mz_min, mz_max), max_peaks=max_peaks, max_candidates=top,
              **_assign_kwargs(blocks, adducts, charge, tolerance_da, weights, target_ratio, max_count))
    if plot is not None:
        from qdlab.ms.plot import plot_analysis

        fig = plot_analysis(res)
        fig.savefig(plot, dpi=150)

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"{Path(d['source']).name or 'spectrum'}: {len(d['peaks'])} peaks (noise {d['noise']:.3g})",
                  title_justify="left")
        for col in ("m/z (Da)", "S/N", "best formula", "theor. (Da)", "error (Da)", "score", "candidates"):
            t.add_column(col, no_wrap=col == "best formula")
        for pk, asg in zip(d["peaks"], d["assignment"]["peaks"], strict=False):
            best = asg["candidates"][0] if asg["candidates"] else None
            t.add_row(f"{pk['mz_da']:.2f}", f"{pk['snr']:.1f}", best["formula"] if best else "-",
                      f"{best['mass_da']:.2f}" if best else "-", f"{best['error_da']:+.2f}" if best else "-",
                      f"{best['score']:.3f}" if best else "-", str(asg["n_candidates"]))
        out_console().print(t)
        for sp in d.get("spacings", []):
            steps = ", ".join(f"{x['step']} (z={x['charge']}, {x['error_da']:+.1f} Da)" for x in sp["steps"][:3]) or "none"
            out_console().print(f"spacing {sp['from_mass_da']:.1f} -> {sp['to_mass_da']:.1f} "
                                f"(Δ {sp['delta_da']:.1f} Da): {steps}")

    emit(res, json_out, render)


def peaks(
    path: Annotated[Path, typer.Argument(help="Bruker flex folder/fid, mzML or two-column text file.")],
    snr: SnrOpt = None,
    half_window: Annotated[int | None, typer.Option("--half-window", help="Half window of the local-maximum rule, points (default 20).")] = None,
    mz_min: MzMinOpt = None,
    mz_max: MzMaxOpt = None,
    min_separation_da: Annotated[float | None, typer.Option("--min-separation-da", help="Merge maxima closer than this (Da), keeping the higher.")] = None,
    max_peaks: Annotated[int | None, typer.Option("--max-peaks", help="Report only the most intense N peaks.")] = None,
    calibration: CalOpt = "auto",
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Pick peaks (MALDIquant's rule) and measure each on its own peak: centroid m/z, apex, S/N, FWHM."""
    from qdlab.ms.peaks import pick_peaks
    from qdlab.ms.preprocess import preprocess

    if max_peaks is not None and max_peaks < 1:
        raise InputError(f"must be >= 1, got {max_peaks}", field="--max-peaks")
    ms = _read(path, calibration)
    pre = preprocess(ms)
    pk = pick_peaks(pre, snr=snr, half_window=half_window, mz_range_da=(mz_min, mz_max),
                    min_separation_da=min_separation_da).strongest(max_peaks)
    if plot is not None:
        from qdlab.ms.plot import plot_peaks

        plot_peaks(pre, pk, title=str(path)).savefig(plot, dpi=150)
    result = {"source": str(path), "mode": ms.mode, "n_peaks": len(pk), **pk.to_dict()}

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"{path.name}: {d['n_peaks']} peaks (noise {d['noise']:.3g}, {d['mode']})", title_justify="left")
        for col in ("m/z centroid (Da)", "apex (Da)", "S/N", "FWHM (Da)", "note"):
            t.add_column(col)
        for r in d["peaks"]:
            fw = f"{r['fwhm_da']:.2f}" + (" (cut)" if r["fwhm_truncated"] else "")
            t.add_row(f"{r['mz_da']:.2f}", f"{r['apex_mz_da']:.2f}", f"{r['snr']:.1f}", fw, r["note"])
        out_console().print(t)
        if any(r["fwhm_truncated"] for r in d["peaks"]):
            out_console().print("(cut): the signal does not fall to half height before the valley to a neighbour; "
                                "the FWHM is a lower bound")

    emit(result, json_out, render)


def size(
    path: Annotated[Path, typer.Argument(help="Bruker flex folder/fid, mzML or text spectrum with the molecular-ion band.")],
    material: Annotated[str, typer.Option(help="Core material parameter set.")] = "Cd3P2",
    density: Annotated[str, typer.Option(help="Core density: handbook (paper's assumption, 5.96 g/cm3 for Cd3P2), xray, or g/cm^3.")] = "handbook",
    ligands_per_nm2: Annotated[float, typer.Option(help="Ligand shell density counted in the mass (0 = bare core, the paper's assumption).")] = 0.0,
    ligand: Annotated[str, typer.Option(help="Ligand of the shell (shorthand or formula).")] = "OA",
    min_mass_da: Annotated[float | None, typer.Option(help="Lower edge of the molecular-ion region (default 10 kDa).")] = None,
    calibration: CalOpt = "auto",
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the modes of the molecular-ion band and convert their masses to QD diameters."""
    from qdlab.ms.size import molecular_ion_size

    dens: str | float = density
    if density not in ("handbook", "xray"):
        try:
            dens = float(density)
        except ValueError as exc:
            raise InputError(f"expected handbook, xray or a number, got {density!r}", field="--density") from exc
    ms = _read(path, calibration)
    res = molecular_ion_size(ms, material=material, density=dens, ligands_per_nm2=ligands_per_nm2, ligand=ligand,
                             min_mass_da=min_mass_da)
    if plot is not None:
        from qdlab.ms.plot import plot_size

        plot_size(res).savefig(plot, dpi=150)

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"molecular-ion band: {len(d['modes'])} mode(s)", title_justify="left")
        for col in ("mode", "mass (Da)", "diameter (nm)", "FWHM (Da)", "area fraction"):
            t.add_column(col)
        for i, m in enumerate(d["modes"], start=1):
            t.add_row(str(i), f"{m['mass_da']:.0f}", f"{m['diameter_nm']:.2f}", f"{m['fwhm_da']:.0f}", f"{m['area_fraction']:.2f}")
        out_console().print(t)
        out_console().print(f"assumptions: {d['assumptions']['statement']}")

    emit(res, json_out, render)


def synth(
    out: Annotated[Path, typer.Argument(help="Output: a flex acquisition folder (e.g. demo/0_A1/1/1SLin), a .mzML or a .txt file.")],
    kind: Annotated[str, typer.Option(help="table1 (the paper's six fragments), fragments (--formula ...) or band (molecular ions).")] = "table1",
    formula: Annotated[list[str] | None, typer.Option("--formula", help="Fragment ion formula (kind=fragments); repeatable.")] = None,
    mode_da: Annotated[list[float] | None, typer.Option("--mode-da", help="Band mode mass (kind=band); repeatable. Default 40000 and 140000.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="flex, mzml or text.")] = "flex",
    noise: Annotated[float, typer.Option(help="Gaussian noise, fraction of the highest peak.")] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Write a synthetic spectrum with exact ground truth (flex folder, mzML or text)."""
    from qdlab.ms import synth as sy

    if fmt not in ("flex", "mzml", "text"):
        raise InputError(f"expected flex, mzml or text, got {fmt!r}", field="--format")
    if not noise >= 0:
        raise InputError("must be >= 0", field="--noise")
    if kind == "table1":
        syn = sy.table1_spectrum(noise=noise, seed=seed)
    elif kind == "fragments":
        if not formula:
            raise InputError("give at least one --formula for kind=fragments", field="--formula")
        syn = sy.fragment_spectrum(formula, noise=noise, seed=seed)
    elif kind == "band":
        syn = sy.molecular_ion_band(tuple(mode_da) if mode_da else (40_000.0, 140_000.0), noise=noise, seed=seed)
    else:
        raise InputError(f"expected table1, fragments or band, got {kind!r}", field="--kind")
    kw: dict[str, Any] = {}
    if fmt == "flex":  # realistic linear-mode constants; coarser sampling for the high-mass band
        kw = {"ml1": 2.0e6, "ml2": 12.5, "ml3": 1.0e-3, "dw_ns": 4.0 if kind == "band" else 1.0}
    written = syn.write(out, fmt, **kw)  # type: ignore[arg-type]
    result = {"written": str(written), "format": fmt, "kind": kind, **syn.to_dict()}
    if fmt == "flex":
        result["calibration"] = kw

    def render(d: dict[str, Any]) -> None:
        from qdlab.console import out_console

        out_console().print(f"wrote {d['written']} ({d['format']})")
        for t in d["truth"]:
            label = t.get("formula") or f"{t['mass_da']:.0f} Da band"
            where = t.get("isotopic_average_mz", t.get("mass_da"))
            out_console().print(f"  {label}: {where:.2f}")

    emit(result, json_out, render)


app.command("assign")(assign)
app.command("analyze")(analyze)
app.command("peaks")(peaks)
app.command("size")(size)
app.command("synth")(synth)


def register(root: typer.Typer) -> None:
    """Attach ``qdlab ms ...`` to the root app."""
    root.add_typer(app, name="ms")
