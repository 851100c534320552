"""CLI: ``qdlab spectra analyze|series|convert`` and ``qdlab plqy demello|two-step|relative``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, PlotOpt, emit, existing_file, key_value_table
from qdlab.data.errors import InputError

XUnitOpt = Annotated[
    str | None,
    typer.Option("--x-unit", help="x-axis unit when the file does not say: nm, ev or cm-1."),
]
KindOpt = Annotated[str, typer.Option("--kind", help="Spectrum kind: pl or absorbance.")]
ShapeOpt = Annotated[str, typer.Option("--shape", help="PL band shape: gaussian or voigt.")]
MaxCompOpt = Annotated[int, typer.Option("--max-components", min=1, max=3, help="Most PL components tried (BIC picks).")]
BaselineOpt = Annotated[str, typer.Option("--baseline", help="Baseline removed before fitting: none, linear, modpoly, asls, arpls, snip...")]
FitWindowOpt = Annotated[
    tuple[float, float] | None,
    typer.Option("--window", help="Fit only this wavelength range LO HI in nm (e.g. 800 1700 drops the 455 nm cluster PL)."),
]

spectra_app = typer.Typer(help="Absorption and PL spectra: read instrument files, fit bands, analyse aliquot series.", no_args_is_help=True)
plqy_app = typer.Typer(help="Photoluminescence quantum yield: integrating sphere (de Mello, two-step) or relative to a dye.", no_args_is_help=True)


def _check_kind(kind: str) -> str:
    if kind not in ("pl", "absorbance"):
        raise InputError(f"expected pl or absorbance, got {kind!r}", field="--kind")
    return kind


def _check_plot(plot: Path | None) -> None:
    """Refuse a bad --plot path before any work is done."""
    if plot is None:
        return
    if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"figure file must end in .png, .pdf or .svg, got {plot.name!r}", field="--plot")
    if not plot.parent.exists():
        raise InputError(f"folder does not exist: {plot.parent}", field="--plot")


def _impose_kind(spectra: Any, kind: str) -> list[Any]:
    from qdlab.spectra.checks import as_kind

    return as_kind(spectra, kind)


def _num(v: Any, fmt: str) -> str:
    """A number for a table cell; '-' where the analysis has none (NaN/None: e.g. a band wider than the data)."""
    return "-" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)


def _print_warnings(warnings: list[str]) -> None:
    from qdlab.console import out_console

    for w in warnings:
        out_console().print(f"warning: {w}", markup=False, highlight=False)


def _render_abs_series(d: dict[str, Any]) -> None:
    from rich.table import Table

    from qdlab.console import out_console

    t = Table(title=f"absorbance series: {d['path']}", title_justify="left")
    for col in ("aliquot", "t (min)", "1st exciton (nm)", "FWHM (meV)", "OD", "S/N", "saturated"):
        t.add_column(col)
    for r in d["table"]:
        if r.get("error"):
            t.add_row(r["aliquot_id"], "", "-", "-", "-", "-", r["error"][:60])
            continue
        t.add_row(
            r["aliquot_id"], "" if r["time_min"] is None else f"{r['time_min']:g}", f"{r['exciton_wavelength_nm']:.1f}",
            f"{r['exciton_fwhm_mev']:.1f}", f"{r['exciton_od']:.3f}", f"{r['exciton_snr']:.0f}",
            str(r["saturated_points"]) if r["saturated_points"] else "",
        )
    out_console().print(t)
    _print_warnings(d["summary"].get("warnings", []))


def _pl_peak_rows(peaks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("wavelength_nm", "energy_ev", "fwhm_mev", "fwhm_nm", "area_fraction", "energy_ev_err", "fwhm_mev_err", "area", "area_err")
    return [{k: p[k] for k in keys if k in p} for p in peaks]


def analyze(
    files: Annotated[list[Path], typer.Argument(help="Spectrum files (delimited text, Ocean Optics, Cary CSV, JCAMP-DX).")],
    kind: KindOpt = "pl",
    x_unit: XUnitOpt = None,
    shape: ShapeOpt = "gaussian",
    max_components: MaxCompOpt = 3,
    baseline: BaselineOpt = "none",
    window: FitWindowOpt = None,
    response: Annotated[Path | None, typer.Option("--response", help="Detector relative spectral response file (PL only).")] = None,
    material: Annotated[str | None, typer.Option("--material", help="Absorbance: also give the diameter from this material's sizing curve (e.g. Cd3P2).")] = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit every spectrum in the files: PL band (peak, FWHM, modes, components) or the first exciton.

    The PL numbers are those of `qdlab spectra series` for the same file (same analysis, same row):
    the band's maximum and FWHM, its resolved maxima (bimodality) and, below, the Gaussian components
    that describe the band's shape.
    """
    from qdlab.spectra import read_spectra

    _check_kind(kind)
    _check_plot(plot)
    resp = _response(response, None)
    from qdlab.data.errors import QdlabError

    out: list[dict[str, Any]] = []
    pairs = []
    failures: list[QdlabError] = []
    for f in files:
        series = _impose_kind(read_spectra(existing_file(f, "spectrum file"), x_unit=x_unit), kind)
        for spec in series:
            try:
                row, r = _analyze_one(spec, f, kind, shape, max_components, baseline, resp, window, material)
            except QdlabError as exc:  # one spectrum that cannot be analysed must not hide the others
                failures.append(exc)
                out.append({"file": str(f), "label": spec.label, "kind": kind, "error": str(exc), "peaks": [], "warnings": []})
                continue
            out.append(row)
            pairs.append((spec, r))
    if failures and not pairs:
        raise failures[0]
    result: dict[str, Any] = {"spectra": out}
    if plot is not None:
        from qdlab.spectra.plot import plot_fits, save_figure

        result["plot"] = str(save_figure(plot_fits(pairs), plot))

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"{kind} analysis", title_justify="left")
        for col in ("file", "label", "", "peak (nm)", "E (eV)", "FWHM (meV)", "FWHM (nm)", "fraction", "bimodal"):
            t.add_column(col)
        for s in d["spectra"]:
            name = Path(s["file"]).name
            if s.get("error"):
                t.add_row(name, s["label"], "error", s["error"][:80], "", "", "", "", "")
                continue
            if s["kind"] == "pl":
                modes = " + ".join(f"{w:.0f}" for w in s["mode_wavelengths_nm"]) if s["bimodal"] else "no"
                t.add_row(name, s["label"], "band", _num(s["peak_wavelength_nm"], ".1f"), _num(s["peak_energy_ev"], ".4f"),
                          _num(s["fwhm_mev"], ".1f"), _num(s["fwhm_nm"], ".1f"), "", modes)
            for i, p in enumerate(s["peaks"]):
                first = i == 0 and s["kind"] != "pl"
                t.add_row(
                    name if first else "", s["label"] if first else "",
                    "component" if s["kind"] == "pl" else "1st exciton",
                    _num(p["wavelength_nm"], ".1f"), _num(p["energy_ev"], ".4f"), _num(p["fwhm_mev"], ".1f"),
                    _num(p["fwhm_nm"], ".1f"), _num(p["area_fraction"], ".2f"), "",
                )
        out_console().print(t)
        if kind == "pl":
            print("band: maximum and FWHM of the band read off the data, less its measured background "
                  "(the numbers of 'qdlab spectra series'); components: the Gaussians that describe its shape")
        _print_warnings([w for s in d["spectra"] for w in s.get("warnings", [])])
        if d.get("plot"):
            print(f"figure: {d['plot']}")

    emit(result, json_out, render)


