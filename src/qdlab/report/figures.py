"""The report's figures, drawn with matplotlib (Agg) from the run's arrays and results.

Each function returns a matplotlib Figure; :func:`qdlab.workflow.tasks.png` renders it. Domain plot
functions are preferred where a domain ships one (MS, TEM overlays are drawn in the workers); these
cover the series-level views that belong to no single domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qdlab.units import HC_EV_NM


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pl_waterfall(spectra: Sequence[tuple[str, np.ndarray, np.ndarray]], *, offset: float = 0.6,
                 ylabel: str = "normalised PL (offset)", title: str = "PL of the aliquots") -> Any:
    """Normalised spectra of the aliquots, stacked (PL: the paper's Fig. 3; absorbance: Fig. 2a).

    Parameters
    ----------
    spectra
        ``(label, wavelength_nm, intensity)`` per aliquot, in order.
    offset
        Vertical shift between consecutive normalised spectra.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.42 * max(len(spectra), 1)))
    cmap = plt.get_cmap("viridis")
    for i, (label, lam, y) in enumerate(spectra):
        lam = np.asarray(lam, dtype=float)
        y = np.asarray(y, dtype=float)
        order = np.argsort(lam)
        peak = np.nanmax(y) if np.any(np.isfinite(y)) and np.nanmax(y) > 0 else 1.0
        color = cmap(i / max(len(spectra) - 1, 1))
        ax.plot(lam[order], y[order] / peak + i * offset, color=color, lw=1.2)
        ax.text(lam[order][-1], i * offset + 0.08, f" {label}", fontsize=8, color=color, va="bottom")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel(ylabel)
    ax.set_yticks([])
    ax.set_title(title)
    return fig


def series_trends(rows: Sequence[Mapping[str, Any]]) -> Any:
    """PL peak, FWHM and PLQY against aliquot (three stacked panels sharing the x axis)."""
    plt = _plt()
    labels = [str(r["aliquot"]) for r in rows]
    x = np.arange(len(rows))

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])

    fig, axes = plt.subplots(3, 1, figsize=(6.4, 6.0), sharex=True)
    for ax, key, ylabel, color in (
        (axes[0], "pl_peak_nm", "PL peak (nm)", "tab:red"),
        (axes[1], "fwhm_mev", "FWHM (meV)", "tab:blue"),
        (axes[2], "qy_percent", "PLQY (%)", "tab:green"),
    ):
        y = col(key)
        ax.plot(x, y, "o-", color=color)
        ax.set_ylabel(ylabel)
        if not np.any(np.isfinite(y)):
            ax.text(0.5, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", color="gray")
        ax.grid(alpha=0.3)
    axes[-1].set_xticks(x, labels)
    axes[-1].set_xlabel("aliquot")
    fig.align_ylabels(axes)
    return fig


def mass_spectrum(mz: np.ndarray, intensity: np.ndarray, peaks: Sequence[Mapping[str, Any]], title: str) -> Any:
    """A mass spectrum with its assigned peaks annotated by formula (or mass)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    mz = np.asarray(mz, dtype=float)
    y = np.asarray(intensity, dtype=float)
    ax.plot(mz, y, lw=0.7, color="black")
    top = float(np.nanmax(y)) if y.size else 1.0
    for p in list(peaks)[:12]:
        m = p.get("mass_da", p.get("mz"))
        if not isinstance(m, (int, float)):
            continue
        cands = p.get("candidates") or []
        label = cands[0].get("formula") if cands and isinstance(cands[0], Mapping) else f"{m:.1f}"
        yy = float(np.interp(m, mz, y)) if mz.size else top
        ax.annotate(str(label), (m, yy), xytext=(0, 12), textcoords="offset points", fontsize=7, rotation=90,
                    ha="center", arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set_xlabel("m/z (Da)")
    ax.set_ylabel("intensity")
    ax.set_title(title, fontsize=9)
    return fig


def tem_histogram(groups: Sequence[tuple[str, np.ndarray]]) -> Any:
    """Histograms of TEM particle diameters, one per sample (e.g. before and after overgrowth)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    allv = np.concatenate([np.asarray(d, dtype=float) for _, d in groups]) if groups else np.array([1.0])
    bins = np.linspace(np.nanmin(allv) * 0.9, np.nanmax(allv) * 1.1, 30) if allv.size else 20
    for label, d in groups:
        d = np.asarray(d, dtype=float)
        ax.hist(d, bins=bins, alpha=0.55, label=f"{label}: {np.mean(d):.2f} ± {np.std(d, ddof=1) if d.size > 1 else 0:.2f} nm (n={d.size})")
    ax.set_xlabel("diameter (nm)")
    ax.set_ylabel("particles")
    ax.legend(fontsize=8)
    ax.set_title("TEM size distributions")
    return fig


def xrd_fit(two_theta_deg: np.ndarray, intensity: np.ndarray, fit: np.ndarray | None, title: str) -> Any:
    """A powder pattern with the fitted model (if any) and the residual."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.plot(two_theta_deg, intensity, lw=0.8, color="black", label="measured")
    if fit is not None:
        ax.plot(two_theta_deg, fit, lw=1.2, color="tab:red", label="fit")
        ax.plot(two_theta_deg, np.asarray(intensity) - np.asarray(fit), lw=0.6, color="tab:gray", label="residual")
    ax.set_xlabel("2θ (deg)")
    ax.set_ylabel("intensity")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def twin_vs_measured(rows: Sequence[Mapping[str, Any]], predicted_nm: Sequence[float] | None,
                     predicted_time_min: Sequence[float] | None) -> Any:
    """Measured PL peaks (points) against the calibrated twin's prediction (line), versus time."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    t = [r["time_min"] for r in rows if r.get("pl_peak_nm") is not None]
    y = [r["pl_peak_nm"] for r in rows if r.get("pl_peak_nm") is not None]
    ax.plot(t, y, "o", color="black", label="measured")
    if predicted_nm is not None and predicted_time_min is not None:
        ax.plot(predicted_time_min, predicted_nm, "-", color="tab:red", label="twin (calibrated)")
    ax.set_xlabel("time since injection start (min)")
    ax.set_ylabel("PL peak (nm)")
    sec = ax.secondary_yaxis("right", functions=(lambda nm: HC_EV_NM / np.maximum(nm, 1e-9),
                                                 lambda ev: HC_EV_NM / np.maximum(ev, 1e-9)))
    sec.set_ylabel("PL peak (eV)")
    ax.legend(fontsize=8)
    ax.set_title("Twin vs measured")
    return fig


__all__ = ["pl_waterfall", "series_trends", "mass_spectrum", "tem_histogram", "xrd_fit", "twin_vs_measured"]
