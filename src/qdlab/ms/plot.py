"""Figures for mass spectra: picked peaks, labelled peak assignments and molecular-ion size modes (matplotlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qdlab.data.types import MassSpectrum

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from qdlab.ms.analysis import AnalysisResult
    from qdlab.ms.peaks import PeakList
    from qdlab.ms.preprocess import Preprocessed
    from qdlab.ms.size import SizeResult


def plot_spectrum(spectrum: MassSpectrum, *, ax=None, label: str = "") -> Figure:
    """Plot intensity vs m/z; returns the Figure."""
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(8, 4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.plot(spectrum.mz, spectrum.intensity, lw=0.8, label=label or None)
    ax.set_xlabel("m/z (Da)")
    ax.set_ylabel("intensity (counts)")
    return fig


def plot_analysis(result: AnalysisResult, *, top: int = 1) -> Figure:
    """Baseline-corrected spectrum with each picked peak labelled by its best candidate formula(s)."""
    from matplotlib.figure import Figure

    pre = result.preprocessed
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(pre.mz, pre.linear, lw=0.8, color="0.2")
    ymax = float(np.max(pre.linear)) if pre.linear.size else 1.0
    for pk, asg in zip(result.peak_list.rows(), result.assignment.peaks, strict=True):
        y = float(np.interp(pk["mz_da"], pre.mz, pre.linear))
        names = [c.formula for c in asg.candidates[:top]] or ["?"]
        ax.annotate("\n".join(names) + f"\n{pk['mz_da']:.1f}", (pk["mz_da"], y), xytext=(0, 6), textcoords="offset points",
                    ha="center", va="bottom", fontsize=7, rotation=90)
        ax.axvline(pk["mz_da"], color="tab:red", lw=0.5, alpha=0.4)
    ax.set_ylim(top=1.6 * ymax if ymax > 0 else 1.0)
    ax.set_xlabel("m/z (Da)")
    ax.set_ylabel("intensity, baseline-corrected (counts)")
    ax.set_title(result.source or "MALDI-TOF", fontsize=9)
    return fig


def plot_peaks(pre: Preprocessed, peaks: PeakList, *, title: str = "") -> Figure:
    """Baseline-corrected (linear) spectrum with each peak's centroid and its own half-maximum span."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(pre.mz, pre.linear, lw=0.8, color="0.2")
    for r in peaks.rows():
        y = float(np.interp(r["mz_da"], pre.mz, pre.linear))
        ax.axvline(r["mz_da"], color="tab:red", lw=0.5, alpha=0.5)
        ax.hlines(y / 2 if not r["fwhm_truncated"] else y * 0.45, r["fwhm_left_mz_da"], r["fwhm_right_mz_da"],
                  color="tab:orange" if r["fwhm_truncated"] else "tab:blue", lw=1.2)
    ax.set_xlabel("m/z (Da)")
    ax.set_ylabel("intensity, baseline-corrected (counts)")
    ax.set_title(title or f"{len(peaks)} peaks", fontsize=9)
    return fig


def plot_size(result: SizeResult) -> Figure:
    """Smoothed molecular-ion band with its modes and diameters."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(result.mass_da / 1000, result.band, color="0.2")
    for m in result.modes:
        ax.axvline(m.mass_da / 1000, color="tab:blue", lw=0.8)
        ax.annotate(f"{m.mass_da / 1000:.1f} kDa\n{m.diameter_nm:.2f} nm", (m.mass_da / 1000, m.height),
                    xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set_xlabel("mass (kDa)")
    ax.set_ylabel("intensity, smoothed (a.u.)")
    ax.set_title(result.assumptions.get("statement", ""), fontsize=7, wrap=True)
    return fig


__all__ = ["plot_spectrum", "plot_analysis", "plot_peaks", "plot_size"]