def _analyze_one(spec: Any, f: Path, kind: str, shape: str, max_components: int, baseline: str, resp: Any,
                 window: tuple[float, float] | None, material: str | None) -> tuple[dict[str, Any], Any]:
    """One spectrum's row (the same numbers as ``spectra series``) and its analysis."""
    from qdlab.spectra import analyze_pl
    from qdlab.spectra.absorption import analyze_absorbance
    from qdlab.spectra.series import absorbance_row, pl_row

    if kind == "pl":
        r = analyze_pl(spec, shape=shape, max_components=max_components, baseline=baseline, response=resp, window_nm=window)  # type: ignore[arg-type]
        d = r.to_dict()
        row = {
            "file": str(f),
            "label": spec.label,
            "kind": "pl",
            **pl_row(r),
            "modes_nm": list(r.modes_nm),
            "peaks": _pl_peak_rows(d["peaks"]),
            "bic": d["bic"],
            "r_squared": r.r_squared,
        }
        return row, r
    a = analyze_absorbance(spec, material=material)
    row = {
        "file": str(f),
        "label": spec.label,
        "kind": "absorbance",
        "bimodal": False,
        "peaks": list(a.peaks),
        **absorbance_row(a),
        "band_edge_ev": a.band_edge_ev,
    }
    return row, a


