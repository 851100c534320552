"""Figures: overlay of what was measured, and the size histogram with its lognormal fit (matplotlib, Agg)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qdlab.data.types import Micrograph
from qdlab.tem.measure import ParticleTable
from qdlab.tem.stats import SizeDistribution


def overlay_figure(micrograph: Micrograph, table: ParticleTable, max_px: int = 2048) -> Any:
    """The micrograph with every fitted edge drawn: accepted (cyan circles at the fitted diameter) and rejected
    candidates (red dashed, labelled with the reason), plus a scale bar.

    Parameters
    ----------
    micrograph
        The image that was measured.
    table
        From :func:`~qdlab.tem.measure.measure_particles`.
    max_px
        Images larger than this are shown binned (the circles stay exact).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse, Rectangle

    img = np.asarray(micrograph.image, dtype=np.float64)
    ny, nx = img.shape
    py, px = micrograph.nm_per_px
    lo, hi = np.percentile(img, [0.5, 99.5])
    size_in = 7.0
    fig = Figure(figsize=(size_in, size_in * ny / nx), dpi=max(100, min(300, int(max(ny, nx) / size_in))))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased", extent=(-0.5, nx - 0.5, ny - 0.5, -0.5))
    cols = table.columns
    for i in range(len(table)):
        d = cols["diameter_nm"][i]
        if not np.isfinite(d):
            continue
        ok = bool(cols["accepted"][i])
        ax.add_patch(Ellipse((cols["x_px"][i], cols["y_px"][i]), d / px, d / py, fill=False,
                             lw=0.8 if ok else 0.6, ec="#00e5ff" if ok else "#ff3b30", ls="-" if ok else "--"))
    # scale bar: a round length near 1/5 of the width
    width_nm = nx * px
    bar_nm = 10 ** math.floor(math.log10(width_nm / 5))
    for m in (5, 2):
        if m * bar_nm <= width_nm / 4:
            bar_nm *= m
            break
    bar_px = bar_nm / px
    x0, y0 = 0.04 * nx, 0.95 * ny
    ax.add_patch(Rectangle((x0, y0), bar_px, 0.012 * ny, color="white"))
    ax.text(x0 + bar_px / 2, y0 - 0.01 * ny, f"{bar_nm:g} nm", color="white", ha="center", va="bottom", fontsize=10)
    n_ok = int(np.sum(cols["accepted"]))
    ax.text(0.98 * nx, 0.03 * ny, f"N = {n_ok} measured, {len(table) - n_ok} rejected", color="white",
            ha="right", va="top", fontsize=9)
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(ny - 0.5, -0.5)
    ax.set_axis_off()
    return fig


def histogram_figure(dist: SizeDistribution, title: str | None = None) -> Any:
    """Histogram of diameters with the fitted lognormal density (scaled to counts) and the mean +/- SD.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3.4), dpi=200, layout="constrained")
    ax = fig.add_subplot()
    if dist.count:
        edges = dist.histogram_edges_nm
        ax.hist(dist.diameters_nm, bins=edges, color="#4c72b0", edgecolor="white", lw=0.6, label="TEM")
        if np.isfinite(dist.lognormal_sigma) and dist.lognormal_sigma > 0:
            x = np.linspace(edges[0], edges[-1], 300)
            mu, s = dist.lognormal_mu, dist.lognormal_sigma
            pdf = np.exp(-((np.log(x) - mu) ** 2) / (2 * s * s)) / (x * s * math.sqrt(2 * math.pi))
            ax.plot(x, pdf * dist.count * (edges[1] - edges[0]), color="#dd8452", lw=1.5,
                    label=f"lognormal, median {dist.lognormal_median_nm:.2f} nm")
        ax.axvline(dist.mean_diameter_nm, color="k", lw=1, ls="--")
    ax.set_xlabel("diameter (nm)")
    ax.set_ylabel("count")
    std = dist.std_diameter_nm
    ax.set_title(title or f"N = {dist.count}, mean {dist.mean_diameter_nm:.2f} ± {std:.2f} nm", fontsize=10)
    if dist.count:
        ax.set_ylim(0, 1.3 * max(1, int(dist.histogram_counts.max())))  # room for the legend above the bars
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    return fig


def save_figure(fig: Any, path: str) -> None:
    """Save a Figure (PNG/PDF/SVG by suffix) without touching pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path)


__all__ = ["overlay_figure", "histogram_figure", "save_figure"]
