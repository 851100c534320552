"""Radial edge models: projected particles blurred by a Gaussian point-spread function.

Thresholding a bright-field image of a sphere under-sizes it: the projected thickness
``t(rho) = 2 sqrt(R^2 - rho^2)`` falls to zero with an infinitely steep but very thin rim, so an iso-contour at
half the peak contrast lies at ``rho = 0.87 R`` and even a 20 % contour at ``0.98 R`` (plus or minus blur).
Instead qdlab fits each particle's azimuthally averaged contrast profile with the exact blurred model

``g(rho) = A * integral f_R(r) K_sigma(rho, r) dr + b``,

where ``f_R`` is the projected thickness of a sphere (``"sphere"``) or of a flat disk (``"disk"``, a step edge),
and ``K_sigma`` the radial kernel of an isotropic 2-D Gaussian,
``K(rho, r) = r / sigma^2 * exp(-(rho - r)^2 / (2 sigma^2)) * I0e(rho r / sigma^2)``.
The radius ``R`` is found by a dense grid search (amplitude ``A`` and offset ``b`` solved in closed form at each
``R``) followed by a parabolic refinement; ``sigma`` is fitted once per image on the cleanest isolated particles.
Tables are cached per ``(sigma, model, grid)``.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import i0e

from qdlab.tem._kernels import band_products, blur_table, fit_radius_core

EdgeModel = Literal["sphere", "disk"]

RHO_STEP_PX = 0.25
"""Radial sampling of the model tables (px)."""
R_STEP_PX = 0.25
"""Radius step of the grid search (px); refined parabolically to ~0.02 px."""
_QUAD_STEP_PX = 0.1


@functools.lru_cache(maxsize=64)
def model_table(
    sigma_px: float, r_max_px: float, model: EdgeModel = "sphere", r_min_px: float = 1.0, r_step_px: float = R_STEP_PX
) -> tuple[NDArray, NDArray, NDArray]:
    """Blurred radial profiles for a grid of radii.

    Parameters
    ----------
    sigma_px
        Gaussian PSF standard deviation (px); 0 gives the unblurred profiles.
    r_max_px
        Largest radius of the grid (px); profiles are tabulated out to ``r_max_px + 5 sigma + 4``.
    r_min_px, r_step_px
        Smallest radius and step of the grid (a short, coarse grid makes the PSF search cheap).
    model
        ``"sphere"`` (projected thickness, peak 1 at the centre for every R: ``sqrt(1 - rho^2/R^2)``) or
        ``"disk"`` (a unit step).

    Returns
    -------
    radii_px, rho_px, table
        ``table[k, i]`` is the profile of radius ``radii_px[k]`` at ``rho_px[i]``.

    Examples
    --------
    >>> radii, rho, tab = model_table(0.0, 10.0, "disk")
    >>> float(np.interp(4.9, rho, tab[np.searchsorted(radii, 5.0)])) > 0.5
    True
    """
    radii, r, src, src_t, k_first = _source_profiles(float(r_max_px), model, float(r_min_px), float(r_step_px))
    rho_end = r_max_px + 5 * sigma_px + 4
    rho = np.arange(0.0, rho_end + RHO_STEP_PX, RHO_STEP_PX)
    if sigma_px <= 1e-6:
        table = np.stack([np.interp(rho, r, s, right=0.0) for s in src])
    else:
        s2 = float(sigma_px) * float(sigma_px)
        j_lo, j_hi = _band(float(sigma_px), rho, r)
        i0e_band = i0e(band_products(rho, r, j_lo, j_hi, s2))  # vectorised SciPy Bessel factor
        table = blur_table(src_t, k_first, rho, r, j_lo, j_hi, s2, _QUAD_STEP_PX, i0e_band)
    return radii.copy(), rho, np.ascontiguousarray(table)


_BAND_SIGMAS = 12.0
"""Half-width of the blur kernel's band (in sigma): beyond it the Gaussian factor is below exp(-72) ~ 5e-32."""