def _parse_qy(values: str | None, qy_file: Path | None) -> list[float | None] | dict[str, float] | None:
    """``--qy "22%,0.20,-"`` (aliquot order; '-' unknown) or ``--qy-file`` (CSV: aliquot_id,qy)."""

    def one(tok: str, field: str) -> float | None:
        tok = tok.strip()
        if tok in ("", "-", "nan", "NA"):
            return None
        try:
            return float(tok[:-1]) / 100 if tok.endswith("%") else float(tok)
        except ValueError:
            raise InputError(f"expected a fraction (0.22) or a percentage (22%), got {tok!r}", field=field) from None

    if values and qy_file:
        raise InputError("give --qy or --qy-file, not both", field="--qy")
    if values:
        return [one(v, "--qy") for v in values.split(",")]
    if qy_file:
        from qdlab.data.errors import FormatError

        out: dict[str, float] = {}
        lines = existing_file(qy_file, "QY file").read_text(encoding="utf-8", errors="replace").splitlines()
        for n, ln in enumerate(lines, 1):
            if not ln.strip() or ln.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in ln.replace(";", ",").replace("\t", ",").split(",")]
            if len(parts) < 2:
                raise FormatError("expected 'aliquot_id,qy'", path=qy_file, line=n)
            if n == 1 and parts[1].lower() in ("qy", "plqy", "qy_percent", "qy (%)"):
                continue
            v = one(parts[1], "--qy-file")
            if v is not None:
                out[parts[0]] = v
        return out
    return None


