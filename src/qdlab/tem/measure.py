"""Per-particle measurements: fitted edge diameter, Feret diameters, circularity, solidity, filters.

For every candidate from :func:`qdlab.tem.segment.segment_particles`:

* the centre is the contrast-weighted centroid of its region;
* the azimuthally averaged contrast profile around it (pixels of other particles, dilated by a small guard, are
  left out so that touching neighbours do not bias it) is fitted with the blurred projected-sphere (or disk)
  model of :mod:`qdlab.tem.profile`; ``diameter_nm = 2 R`` is the particle's equivalent-circle diameter at its
  physical edge, free of the threshold bias;
* the point-spread width is fitted once per image on the cleanest isolated particles unless given;
* shape descriptors come from the region above half the fitted peak contrast: area, equivalent-circle diameter
  of that region, maximum and minimum Feret diameters (rotating calipers on the convex hull of pixel corners),
  circularity ``4 pi A / P^2`` with the Crofton perimeter (unbiased on pixel grids, unlike a boundary-pixel
  count), and solidity;
* filters (ImageJ "Analyze Particles" style): touching the image border, diameter range, circularity and
  solidity minimums (unsplit aggregates), failed fits.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from qdlab.data.errors import InputError
from qdlab.data.types import Micrograph, Result
from qdlab.tem._kernels import (
    _CROFTON4,
    crofton_codes,
    half_max_region,
    hull_metrics,
    hull_of_pixels,
    jackknife_se,
    label_moments,
    other_label_in_box,
    ring_profiles,
)
from qdlab.tem.profile import EdgeModel, fit_radius, fit_radius_batch, model_table
from qdlab.tem.segment import Segmentation, segment_defaults, segment_particles

ADAPT_TOLERANCE = 0.25
"""Relative mismatch between measured median and expected diameter that triggers a second pass."""

SECTORS = 8
"""Angular sectors of the delete-one-sector jackknife (each wider than the carbon-texture grain)."""

COLUMNS = (
    "label", "x_px", "y_px", "x_nm", "y_nm", "diameter_nm", "area_nm2", "ecd_half_max_nm", "feret_max_nm",
    "feret_min_nm", "circularity", "solidity", "contrast", "fit_rms", "diameter_err_nm", "touches_border", "edge_at_bound",
    "accepted",
)


@dataclass(frozen=True, eq=False)
class ParticleTable(Result):
    """One row per particle candidate; ``accepted`` marks the ones that pass every filter.

    Attributes
    ----------
    columns
        Mapping column name -> array (see :data:`COLUMNS`). ``diameter_nm`` is the fitted edge diameter,
        ``ecd_half_max_nm`` the equivalent-circle diameter of the half-maximum region.
    reject_reason
        Empty string for accepted particles, else ``border`` (the segmented region touches the image edge or the
        fitted disk leaves the field), ``fit`` (no edge found; ``edge_at_bound`` marks fits that ended at a bound
        of the radius search), ``size``, ``circularity``, ``solidity``, ``uncertain``.
    nm_per_px
        Pixel size ``(y, x)``.
    psf_sigma_nm
        Point-spread width used by the fit (fitted or given).
    edge_model
        ``sphere`` or ``disk``.
    params
        Filters and options used.
    timings_s
        Seconds per step.
    """

    columns: dict[str, NDArray[Any]]
    reject_reason: list[str]
    nm_per_px: tuple[float, float]
    psf_sigma_nm: float
    edge_model: str
    params: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reject_reason)

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self.columns[name]

    @property
    def accepted(self) -> NDArray[np.bool_]:
        """Mask of particles that passed all filters."""
        return self.columns["accepted"]

    @property
    def diameters_nm(self) -> NDArray[np.float64]:
        """Fitted diameters of the accepted particles."""
        return self.columns["diameter_nm"][self.accepted]

    def rows(self, accepted_only: bool = False) -> list[dict[str, Any]]:
        """The table as a list of plain dicts (JSON-ready)."""
        out = []
        for i in range(len(self)):
            if accepted_only and not self.accepted[i]:
                continue
            row = {k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in self.columns.items()}
            row["reject_reason"] = self.reject_reason[i]
            out.append(row)
        return out

    def to_pandas(self):
        """The table as a :class:`pandas.DataFrame`."""
        import pandas as pd

        df = pd.DataFrame({k: np.asarray(v) for k, v in self.columns.items()})
        df["reject_reason"] = self.reject_reason
        return df

    def to_dict(self) -> dict[str, Any]:
        return {
            "particles": self.rows(), "nm_per_px": list(self.nm_per_px), "psf_sigma_nm": self.psf_sigma_nm,
            "edge_model": self.edge_model, "params": self.params, "timings_s": self.timings_s,
            "warnings": self.warnings,
        }


def measure_defaults() -> dict[str, Any]:
    """Filter defaults (values only) from ``resources/tem/defaults.toml``."""
    return segment_defaults()


def crofton_perimeter(mask: NDArray[np.bool_]) -> float:
    """Crofton perimeter (4 directions) of a binary region, in pixels.

    The same estimator and look-up table as :func:`skimage.measure.perimeter_crofton` (``directions=4``),
    computed from a histogram of the 2 x 2 configuration codes in one compiled pass instead of a convolution
    (this runs once per particle, so the fixed cost matters).

    Examples
    --------
    >>> from skimage.measure import perimeter_crofton
    >>> yy, xx = np.mgrid[-20:21, -20:21]
    >>> disk = xx**2 + yy**2 <= 15**2
    >>> bool(np.isclose(crofton_perimeter(disk), perimeter_crofton(disk, directions=4)))
    True
    """
    return float(_CROFTON4 @ crofton_codes(np.ascontiguousarray(mask, dtype=np.bool_)))


def shape_descriptors(mask: NDArray[np.bool_], spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, float]:
    """Area, Crofton perimeter, circularity, solidity and Feret diameters of one binary region.

    The convex hull is that of the pixel corners (only the first and last pixel of each row contribute),
    computed by a monotone chain; the maximum Feret diameter is the largest distance between hull vertices and
    the minimum one the smallest, over the hull edges, of the largest vertex distance from the edge's line.

    Parameters
    ----------
    mask
        The region (one connected object).
    spacing
        Pixel size ``(y, x)``; outputs are in its unit.

    Examples
    --------
    >>> yy, xx = np.mgrid[-30:31, -30:31]
    >>> d = shape_descriptors(xx**2 + yy**2 <= 25**2)
    >>> round(d["feret_max"]), round(d["circularity"], 1)
    (51, 1.0)
    """
    sy, sx = float(spacing[0]), float(spacing[1])
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    area_px = float(np.count_nonzero(mask))
    nan = float("nan")
    if area_px == 0:
        return {"area": 0.0, "perimeter": nan, "circularity": nan, "solidity": nan, "feret_max": nan, "feret_min": nan}
    per_px = crofton_perimeter(mask)
    area = area_px * sy * sx
    perimeter = per_px * math.sqrt(sy * sx)
    v = hull_of_pixels(mask, sy, sx)
    if v.shape[0] < 3:  # degenerate spacing (a zero pixel size)
        return {"area": area, "perimeter": perimeter, "circularity": nan, "solidity": nan, "feret_max": nan,
                "feret_min": nan}
    hull_area, feret_max, feret_min = hull_metrics(v)
    circ = min(1.0, 4 * math.pi * area / perimeter**2) if perimeter > 0 else nan
    solidity = min(1.0, area / hull_area) if hull_area > 0 else nan
    return {"area": area, "perimeter": perimeter, "circularity": circ, "solidity": solidity,
            "feret_max": float(feret_max), "feret_min": float(feret_min)}


def _window(shape: tuple[int, int], cy: float, cx: float, half: float) -> tuple[slice, slice]:
    y0 = max(math.floor(cy - half), 0)
    y1 = min(math.ceil(cy + half) + 1, shape[0])
    x0 = max(math.floor(cx - half), 0)
    x1 = min(math.ceil(cx + half) + 1, shape[1])
    return slice(y0, y1), slice(x0, x1)


@dataclass
class _Cand:
    label: int
    cy: float
    cx: float
    r0: float
    isolated: bool
    at_edge: bool = False
    half: float = 0.0
    ring: tuple[NDArray, NDArray, NDArray] | None = None
    sl: tuple[slice, slice] | None = None
    valid: NDArray[np.bool_] | None = None
    r_fit: float = float("nan")


def _candidates(seg: Segmentation, px_mean: float) -> list[_Cand]:
    """Centre (contrast-weighted centroid) and mask radius of every labelled region."""
    labels = seg.labels
    sig = seg.signal
    py, px = seg.nm_per_px
    # the labels cover the binned grid: rows/columns past its last full bin count as the image edge
    f = seg.bin_factor
    y_end = (labels.shape[0] // f) * f
    x_end = (labels.shape[1] // f) * f
    out: list[_Cand] = []
    n_lab = int(labels.max()) if labels.size else 0
    # one compiled pass over the label image: contrast-weighted moments, pixel counts and bounding boxes
    mom, swy, swx, cnt, box = label_moments(np.ascontiguousarray(labels, dtype=np.int32),
                                            np.ascontiguousarray(sig, dtype=np.float32), n_lab)
    for lab in range(1, n_lab + 1):
        if cnt[lab] == 0:
            continue
        y0, y1, x0, x1 = (int(v) for v in box[lab])
        at_edge = y0 == 0 or x0 == 0 or y1 >= y_end or x1 >= x_end
        tot = float(mom[lab])
        if tot > 0:
            cy, cx = float(swy[lab]) / tot, float(swx[lab]) / tot
        else:
            yy, xx = np.nonzero(labels[y0:y1, x0:x1] == lab)
            cy, cx = float(yy.mean()) + y0, float(xx.mean()) + x0
        r0 = math.sqrt(float(cnt[lab]) * py * px / math.pi) / px_mean
        # isolated: no other label within twice the mask radius
        win = _window(labels.shape, cy, cx, 2.0 * r0 * px_mean / min(py, px))
        isolated = not other_label_in_box(labels, lab, win[0].start, win[0].stop, win[1].start, win[1].stop)
        out.append(_Cand(lab, cy, cx, r0, isolated, at_edge))
    return out


def _ring(
    seg: Segmentation, c: _Cand, half: float, px_mean: float,
    neighbours: list[tuple[float, float, float]] | None = None, sectors: int = SECTORS,
) -> None:
    """Sector-resolved radial profile of candidate ``c`` out to ``half`` px.

    Without ``neighbours`` the pixels of other labelled particles (dilated by a guard) are left out. With
    ``neighbours`` ``[(cy, cx, R), ...]`` (fitted circles, px) each pixel belongs to the particle whose fitted
    edge is nearest (``|p - c_i| - R_i`` smallest: an additively weighted Voronoi split, which cuts touching
    spheres exactly at their contact point).
    """
    labels = seg.labels
    py, px = seg.nm_per_px
    win = _window(labels.shape, c.cy, c.cx, half * px_mean / min(py, px))
    sy, sx = py / px_mean, px / px_mean
    if neighbours is None:
        nb = np.zeros((0, 3))
        own_r = 0.0
    else:
        nb = np.asarray(neighbours, dtype=np.float64).reshape(-1, 3)
        own_r = c.r_fit if np.isfinite(c.r_fit) else c.r0
    rho_mean, means, counts, valid = ring_profiles(
        seg.signal, labels, win[0].start, win[0].stop, win[1].start, win[1].stop, c.cy, c.cx, sy, sx, c.label,
        max(1, round(0.1 * c.r0)), neighbours is not None, nb, own_r, half, 0.5, sectors)
    c.ring = (rho_mean, means, counts)
    c.half = half
    c.sl = win
    c.valid = valid


PSF_GRID_PX = (0.25, 2.5)
"""Search range of the fitted PSF width (px); a fit at either end is flagged."""


def _fit_psf(cands: list[_Cand], model: EdgeModel, shape: tuple[int, int] | None = None, n_max: int = 16) -> float:
    """PSF width (px) minimising the summed normalised residual of isolated, typical particles.

    The particles are isolated, away from the image border, not larger than 1.3 x the median mask radius
    (unsplit pairs and debris would pull the width), and spread evenly over the ranks of the upper half of the
    sizes (larger particles have longer edges, but always taking the very largest made the width depend on
    which few objects the field happened to hold). A grid of widths (0.25 px steps up to 2.5 px) is scored with
    short, coarse model tables restricted to the radii of the chosen particles; the best grid value is refined
    by a parabola.
    """
    iso = [c for c in cands if c.isolated and c.ring is not None]
    if shape is not None:
        ny, nx = shape
        iso = [c for c in iso if c.cy - c.half >= 0 and c.cx - c.half >= 0 and c.cy + c.half <= ny - 1
               and c.cx + c.half <= nx - 1]
    if len(iso) < 10:  # too few clean particles: the PSF would follow the carbon texture
        return float("nan")
    r_med = float(np.median([c.r0 for c in iso]))
    iso = sorted((c for c in iso if c.r0 <= 1.3 * r_med), key=lambda c: (-c.r0, c.cy, c.cx))
    upper = iso[: max(n_max, len(iso) // 2)]
    pick = np.unique(np.linspace(0, len(upper) - 1, min(n_max, len(upper))).round().astype(int))
    iso = [upper[k] for k in pick]
    r_lo = max(1.0, min(0.5 * c.r0 for c in iso))
    r_hi = max(c.half for c in iso)
    grid = np.arange(PSF_GRID_PX[0], PSF_GRID_PX[1] + 0.01, 0.25)
    cost = np.zeros(grid.size)
    for j, s in enumerate(grid):
        tab = model_table(float(s), float(math.ceil(r_hi)), model, float(math.floor(r_lo)), 0.5)
        for c in iso:
            rho, means, counts = c.ring
            _, _, _, sse = fit_radius(rho, means[0], counts[0], tab, 0.5 * c.r0, c.half - 2 * s - 1)
            var = float(np.var(means[0])) or 1.0
            cost[j] += sse / var if np.isfinite(sse) else 1.0
    j = int(np.argmin(cost))
    best = float(grid[j])
    if 0 < j < grid.size - 1:
        den = cost[j - 1] - 2 * cost[j] + cost[j + 1]
        if den > 0:
            best += float(np.clip(0.5 * (cost[j - 1] - cost[j + 1]) / den, -0.5, 0.5)) * (grid[1] - grid[0])
    return best


def measure_particles(
    segmentation: Segmentation | Micrograph,
    *,
    edge_model: EdgeModel = "sphere",
    psf_sigma_nm: float | None = None,
    min_diameter_nm: float | None = None,
    max_diameter_nm: float | None = None,
    min_circularity: float | None = None,
    min_solidity: float | None = None,
    max_diameter_rel_err: float | None = None,
    exclude_border: bool = True,
    adapt_expected: bool = True,
    **segment_kwargs: Any,
) -> ParticleTable:
    """Measure every candidate of a segmentation and apply the size/shape/border filters.

    Parameters
    ----------
    segmentation
        From :func:`~qdlab.tem.segment.segment_particles`; a :class:`Micrograph` is segmented first with
        ``segment_kwargs``.
    edge_model
        ``"sphere"`` (projected thickness of a sphere; QDs) or ``"disk"`` (flat plates, step edge).
    psf_sigma_nm
        Gaussian blur of the image; ``None`` fits it on isolated particles.
    min_diameter_nm, max_diameter_nm, min_circularity, min_solidity, max_diameter_rel_err
        Filters (defaults in ``resources/tem/defaults.toml``); the last one bounds the jackknife uncertainty of
        the diameter relative to the diameter.
    exclude_border
        Reject particles whose fitted disk leaves the image.
    adapt_expected
        With a :class:`Micrograph`: if the median measured diameter differs from ``expected_diameter_nm`` by
        more than :data:`ADAPT_TOLERANCE`, segment and measure once more with the median (the given value is
        kept in ``params["expected_diameter_nm_given"]``).

    Returns
    -------
    ParticleTable

    Examples
    --------
    >>> from qdlab.tem.synth import synth_micrograph
    >>> res = synth_micrograph(count=15, size_px=256, mean_diameter_nm=3.0, std_diameter_nm=0.2,
    ...                        touching_fraction=0.0, carbon_texture_rel=0.0, seed=4)
    >>> table = measure_particles(res.micrograph, expected_diameter_nm=3.0)
    >>> bool(table.accepted.sum() >= 5 and abs(table.diameters_nm.mean() - 3.0) < 0.2)
    True
    """
    filters = {"edge_model": edge_model, "psf_sigma_nm": psf_sigma_nm, "min_diameter_nm": min_diameter_nm,
               "max_diameter_nm": max_diameter_nm, "min_circularity": min_circularity, "min_solidity": min_solidity,
               "max_diameter_rel_err": max_diameter_rel_err, "exclude_border": exclude_border}
    if isinstance(segmentation, Micrograph):
        mic = segmentation
        table = measure_particles(segment_particles(mic, **segment_kwargs), adapt_expected=False, **filters)
        expected = float(table.params["expected_diameter_nm"])
        d = table.diameters_nm
        if adapt_expected and d.size >= 10 and abs(float(np.median(d)) / expected - 1) > ADAPT_TOLERANCE:
            # the seed spacing and smoothing follow the expected size: redo once with the measured median
            kw = {**segment_kwargs, "expected_diameter_nm": float(np.median(d))}
            table = measure_particles(segment_particles(mic, **kw), adapt_expected=False, **filters)
            table.params["expected_diameter_nm_given"] = expected
        return table
    if segment_kwargs:
        raise InputError(f"segmentation options {sorted(segment_kwargs)} need a Micrograph, not a Segmentation")
    if edge_model not in ("sphere", "disk"):
        raise InputError(f"expected 'sphere' or 'disk', got {edge_model!r}", field="edge_model")
    d = measure_defaults()
    dmin = float(d["min_diameter_nm"] if min_diameter_nm is None else min_diameter_nm)
    dmax = float(d["max_diameter_nm"] if max_diameter_nm is None else max_diameter_nm)
    cmin = float(d["min_circularity"] if min_circularity is None else min_circularity)
    emax = float(d["max_diameter_rel_err"] if max_diameter_rel_err is None else max_diameter_rel_err)
    smin = float(d["min_solidity"] if min_solidity is None else min_solidity)
    seg = segmentation
    py, px = seg.nm_per_px
    px_mean = math.sqrt(py * px)
    ny, nx = seg.labels.shape
    r_exp = 0.5 * float(seg.params.get("expected_diameter_nm", 4.0)) / px_mean
    t0 = time.perf_counter()
    cands = _candidates(seg, px_mean)
    for c in cands:
        _ring(seg, c, max(1.5 * c.r0 + 4.0, c.r0 + 8.0, 1.2 * r_exp), px_mean)
    timings = {"profiles_s": time.perf_counter() - t0}
    r_max = max([c.half for c in cands], default=10.0)
    t1 = time.perf_counter()
    warnings: list[str] = []
    if psf_sigma_nm is None:
        sigma_px = _fit_psf(cands, edge_model, (ny, nx))
        if not math.isfinite(sigma_px):
            sigma_px = float(load_psf_default()) / px_mean
            warnings.append(f"too few isolated particles to fit the blur: the default PSF sigma {sigma_px * px_mean:.3g} nm "
                            "was used (give psf_sigma_nm / --psf-sigma-nm if it is known)")
        elif sigma_px <= PSF_GRID_PX[0] + 0.05 or sigma_px >= PSF_GRID_PX[1] - 0.05:
            warnings.append(f"the fitted PSF sigma {sigma_px * px_mean:.3g} nm sits at a bound of its search range "
                            f"{PSF_GRID_PX[0] * px_mean:.3g}-{PSF_GRID_PX[1] * px_mean:.3g} nm: a limit, not an estimate; "
                            "the edge diameters depend on it (give psf_sigma_nm / --psf-sigma-nm)")
    else:
        if not (math.isfinite(psf_sigma_nm) and psf_sigma_nm >= 0):
            raise InputError(f"must be >= 0, got {psf_sigma_nm}", field="psf_sigma_nm")
        sigma_px = psf_sigma_nm / px_mean
    sigma_px = round(sigma_px * 20) / 20  # cache-friendly: 0.05 px steps
    timings["psf_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    tab = model_table(sigma_px, r_max, edge_model)
    n = len(cands)
    cols: dict[str, NDArray[Any]] = {k: np.full(n, np.nan) for k in COLUMNS}
    reasons: list[str] = []
    # pass 1: every candidate against the labels; pass 2: touching ones again, on the weighted-Voronoi split
    # of the fitted circles, with a delete-one-sector jackknife for the per-particle uncertainty
    fits = [_fit_candidate(seg, c, tab, sigma_px, r_max, px_mean) for c in cands]
    for c, f in zip(cands, fits, strict=True):
        c.r_fit = f[0]
    centres = np.array([[c.cy * py / px_mean, c.cx * px / px_mean] for c in cands]).reshape(-1, 2)
    tree = cKDTree(centres) if len(cands) else None
    reach = max([c.r_fit for c in cands if np.isfinite(c.r_fit)], default=0.0)
    for i, c in enumerate(cands):
        if not np.isfinite(c.r_fit) or tree is None:
            continue
        near = [j for j in tree.query_ball_point(centres[i], c.r_fit + reach + 2 * sigma_px + 4) if j != i]
        nb = [(cands[j].cy, cands[j].cx, cands[j].r_fit) for j in near if np.isfinite(cands[j].r_fit)]
        if nb:
            _ring(seg, c, c.half, px_mean, neighbours=nb)
            fits[i] = _fit_candidate(seg, c, tab, sigma_px, r_max, px_mean, widen=False)
    timings["fit_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    for i, c in enumerate(cands):
        r, a, _b, sse, r_err, edge_bound = fits[i]
        cols["edge_at_bound"][i] = edge_bound
        cols["diameter_err_nm"][i] = 2 * r_err * px_mean
        cols["label"][i] = c.label
        cols["y_px"][i], cols["x_px"][i] = c.cy, c.cx
        cols["y_nm"][i], cols["x_nm"][i] = c.cy * py, c.cx * px
        cols["diameter_nm"][i] = 2 * r * px_mean
        cols["contrast"][i] = a
        cols["fit_rms"][i] = math.sqrt(sse) if np.isfinite(sse) and sse >= 0 else np.nan
        # cut by the border: the fitted disk (or, without a fit, the mask) leaves the field
        rad = r if np.isfinite(r) else c.r0
        ry, rx = rad * px_mean / py, rad * px_mean / px
        border = c.at_edge or c.cy - ry < -0.5 or c.cx - rx < -0.5 or c.cy + ry > ny - 0.5 or c.cx + rx > nx - 0.5
        cols["touches_border"][i] = border
        shape = {"area": np.nan, "circularity": np.nan, "solidity": np.nan, "feret_max": np.nan, "feret_min": np.nan}
        if np.isfinite(r):
            shape = _half_max_shape(seg, c)
        cols["area_nm2"][i] = shape["area"]
        cols["ecd_half_max_nm"][i] = 2 * math.sqrt(shape["area"] / math.pi) if np.isfinite(shape["area"]) else np.nan
        cols["feret_max_nm"][i] = shape["feret_max"]
        cols["feret_min_nm"][i] = shape["feret_min"]
        cols["circularity"][i] = shape["circularity"]
        cols["solidity"][i] = shape["solidity"]
        dia = cols["diameter_nm"][i]
        if exclude_border and border:
            reasons.append("border")
        elif not np.isfinite(dia):
            reasons.append("fit")
        elif not (dmin <= dia <= dmax):
            reasons.append("size")
        elif not (shape["circularity"] >= cmin):
            reasons.append("circularity")
        elif not (shape["solidity"] >= smin):
            reasons.append("solidity")
        elif not (cols["diameter_err_nm"][i] <= emax * dia):
            reasons.append("uncertain")
        else:
            reasons.append("")
    cols["label"] = cols["label"].astype(np.int64)
    cols["touches_border"] = cols["touches_border"].astype(bool)
    cols["edge_at_bound"] = cols["edge_at_bound"].astype(bool)
    n_bound = int(cols["edge_at_bound"].sum())
    if n_bound:
        warnings.append(f"{n_bound} of {n} candidates: the edge fit ended at a bound of the radius search "
                        "(no edge found); they are rejected ('fit', or an earlier filter such as 'border'), not measured")
    if n and not any(r == "" for r in reasons):
        warnings.append("no particle passed the filters: there is no size distribution in this image")
    cols["accepted"] = np.array([r == "" for r in reasons], dtype=bool)
    timings["shape_s"] = time.perf_counter() - t3
    params = {"min_diameter_nm": dmin, "max_diameter_nm": dmax, "min_circularity": cmin, "min_solidity": smin,
              "max_diameter_rel_err": emax, "exclude_border": exclude_border, "psf_fitted": psf_sigma_nm is None, **seg.params}
    return ParticleTable(
        columns=cols, reject_reason=reasons, nm_per_px=(py, px), psf_sigma_nm=sigma_px * px_mean,
        edge_model=edge_model, params=params, timings_s={**seg.timings_s, **timings}, warnings=warnings,
    )


def _fit_candidate(
    seg: Segmentation, c: _Cand, tab: tuple, sigma_px: float, r_max: float, px_mean: float, widen: bool = True
) -> tuple[float, float, float, float, float, bool]:
    """Fit one candidate: radius, amplitude, offset, residual, the jackknife standard error of the radius, and
    whether the radius ended at a bound of its search (then the radius is NaN: no edge found)."""
    nan = float("nan")
    r = a = b = sse = nan
    r_lo = 0.5 * c.r0
    r_hi = c.half - 2 * sigma_px - 1
    for _attempt in range(3 if widen else 1):  # widen the window while the edge sits at its upper bound
        r_lo, r_hi = 0.5 * c.r0, c.half - 2 * sigma_px - 1
        rho, means, counts = c.ring
        rr, aa, bb, ss = fit_radius_batch(rho, means, counts, tab, r_lo, r_hi)
        r, a, b, sse = float(rr[0]), float(aa[0]), float(bb[0]), float(ss[0])
        if not widen or not np.isfinite(r) or r < r_hi - 0.3 or 1.5 * c.half > 2 * r_max:
            break
        _ring(seg, c, 1.5 * c.half, px_mean)
    if not (np.isfinite(r) and r_lo + 0.3 < r < r_hi - 0.3):  # at a bound: no edge found
        return nan, a, b, sse, nan, bool(np.isfinite(r))
    err = float(jackknife_se(np.ascontiguousarray(rr[1:])))  # delete-one-sector jackknife over the sectors
    return r, a, b, sse, err, False


def _half_max_shape(seg: Segmentation, c: _Cand) -> dict[str, float]:
    """Shape descriptors of the connected region above half of the particle's peak in the (smoothed) detection
    image, restricted to the particle's own territory, around the centre."""
    sl = c.sl
    py, px = seg.nm_per_px
    pm = math.sqrt(py * px)
    rr = max(2.0, c.r_fit) if np.isfinite(c.r_fit) else c.r0
    # bilinear upsampling of the binned detection image over the window (binned-pixel centres at f*j + (f-1)/2);
    # the peak within half the radius of the centre; the half-maximum region of the smooth detection image,
    # within the own territory and 1.4 fitted radii (compiled: qdlab.tem._kernels.half_max_region)
    region = half_max_region(
        np.ascontiguousarray(seg.detection, dtype=np.float32), int(seg.bin_factor), sl[0].start, sl[0].stop,
        sl[1].start, sl[1].stop, c.valid, round(c.cy) - sl[0].start, round(c.cx) - sl[1].start, py / pm, px / pm,
        float(rr))
    rows = np.flatnonzero(region.any(axis=1))
    if not rows.size:
        nan = float("nan")
        return {"area": nan, "circularity": nan, "solidity": nan, "feret_max": nan, "feret_min": nan}
    cols = np.flatnonzero(region.any(axis=0))
    return shape_descriptors(region[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], seg.nm_per_px)


def load_psf_default() -> float:
    """Default PSF width (nm) used when too few isolated particles exist to fit it."""
    from qdlab.resources import load_toml

    return float(load_toml("tem/defaults.toml")["synth"]["psf_sigma_nm"]["value"])


__all__ = ["ParticleTable", "COLUMNS", "measure_particles", "shape_descriptors", "crofton_perimeter",
           "measure_defaults"]
