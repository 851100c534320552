"""Figures for powder XRD results (matplotlib; every function returns a Figure and never shows it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from qdlab.xrd.debye import DebyePattern
    from qdlab.xrd.match import MatchResult, SizeFit
    from qdlab.xrd.pattern import ReferencePattern


def _figure(nrows: int = 1, height_ratios: list[float] | None = None) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0 if nrows > 1 else 4.0), layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=True, gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, list(np.atleast_1d(axes))


def _sticks(ax, reference: ReferencePattern, top: float, label: str) -> None:
    tt = reference.two_theta_deg
    h = reference.relative_intensity / 100.0 * top
    ax.vlines(tt, 0, h, color="tab:gray", lw=0.8, label=label)


def plot_size_fit(fit: SizeFit, reference: ReferencePattern | None = None, title: str | None = None) -> Figure:
    """Observed pattern, Debye model, background and residual; optional reference sticks."""
    fig, (ax, axr) = _figure(2, [3, 1])
    ax.plot(fit.two_theta_deg, fit.observed, ".", ms=2, color="k", label="observed")
    ax.plot(fit.two_theta_deg, fit.model, color="tab:red", lw=1.2, label=f"Debye fit, D = {fit.diameter_nm:.2f} nm")
    ax.plot(fit.two_theta_deg, fit.background, color="tab:blue", lw=0.8, ls="--", label="background")
    if reference is not None:
        top = 0.3 * float(np.max(fit.observed - fit.background))
        _sticks(ax, reference, top, f"bulk {reference.phase}")
    ax.set_ylabel("intensity (counts)")
    ax.legend(fontsize=8)
    ax.set_title(title or f"{fit.phase}: D = {fit.diameter_nm:.2f} +/- {fit.diameter_std_nm:.2f} nm, Rwp = {fit.rwp:.3f}")
    axr.plot(fit.two_theta_deg, fit.observed - fit.model, lw=0.6, color="k")
    axr.axhline(0, color="tab:gray", lw=0.5)
    axr.set_xlabel("2-theta (deg)")
    axr.set_ylabel("residual")
    return fig


def plot_match(result: MatchResult, reference: ReferencePattern | None = None) -> Figure:
    """Plot the Cd3P2 fit of a phase check with the ranking in the title."""
    ranking = ", ".join(f"{s.phase} {s.rwp:.3f}" for s in result.scores)
    if result.size_fit is None:
        fig, (ax,) = _figure(1)
        ax.set_title(f"no Cd3P2 signal; Rwp: {ranking}")
        return fig
    best = result.scores[0]
    if not result.matched:
        title = f"NO PHASE MATCHED (best: {best.phase}, Rwp {best.rwp:.2f}); the Cd3P2 D is no result"
    else:
        bound = " (at a bound)" if result.size_fit.at_bound else ""
        title = (f"best phase: {best.phase} (Rwp {best.rwp:.3f}, weight {best.weight:.2f}); "
                 f"D = {result.size_fit.diameter_nm:.2f} nm{bound}")
    return plot_size_fit(result.size_fit, reference, title=title)


def plot_pattern(pattern: DebyePattern, reference: ReferencePattern | None = None) -> Figure:
    """A simulated Debye pattern, normalised to its maximum, with optional reference sticks."""
    fig, (ax,) = _figure(1)
    y = pattern.intensity / np.max(pattern.intensity)
    ax.plot(pattern.two_theta_deg, y, color="tab:red", label=f"{pattern.phase}, D = {pattern.diameter_nm:g} nm (Debye)")
    if reference is not None:
        _sticks(ax, reference, 1.0, f"bulk {reference.phase}")
    ax.set_xlabel("2-theta (deg)")
    ax.set_ylabel("normalised intensity")
    ax.legend(fontsize=8)
    return fig


__all__ = ["plot_size_fit", "plot_match", "plot_pattern"]