def series_cmd(
    path: Annotated[Path, typer.Argument(help="A folder of aliquot spectra (natural order: A2 before A10) or one file with one column per aliquot.")],
    kind: KindOpt = "pl",
    x_unit: XUnitOpt = None,
    qy: Annotated[str | None, typer.Option("--qy", help="PLQYs in aliquot order: '0.22,0.20,-' or '22%,20%'.")] = None,
    qy_file: Annotated[Path | None, typer.Option("--qy-file", help="CSV with aliquot_id,qy rows.")] = None,
    times: Annotated[str | None, typer.Option(
        "--times", help="Aliquot times in minutes, in aliquot order: '0,6,12,...' (when the files do not say); "
        "the --json output then feeds 'qdlab twin calibrate --data'.")] = None,
    shape: ShapeOpt = "gaussian",
    max_components: MaxCompOpt = 3,
    baseline: BaselineOpt = "none",
    window: FitWindowOpt = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Fit aliquots in parallel: 'local' processes or a Dask address tcp://host:port (default: in this process)."),
    ] = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Analyse an aliquot series: per-aliquot peak, FWHM, bimodality, QY, and the initial/brightest/final summary."""
    from qdlab.spectra.io import read_series
    from qdlab.spectra.series import analyze_absorbance_series, analyze_series

    _check_kind(kind)
    _check_plot(plot)
    if not path.exists():
        raise InputError(f"not found: {path}")
    from qdlab.data.types import SpectrumSeries

    raw = read_series(path, x_unit=x_unit)
    t_min = raw.time_min
    if times is not None:
        parts = [p.strip() for p in times.split(",")]
        if len(parts) != len(raw.aliquot_ids):
            raise InputError(f"{len(parts)} times for {len(raw.aliquot_ids)} aliquots "
                             f"({', '.join(raw.aliquot_ids)})", field="--times")
        try:
            t_min = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"expected numbers in minutes like '0,6,12', got {times!r}", field="--times") from None
    series = SpectrumSeries(tuple(_impose_kind(raw, kind)), t_min, raw.aliquot_ids, raw.meta)
    if kind == "absorbance":
        ab = analyze_absorbance_series(series)
        out_abs: dict[str, Any] = {"path": str(path), "kind": "absorbance", **ab.to_dict()}
        if plot is not None:
            from qdlab.spectra.plot import plot_stacked, save_figure

            out_abs["plot"] = str(save_figure(plot_stacked(series), plot))
        emit(out_abs, json_out, _render_abs_series)
        return
    from qdlab.compute import mapper

    res = analyze_series(
        series, _parse_qy(qy, qy_file), shape=shape, max_components=max_components, baseline=baseline,
        window_nm=window, map_fn=map if scheduler in (None, "serial") else mapper(scheduler, "PL fits"),
    )
    out: dict[str, Any] = {"path": str(path), "kind": "pl", **res.to_dict()}
    if plot is not None:
        from qdlab.spectra.plot import plot_series_overview, save_figure

        out["plot"] = str(save_figure(plot_series_overview(series, res), plot))

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"aliquot series: {d['path']}", title_justify="left")
        for col in ("aliquot", "t (min)", "PL peak (nm)", "FWHM (meV)", "FWHM (nm)", "bimodal", "QY (%)", "rel. PL"):
            t.add_column(col)
        for r in d["table"]:
            t.add_row(
                r["aliquot_id"],
                "" if r["time_min"] is None else f"{r['time_min']:g}",
                _num(r["peak_wavelength_nm"], ".1f"),
                _num(r["fwhm_mev"], ".1f"),
                _num(r["fwhm_nm"], ".1f"),
                " + ".join(f"{w:.0f}" for w in r["mode_wavelengths_nm"]) if r["bimodal"] else "no",
                "" if r["qy"] is None else f"{100 * r['qy']:.1f}",
                "" if r["relative_brightness"] is None else f"{r['relative_brightness']:.2f}",
            )
        out_console().print(t)
        s = Table(title=f"summary (brightest by {d['summary']['brightness_basis']})", title_justify="left")
        for col in ("", "aliquot", "PL peak (nm)", "QY (%)"):
            s.add_column(col)
        for k in ("initial", "brightest", "final"):
            p = d["summary"][k]
            s.add_row(k, p["aliquot_id"], f"{p['wavelength_nm']:.0f}", "" if p["qy"] is None else f"{100 * p['qy']:.1f}")
        out_console().print(s)
        _print_warnings(d["summary"].get("warnings", []))
        if d.get("plot"):
            print(f"figure: {d['plot']}")

    emit(out, json_out, render)


def stokes_cmd(
    absorbance: Annotated[Path, typer.Argument(help="Absorbance spectrum file (first exciton).")],
    pl: Annotated[Path, typer.Argument(help="Matching PL spectrum file.")],
    x_unit: XUnitOpt = None,
    window: FitWindowOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stokes shift between the first excitonic absorption peak and the PL maximum (meV and nm)."""
    from qdlab.spectra import analyze_pl, read_spectra, stokes_shift
    from qdlab.spectra.absorption import analyze_absorbance

    a = _impose_kind(read_spectra(existing_file(absorbance, "absorbance file"), x_unit=x_unit), "absorbance")
    p = _impose_kind(read_spectra(existing_file(pl, "PL file"), x_unit=x_unit), "pl")
    if len(a) != 1 or len(p) != 1:
        raise InputError(f"expected one spectrum per file, found {len(a)} and {len(p)}")
    ab = analyze_absorbance(a[0])
    em = analyze_pl(p[0], window_nm=window)
    st = stokes_shift(ab, em)
    out = {**st.to_dict(), "exciton_fwhm_mev": ab.exciton_fwhm_mev, "pl_fwhm_mev": em.fwhm_mev,
           "warnings": [*ab.warnings, *em.warnings]}

    def render(d: dict[str, Any]) -> None:
        key_value_table("Stokes shift", d, [
            ("absorption_nm", "first exciton (nm)"), ("emission_nm", "PL maximum (nm)"),
            ("absorption_ev", "first exciton (eV)"), ("emission_ev", "PL maximum (eV)"),
            ("shift_mev", "Stokes shift (meV)"), ("shift_nm", "Stokes shift (nm)"),
        ])
        _print_warnings(d["warnings"])

    emit(out, json_out, render)


