"""The compiled TEM kernels (qdlab.tem._kernels) against the straightforward numpy/scipy formulations they
replaced (issue 14), on random inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.special import i0e

from qdlab.tem._kernels import (
    _sector,
    bin_mean,
    half_max_region,
    label_max,
    label_moments,
    nanmedian_windows,
    ring_profiles,
)
from qdlab.tem.measure import crofton_perimeter, shape_descriptors
from qdlab.tem.profile import _QUAD_STEP_PX, RHO_STEP_PX, fit_radius_batch, model_table, sector_profiles
from qdlab.tem.segment import _robust_sigma, render_background


def _blobs(rng: np.random.Generator, shape: tuple[int, int], n: int, r: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape, dtype=bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        a, b = rng.uniform(*r, 2)
        t = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)
        v = -(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
        out |= (u / a) ** 2 + (v / b) ** 2 <= 1
    return out


def test_nanmedian_windows_matches_numpy():
    rng = np.random.default_rng(1)
    for trial in range(12):
        a = rng.normal(size=(23, 19))
        if trial % 2:
            a = np.round(a, 1)  # ties
        a[rng.random(a.shape) < 0.3 * (trial % 3)] = np.nan
        wy, wx = (int(v) for v in rng.integers(1, 8, 2))
        win = np.lib.stride_tricks.sliding_window_view(a, (wy, wx))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(win.reshape(*win.shape[:2], -1), axis=-1)
        got = nanmedian_windows(a, wy, wx)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got[~np.isnan(got)], ref[~np.isnan(ref)], rtol=0, atol=1e-15)


def _robust_sigma_reference(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64).ravel()
    med = float(np.median(v))
    sig = float(np.percentile(v, 50) - np.percentile(v, 15.865))
    for _ in range(3):
        bg = v[v < med + 3 * sig]
        if bg.size < 10:
            break
        med = float(np.median(bg))
        sig = float(med - np.percentile(bg, 15.865))
    return max(sig, 1e-12)


def test_robust_sigma_by_index_equals_percentiles():
    rng = np.random.default_rng(2)
    for _ in range(60):
        n = int(rng.integers(5, 3000))
        v = (rng.normal(size=n) + (rng.random(n) < 0.2) * rng.exponential(5, n)).astype(np.float32)
        assert _robust_sigma(v) == pytest.approx(_robust_sigma_reference(v), rel=1e-14, abs=1e-15)


def test_bin_mean_matches_reshape_mean():
    rng = np.random.default_rng(11)
    counts = rng.poisson(200, (67, 45)).astype(np.float32)  # integer counts: exact
    for f in (1, 2, 4):
        ny, nx = counts.shape[0] // f, counts.shape[1] // f
        ref = counts[: ny * f, : nx * f].reshape(ny, f, nx, f).mean(axis=(1, 3), dtype=np.float32)
        np.testing.assert_array_equal(bin_mean(counts, f), ref)
    x = rng.normal(size=(40, 36)).astype(np.float32)
    np.testing.assert_allclose(bin_mean(x, 4), x.reshape(10, 4, 9, 4).mean(axis=(1, 3)), rtol=1e-5, atol=1e-6)


def test_label_moments_and_max_match_ndimage():
    rng = np.random.default_rng(3)
    labels, n = ndi.label(_blobs(rng, (120, 150), 25, (2, 9)))
    labels = labels.astype(np.int32)
    sig = rng.normal(0.2, 0.5, labels.shape).astype(np.float32)
    mom, swy, swx, cnt, box = label_moments(labels, sig, n)
    w = np.clip(sig, 0, None).astype(np.float64)
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        assert tuple(box[lab]) == (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
        yy, xx = np.nonzero(labels == lab)
        assert cnt[lab] == yy.size
        assert mom[lab] == pytest.approx(w[yy, xx].sum(), rel=1e-12)
        assert swy[lab] / mom[lab] == pytest.approx((w[yy, xx] * yy).sum() / w[yy, xx].sum(), rel=1e-12)
        assert swx[lab] / mom[lab] == pytest.approx((w[yy, xx] * xx).sum() / w[yy, xx].sum(), rel=1e-12)
    np.testing.assert_array_equal(label_max(sig, labels, n), ndi.maximum(sig, labels, np.arange(1, n + 1)))


def test_one_distance_transform_serves_every_component():
    """On the zero-padded foreground, a component's distances equal those of the component alone (the nearest
    pixel outside a component is background, never another component), also for non-square pixels."""
    rng = np.random.default_rng(4)
    fg = _blobs(rng, (90, 110), 30, (2, 8))
    lab, n = ndi.label(fg)
    for sampling in ((1.0, 1.0), (1.0, 2.0)):
        dist = ndi.distance_transform_edt(np.pad(fg, 1), sampling=sampling)[1:-1, 1:-1]
        for i in range(1, n + 1):
            comp = np.pad(lab == i, 1)
            alone = ndi.distance_transform_edt(comp, sampling=sampling)[1:-1, 1:-1]
            np.testing.assert_allclose(np.where(lab == i, dist, 0.0), alone, rtol=1e-12)


def test_render_background_equals_interpolation_matrices():
    def interp_matrix(n_out, centers):
        x = np.arange(n_out, dtype=np.float64)
        m = centers.size
        if m == 1:
            return np.ones((n_out, 1))
        j = np.clip(np.searchsorted(centers, x) - 1, 0, m - 2)
        f = (x - centers[j]) / (centers[j + 1] - centers[j])
        w = np.zeros((n_out, m))
        w[np.arange(n_out), j] = 1 - f
        w[np.arange(n_out), j + 1] += f
        return w

    rng = np.random.default_rng(5)
    for shape, (my, mx) in (((64, 80), (6, 7)), ((33, 20), (1, 3)), ((17, 40), (4, 1))):
        low = rng.uniform(50, 150, (my, mx))
        cy = (np.arange(my) + 0.5) * shape[0] / my - 0.5
        cx = (np.arange(mx) + 0.5) * shape[1] / mx - 0.5
        ref = interp_matrix(shape[0], cy) @ low @ interp_matrix(shape[1], cx).T
        got = render_background(low, cy, cx, shape)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_sector_without_arctangent():
    rng = np.random.default_rng(6)
    pts = rng.normal(size=(20000, 2)) * rng.uniform(0.01, 30, (20000, 1))
    pts = np.vstack([pts, [[0, 1], [0, -1], [1, 0], [-1, 0], [1, 1], [-1, 1], [1, -1], [-1, -1], [0, 0],
                           [2.5, 2.5], [1e-12, 3.0]]])
    for gy, gx in pts:
        for sectors in (8, 6):
            ref = min(max(int((math.atan2(gy, gx) + np.pi) / (2 * np.pi) * sectors), 0), sectors - 1)
            assert _sector(gy, gx, sectors) == ref


def _ring_reference(signal, labels, win, cy, cx, sy, sx, lab, guard, neighbours, own_r, half):
    """The former numpy formulation of qdlab.tem.measure._ring."""
    gy = (np.arange(win[0].start, win[0].stop) - cy) * sy
    gx = (np.arange(win[1].start, win[1].stop) - cx) * sx
    rho = np.hypot(gy[:, None], gx[None, :])
    if neighbours is None:
        lc = labels[win]
        own = lc == lab
        other = (lc != 0) & ~own
        if other.any():
            other = ndi.binary_dilation(other, iterations=guard) & ~own
        valid = ~other
    else:
        own_d = rho - own_r
        valid = np.ones(rho.shape, dtype=bool)
        for ny_, nx_, nr in neighbours:
            dy = (np.arange(win[0].start, win[0].stop) - ny_) * sy
            dx = (np.arange(win[1].start, win[1].stop) - nx_) * sx
            valid &= own_d <= np.hypot(dy[:, None], dx[None, :]) - nr
    theta = np.arctan2(gy[:, None] * np.ones_like(gx)[None, :], np.ones_like(gy)[:, None] * gx[None, :])
    return sector_profiles(signal[win][valid], rho[valid], theta[valid], 0.5, half, 8), valid


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7071067811865476, 1.4142135623730951)])
def test_ring_profiles_match_numpy_formulation(spacing):
    rng = np.random.default_rng(7)
    labels, n = ndi.label(_blobs(rng, (160, 160), 60, (3, 10)))
    labels = labels.astype(np.int32)
    signal = rng.normal(0.0, 1.0, labels.shape).astype(np.float32)
    sy, sx = spacing
    for lab in range(1, n + 1, 3):
        yy, xx = np.nonzero(labels == lab)
        cy, cx = yy.mean() + 0.123, xx.mean() - 0.077
        half = float(rng.uniform(6, 25))
        win = (slice(max(0, math.floor(cy - half)), min(160, math.ceil(cy + half) + 1)),
               slice(max(0, math.floor(cx - half)), min(160, math.ceil(cx + half) + 1)))
        guard = int(rng.integers(1, 4))
        nbrs = rng.uniform(0, 160, (int(rng.integers(1, 4)), 3)) * [1, 1, 0.05]
        for neighbours in (None, nbrs):
            (r_ref, m_ref, c_ref), v_ref = _ring_reference(signal, labels, win, cy, cx, sy, sx, lab, guard,
                                                           neighbours, 4.0, half)
            r, m, c, v = ring_profiles(signal, labels, win[0].start, win[0].stop, win[1].start, win[1].stop, cy, cx,
                                       sy, sx, lab, guard, neighbours is not None,
                                       np.zeros((0, 3)) if neighbours is None else nbrs, 4.0, half, 0.5, 8)
            np.testing.assert_array_equal(v, v_ref)
            np.testing.assert_array_equal(c, c_ref)
            np.testing.assert_allclose(r, r_ref, rtol=1e-13)
            np.testing.assert_allclose(m, m_ref, rtol=1e-9, atol=1e-12)


def _fit_radius_batch_reference(rho_px, means, counts, table, r_min_px, r_max_px, offset=None):
    """The former numpy formulation of qdlab.tem.profile.fit_radius_batch."""
    radii, rho_tab, tab = table
    means, counts = np.atleast_2d(means), np.atleast_2d(counts)
    p = means.shape[0]
    sel = (radii >= r_min_px) & (radii <= r_max_px)
    k_all = np.flatnonzero(sel)
    pos = np.clip(np.asarray(rho_px) / RHO_STEP_PX, 0, rho_tab.size - 1.000001)
    i0 = pos.astype(np.intp)
    fr = pos - i0
    w = counts
    sw = w.sum(1)[:, None]
    sy = (w * means).sum(1)[:, None]
    syy = (w * means * means).sum(1)[:, None]
    wy = w * means

    def grid_sse(k_idx):
        sub = tab[k_idx]
        m = sub[:, i0] * (1 - fr) + sub[:, i0 + 1] * fr
        sm, smm, smy = w @ m.T, w @ (m * m).T, wy @ m.T
        with np.errstate(divide="ignore", invalid="ignore"):
            if offset is None:
                a = (sw * smy - sm * sy) / (sw * smm - sm * sm)
                b = (sy - a * sm) / sw
            else:
                b = np.full(sm.shape, float(offset))
                a = (smy - b * sm) / smm
            sse = syy - 2 * a * smy - 2 * b * sy + a * a * smm + 2 * a * b * sm + b * b * sw
        return np.where(np.isfinite(sse) & (a > 0), sse, np.inf), a, b

    k_idx = k_all
    if k_all.size > 24:
        sse_c, _, _ = grid_sse(k_all[::4])
        jc = int(np.argmin(sse_c[0])) if np.isfinite(sse_c[0]).any() else int(np.argmin(sse_c.min(0)))
        k_idx = k_all[max(0, 4 * jc - 6): 4 * jc + 7]
    sse, a, b = grid_sse(k_idx)
    j = np.argmin(sse, axis=1)
    rows = np.arange(p)
    best = sse[rows, j]
    ok = np.isfinite(best)
    inner = (j > 0) & (j < sse.shape[1] - 1)
    s_m, s_p = sse[rows, np.clip(j - 1, 0, None)], sse[rows, np.clip(j + 1, None, sse.shape[1] - 1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        den = s_m - 2 * best + s_p
        shift = np.where(inner & np.isfinite(s_m) & np.isfinite(s_p) & (den > 0),
                         np.clip(0.5 * (s_m - s_p) / den, -0.5, 0.5), 0.0)
    r_best = np.where(ok, radii[k_idx[j]] + shift * (radii[1] - radii[0]), np.nan)
    return (r_best, np.where(ok, a[rows, j], np.nan), np.where(ok, b[rows, j], np.nan),
            np.where(ok, best / sw[:, 0], np.nan))


@pytest.mark.parametrize("offset", [None, 0.01])
def test_fit_radius_batch_matches_numpy_formulation(offset):
    rng = np.random.default_rng(8)
    tab = model_table(1.1, 30.0, "sphere")
    radii, rho_tab, t = tab
    for _ in range(20):
        r_true = float(rng.uniform(5, 22))
        rho = np.arange(0.25, r_true + 9, 0.5) + rng.uniform(-0.1, 0.1)
        prof = np.interp(rho, rho_tab, t[np.searchsorted(radii, r_true)]) * 0.1 + 0.01
        counts = np.maximum(1.0, np.round(2 * np.pi * rho * rng.uniform(0.5, 1.0, (9, rho.size))))
        means = prof + rng.normal(0, 0.004, counts.shape)
        means[rng.random(9) < 0.2] = -1.0  # rows without a positive-amplitude fit
        lo, hi = 0.5 * r_true, r_true + 6
        got = fit_radius_batch(rho, means, counts, tab, lo, hi, offset)
        ref = _fit_radius_batch_reference(rho, means, counts, tab, lo, hi, offset)
        for g, f in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, f, rtol=1e-9, atol=1e-12)


def _shape_reference(mask, spacing):
    from scipy.spatial import ConvexHull
    from skimage.measure import perimeter_crofton

    sy, sx = spacing
    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.stack([ys + dy, xs + dx], 1) for dy in (-0.5, 0.5) for dx in (-0.5, 0.5)])
    v = (corners * [sy, sx])[ConvexHull(corners * [sy, sx]).vertices]
    d = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1)).max()
    e = np.roll(v, -1, axis=0) - v
    nrm = np.stack([-e[:, 1], e[:, 0]], 1) / np.hypot(e[:, 0], e[:, 1])[:, None]
    wmin = np.abs(((v[None] - v[:, None]) * nrm[:, None]).sum(-1)).max(1).min()
    return (perimeter_crofton(mask, directions=4), ConvexHull(corners * [sy, sx]).volume, d, wmin)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.1, 0.2)])
def test_shape_descriptors_match_qhull_and_skimage(spacing):
    rng = np.random.default_rng(9)
    for _ in range(40):
        mask = _blobs(rng, (30, 34), int(rng.integers(1, 4)), (1, 9))
        lab, _n = ndi.label(mask)
        if lab.max() == 0:
            continue
        region = lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
        sl = ndi.find_objects(region.astype(np.uint8))[0]
        region = region[sl]
        per, hull_area, fmax, fmin = _shape_reference(region, spacing)
        d = shape_descriptors(region, spacing)
        assert crofton_perimeter(region) == pytest.approx(per, rel=1e-12)
        area = region.sum() * spacing[0] * spacing[1]
        assert d["solidity"] == pytest.approx(min(1.0, area / hull_area), rel=1e-12)
        assert d["feret_max"] == pytest.approx(fmax, rel=1e-12)
        assert d["feret_min"] == pytest.approx(fmin, rel=1e-12)
    one = shape_descriptors(np.ones((1, 1), dtype=bool))
    assert one["feret_min"] == pytest.approx(1.0) and one["solidity"] == pytest.approx(1.0)


def test_half_max_region_matches_numpy_formulation():
    rng = np.random.default_rng(10)
    f = 4
    det = ndi.gaussian_filter(rng.normal(size=(40, 50)), 2).astype(np.float32)
    for _ in range(20):
        y0, x0 = (int(v) for v in rng.integers(0, 100, 2))
        y1, x1 = y0 + int(rng.integers(10, 60)), x0 + int(rng.integers(10, 60))
        y1, x1 = min(y1, 160), min(x1, 200)
        own = rng.random((y1 - y0, x1 - x0)) < 0.9
        yc, xc = (y1 - y0) // 2, (x1 - x0) // 2
        rr = float(rng.uniform(3, 15))
        qy = (np.arange(y0, y1) - (f - 1) / 2) / f
        qx = (np.arange(x0, x1) - (f - 1) / 2) / f
        jy = np.clip(np.floor(qy).astype(np.intp), 0, det.shape[0] - 2)
        jx = np.clip(np.floor(qx).astype(np.intp), 0, det.shape[1] - 2)
        ty = np.clip(qy - jy, 0.0, 1.0)[:, None]
        tx = np.clip(qx - jx, 0.0, 1.0)[None, :]
        sm = (1 - ty) * ((1 - tx) * det[np.ix_(jy, jx)] + tx * det[np.ix_(jy, jx + 1)]) + ty * (
            (1 - tx) * det[np.ix_(jy + 1, jx)] + tx * det[np.ix_(jy + 1, jx + 1)])
        rho2 = ((np.arange(sm.shape[0])[:, None] - yc) * 0.8) ** 2 + ((np.arange(sm.shape[1])[None, :] - xc) * 1.25) ** 2
        inside = own & (rho2 <= (0.5 * rr) ** 2)
        peak = float(sm[inside].max()) if inside.any() else float(sm[own].max())
        ref = (sm >= 0.5 * peak) & own & (rho2 <= (1.4 * rr + 2) ** 2)
        got = half_max_region(det, f, y0, y1, x0, x1, own, yc, xc, 0.8, 1.25, rr)
        np.testing.assert_array_equal(got, ref)


def _model_table_reference(sigma_px, r_max_px, model="sphere", r_min_px=1.0, r_step_px=0.25):
    """The dense formulation model_table had before the banded kernel: every source profile rebuilt per call and
    the full ``src @ kern.T`` product (whose threaded BLAS call dominated the cost on a loaded machine)."""
    q = _QUAD_STEP_PX
    radii = np.arange(r_min_px, r_max_px + r_step_px / 2, r_step_px)
    rho = np.arange(0.0, r_max_px + 5 * sigma_px + 4 + RHO_STEP_PX, RHO_STEP_PX)
    r = np.arange(q / 2, radii[-1] + q, q)
    if model == "sphere":
        lo, hi, rr = np.clip(r - q / 2, 0, None), r + q / 2, radii[:, None]

        def anti(x):
            xc = np.minimum(x, rr)
            return (xc * np.sqrt(np.clip(rr**2 - xc**2, 0, None)) + rr**2 * np.arcsin(xc / rr)) / (2 * rr)

        src = (anti(hi[None, :]) - anti(lo[None, :])) / q
    else:
        src = np.clip((radii[:, None] - (r - q / 2)[None, :]) / q, 0.0, 1.0)
    if sigma_px <= 1e-6:
        return radii, rho, np.stack([np.interp(rho, r, s, right=0.0) for s in src])
    s2 = sigma_px * sigma_px
    kern = (r[None, :] / s2) * np.exp(-((rho[:, None] - r[None, :]) ** 2) / (2 * s2)) * i0e(
        rho[:, None] * r[None, :] / s2) * q
    return radii, rho, src @ kern.T


@pytest.mark.parametrize("model", ["sphere", "disk"])
@pytest.mark.parametrize("args", [(0.25, 39.0, 8.0, 0.5), (1.75, 38.0, 8.0, 0.5), (2.5, 39.0, 8.0, 0.5),
                                  (1.2, 42.89, 1.0, 0.25), (3.7, 60.0, 2.0, 0.25), (0.05, 10.0, 1.0, 0.25),
                                  (0.0, 30.0, 1.0, 0.25)])
def test_model_table_matches_dense_formulation(model, args):
    """Shared source profiles + banded kernel + compiled product = the dense tables to rounding (~1e-15)."""
    sigma, r_max, r_min, step = args
    model_table.cache_clear()
    got = model_table(sigma, r_max, model, r_min, step)
    ref = _model_table_reference(sigma, r_max, model, r_min, step)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[2], ref[2], rtol=0, atol=1e-13)
    # the returned arrays are the caller's: writing to them leaves the shared source profiles intact
    got[0][:] = -1.0
    model_table.cache_clear()
    np.testing.assert_array_equal(model_table(sigma, r_max, model, r_min, step)[0], ref[0])
