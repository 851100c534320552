"""Compiled (numba) inner loops of the TEM pipeline.

Each kernel replaces a per-pixel or per-particle loop of small numpy calls whose cost was the Python
overhead, not the arithmetic; the plain-numpy formulations they replace are kept in the tests as references
(``tests/tem/test_kernels.py``). Pixels are visited in row-major order, so sums accumulate in the same order as
the ``np.bincount`` calls they replace.

Developer note: the kernels are cached by numba (``cache=True``); numba does not notice edits to functions
called from a cached kernel in another module, so keep every helper in this file.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True)
def _select(buf: NDArray[np.float64], n: int, k: int) -> float:
    """k-th smallest of ``buf[:n]`` (0-based) by in-place quickselect; afterwards ``buf[:k]`` holds the k
    smaller values."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = buf[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                t = buf[i]
                buf[i] = buf[j]
                buf[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return buf[k]


@njit(cache=True)
def nanmedian_windows(pad: NDArray[np.float64], wy: int, wx: int) -> NDArray[np.float64]:
    """NaN-ignoring median of every ``wy x wx`` window of ``pad`` (output ``pad.shape - (wy, wx) + 1``).

    An even count takes the mean of the two middle values (as :func:`numpy.nanmedian`); a window without
    finite values gives NaN.
    """
    ny = pad.shape[0] - wy + 1
    nx = pad.shape[1] - wx + 1
    out = np.empty((ny, nx))
    buf = np.empty(wy * wx)
    for i in range(ny):
        for j in range(nx):
            n = 0
            for a in range(wy):
                for b in range(wx):
                    v = pad[i + a, j + b]
                    if not np.isnan(v):
                        buf[n] = v
                        n += 1
            if n == 0:
                out[i, j] = np.nan
                continue
            h = n // 2
            hi = _select(buf, n, h)
            if n % 2:
                out[i, j] = hi
            else:  # the largest of the lower half, which _select left in buf[:h]
                lo = buf[0]
                for k in range(1, h):
                    if buf[k] > lo:
                        lo = buf[k]
                out[i, j] = (lo + hi) / 2.0
    return out


@njit(cache=True)
def bin_mean(img: NDArray[np.float32], f: int) -> NDArray[np.float32]:
    """Means of the ``f x f`` blocks of ``img`` (rows/columns past the last full block dropped), accumulated in
    float64 (exact for integer counts, like ``reshape(...).mean(axis=(1, 3))``)."""
    nby = img.shape[0] // f
    nbx = img.shape[1] // f
    acc = np.zeros((nby, nbx))
    for y in range(nby * f):
        by = y // f
        for x in range(nbx * f):
            acc[by, x // f] += img[y, x]
    out = np.empty((nby, nbx), dtype=np.float32)
    inv = 1.0 / (f * f)
    for i in range(nby):
        for j in range(nbx):
            out[i, j] = acc[i, j] * inv
    return out


@njit(cache=True)
def label_moments(
    labels: NDArray[np.int32], signal: NDArray[np.float32], n_labels: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """One pass over a label image: per label the pixel count, contrast-weighted moments and bounding box.

    Returns
    -------
    mom, wy, wx, count, box
        ``mom[l] = sum w``, ``wy[l] = sum w y``, ``wx[l] = sum w x`` with ``w = max(signal, 0)``, the pixel
        count, and ``box[l] = (y0, y1, x0, x1)`` (half-open; ``y0 = -1`` for an absent label), for labels
        ``0..n_labels`` (row 0, the background, is not filled).
    """
    mom = np.zeros(n_labels + 1)
    swy = np.zeros(n_labels + 1)
    swx = np.zeros(n_labels + 1)
    cnt = np.zeros(n_labels + 1, dtype=np.int64)
    box = np.full((n_labels + 1, 4), -1, dtype=np.int64)
    ny, nx = labels.shape
    for y in range(ny):
        for x in range(nx):
            lab = labels[y, x]
            if lab <= 0:
                continue
            w = float(signal[y, x])
            if w < 0.0:
                w = 0.0
            mom[lab] += w
            swy[lab] += w * y
            swx[lab] += w * x
            if cnt[lab] == 0:
                box[lab, 0] = y
                box[lab, 2] = x
                box[lab, 3] = x + 1
            elif x < box[lab, 2]:
                box[lab, 2] = x
            if x + 1 > box[lab, 3]:
                box[lab, 3] = x + 1
            box[lab, 1] = y + 1
            cnt[lab] += 1
    return mom, swy, swx, cnt, box


@njit(cache=True)
def other_label_in_box(labels: NDArray[np.int32], lab: int, y0: int, y1: int, x0: int, x1: int) -> bool:
    """Whether ``labels[y0:y1, x0:x1]`` holds a non-zero label other than ``lab``."""
    for y in range(y0, y1):
        for x in range(x0, x1):
            v = labels[y, x]
            if v != 0 and v != lab:
                return True
    return False


@njit(cache=True)
def ring_profiles(
    signal: NDArray[np.float32], labels: NDArray[np.int32], y0: int, y1: int, x0: int, x1: int,
    cy: float, cx: float, sy: float, sx: float, lab: int, guard: int, use_neighbours: bool,
    neighbours: NDArray[np.float64], own_r: float, rho_max: float, bin_px: float, sectors: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Sector-resolved ring profiles of one particle over the window ``[y0:y1, x0:x1]``.

    Without ``use_neighbours`` the pixels of other labels, dilated by ``guard`` px (4-connected, i.e. a
    city-block distance <= ``guard`` within the window, as ``ndi.binary_dilation(iterations=guard)``), are left
    out, but never the particle's own pixels. With ``use_neighbours`` and ``neighbours`` rows ``(cy, cx, R)`` (px) a pixel is kept where
    ``rho - own_r <= |p - c_i| - R_i`` for every neighbour (additively weighted Voronoi split).

    Returns
    -------
    rho_mean, means, counts, valid
        As :func:`qdlab.tem.profile.sector_profiles` (rings of ``bin_px`` out to the last non-empty one, at least
        one; row 0 the full profile, row ``g + 1`` the one without sector ``g``), and the window's mask of pixels
        used.
    """
    h = y1 - y0
    w = x1 - x0
    valid = np.ones((h, w), dtype=np.bool_)
    if not use_neighbours:
        other = np.zeros((h, w), dtype=np.bool_)
        n_other = 0
        for i in range(h):
            for j in range(w):
                v = labels[y0 + i, x0 + j]
                if v != 0 and v != lab:
                    other[i, j] = True
                    n_other += 1
        if n_other:
            for i in range(h):
                for j in range(w):
                    if not other[i, j]:
                        continue
                    for a in range(max(0, i - guard), min(h, i + guard + 1)):
                        r = guard - abs(a - i)
                        for b in range(max(0, j - r), min(w, j + r + 1)):
                            if labels[y0 + a, x0 + b] != lab:
                                valid[a, b] = False
    else:
        for i in range(h):
            gy = (y0 + i - cy) * sy
            for j in range(w):
                gx = (x0 + j - cx) * sx
                own_d = math.sqrt(gy * gy + gx * gx) - own_r
                for k in range(neighbours.shape[0]):
                    dy = (y0 + i - neighbours[k, 0]) * sy
                    dx = (x0 + j - neighbours[k, 1]) * sx
                    if not (own_d <= math.sqrt(dy * dy + dx * dx) - neighbours[k, 2]):
                        valid[i, j] = False
                        break
    nb_max = int(rho_max / bin_px) + 1
    cnt = np.zeros((sectors, nb_max))
    sums = np.zeros((sectors, nb_max))
    rho_sum = np.zeros(nb_max)
    nb = 0
    r2max = rho_max * rho_max
    for i in range(h):
        gy = (y0 + i - cy) * sy
        if gy * gy > r2max * (1 + 1e-12):
            continue
        # columns that can lie within rho_max of the centre (one column of margin; rho decides below)
        half_w = math.sqrt(max(r2max - gy * gy, 0.0)) / sx
        j_lo = max(0, int(np.floor(cx - half_w)) - x0 - 1)
        j_hi = min(w, int(np.ceil(cx + half_w)) - x0 + 2)
        for j in range(j_lo, j_hi):
            if not valid[i, j]:
                continue
            gx = (x0 + j - cx) * sx
            rho = math.sqrt(gy * gy + gx * gx)  # (np.hypot up to the last bit, 4x cheaper)
            if not (rho <= rho_max):
                continue
            idx = int(rho / bin_px)
            sec = _sector(gy, gx, sectors)
            cnt[sec, idx] += 1.0
            sums[sec, idx] += float(signal[y0 + i, x0 + j])
            rho_sum[idx] += rho
            if idx + 1 > nb:
                nb = idx + 1
    nb = max(nb, 1)
    # full profile (row 0) and delete-one-sector profiles (row g + 1), as qdlab.tem.profile.sector_profiles
    rho_mean = np.empty(nb)
    counts = np.empty((sectors + 1, nb))
    means = np.zeros((sectors + 1, nb))
    for k in range(nb):
        tc = 0.0
        tv = 0.0
        for g in range(sectors):
            tc += cnt[g, k]
            tv += sums[g, k]
        rho_mean[k] = rho_sum[k] / tc if tc > 0 else (k + 0.5) * bin_px
        counts[0, k] = tc
        if tc > 0:
            means[0, k] = tv / tc
        for g in range(sectors):
            c = tc - cnt[g, k]
            counts[g + 1, k] = c
            if c > 0:
                means[g + 1, k] = (tv - sums[g, k]) / c
    return rho_mean, means, counts, valid


@njit(cache=True)
def _sector(gy: float, gx: float, sectors: int) -> int:
    """``clip(int((atan2(gy, gx) + pi) / (2 pi) * sectors), 0, sectors - 1)``; for 8 sectors from the signs and
    magnitudes of ``gy``, ``gx`` (no arctangent) except within a relative 1e-9 of a sector boundary, where the
    arctangent decides as in the formula."""
    if sectors == 8:
        ay = abs(gy)
        ax = abs(gx)
        tol = 1e-9 * (ay + ax)
        if ay > tol and ax > tol and abs(ay - ax) > tol:
            if gy > 0:
                if gx > 0:
                    return 4 if ay < ax else 5
                return 7 if ay < ax else 6
            if gx > 0:
                return 3 if ay < ax else 2
            return 0 if ay < ax else 1
    sec = int((math.atan2(gy, gx) + np.pi) / (2 * np.pi) * sectors)
    if sec < 0:
        return 0
    if sec > sectors - 1:
        return sectors - 1
    return sec


@njit(cache=True)
def label_max(values: NDArray[np.floating], labels: NDArray[np.int32], n_labels: int) -> NDArray[np.float64]:
    """Largest value per label ``1..n_labels`` (``ndi.maximum(values, labels, range(1, n + 1))``; ``-inf`` for an
    absent label)."""
    out = np.full(n_labels, -np.inf)
    ny, nx = labels.shape
    for y in range(ny):
        for x in range(nx):
            lab = labels[y, x]
            if 0 < lab <= n_labels and values[y, x] > out[lab - 1]:
                out[lab - 1] = values[y, x]
    return out


@njit(cache=True)
def bilinear_grid(
    low: NDArray[np.float64], jy: NDArray[np.intp], fy: NDArray[np.float64], jx: NDArray[np.intp],
    fx: NDArray[np.float64],
) -> NDArray[np.float32]:
    """Separable linear interpolation of a coarse grid: ``out[y, x] = sum_ab wy[y, a] low[a, b] wx[x, b]`` with
    the weights ``1 - f`` at ``j`` and ``f`` at ``j + 1`` (``j + 1`` unused for a one-point axis)."""
    ny = jy.size
    nx = jx.size
    m = low.shape[1]
    out = np.empty((ny, nx), dtype=np.float32)
    row = np.empty(m)
    for y in range(ny):
        a = jy[y]
        t = fy[y]
        if low.shape[0] == 1:
            for b in range(m):
                row[b] = low[0, b]
        else:
            for b in range(m):
                row[b] = (1 - t) * low[a, b] + t * low[a + 1, b]
        for x in range(nx):
            b = jx[x]
            out[y, x] = row[0] if m == 1 else (1 - fx[x]) * row[b] + fx[x] * row[b + 1]
    return out


@njit(cache=True)
def jackknife_se(r: NDArray[np.float64]) -> float:
    """Delete-one jackknife standard error ``sqrt((g - 1) / g * sum (r_i - mean)^2)`` of the finite values of
    ``r`` (NaN if fewer than 3)."""
    g = 0
    tot = 0.0
    for v in r:
        if np.isfinite(v):
            g += 1
            tot += v
    if g < 3:
        return np.nan
    mean = tot / g
    ss = 0.0
    for v in r:
        if np.isfinite(v):
            ss += (v - mean) ** 2
    return math.sqrt((g - 1) / g * ss)


@njit(cache=True, error_model="numpy")
def _grid_sse(
    tab: NDArray[np.float64], k_idx: NDArray[np.intp], i0: NDArray[np.intp], fr: NDArray[np.float64],
    w: NDArray[np.float64], wy: NDArray[np.float64], sw: NDArray[np.float64], sy: NDArray[np.float64],
    syy: NDArray[np.float64], has_offset: bool, offset: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    p_n, n = w.shape
    kk = k_idx.size
    sse = np.empty((p_n, kk))
    a_o = np.empty((p_n, kk))
    b_o = np.empty((p_n, kk))
    m = np.empty(n)
    for q in range(kk):
        k = k_idx[q]
        for i in range(n):
            m[i] = tab[k, i0[i]] * (1 - fr[i]) + tab[k, i0[i] + 1] * fr[i]
        for p in range(p_n):
            sm = 0.0
            smm = 0.0
            smy = 0.0
            for i in range(n):
                sm += w[p, i] * m[i]
                smm += w[p, i] * m[i] * m[i]
                smy += wy[p, i] * m[i]
            if has_offset:
                b = offset
                a = (smy - b * sm) / smm
            else:
                det = sw[p] * smm - sm * sm
                a = (sw[p] * smy - sm * sy[p]) / det
                b = (sy[p] - a * sm) / sw[p]
            s = syy[p] - 2 * a * smy - 2 * b * sy[p] + a * a * smm + 2 * a * b * sm + b * b * sw[p]
            sse[p, q] = s if (np.isfinite(s) and a > 0) else np.inf
            a_o[p, q] = a
            b_o[p, q] = b
    return sse, a_o, b_o


@njit(cache=True, error_model="numpy")
def fit_radius_core(
    rho: NDArray[np.float64], means: NDArray[np.float64], counts: NDArray[np.float64],
    radii: NDArray[np.float64], n_rho_tab: int, tab: NDArray[np.float64], k_all: NDArray[np.intp],
    rho_step: float, r_step: float, has_offset: bool, offset: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Grid search + parabolic refinement of :func:`qdlab.tem.profile.fit_radius_batch` (see there)."""
    p_n, n = means.shape
    i0 = np.empty(n, dtype=np.intp)
    fr = np.empty(n)
    top = n_rho_tab - 1.000001
    for i in range(n):
        pos = rho[i] / rho_step
        if pos < 0:
            pos = 0.0
        elif pos > top:
            pos = top
        i0[i] = int(pos)
        fr[i] = pos - i0[i]
    wy = counts * means
    sw = np.zeros(p_n)
    sy = np.zeros(p_n)
    syy = np.zeros(p_n)
    for p in range(p_n):
        for i in range(n):
            sw[p] += counts[p, i]
            sy[p] += wy[p, i]
            syy[p] += wy[p, i] * means[p, i]
    k_idx = k_all
    if k_all.size > 24:
        coarse = k_all[::4].copy()
        sse_c, _, _ = _grid_sse(tab, coarse, i0, fr, counts, wy, sw, sy, syy, has_offset, offset)
        row = sse_c[0].copy()
        if not np.isfinite(row).any():  # the full profile has no fit: take the best of any row
            for q in range(row.size):
                for p in range(1, p_n):
                    if sse_c[p, q] < row[q]:
                        row[q] = sse_c[p, q]
        jc = int(np.argmin(row))
        k_idx = k_all[max(0, 4 * jc - 6): 4 * jc + 7].copy()
    sse, a, b = _grid_sse(tab, k_idx, i0, fr, counts, wy, sw, sy, syy, has_offset, offset)
    kk = k_idx.size
    r_out = np.full(p_n, np.nan)
    a_out = np.full(p_n, np.nan)
    b_out = np.full(p_n, np.nan)
    s_out = np.full(p_n, np.nan)
    for p in range(p_n):
        j = int(np.argmin(sse[p]))
        best = sse[p, j]
        if not np.isfinite(best):
            continue
        shift = 0.0
        if 0 < j < kk - 1:
            s_m = sse[p, j - 1]
            s_p = sse[p, j + 1]
            den = s_m - 2 * best + s_p
            if np.isfinite(s_m) and np.isfinite(s_p) and den > 0:
                shift = min(max(0.5 * (s_m - s_p) / den, -0.5), 0.5)
        r_out[p] = radii[k_idx[j]] + shift * r_step
        a_out[p] = a[p, j]
        b_out[p] = b[p, j]
        s_out[p] = best / sw[p]
    return r_out, a_out, b_out, s_out


@njit(cache=True)
def half_max_region(
    det: NDArray[np.float32], f: int, y0: int, y1: int, x0: int, x1: int, own: NDArray[np.bool_],
    yc: int, xc: int, sy: float, sx: float, rr: float,
) -> NDArray[np.bool_]:
    """Region above half the peak of the bilinearly upsampled detection image within a particle's window.

    ``det`` is sampled at binned-pixel centres ``f j + (f - 1) / 2``; the peak is taken within half the radius
    ``rr`` of ``(yc, xc)`` (window coordinates) over ``own`` (else over all of ``own``), and the region is
    limited to ``own`` and ``1.4 rr + 2`` px (distances scaled by ``sy``, ``sx``).
    """
    h = y1 - y0
    w = x1 - x0
    hy = det.shape[0] - 2
    hx = det.shape[1] - 2
    jx = np.empty(w, dtype=np.intp)
    tx = np.empty(w)
    for b in range(w):
        q = (x0 + b - (f - 1) / 2) / f
        j = int(np.floor(q))
        j = min(max(j, 0), hx)
        jx[b] = j
        tx[b] = min(max(q - j, 0.0), 1.0)
    sm = np.empty((h, w))
    for a in range(h):
        q = (y0 + a - (f - 1) / 2) / f
        j = int(np.floor(q))
        jy = min(max(j, 0), hy)
        ty = min(max(q - jy, 0.0), 1.0)
        for b in range(w):
            k = jx[b]
            t = tx[b]
            sm[a, b] = (1 - ty) * ((1 - t) * det[jy, k] + t * det[jy, k + 1]) + ty * (
                (1 - t) * det[jy + 1, k] + t * det[jy + 1, k + 1])
    r_in = (0.5 * rr) ** 2
    r_out = (1.4 * rr + 2) ** 2
    peak_in = -np.inf
    peak_own = -np.inf
    any_in = False
    for a in range(h):
        for b in range(w):
            if not own[a, b]:
                continue
            if sm[a, b] > peak_own:
                peak_own = sm[a, b]
            rho2 = ((a - yc) * sy) ** 2 + ((b - xc) * sx) ** 2
            if rho2 <= r_in:
                any_in = True
                if sm[a, b] > peak_in:
                    peak_in = sm[a, b]
    peak = peak_in if any_in else peak_own
    region = np.zeros((h, w), dtype=np.bool_)
    if peak == -np.inf:
        return region
    for a in range(h):
        for b in range(w):
            if own[a, b] and sm[a, b] >= 0.5 * peak:
                rho2 = ((a - yc) * sy) ** 2 + ((b - xc) * sx) ** 2
                if rho2 <= r_out:
                    region[a, b] = True
    return region


_CROFTON4 = np.array([
    0, np.pi / 4 * (1 + 1 / np.sqrt(2)), np.pi / (4 * np.sqrt(2)), np.pi / (2 * np.sqrt(2)), 0,
    np.pi / 4 * (1 + 1 / np.sqrt(2)), 0, np.pi / (4 * np.sqrt(2)), np.pi / 4, np.pi / 2, np.pi / (4 * np.sqrt(2)),
    np.pi / (4 * np.sqrt(2)), np.pi / 4, np.pi / 2, 0, 0,
])
"""Crofton weights (4 directions) of the 2 x 2 configuration codes (as :func:`skimage.measure.perimeter_crofton`)."""


@njit(cache=True)
def crofton_codes(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Histogram of the 16 2 x 2 configuration codes of ``mask`` padded by zeros (two rows/columns before,
    one after, as the slicing formulation in :func:`qdlab.tem.measure.crofton_perimeter`)."""
    h, w = mask.shape
    hist = np.zeros(16, dtype=np.int64)
    # q = zeros((h + 3, w + 3)); q[2:-1, 2:-1] = mask; code[i, j] = q[i+1, j+1] + 2 q[i, j+1] + 4 q[i+1, j] + 8 q[i, j]
    for i in range(h + 2):
        for j in range(w + 2):
            c = 0
            if 0 <= i - 1 < h and 0 <= j - 1 < w and mask[i - 1, j - 1]:
                c += 1
            if 0 <= i - 2 < h and 0 <= j - 1 < w and mask[i - 2, j - 1]:
                c += 2
            if 0 <= i - 1 < h and 0 <= j - 2 < w and mask[i - 1, j - 2]:
                c += 4
            if 0 <= i - 2 < h and 0 <= j - 2 < w and mask[i - 2, j - 2]:
                c += 8
            hist[c] += 1
    return hist


@njit(cache=True)
def _cross(o0: float, o1: float, a0: float, a1: float, b0: float, b1: float) -> float:
    return (a0 - o0) * (b1 - o1) - (a1 - o1) * (b0 - o0)


@njit(cache=True)
def hull_of_pixels(mask: NDArray[np.bool_], sy: float, sx: float) -> NDArray[np.float64]:
    """Convex hull (counter-clockwise, no collinear vertices) of the pixel corners of ``mask``, scaled by
    ``(sy, sx)``; only the corners of the first and last pixel of every row can be hull vertices.

    Monotone-chain algorithm (Andrew 1979) on ``(y, x)`` points; returns ``(m, 2)`` vertices.
    """
    h, w = mask.shape
    # corners as integer lattice indices (cy, cx) in 0..h, 0..w: the corner's coordinate is (c - 0.5) * s
    keys = np.empty(8 * h, dtype=np.int64)
    n = 0
    for i in range(h):
        first = -1
        last = -1
        for j in range(w):
            if mask[i, j]:
                if first < 0:
                    first = j
                last = j
        if first < 0:
            continue
        for j in (first, last):
            for cy in (i, i + 1):
                for cx in (j, j + 1):
                    keys[n] = cy * (w + 1) + cx
                    n += 1
    if n == 0:
        return np.empty((0, 2))
    keys = np.unique(keys[:n])  # sorted: lexicographic in (y, x) because sy, sx > 0
    n = keys.size
    p = np.empty((n, 2))
    for k in range(n):
        p[k, 0] = (keys[k] // (w + 1) - 0.5) * sy
        p[k, 1] = (keys[k] % (w + 1) - 0.5) * sx
    if n < 3:
        return p
    hull = np.empty((2 * n, 2))
    k = 0
    for i in range(n):  # lower chain
        while k >= 2 and _cross(hull[k - 2, 0], hull[k - 2, 1], hull[k - 1, 0], hull[k - 1, 1], p[i, 0], p[i, 1]) <= 0:
            k -= 1
        hull[k, 0] = p[i, 0]
        hull[k, 1] = p[i, 1]
        k += 1
    t = k + 1
    for i in range(n - 2, -1, -1):  # upper chain
        while k >= t and _cross(hull[k - 2, 0], hull[k - 2, 1], hull[k - 1, 0], hull[k - 1, 1], p[i, 0], p[i, 1]) <= 0:
            k -= 1
        hull[k, 0] = p[i, 0]
        hull[k, 1] = p[i, 1]
        k += 1
    return hull[: k - 1].copy()


@njit(cache=True)
def hull_metrics(v: NDArray[np.float64]) -> tuple[float, float, float]:
    """Area, maximum Feret diameter (largest vertex distance) and minimum caliper width (over the edges, the
    largest distance of a vertex from the edge's line) of a convex polygon ``v`` (ordered vertices)."""
    m = v.shape[0]
    area = 0.0
    fmax = 0.0
    fmin = np.inf
    for i in range(m):
        j = (i + 1) % m
        area += v[i, 0] * v[j, 1] - v[j, 0] * v[i, 1]
        for k in range(m):
            d = math.sqrt((v[i, 0] - v[k, 0]) ** 2 + (v[i, 1] - v[k, 1]) ** 2)
            if d > fmax:
                fmax = d
        e0 = v[j, 0] - v[i, 0]
        e1 = v[j, 1] - v[i, 1]
        norm = math.hypot(e0, e1)
        if norm > 0:
            n0 = -e1 / norm
            n1 = e0 / norm
            wmax = 0.0
            for k in range(m):
                d = abs((v[k, 0] - v[i, 0]) * n0 + (v[k, 1] - v[i, 1]) * n1)
                if d > wmax:
                    wmax = d
            if wmax < fmin:
                fmin = wmax
    if fmin == np.inf:
        fmin = np.nan
    return abs(area) / 2.0, fmax, fmin



@njit(cache=True)
def band_products(
    rho: NDArray[np.float64], r: NDArray[np.float64], j_lo: NDArray[np.intp], j_hi: NDArray[np.intp], s2: float
) -> NDArray[np.float64]:
    """``rho[i] * r[j] / s2`` for ``j_lo[i] <= j < j_hi[i]``, row after row (the arguments of ``i0e`` in the
    band of the blur kernel; see :func:`blur_table`)."""
    n = 0
    for i in range(rho.size):
        n += j_hi[i] - j_lo[i]
    out = np.empty(n)
    m = 0
    for i in range(rho.size):
        for j in range(j_lo[i], j_hi[i]):
            out[m] = rho[i] * r[j] / s2
            m += 1
    return out



@njit(cache=True)
def blur_table(
    src_t: NDArray[np.float64], k_first: NDArray[np.intp], rho: NDArray[np.float64], r: NDArray[np.float64],
    j_lo: NDArray[np.intp], j_hi: NDArray[np.intp], s2: float, dr: float, i0e_band: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Edge-model table ``table[k, i] = sum_j src[k, j] * K(rho[i], r[j]) dr`` with the radial Gaussian kernel
    ``K = r / s2 * exp(-(rho - r)^2 / (2 s2)) * I0e(rho r / s2)``.

    ``src_t`` is ``src`` transposed (C-contiguous, ``(n_r, n_radii)``); ``src[k, j]`` is exactly zero for
    ``k < k_first[j]`` (radii sorted: a cell beyond the edge). Only ``j_lo[i] <= j < j_hi[i]`` is summed, the
    band of kernel row ``i`` outside which the Gaussian factor is negligible. ``i0e_band`` holds ``I0e`` at
    :func:`band_products` (evaluated by SciPy, so the Bessel factor is SciPy's to the last bit). Each sum runs
    over ``j`` in increasing order, as a plain loop would; the inner loop is over radii (contiguous, so it
    vectorises). Replaces a dense ``src @ kern.T`` whose BLAS call spent far longer starting threads than
    multiplying on a loaded machine.
    """
    nk = src_t.shape[1]
    ni = rho.size
    out_t = np.zeros((ni, nk))
    m = 0
    for i in range(ni):
        row = out_t[i]
        for j in range(j_lo[i], j_hi[i]):
            d = rho[i] - r[j]
            w = (r[j] / s2) * math.exp(-(d * d) / (2 * s2)) * i0e_band[m] * dr
            m += 1
            sj = src_t[j]
            for k in range(k_first[j], nk):
                row[k] += sj[k] * w
    return out_t.T.copy()