# ------------------------------------------------------------------------------------------ plqy
WindowOpt = Annotated[tuple[float, float], typer.Option(help="Integration window LO HI in nm.")]
ResponseOpt = Annotated[
    Path | None, typer.Option("--response", help="Detector relative spectral response file (wavelength, counts per photon).")
]
YUnitsOpt = Annotated[str, typer.Option("--y-units", help="photons (photon-counting detector) or energy (radiometric W/nm).")]


def _one(path: Path, x_unit: str | None, what: str):
    from qdlab.spectra.io import read_spectra

    s = read_spectra(existing_file(path, what), x_unit=x_unit, kind="pl")
    if len(s) != 1:
        raise InputError(f"{path}: expected one spectrum for the {what}, found {len(s)}")
    return s[0]


def _response(path: Path | None, x_unit: str | None):
    return None if path is None else _one(path, x_unit, "response curve")


def _render_qy(d: dict[str, Any]) -> None:
    keys = [("method", "method"), ("qy_percent", "PLQY (%)"), ("absorptance", "absorptance"), ("photons_absorbed", "photons absorbed"), ("photons_emitted", "photons emitted")]
    key_value_table("photoluminescence quantum yield", d, keys)
    if d.get("reference"):
        r = d["reference"]
        print(f"reference: {r['name']} QY {100 * r['qy']:.3g} % ({r['source']}), solvent {r['solvent']} n={r['refractive_index']}")
    for w in d.get("warnings", []):
        print(f"warning: {w}")


