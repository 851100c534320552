"""Find 2-10 nm particles on a carbon support film.

Pipeline (every step is a plain function over arrays; defaults in ``resources/tem/defaults.toml``):

1. **Background.** A smooth illumination/film background is estimated on a coarse grid of blocks half an
   expected diameter wide (``background_block_diameters``): block medians first, then block means of the bare
   film (detected particles masked); a median over the blocks within ``background_scale_diameters``, and
   bilinear interpolation back. This is the rolling-ball step of ImageJ/ParticleSpy, but robust to touching
   particles, local (nothing outside the window changes it) and fast.
2. **Contrast.** Bright field: ``s = ln(I_bg / I)``, which is proportional to the projected mass-thickness
   (``I = I_bg exp(-t / lambda)``); dark particles on a bright film (HAADF-STEM): ``s = I / I_bg - 1``.
   Dividing by the local background makes the following global threshold a *local* threshold on the raw image.
3. **Detection.** On a binned copy (about 10 px per expected diameter) ``s`` is smoothed by a Gaussian of
   ``detect_sigma_diameters`` expected diameters (close to a matched filter), the background noise is measured
   robustly per block of ``noise_block_diameters`` (from the particle-free side of the histogram), and pixels
   above ``threshold_sigma`` local noise standard deviations form the foreground.
4. **Splitting.** Connected components are split by a distance-transform watershed whose seeds must be at
   least ``seed_spacing_radius_fraction`` expected radii apart. Components that are as compact as one disk
   (area <= 1.2 x the disk of their inscribed radius) are not split at all, which keeps the watershed to the
   few touching groups and the whole step fast.

Edge placement and diameters are *not* taken from this mask (thresholds under-size spheres); see
:mod:`qdlab.tem.measure`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from qdlab.data.errors import InputError
from qdlab.data.types import Micrograph
from qdlab.resources import load_toml
from qdlab.tem._kernels import bilinear_grid, bin_mean, label_max, nanmedian_windows


def segment_defaults() -> dict[str, Any]:
    """Default segmentation parameters (values only) from ``resources/tem/defaults.toml``."""
    return {k: v["value"] for k, v in load_toml("tem/defaults.toml")["segment"].items()}


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Result of :func:`segment_particles`.

    Attributes
    ----------
    labels
        int32 label image (0 = background), one label per particle candidate.
    signal
        Background-normalised contrast ``s`` at full resolution (float32; particles positive).
    detection
        Binned, smoothed contrast on which the threshold was applied.
    bin_factor
        Binning of ``detection`` relative to the image.
    noise_sigma
        Robust standard deviation of ``detection`` on the bare film.
    nm_per_px
        Pixel size ``(y, x)``.
    params
        Parameters used (expected diameter, threshold, seed spacing...).
    timings_s
        Seconds spent per step.
    """

    labels: NDArray[np.int32]
    signal: NDArray[np.float32]
    detection: NDArray[np.float32]
    bin_factor: int
    noise_sigma: float
    nm_per_px: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of labelled candidates."""
        return int(self.labels.max()) if self.labels.size else 0


def _interp_weights(n_out: int, centers: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Linear interpolation from values at ``centers`` to pixels ``0..n_out-1``: pixel ``x`` takes
    ``(1 - f[x])`` of centre ``j[x]`` and ``f[x]`` of centre ``j[x] + 1`` (extrapolated beyond the outer
    centres; a single centre gives ``j = 0, f = 0``)."""
    x = np.arange(n_out, dtype=np.float64)
    m = centers.size
    if m == 1:
        return np.zeros(n_out, dtype=np.intp), np.zeros(n_out)
    j = np.clip(np.searchsorted(centers, x) - 1, 0, m - 2).astype(np.intp)
    f = (x - centers[j]) / (centers[j + 1] - centers[j])  # linear extrapolation beyond the outer centres
    return j, f


