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

spectra_app = typer.Typer(help="Absorption and PL spectra: read instrument files, fit bands, analyse aliquot series.", no_args_is_help=True)
plqy_app = typer.Typer(help="Photoluminescence quantum yield: integrating sphere (de Mello, two-step) or relative to a dye.", no_args_is_help=True)


def _check_kind(kind: str) -> str:
    if kind not in ("pl", "absorbance"):
        raise InputError(f"expected pl or absorbance, got {kind!r}", field="--kind")
    return kind


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
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit every spectrum in the files: PL bands (peak, FWHM, fractions, bimodality) or the first exciton."""
    from qdlab.spectra import analyze_pl, read_spectra
    from qdlab.spectra.absorption import analyze_absorbance

    _check_kind(kind)
    out: list[dict[str, Any]] = []
    pairs = []
    for f in files:
        series = read_spectra(existing_file(f, "spectrum file"), x_unit=x_unit, kind=kind)
        for spec in series:
            if kind == "pl":
                r = analyze_pl(spec, shape=shape, max_components=max_components, baseline=baseline)  # type: ignore[arg-type]
                d = r.to_dict()
                row = {
                    "file": str(f),
                    "label": spec.label,
                    "kind": "pl",
                    "bimodal": r.bimodal,
                    "n_components": r.n_components,
                    "peak_wavelength_nm": r.peak_wavelength_nm,
                    "peak_energy_ev": r.peak_energy_ev,
                    "fwhm_mev": r.fwhm_mev,
                    "fwhm_nm": r.fwhm_nm,
                    "peaks": _pl_peak_rows(d["peaks"]),
                    "bic": d["bic"],
                    "r_squared": r.r_squared,
                }
            else:
                a = analyze_absorbance(spec)
                row = {
                    "file": str(f),
                    "label": spec.label,
                    "kind": "absorbance",
                    "bimodal": False,
                    "peaks": list(a.peaks),
                    "exciton_wavelength_nm": a.exciton_wavelength_nm,
                    "exciton_energy_ev": a.exciton_energy_ev,
                    "band_edge_ev": a.band_edge_ev,
                    "onset_nm": a.onset_nm,
                }
                r = a
            out.append(row)
            pairs.append((spec, r))
    result: dict[str, Any] = {"spectra": out}
    if plot is not None:
        from qdlab.spectra.plot import plot_fits, save_figure

        result["plot"] = str(save_figure(plot_fits(pairs), plot))

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"{kind} analysis", title_justify="left")
        for col in ("file", "label", "peak (nm)", "E (eV)", "FWHM (meV)", "FWHM (nm)", "fraction", "bimodal"):
            t.add_column(col)
        for s in d["spectra"]:
            for i, p in enumerate(s["peaks"]):
                t.add_row(
                    Path(s["file"]).name if i == 0 else "",
                    s["label"] if i == 0 else "",
                    f"{p['wavelength_nm']:.1f}",
                    f"{p['energy_ev']:.4f}",
                    f"{p['fwhm_mev']:.1f}",
                    f"{p['fwhm_nm']:.1f}",
                    f"{p['area_fraction']:.2f}",
                    ("yes" if s["bimodal"] else "no") if i == 0 else "",
                )
        out_console().print(t)
        if d.get("plot"):
            print(f"figure: {d['plot']}")

    emit(result, json_out, render)


def register(app: typer.Typer) -> None:
    """Attach ``qdlab spectra`` and ``qdlab plqy`` to the root app."""
    spectra_app.command("analyze")(analyze)
    app.add_typer(spectra_app, name="spectra")
    app.add_typer(plqy_app, name="plqy")


__all__ = ["register", "spectra_app", "plqy_app", "key_value_table"]