def demello_cmd(
    empty: Annotated[Path, typer.Argument(help="(a) empty sphere.")],
    indirect: Annotated[Path, typer.Argument(help="(b) sample in the sphere, beam on the wall.")],
    direct: Annotated[Path, typer.Argument(help="(c) beam on the sample.")],
    excitation_window: WindowOpt = ...,  # type: ignore[assignment]
    emission_window: WindowOpt = ...,  # type: ignore[assignment]
    response: ResponseOpt = None,
    y_units: YUnitsOpt = "photons",
    x_unit: XUnitOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Absolute PLQY, de Mello three-measurement method (Adv. Mater. 1997, 9, 230)."""
    from qdlab.spectra.plqy import plqy_demello

    r = plqy_demello(
        _one(empty, x_unit, "empty-sphere spectrum"), _one(indirect, x_unit, "indirect spectrum"), _one(direct, x_unit, "direct spectrum"),
        excitation_nm=excitation_window, emission_nm=emission_window, response=_response(response, x_unit), y_units=y_units,
    )
    emit(r, json_out, _render_qy)


def two_step_cmd(
    blank: Annotated[Path, typer.Argument(help="Blank (solvent cuvette) in the sphere.")],
    sample: Annotated[Path, typer.Argument(help="Sample in the sphere.")],
    excitation_window: WindowOpt = ...,  # type: ignore[assignment]
    emission_window: WindowOpt = ...,  # type: ignore[assignment]
    response: ResponseOpt = None,
    y_units: YUnitsOpt = "photons",
    x_unit: XUnitOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Absolute PLQY, two-measurement sphere method (blank, then sample)."""
    from qdlab.spectra.plqy import plqy_two_step

    r = plqy_two_step(
        _one(blank, x_unit, "blank spectrum"), _one(sample, x_unit, "sample spectrum"),
        excitation_nm=excitation_window, emission_nm=emission_window, response=_response(response, x_unit), y_units=y_units,
    )
    emit(r, json_out, _render_qy)


def relative_cmd(
    sample: Annotated[Path, typer.Argument(help="Sample emission spectrum.")],
    reference: Annotated[Path, typer.Argument(help="Reference dye emission spectrum (same excitation and settings).")],
    sample_absorbance: Annotated[float, typer.Option(help="Sample absorbance (OD) at the excitation wavelength.")] = ...,  # type: ignore[assignment]
    reference_absorbance: Annotated[float, typer.Option(help="Reference absorbance (OD) at the excitation wavelength.")] = ...,  # type: ignore[assignment]
    reference_qy: Annotated[str, typer.Option(help="Reference QY as a fraction (with --reference-source) or a dye name (see 'qdlab plqy references').")] = ...,  # type: ignore[assignment]
    reference_source: Annotated[str | None, typer.Option(help="Provenance of a numeric --reference-qy.")] = None,
    sample_solvent: Annotated[str, typer.Option(help="Sample solvent name or refractive index.")] = "toluene",
    reference_solvent: Annotated[str | None, typer.Option(help="Reference solvent name or refractive index (default: the dye's).")] = None,
    emission_window: Annotated[tuple[float, float] | None, typer.Option(help="Integration window LO HI in nm (default: whole spectra).")] = None,
    response: ResponseOpt = None,
    y_units: YUnitsOpt = "photons",
    x_unit: XUnitOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Relative PLQY against a reference dye with refractive-index correction (Brouwer 2011)."""
    from qdlab.spectra.plqy import plqy_relative

    try:
        ref_qy: float | str = float(reference_qy[:-1]) / 100 if reference_qy.endswith("%") else float(reference_qy)
    except ValueError:
        ref_qy = reference_qy
    r = plqy_relative(
        _one(sample, x_unit, "sample spectrum"), _one(reference, x_unit, "reference spectrum"),
        sample_absorbance=sample_absorbance, reference_absorbance=reference_absorbance, reference_qy=ref_qy,
        reference_source=reference_source, sample_solvent=sample_solvent, reference_solvent=reference_solvent,
        emission_nm=emission_window, response=_response(response, x_unit), y_units=y_units,
    )
    emit(r, json_out, _render_qy)


def references_cmd(json_out: JsonOpt = False) -> None:
    """List the reference dyes shipped with qdlab (QY, solvent, source)."""
    from qdlab.spectra.plqy import reference_dyes

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title="reference dyes", title_justify="left")
        for col in ("name", "QY (%)", "solvent", "source"):
            t.add_column(col, overflow="fold")
        for name, e in d["dyes"].items():
            t.add_row(name, f"{100 * e['value']:.3g}", e["solvent"], e["source"])
        out_console().print(t)

    emit({"dyes": reference_dyes()}, json_out, render)


def register(app: typer.Typer) -> None:
    """Attach ``qdlab spectra`` and ``qdlab plqy`` to the root app."""
    spectra_app.command("analyze")(analyze)
    spectra_app.command("series")(series_cmd)
    spectra_app.command("stokes")(stokes_cmd)
    plqy_app.command("demello")(demello_cmd)
    plqy_app.command("two-step")(two_step_cmd)
    plqy_app.command("relative")(relative_cmd)
    plqy_app.command("references")(references_cmd)
    app.add_typer(spectra_app, name="spectra")
    app.add_typer(plqy_app, name="plqy")


__all__ = ["register", "spectra_app", "plqy_app"]