def _block_grid(n: int, block: int) -> tuple[int, NDArray[np.float64]]:
    nb = max(1, n // block)
    size = n // nb
    centers = (np.arange(nb) + 0.5) * size - 0.5
    return size, centers


def background_grid(
    image: NDArray, block_px: int, scale_px: float, exclude: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Smooth background of ``image`` sampled on a coarse grid of blocks.

    Returns
    -------
    low, centers_y, centers_x
        Background values at the block centres (pixel coordinates of ``image``).
    """
    img = np.asarray(image, dtype=np.float32)
    ny, nx = img.shape
    by, cy = _block_grid(ny, block_px)
    bx, cx = _block_grid(nx, block_px)
    nby, nbx = cy.size, cx.size
    crop = img[: nby * by, : nbx * bx].reshape(nby, by, nbx, bx)
    sig = scale_px / ((by + bx) / 2)
    if exclude is None:
        low = np.median(crop, axis=(1, 3)).astype(np.float64)
        wgt = np.ones_like(low)
    else:
        keep = (~exclude[: nby * by, : nbx * bx]).reshape(nby, by, nbx, bx).astype(np.float32)
        wgt = keep.sum(axis=(1, 3), dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            low = (crop * keep).sum(axis=(1, 3), dtype=np.float64) / wgt
        low = np.where(wgt > 0, low, 0.0)
    # A median over the blocks within `scale_px` (odd-reflected at the edges, so that a linear gradient passes
    # unchanged), then bilinear interpolation between block centres. The median is robust to particle clusters
    # and, unlike a mean or a Gaussian, keeps a step in the illumination (a stitched seam, a film edge) within
    # one block instead of smearing it over the smoothing length; and it is local: the background of a region
    # does not depend on what else is in the field of view (the former global plane + Gaussian did).
    valid = wgt > 0.1 * float(wgt.max()) if exclude is not None and float(wgt.max()) > 0 else wgt > 0
    med = _median_filter_odd(np.where(valid, low, np.nan), max(1, round(0.5 * sig)))
    ok = np.isfinite(med)
    low_bg = np.where(ok, med, float(np.nanmedian(med)) if ok.any() else 0.0)
    return low_bg, cy, cx


def _median_filter_odd(grid: NDArray[np.float64], half: int) -> NDArray[np.float64]:
    """NaN-ignoring median over a (2 half + 1)^2 window, the grid padded by odd (point) reflection."""
    if half < 1 or min(grid.shape) < 2:
        return grid
    hy, hx = min(half, grid.shape[0] - 1), min(half, grid.shape[1] - 1)
    filled = grid
    if np.isnan(grid).any():  # odd reflection needs an edge value: fill holes with the nearest valid block
        idx = ndi.distance_transform_edt(np.isnan(grid), return_distances=False, return_indices=True)
        filled = grid[tuple(idx)] if np.isfinite(grid).any() else grid
    pad = np.pad(filled, ((hy, hy), (hx, hx)), mode="reflect", reflect_type="odd")
    holes = np.pad(np.isnan(grid), ((hy, hy), (hx, hx)), mode="reflect")
    pad = np.where(holes, np.nan, pad)
    return nanmedian_windows(np.ascontiguousarray(pad, dtype=np.float64), 2 * hy + 1, 2 * hx + 1)


def render_background(
    low: NDArray[np.float64], centers_y: NDArray[np.float64], centers_x: NDArray[np.float64], shape: tuple[int, int]
) -> NDArray[np.float32]:
    """Bilinear interpolation of a coarse background grid to a full image of ``shape`` (separable, two
    neighbours per axis; compiled)."""
    jy, fy = _interp_weights(shape[0], np.asarray(centers_y, dtype=np.float64))
    jx, fx = _interp_weights(shape[1], np.asarray(centers_x, dtype=np.float64))
    return bilinear_grid(np.ascontiguousarray(low, dtype=np.float64), jy, fy, jx, fx)


def estimate_background(
    image: NDArray, block_px: int, scale_px: float, exclude: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Smooth background of ``image`` on a coarse grid, ignoring ``exclude`` pixels.

    Parameters
    ----------
    image
        2-D intensities.
    block_px
        Block size of the coarse grid (about one particle diameter).
    scale_px
        Gaussian smoothing length of the background (px).
    exclude
        Pixels to ignore (detected particles). Without it, block medians are used, which are robust as long as
        particles cover less than about half of each block.

    Returns
    -------
    ndarray
        Background at full resolution (float32).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> img = 100.0 + xx + 0.5 * yy
    >>> bg = estimate_background(img, 8, 16.0)
    >>> bool(np.abs(bg - img)[8:-8, 8:-8].max() < 1.0)
    True
    """
    low, cy, cx = background_grid(image, block_px, scale_px, exclude)
    return render_background(low, cy, cx, np.shape(image))


def _percentile_sorted(s: NDArray[np.float64], n: int, q: float) -> float:
    """``np.percentile(s[:n], q)`` (linear method) of an ascending array, by index."""
    pos = q / 100.0 * (n - 1)
    g = int(pos)
    if g + 1 >= n:
        return float(s[n - 1])
    t = pos - g
    a, b = float(s[g]), float(s[g + 1])
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t  # numpy's _lerp


def _median_sorted(s: NDArray[np.float64], n: int) -> float:
    """``np.median(s[:n])`` of an ascending array."""
    h = n // 2
    return float(s[h]) if n % 2 else 0.5 * (float(s[h - 1]) + float(s[h]))


def _robust_sigma(values: NDArray) -> float:
    """Noise of a zero-centred background whose outliers (particles) are positive: from the negative side.

    The values are sorted once: every later subset ``v < med + 3 sigma`` is a prefix of the sorted array, so its
    median and percentiles are read by index (the same numbers as ``np.median``/``np.percentile`` on the
    subset, without a partition per call).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > 400_000:
        v = v[:: v.size // 400_000]
    s = np.sort(v)
    n = s.size
    med = _median_sorted(s, n)
    sig = _percentile_sorted(s, n, 50) - _percentile_sorted(s, n, 15.865)
    for _ in range(3):  # iterate on the values below med + 3 sigma (bare film)
        m = int(np.searchsorted(s, med + 3 * sig, side="left"))
        if m < 10:
            break
        med = _median_sorted(s, m)
        sig = med - _percentile_sorted(s, m, 15.865)
    return max(sig, 1e-12)


def noise_map(values: NDArray, block_px: int) -> NDArray[np.float32]:
    """Local robust noise (:func:`_robust_sigma` per block of ``block_px``), interpolated bilinearly.

    A global noise estimate lets one badly modelled region (a background step, a thick film, a stitched seam)
    raise the detection threshold everywhere, so that what is found in one place depends on what else is in
    the field of view; a per-block estimate keeps the threshold local. Blocks with too few bare-film pixels
    take the median of the others.
    """
    v = np.asarray(values, dtype=np.float32)
    ny, nx = v.shape
    by, cy = _block_grid(ny, block_px)
    bx, cx = _block_grid(nx, block_px)
    grid = np.empty((cy.size, cx.size))
    for i in range(cy.size):
        for j in range(cx.size):
            y1 = ny if i == cy.size - 1 else (i + 1) * by
            x1 = nx if j == cx.size - 1 else (j + 1) * bx
            grid[i, j] = _robust_sigma(v[i * by:y1, j * bx:x1])
    return render_background(grid, cy, cx, v.shape)


def contrast_image(
    image: NDArray, background: NDArray, dark_particles: bool = True
) -> NDArray[np.float32]:
    """Background-normalised contrast, positive on particles.

    Bright field (``dark_particles=True``): ``ln(I_bg / I)``, proportional to mass-thickness. Otherwise
    ``I / I_bg - 1``.
    """
    img = np.asarray(image, dtype=np.float32)
    bg = np.asarray(background, dtype=np.float32)
    if dark_particles:
        floor = np.float32(max(1e-3 * float(np.median(bg[::8, ::8])), 1e-6))
        return (np.log(np.maximum(bg, floor)) - np.log(np.maximum(img, floor))).astype(np.float32)
    return (img / np.maximum(bg, np.float32(1e-6)) - np.float32(1.0)).astype(np.float32)


def _split_component(
    comp: NDArray[np.bool_], min_distance_px: int, sampling: tuple[float, float] = (1.0, 1.0),
    dist: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.int32], int]:
    """Distance-transform watershed of one connected component; returns local labels and their count.

    ``sampling`` is the pixel size ``(y, x)`` relative to the smaller one, so that distances are physical on
    non-square pixels; ``min_distance_px`` is counted in the smaller pixel. ``dist`` is the component's distance
    transform if already known (zero outside the component).
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    dist_given = dist is not None
    if dist is None:
        dist = ndi.distance_transform_edt(comp, sampling=sampling)
    r_in = float(dist.max())
    area = float(comp.sum()) * sampling[0] * sampling[1]
    if area <= 1.2 * math.pi * (r_in + 0.5) ** 2:  # as compact as one disk: no split
        return comp.astype(np.int32), 1
    # a distance map given for one component is zero outside it: peak_local_max needs no labels then (they only
    # crop to the component and mask the map, which changes nothing for maxima above threshold_abs > 0)
    single = dist_given and r_in > 0
    if sampling[0] != sampling[1]:  # peak_local_max works in pixels: use the physical distance on a resampled grid
        footprint_r = (max(1, round(min_distance_px / sampling[0])), max(1, round(min_distance_px / sampling[1])))
        footprint = np.ones((2 * footprint_r[0] + 1, 2 * footprint_r[1] + 1), dtype=bool)
        peaks = peak_local_max(dist, footprint=footprint, threshold_abs=0.3 * r_in, labels=None if single else comp.astype(np.int32),
                               exclude_border=False)
    else:
        peaks = peak_local_max(dist, min_distance=max(1, min_distance_px), threshold_abs=0.3 * r_in,
                               labels=None if single else comp.astype(np.int32), exclude_border=False)
    if len(peaks) <= 1:
        return comp.astype(np.int32), 1
    markers = np.zeros(comp.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    lab = watershed(-dist, markers, mask=comp)
    return lab.astype(np.int32), len(peaks)


def segment_particles(
    micrograph: Micrograph,
    *,
    expected_diameter_nm: float | None = None,
    dark_particles: bool | None = None,
    threshold_sigma: float | None = None,
    threshold_relative: float | None = None,
    detect_sigma_diameters: float | None = None,
    seed_spacing_radius_fraction: float | None = None,
    background_scale_diameters: float | None = None,
) -> Segmentation:
    """Detect particle candidates and split touching ones.

    Parameters
    ----------
    micrograph
        Calibrated image (``nm_per_px`` is required; non-square pixels are handled by the filters).
    expected_diameter_nm
        Typical particle size; sets the block size of the background, the seed spacing of the watershed
        (``seed_spacing_radius_fraction`` x expected radius) and the smallest component kept.
    dark_particles
        ``True`` for bright-field TEM, ``False`` for HAADF-STEM (bright particles).
    threshold_sigma
        Detection threshold in noise standard deviations of the smoothed contrast.
    threshold_relative
        Lower bound of the threshold as a fraction of the median peak contrast of the detected components.
    detect_sigma_diameters
        Width of the detection Gaussian in expected diameters (a matched-filter-like smoothing; edges are placed
        later on the unsmoothed contrast).
    seed_spacing_radius_fraction
        Minimum seed distance in expected radii.
    background_scale_diameters
        Smoothing length of the background, in expected diameters.

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> from qdlab.tem.synth import synth_micrograph
    >>> res = synth_micrograph(count=12, size_px=256, mean_diameter_nm=3.0, std_diameter_nm=0.2,
    ...                        touching_fraction=0.0, seed=2)
    >>> seg = segment_particles(res.micrograph, expected_diameter_nm=3.0)
    >>> 4 <= seg.count <= 12
    True
    """
    d = segment_defaults()
    exp_d = float(d["expected_diameter_nm"] if expected_diameter_nm is None else expected_diameter_nm)
    dark = bool(d["dark_particles"] if dark_particles is None else dark_particles)
    k = float(d["threshold_sigma"] if threshold_sigma is None else threshold_sigma)
    rel = float(d["threshold_relative"] if threshold_relative is None else threshold_relative)
    smooth_f = float(d["detect_sigma_diameters"] if detect_sigma_diameters is None else detect_sigma_diameters)
    spacing = float(d["seed_spacing_radius_fraction"] if seed_spacing_radius_fraction is None
                    else seed_spacing_radius_fraction)
    bg_scale = float(d["background_scale_diameters"] if background_scale_diameters is None
                     else background_scale_diameters)
    noise_scale = float(d["noise_block_diameters"])
    block_f = float(d["background_block_diameters"])
    for name, val in (("expected_diameter_nm", exp_d), ("threshold_sigma", k), ("seed_spacing_radius_fraction", spacing),
                      ("background_scale_diameters", bg_scale)):
        if not (math.isfinite(val) and val > 0):
            raise InputError(f"must be a positive number, got {val}", field=name)
    if not (math.isfinite(smooth_f) and smooth_f >= 0):
        raise InputError(f"must be >= 0, got {smooth_f}", field="detect_sigma_diameters")
    py, px = micrograph.nm_per_px
    px_mean = math.sqrt(py * px)
    exp_d_px = exp_d / px_mean
    if exp_d_px < 3:
        raise InputError(
            f"expected particles of {exp_d} nm are only {exp_d_px:.1f} px across at {px_mean:.3g} nm/px; "
            "need >= 3 px", field="expected_diameter_nm")
    img = np.asarray(micrograph.image)
    if img.dtype.kind == "c":
        raise InputError("complex images are not micrographs", field="image")
    img = img.astype(np.float32, copy=False)
    if not np.isfinite(img).all():
        img = np.where(np.isfinite(img), img, np.float32(np.nanmedian(img)))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # detection runs on a binned image (>= ~10 px per expected diameter): binning averages the noise and
    # makes every filter cheaper; the edge fit in qdlab.tem.measure uses the full-resolution contrast.
    bin_f = max(1, int(exp_d_px // 10))
    ny, nx = img.shape
    nby, nbx = ny // bin_f, nx // bin_f
    if bin_f > 1:
        small = bin_mean(np.ascontiguousarray(img), bin_f)
    else:
        small = img
    d_b = exp_d_px / bin_f
    block = max(4, round(block_f * d_b))
    scale_b = bg_scale * d_b
    sig_b = (smooth_f * exp_d / (py * bin_f), smooth_f * exp_d / (px * bin_f))

    # pass 1: block medians (robust); pass 2: mask the detected particles and average the bare film
    noise_block = max(8, round(noise_scale * d_b))
    bg_b = estimate_background(small, block, scale_b)
    sm = ndi.gaussian_filter(contrast_image(small, bg_b, dark), sig_b)
    noise_px = noise_map(sm, noise_block)
    excl = ndi.maximum_filter(sm > k * noise_px, size=2 * max(1, round(0.15 * d_b)) + 1)
    low, cy, cx = background_grid(small, block, scale_b, exclude=excl)
    bg_b = render_background(low, cy, cx, small.shape)
    sm = ndi.gaussian_filter(contrast_image(small, bg_b, dark), sig_b).astype(np.float32)
    noise_px = noise_map(sm, noise_block)
    noise = float(np.median(noise_px))
    timings["background_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    fg = sm > k * noise_px
    comp_lab, ncomp = ndi.label(fg)
    # at high signal-to-noise the noise threshold reaches far into the blurred tails and glues neighbours
    # together: also require a fraction of the typical particle peak
    if ncomp:
        peaks = label_max(sm, comp_lab, ncomp)
        floor = rel * float(np.median(peaks))
        if np.any(floor > k * noise_px):
            fg = sm > np.maximum(k * noise_px, floor)
            comp_lab, ncomp = ndi.label(fg)
    min_area_b = math.pi * (0.25 * d_b) ** 2
    small_px = min(py, px)
    sampling = (py / small_px, px / small_px)
    min_dist = max(1, round(spacing * exp_d / (2 * small_px * bin_f)))
    slices = ndi.find_objects(comp_lab)
    areas = np.bincount(comp_lab.ravel(), minlength=ncomp + 1)
    # One distance transform for all components: the nearest pixel outside a component is always a background
    # pixel (a pixel of another component next to it would connect the two), so on the zero-padded foreground
    # each component's distances equal those of the component alone. Components as compact as one disk
    # (area <= 1.2 x the disk of their inscribed radius, as in _split_component) keep one label and skip the
    # watershed.
    dist_all = ndi.distance_transform_edt(np.pad(fg, 1), sampling=sampling)
    r_in = label_max(dist_all[1:-1, 1:-1], comp_lab, ncomp)
    keep = areas[1:] >= min_area_b
    compact = areas[1:] * sampling[0] * sampling[1] <= 1.2 * math.pi * (r_in + 0.5) ** 2
    n_lab = np.where(keep, 1, 0).astype(np.int64)
    split: dict[int, NDArray[np.int32]] = {}
    for i in np.flatnonzero(keep & ~compact) + 1:
        sl = slices[i - 1]
        sub = np.pad(comp_lab[sl] == i, 1)
        dsub = dist_all[sl[0].start:sl[0].stop + 2, sl[1].start:sl[1].stop + 2] * sub
        lab, n = _split_component(sub, min_dist, sampling, dist=dsub)
        split[int(i)] = lab[1:-1, 1:-1]
        n_lab[i - 1] = n
    start = np.concatenate([[0], np.cumsum(n_lab)[:-1]])  # labels of component i: start + 1 .. start + n
    lut = np.zeros(ncomp + 1, dtype=np.int32)
    lut[1:] = np.where(keep, start + 1, 0)
    for i in split:
        lut[i] = 0
    labels_b = lut[comp_lab]
    for i, lab in split.items():
        target = labels_b[slices[i - 1]]
        nz = lab > 0
        target[nz] = lab[nz] + int(start[i - 1])
    timings["detect_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    if bin_f > 1:
        labels = np.zeros(img.shape, dtype=np.int32)
        labels[: nby * bin_f, : nbx * bin_f] = np.repeat(np.repeat(labels_b, bin_f, axis=0), bin_f, axis=1)
    else:
        labels = labels_b
    # background at full resolution from the same coarse grid (binned-pixel centres mapped back)
    cy_full, cx_full = (cy + 0.5) * bin_f - 0.5, (cx + 0.5) * bin_f - 0.5
    if dark:  # interpolate ln(background) directly: one logarithm of the full image instead of two
        floor = max(1e-3 * float(np.median(low)), 1e-6)
        log_bg = render_background(np.log(np.maximum(low, floor)), cy_full, cx_full, img.shape)
        signal = log_bg - np.log(np.maximum(img, np.float32(floor)))
    else:
        signal = contrast_image(img, render_background(low, cy_full, cx_full, img.shape), dark)
    timings["upsample_s"] = time.perf_counter() - t2
    params = {
        "expected_diameter_nm": exp_d, "dark_particles": dark, "threshold_sigma": k, "threshold_relative": rel, "detect_sigma_diameters": smooth_f,
        "seed_spacing_radius_fraction": spacing, "background_scale_diameters": bg_scale,
        "bin_factor": bin_f, "block_px": block * bin_f, "noise_sigma_binned": noise,
        "noise_block_px": noise_block * bin_f, "noise_sigma_binned_range": [float(noise_px.min()), float(noise_px.max())],
    }
    return Segmentation(
        labels=labels, signal=signal, detection=sm, bin_factor=bin_f, noise_sigma=noise,
        nm_per_px=(py, px), params=params, timings_s=timings,
    )


__all__ = ["Segmentation", "segment_particles", "segment_defaults", "estimate_background", "background_grid",
           "render_background", "contrast_image"]
