"""Publication-quality figures of optical spectra (matplotlib, Agg backend; every function returns a Figure).

- :func:`plot_fits`: spectra with their fitted components (energy axis, wavelength on top).
- :func:`plot_stacked`: stacked, normalised PL of an aliquot series, like Figs. 2-3 of the reference paper.
- :func:`plot_trends`: peak wavelength, FWHM and QY against aliquot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.types import Spectrum, SpectrumSeries
from qdlab.units import HC_EV_NM


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_STYLE = {
    "font.size": 9,
    "axes.linewidth": 0.8,
    "axes.labelsize": 9,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": False,
    "ytick.right": True,
    "legend.frameon": False,
    "savefig.dpi": 300,
    "figure.dpi": 100,
}


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a figure (PNG/PDF/SVG by extension) and close it; returns the path."""
    from qdlab.data.errors import InputError

    p = Path(path)
    if p.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"figure file must end in .png, .pdf or .svg, got {p.name!r}", field="--plot")
    if p.parent and not p.parent.exists():
        raise InputError(f"folder does not exist: {p.parent}", field="--plot")
    fig.savefig(p, bbox_inches="tight")
    _plt().close(fig)
    return p


def _wavelength_top_axis(ax: Any) -> None:
    """Wavelength ticks on top of an energy axis, placed under the energy ticks and rounded to 10/50 nm."""
    top = ax.secondary_xaxis("top", functions=(lambda e: HC_EV_NM / np.clip(e, 1e-6, None), lambda lam: HC_EV_NM / np.clip(lam, 1e-6, None)))
    lo, hi = sorted(ax.get_xlim())
    energies = [e for e in ax.get_xticks() if lo <= e <= hi and e > 0]
    ticks = []
    for e in energies:
        lam = HC_EV_NM / e
        step = 10.0 if lam < 1000 else 50.0
        r = step * round(lam / step)
        if r not in ticks:
            ticks.append(r)
    if ticks:
        top.set_xticks(ticks)
    top.set_xlabel("Wavelength (nm)")


def plot_fits(pairs: Sequence[tuple[Spectrum, Any]]) -> Any:
    """One panel per spectrum: data on the energy axis with the fitted components (PL) or exciton (absorbance)."""
    from qdlab.spectra.fit import PLAnalysis
    from qdlab.spectra.preprocess import to_energy
    from qdlab.spectra.synth import gaussian_ev, voigt_ev
    from qdlab.units import FWHM_PER_SIGMA

    plt = _plt()
    n = max(len(pairs), 1)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(n, 1, figsize=(3.4, 2.4 * n), squeeze=False)
        for ax, (spec, res) in zip(axes[:, 0], pairs, strict=False):
            if isinstance(res, PLAnalysis):
                s = to_energy(spec, emission=True)
                ax.plot(s.x, s.y, ".", ms=1.5, color="0.4", label="data")
                grid = np.linspace(s.x[0], s.x[-1], 2000)
                e0 = 0.5 * (s.x[0] + s.x[-1])
                bg = res.background[0] + res.background[1] * (grid - e0)
                total = bg.copy()
                for i, pk in enumerate(res.peaks):
                    if pk.shape == "voigt":
                        comp = voigt_ev(grid, pk.energy_ev, pk.gaussian_fwhm_mev / 1000 / FWHM_PER_SIGMA, pk.lorentz_hwhm_mev / 1000, pk.area)
                    else:
                        comp = gaussian_ev(grid, pk.energy_ev, pk.fwhm_mev / 1000, pk.area)
                    total += comp
                    ax.plot(grid, comp + bg, "--", lw=0.8, label=f"{pk.wavelength_nm:.0f} nm")
                    del i
                ax.plot(grid, total, "-", lw=1.0, color="k", label="fit")
                ax.set_ylabel("PL (photons / eV)")
                ax.set_title(f"{spec.label}{' (bimodal)' if res.bimodal else ''}", fontsize=8)
            else:
                s = to_energy(spec, emission=False)
                ax.plot(s.x, s.y, "-", lw=1.0, color="k")
                ax.axvline(res.exciton_energy_ev, color="C3", lw=0.8, ls="--", label=f"1st exciton {res.exciton_wavelength_nm:.0f} nm")
                ax.set_ylabel("Absorbance (OD)")
                ax.set_title(spec.label, fontsize=8)
            ax.set_xlabel("Energy (eV)")
            _wavelength_top_axis(ax)
            ax.legend(fontsize=6)
        fig.tight_layout()
    return fig