@functools.lru_cache(maxsize=16)
def _source_profiles(
    r_max_px: float, model: EdgeModel, r_min_px: float, r_step_px: float
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Cell-averaged source profiles ``f_R(r)`` on the quadrature grid, shared by every blur width.

    Parameters
    ----------
    r_max_px, model, r_min_px, r_step_px
        As in :func:`model_table`.

    Returns
    -------
    radii_px, r_px, src, src_t, k_first
        ``src[k, j]`` is the average of ``f_R`` (``R = radii_px[k]``) over the cell of width ``_QUAD_STEP_PX``
        centred on ``r_px[j]``; ``src_t`` is its C-contiguous transpose. ``src[k, j]`` is exactly zero for
        ``k < k_first[j]`` (the cell lies beyond the edge of every smaller radius). The arrays are read-only
        (cached).
    """
    radii = np.arange(r_min_px, r_max_px + r_step_px / 2, r_step_px)
    r = np.arange(_QUAD_STEP_PX / 2, radii[-1] + _QUAD_STEP_PX, _QUAD_STEP_PX)
    if model == "sphere":
        lo = np.clip(r - _QUAD_STEP_PX / 2, 0, None)
        hi = r + _QUAD_STEP_PX / 2
        rr = radii[:, None]
        # exact cell average of sqrt(1 - x^2/R^2): antiderivative F(x) = (x sqrt(R^2-x^2) + R^2 asin(x/R)) / (2R)

        def anti(x: NDArray) -> NDArray:
            xc = np.minimum(x, rr)
            return (xc * np.sqrt(np.clip(rr**2 - xc**2, 0, None)) + rr**2 * np.arcsin(xc / rr)) / (2 * rr)

        src = (anti(hi[None, :]) - anti(lo[None, :])) / _QUAD_STEP_PX
    elif model == "disk":
        lo = r - _QUAD_STEP_PX / 2
        src = np.clip((radii[:, None] - lo[None, :]) / _QUAD_STEP_PX, 0.0, 1.0)
    else:  # pragma: no cover - guarded by callers
        raise ValueError(f"unknown edge model {model!r}")
    nz = src != 0
    k_first = np.where(nz.any(axis=0), np.argmax(nz, axis=0), radii.size).astype(np.intp)
    # f_R(r) > 0 exactly when the cell starts inside R, and radii increase: each column is zero, then positive,
    # so skipping k < k_first drops exact zeros only
    src_t = np.ascontiguousarray(src.T)
    for a in (radii, r, src, src_t, k_first):
        a.flags.writeable = False
    return radii, r, src, src_t, k_first


def _band(sigma_px: float, rho: NDArray, r: NDArray) -> tuple[NDArray, NDArray]:
    """Band ``j_lo[i] <= j < j_hi[i]`` of the blur kernel: ``|rho_i - r_j| <= _BAND_SIGMAS * sigma``.

    Outside it every kernel term is below ``r / sigma^2 * exp(-72) * dr`` (< 1e-28 for the radii and widths
    used), so the banded tables agree with the dense product to rounding.
    """
    half = _BAND_SIGMAS * sigma_px
    j_lo = np.searchsorted(r, rho - half, side="left").astype(np.intp)
    j_hi = np.searchsorted(r, rho + half, side="right").astype(np.intp)
    return j_lo, j_hi


def radial_profile(
    values: NDArray, rho_px: NDArray, bin_px: float = 0.5, rho_max_px: float | None = None
) -> tuple[NDArray, NDArray, NDArray]:
    """Azimuthal average of ``values`` in rings of width ``bin_px``.

    Returns
    -------
    rho_mean, mean, count
        Mean radius, mean value and pixel count of each non-empty ring.
    """
    rho = np.asarray(rho_px, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if rho_max_px is not None:
        keep = rho <= rho_max_px
        rho, v = rho[keep], v[keep]
    idx = (rho / bin_px).astype(np.intp)
    n = np.bincount(idx)
    ok = n > 0
    s_rho = np.bincount(idx, weights=rho)[ok]
    s_v = np.bincount(idx, weights=v)[ok]
    cnt = n[ok].astype(np.float64)
    return s_rho / cnt, s_v / cnt, cnt


def sector_profiles(
    values: NDArray, rho_px: NDArray, theta: NDArray, bin_px: float = 0.5, rho_max_px: float | None = None,
    sectors: int = 8,
) -> tuple[NDArray, NDArray, NDArray]:
    """Ring sums per angular sector, for the full profile and delete-one-sector jackknife profiles.

    Returns
    -------
    rho_mean, means, counts
        ``rho_mean`` (n,) mean radius of each ring over all sectors; ``means`` and ``counts`` have shape
        ``(sectors + 1, n)``: row 0 is the full profile, row ``g + 1`` the profile without sector ``g``.
        Empty rings have count 0.
    """
    rho = np.asarray(rho_px, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    th = np.asarray(theta, dtype=np.float64).ravel()
    if rho_max_px is not None:
        keep = rho <= rho_max_px
        rho, v, th = rho[keep], v[keep], th[keep]
    idx = (rho / bin_px).astype(np.intp)
    nb = int(idx.max()) + 1 if idx.size else 1
    sec = np.clip(((th + np.pi) / (2 * np.pi) * sectors).astype(np.intp), 0, sectors - 1)
    flat = sec * nb + idx
    cnt = np.bincount(flat, minlength=sectors * nb).reshape(sectors, nb).astype(np.float64)
    sv = np.bincount(flat, weights=v, minlength=sectors * nb).reshape(sectors, nb)
    tot_c = cnt.sum(0)
    tot_v = sv.sum(0)
    s_rho = np.bincount(idx, weights=rho, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho_mean = np.where(tot_c > 0, s_rho / tot_c, (np.arange(nb) + 0.5) * bin_px)
        counts = np.vstack([tot_c[None], tot_c[None] - cnt])
        sums = np.vstack([tot_v[None], tot_v[None] - sv])
        means = np.where(counts > 0, sums / counts, 0.0)
    return rho_mean, means, counts


def fit_radius_batch(
    rho_px: NDArray,
    means: NDArray,
    counts: NDArray,
    table: tuple[NDArray, NDArray, NDArray],
    r_min_px: float = 1.0,
    r_max_px: float | None = None,
    offset: float | None = None,
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """:func:`fit_radius` for several profiles sharing one radial grid (rows of ``means``/``counts``)."""
    radii, rho_tab, tab = table
    means = np.atleast_2d(means)
    counts = np.atleast_2d(counts)
    p = means.shape[0]
    nan = np.full(p, np.nan)
    sel = (radii >= r_min_px) & (radii <= (r_max_px if r_max_px is not None else radii[-1]))
    if sel.sum() < 3 or np.asarray(rho_px).size < 4:
        return nan, nan.copy(), nan.copy(), nan.copy()
    k_all = np.flatnonzero(sel).astype(np.intp)
    step = float(radii[1] - radii[0]) if radii.size > 1 else R_STEP_PX
    # amplitude and offset in closed form at every tabulated radius (weights = ring pixel counts), 1 px steps
    # over the whole range, then the 0.25 px grid within +/-1.5 px of the best, and a parabola through the
    # best grid point and its neighbours (compiled: see qdlab.tem._kernels.fit_radius_core)
    return fit_radius_core(
        np.ascontiguousarray(rho_px, dtype=np.float64), np.ascontiguousarray(means, dtype=np.float64),
        np.ascontiguousarray(counts, dtype=np.float64), np.asarray(radii, dtype=np.float64), int(rho_tab.size),
        np.ascontiguousarray(tab, dtype=np.float64), k_all, RHO_STEP_PX, step, offset is not None,
        0.0 if offset is None else float(offset))


def fit_radius(
    rho_px: NDArray,
    mean: NDArray,
    count: NDArray,
    table: tuple[NDArray, NDArray, NDArray],
    r_min_px: float = 1.0,
    r_max_px: float | None = None,
    offset: float | None = None,
) -> tuple[float, float, float, float]:
    """Least-squares radius of one radial profile against a model table.

    For every tabulated radius the amplitude and offset are solved in closed form (weights = ring pixel
    counts); the radius with the smallest residual is refined by a parabola through its neighbours. With
    ``offset`` given, only the amplitude is fitted.

    Returns
    -------
    radius_px, amplitude, offset, sse
        ``sse`` is the weighted residual sum of squares per pixel (``nan`` if no fit).
    """
    r, a, b, sse = fit_radius_batch(rho_px, np.asarray(mean)[None], np.asarray(count)[None], table,
                                    r_min_px, r_max_px, offset)
    return float(r[0]), float(a[0]), float(b[0]), float(sse[0])


__all__ = ["EdgeModel", "model_table", "radial_profile", "sector_profiles", "fit_radius", "fit_radius_batch",
           "RHO_STEP_PX", "R_STEP_PX"]