def plot_stacked(series: SpectrumSeries, *, offset: float = 1.0, x_unit: str = "nm", cmap: str = "viridis") -> Any:
    """Stacked, max-normalised PL of every aliquot (first at the bottom), like Figs. 2-3 of the paper."""
    plt = _plt()
    n = len(series)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 1.0 + 0.45 * n))
        colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.9, max(n, 1)))
        for i, spec in enumerate(series):
            s = spec.to_wavelength() if x_unit == "nm" else spec.to_energy()
            y = s.y / np.nanmax(s.y)
            ax.plot(s.x, y + i * offset, color=colors[i], lw=1.0)
            t = series.time_min[i]
            tag = series.aliquot_ids[i] + (f" ({t:g} min)" if np.isfinite(t) else "")
            ax.text(s.x[-1], i * offset + 0.15, tag, fontsize=6, ha="right")
        ax.set_xlabel("Wavelength (nm)" if x_unit == "nm" else "Energy (eV)")
        ax.set_ylabel("Normalised PL (offset)")
        ax.set_yticks([])
        fig.tight_layout()
    return fig


def plot_trends(analysis: Any) -> Any:
    """Peak wavelength, FWHM and (if known) QY against aliquot for a :class:`~qdlab.spectra.series.SeriesAnalysis`."""
    plt = _plt()
    rows = analysis.table
    ids = [r["aliquot_id"] for r in rows]
    x = np.arange(len(rows))
    qy = np.array([np.nan if r.get("qy") is None else r["qy"] for r in rows], dtype=float)
    has_qy = bool(np.any(np.isfinite(qy)))
    npan = 3 if has_qy else 2
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(npan, 1, figsize=(3.4, 1.6 * npan), sharex=True)
        axes[0].plot(x, [r["peak_wavelength_nm"] for r in rows], "o-", ms=3, color="C0")
        bim = [i for i, r in enumerate(rows) if r["bimodal"]]
        for i in bim:
            for w in rows[i]["mode_wavelengths_nm"]:
                axes[0].plot(i, w, "s", ms=3, mfc="none", color="C3")
        axes[0].set_ylabel("PL peak (nm)")
        axes[1].plot(x, [r["fwhm_mev"] for r in rows], "o-", ms=3, color="C1")
        axes[1].set_ylabel("FWHM (meV)")
        if has_qy:
            axes[2].plot(x, 100 * qy, "o-", ms=3, color="C2")
            axes[2].set_ylabel("PLQY (%)")
        axes[-1].set_xticks(x)
        axes[-1].set_xticklabels(ids, rotation=0, fontsize=7)
        axes[-1].set_xlabel("Aliquot")
        fig.tight_layout()
    return fig


def plot_series_overview(series: SpectrumSeries, analysis: Any) -> Any:
    """Stacked normalised PL (left) and peak / FWHM / QY against aliquot (right) in one figure."""
    plt = _plt()
    rows = analysis.table
    n = len(series)
    qy = np.array([np.nan if r.get("qy") is None else r["qy"] for r in rows], dtype=float)
    has_qy = bool(np.any(np.isfinite(qy)))
    npan = 3 if has_qy else 2
    with plt.rc_context(_STYLE):
        fig = plt.figure(figsize=(7.0, max(3.2, 0.9 + 0.35 * n)))
        gs = fig.add_gridspec(npan, 2, width_ratios=(1.1, 1.0))
        ax = fig.add_subplot(gs[:, 0])
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(n, 1)))
        for i, spec in enumerate(series):
            s = spec.to_wavelength()
            ax.plot(s.x, s.y / np.nanmax(s.y) + i, color=colors[i], lw=1.0)
            ax.text(s.x[-1], i + 0.15, series.aliquot_ids[i], fontsize=6, ha="right")
        ax.set_xlabel("Wavelength (nm)")
        ax.set_ylabel("Normalised PL (offset)")
        ax.set_yticks([])
        x = np.arange(len(rows))
        axes = [fig.add_subplot(gs[k, 1]) for k in range(npan)]
        axes[0].plot(x, [r["peak_wavelength_nm"] for r in rows], "o-", ms=3, color="C0")
        for i, r in enumerate(rows):
            if r["bimodal"]:
                axes[0].plot([i] * len(r["mode_wavelengths_nm"]), r["mode_wavelengths_nm"], "s", ms=3, mfc="none", color="C3")
        axes[0].set_ylabel("PL peak (nm)")
        axes[1].plot(x, [r["fwhm_mev"] for r in rows], "o-", ms=3, color="C1")
        axes[1].set_ylabel("FWHM (meV)")
        if has_qy:
            axes[2].plot(x, 100 * qy, "o-", ms=3, color="C2")
            axes[2].set_ylabel("PLQY (%)")
        for a in axes[:-1]:
            a.set_xticklabels([])
        axes[-1].set_xticks(x)
        axes[-1].set_xticklabels([r["aliquot_id"] for r in rows], fontsize=6)
        axes[-1].set_xlabel("Aliquot")
        fig.tight_layout()
    return fig


__all__ = ["plot_fits", "plot_stacked", "plot_trends", "plot_series_overview", "save_figure"]
