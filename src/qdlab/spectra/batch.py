"""Batched Levenberg–Marquardt fitting of Gaussian PL bands for whole stacks of spectra at once.

One fused numba kernel per spectrum (``prange`` over the stack) evaluates the model, the residual, the
normal matrix ``JᵀJ`` and the gradient ``Jᵀr`` in a single pass over the points — no Jacobian is ever
stored — and takes Marquardt-damped Gauss–Newton steps solved by a small Cholesky factorisation.
Initial values come from the data (maximum, half-maximum width), then a one-band fit, then a second
(third) band seeded at the largest positive residual, as in :func:`qdlab.spectra.analyze_pl`.

The model is the least-squares problem lmfit solves with ``GaussianModel`` components plus a constant
or linear background, so the results agree with lmfit to solver tolerance
(``benchmarks/bench_spectra.py`` measures both in one run).

Examples
--------
>>> import numpy as np
>>> from qdlab.spectra.synth import gaussian_ev
>>> e = np.linspace(0.9, 1.5, 600)
>>> Y = np.stack([gaussian_ev(e, c, 0.1, 1.0) + gaussian_ev(e, c - 0.15, 0.08, 0.5) for c in (1.2, 1.25)])
>>> fit = fit_batch(e, Y, n_components=2)
>>> np.round(fit.centers_ev, 4).tolist()
[[1.05, 1.2], [1.1, 1.25]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM, fwhm_ev_to_nm

_SQRT2PI = math.sqrt(2 * math.pi)


# --------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------
_FM = {"reassoc", "contract", "nsz", "arcp"}  # vectorised reductions; exp stays exact (no "afn")


@njit(cache=True, fastmath=_FM)
def _gauss_column(e, de, uniform, c, s, out):
    """``exp(-(e-c)^2 / 2 s^2)`` into ``out``.

    On a uniform grid the values are built outward from the grid point nearest ``c`` by the exact
    recurrence ``g[i+1] = g[i] q[i]``, ``q[i+1] = q[i] exp(-(de/s)^2)`` (three exponentials per band
    instead of one per point; relative error ~ N * 1e-16).
    """
    n = e.size
    if not uniform:
        for i in range(n):
            z = (e[i] - c) / s
            out[i] = math.exp(-0.5 * z * z)
        return
    i0 = int(round((c - e[0]) / de))  # noqa: RUF046 - numba typing
    i0 = min(max(i0, 0), n - 1)
    z0 = (e[i0] - c) / s
    dz = de / s
    r = math.exp(-dz * dz)
    out[i0] = math.exp(-0.5 * z0 * z0)
    gv = out[i0]
    q = math.exp(-dz * z0 - 0.5 * dz * dz)
    for i in range(i0 + 1, n):
        gv *= q
        q *= r
        out[i] = gv
    gv = out[i0]
    q = math.exp(dz * z0 - 0.5 * dz * dz)
    for i in range(i0 - 1, -1, -1):
        gv *= q
        q *= r
        out[i] = gv


_CHUNK = 256


@njit(cache=True, fastmath=_FM)
def _accumulate(e, y, p, ncomp, nbg, e0, de, uniform, G, Jc, JtJ, g):
    """Residual sum of squares at ``p``; fills ``JtJ`` and ``g = Jᵀr`` in one pass.

    The Gaussian columns are computed once into ``G`` (``ncomp x n``); the Jacobian is then built and
    reduced in L1-resident chunks of ``_CHUNK`` points (``Jc`` is ``P x _CHUNK``), so it is never stored
    whole.
    """
    P = p.size
    n = e.size
    nb0 = 3 * ncomp
    for k in range(ncomp):
        _gauss_column(e, de, uniform, p[3 * k], p[3 * k + 1], G[k])
    for a in range(P):
        g[a] = 0.0
        for b in range(P):
            JtJ[a, b] = 0.0
    cost = 0.0
    res = np.empty(_CHUNK)
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        for i in range(m):
            res[i] = -y[start + i]
        if nbg >= 1:
            b0 = p[nb0]
            for i in range(m):
                res[i] += b0
                Jc[nb0, i] = 1.0
        if nbg == 2:
            b1 = p[nb0 + 1]
            for i in range(m):
                x = e[start + i] - e0
                res[i] += b1 * x
                Jc[nb0 + 1, i] = x
        for k in range(ncomp):
            c = p[3 * k]
            inv = 1.0 / p[3 * k + 1]
            h = p[3 * k + 2]
            for i in range(m):
                gz = G[k, start + i]
                z = (e[start + i] - c) * inv
                tt = h * gz * z * inv
                Jc[3 * k, i] = tt
                Jc[3 * k + 1, i] = tt * z
                Jc[3 * k + 2, i] = gz
                res[i] += h * gz
        for i in range(m):
            cost += res[i] * res[i]
        for a in range(P):
            acc = 0.0
            for i in range(m):
                acc += Jc[a, i] * res[i]
            g[a] += acc
            for b in range(a, P):
                acc = 0.0
                for i in range(m):
                    acc += Jc[a, i] * Jc[b, i]
                JtJ[a, b] += acc
    for a in range(P):
        for b in range(a):
            JtJ[a, b] = JtJ[b, a]
    return cost


@njit(cache=True)
def _chol_solve(A, rhs, out):
    """Solve ``A out = rhs`` for symmetric positive-definite ``A`` (in place on A); False if not SPD."""
    n = rhs.size
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not (s > 0.0):
            return False
        A[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / A[j, j]
    for i in range(n):
        t = rhs[i]
        for k in range(i):
            t -= A[i, k] * out[k]
        out[i] = t / A[i, i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, n):
            t -= A[k, i] * out[k]
        out[i] = t / A[i, i]
    return True


@njit(cache=True)
def _lm(e, y, p, ncomp, nbg, e0, de, uniform, max_iter, tol):
    """Levenberg–Marquardt on one spectrum, updating ``p`` in place. Returns (rss, iterations, converged, JtJ)."""
    P = p.size
    n = e.size
    G = np.empty((ncomp, n))
    Jc = np.empty((P, _CHUNK))
    JtJ = np.empty((P, P))
    g = np.empty(P)
    JtJ2 = np.empty((P, P))
    g2 = np.empty(P)
    A = np.empty((P, P))
    d = np.empty(P)
    trial = np.empty(P)
    cost = _accumulate(e, y, p, ncomp, nbg, e0, de, uniform, G, Jc, JtJ, g)
    lam = 1e-3
    converged = False
    it = 0
    span = e[-1] - e[0]
    for it in range(1, max_iter + 1):  # noqa: B007 - returned after the loop
        for a in range(P):
            for b in range(P):
                A[a, b] = JtJ[a, b]
            A[a, a] += lam * max(JtJ[a, a], 1e-300)
        for a in range(P):
            trial[a] = -g[a]
        if not _chol_solve(A, trial, d):
            lam *= 10.0
            if lam > 1e14:
                break
            continue
        bad = False
        for a in range(P):
            trial[a] = p[a] + d[a]
        for k in range(ncomp):
            if trial[3 * k + 1] <= 0.0 or trial[3 * k + 1] > 2 * span:
                bad = True
        if bad:
            lam *= 10.0
            if lam > 1e14:
                break
            continue
        c2 = _accumulate(e, y, trial, ncomp, nbg, e0, de, uniform, G, Jc, JtJ2, g2)
        if c2 <= cost:
            small = (cost - c2) <= tol * cost
            step = 0.0
            for a in range(P):
                step = max(step, abs(d[a]) / (abs(p[a]) + 1e-12))
            for a in range(P):
                p[a] = trial[a]
                g[a] = g2[a]
                for b in range(P):
                    JtJ[a, b] = JtJ2[a, b]
            cost = c2
            lam = max(lam * 0.1, 1e-12)
            if small or step < 1e-9:
                converged = True
                break
        else:
            lam *= 10.0
            if lam > 1e14:
                converged = True  # no downhill step exists at machine precision: a minimum
                break
    return cost, it, converged, JtJ


@njit(cache=True)
def _background_level(y):
    n = y.size
    k = max(3, n // 20)
    lo = 0.0
    hi = 0.0
    for i in range(k):
        lo += y[i]
        hi += y[n - 1 - i]
    return min(lo, hi) / k


@njit(cache=True)
def _half_width(e, y, i, level, direction):
    """Distance from point ``i`` to where ``y`` first drops below ``level`` walking in ``direction``."""
    j = i
    n = y.size
    while 0 < j < n - 1 and y[j] > level:
        j += direction
    return abs(e[j] - e[i])


@njit(cache=True)
def _init_maxima(e, y, ncomp, b0, out):
    """Up to ``ncomp`` bands from the local maxima of a 5-point box-smoothed copy of ``y``.

    Returns the number of bands found; ``out`` rows are (centre, sigma, height).
    """
    n = y.size
    sm = np.empty(n)
    acc = 0.0
    for j in range(min(3, n)):
        acc += y[j]
    top = -1e300
    for i in range(n):  # running 5-point box sum (truncated at the ends)
        if i + 2 < n and i > 0:
            acc += y[i + 2]
        if i - 3 >= 0:
            acc -= y[i - 3]
        sm[i] = acc / (min(i + 3, n) - max(i - 2, 0))
        top = max(top, sm[i])
    amp = top - b0
    cand = np.empty(n, dtype=np.int64)
    nc = 0
    for i in range(3, n - 3):
        v = sm[i]
        if v > sm[i - 1] and v >= sm[i + 1] and v > sm[i - 3] and v >= sm[i + 3] and v - b0 > 0.05 * amp:
            cand[nc] = i
            nc += 1
    order = np.argsort(-sm[cand[:nc]])
    found = 0
    runmin = np.empty((ncomp, n))  # runmin[m, i] = min(sm) between retained maximum m and point i
    for o in range(nc):
        if found == ncomp:
            break
        i = cand[order[o]]
        # prominence: the dip towards every stronger retained maximum must be >= 5 % of amp
        ok = True
        for m in range(found):
            j = int(out[m, 3])
            if min(sm[i], sm[j]) - runmin[m, i] < 0.05 * amp:
                ok = False
                break
        if not ok:
            continue
        rm = runmin[found]
        rm[i] = sm[i]
        for q in range(i + 1, n):
            rm[q] = min(rm[q - 1], sm[q])
        for q in range(i - 1, -1, -1):
            rm[q] = min(rm[q + 1], sm[q])
        h = sm[i] - b0
        level = b0 + 0.5 * h
        w = min(_half_width(e, sm, i, level, -1), _half_width(e, sm, i, level, 1))
        if w <= 0:
            w = (e[-1] - e[0]) / 20
        out[found, 0] = e[i]
        out[found, 1] = 2.0 * w / FWHM_PER_SIGMA  # HWHM -> sigma (global: a numba compile-time constant)
        out[found, 2] = h
        out[found, 3] = i
        found += 1
    return found


@njit(cache=True)
def _staged(e, y, ncomp, nbg, e0, de, uniform, c, sg, h, b0, max_iter, tol, split):
    """One band first, then each further band seeded at the largest positive residual (``split=False``)
    or by splitting the strongest band in two (``split=True``)."""
    n_pts = e.size
    p = np.zeros(3 + nbg)
    p[0] = c
    p[1] = sg
    p[2] = h
    if nbg >= 1:
        p[3] = b0
    cost, it, conv, JtJ = _lm(e, y, p, 1, nbg, e0, de, uniform, max_iter if ncomp == 1 else 8, 1e-6)
    total_it = it
    for n in range(2, ncomp + 1):
        q = np.zeros(3 * n + nbg)
        for a in range(3 * (n - 1)):
            q[a] = p[a]
        for a in range(nbg):
            q[3 * n + a] = p[3 * (n - 1) + a]
        kmax = 0
        for k in range(n - 1):
            if p[3 * k + 2] * p[3 * k + 1] > p[3 * kmax + 2] * p[3 * kmax + 1]:
                kmax = k
        if split:
            cm = p[3 * kmax]
            sm = p[3 * kmax + 1]
            hm = p[3 * kmax + 2]
            q[3 * kmax] = cm - 0.6 * sm
            q[3 * kmax + 1] = 0.7 * sm
            q[3 * kmax + 2] = 0.7 * hm
            q[3 * (n - 1)] = cm + 0.6 * sm
            q[3 * (n - 1) + 1] = 0.7 * sm
            q[3 * (n - 1) + 2] = 0.7 * hm
        else:
            imax = 0
            rmax = -1e300
            for i in range(n_pts):
                m = 0.0
                for k in range(n - 1):
                    z = (e[i] - p[3 * k]) / p[3 * k + 1]
                    m += p[3 * k + 2] * math.exp(-0.5 * z * z)
                if nbg >= 1:
                    m += p[3 * (n - 1)]
                if nbg == 2:
                    m += p[3 * (n - 1) + 1] * (e[i] - e0)
                r = y[i] - m
                if r > rmax:
                    rmax = r
                    imax = i
            q[3 * (n - 1)] = e[imax]
            q[3 * (n - 1) + 1] = 0.7 * p[3 * kmax + 1]
            q[3 * (n - 1) + 2] = max(rmax, 1e-3 * h)
        cost, it, conv, JtJ = _lm(e, y, q, n, nbg, e0, de, uniform, max_iter, tol)
        total_it += it
        p = q
    return p, cost, total_it, conv, JtJ


@njit(cache=True)
def _valid(p, ncomp, e):
    span = e[-1] - e[0]
    for k in range(ncomp):
        if not (p[3 * k + 2] > 0.0 and 0.0 < p[3 * k + 1] < span and e[0] - 0.1 * span < p[3 * k] < e[-1] + 0.1 * span):
            return False
    return True


@njit(cache=True)
def _fit_one(e, y, ncomp, nbg, max_iter, tol, p_row, cov_row):
    """Fit one spectrum; parameters into ``p_row``, covariance into ``cov_row``. Returns (rss, iterations, converged)."""
    n_pts = e.size
    e0 = 0.5 * (e[0] + e[-1])
    de = (e[-1] - e[0]) / (n_pts - 1)
    uniform = True
    for i in range(1, n_pts):
        if abs((e[i] - e[i - 1]) - de) > 1e-9 * abs(de):
            uniform = False
            break
    b0 = _background_level(y) if nbg >= 1 else 0.0
    seeds = np.zeros((ncomp, 4))
    found = _init_maxima(e, y, ncomp, b0, seeds)
    if found == 0:
        seeds[0, 0] = e[np.argmax(y)]
        seeds[0, 1] = (e[-1] - e[0]) / 10
        seeds[0, 2] = np.max(y) - b0
    if found == ncomp:
        p = np.zeros(3 * ncomp + nbg)
        for k in range(ncomp):
            p[3 * k] = seeds[k, 0]
            p[3 * k + 1] = seeds[k, 1]
            p[3 * k + 2] = seeds[k, 2]
        if nbg >= 1:
            p[3 * ncomp] = b0
        cost, total_it, conv, JtJ = _lm(e, y, p, ncomp, nbg, e0, de, uniform, max_iter, tol)
    else:
        p, cost, total_it, conv, JtJ = _staged(
            e, y, ncomp, nbg, e0, de, uniform, seeds[0, 0], seeds[0, 1], seeds[0, 2], b0, max_iter, tol, False
        )
    # a band with negative height or a collapsed width is a local minimum: try the other seedings
    for attempt in range(2):
        if _valid(p, ncomp, e) or ncomp == 1:
            break
        p2, cost2, it2, conv2, JtJ2 = _staged(
            e, y, ncomp, nbg, e0, de, uniform, seeds[0, 0], seeds[0, 1], seeds[0, 2], b0, max_iter, tol, attempt == 0
        )
        total_it += it2
        if _valid(p2, ncomp, e) or cost2 < cost:
            p, cost, conv, JtJ = p2, cost2, conv2, JtJ2
    P = p.size
    for a in range(P):
        p_row[a] = p[a]
    # covariance = inv(JtJ) * rss / dof
    A = np.empty((P, P))
    col = np.empty(P)
    rhs = np.empty(P)
    dof = max(n_pts - P, 1)
    for j in range(P):
        for a in range(P):
            for b in range(P):
                A[a, b] = JtJ[a, b]
            rhs[a] = 0.0
        rhs[j] = 1.0
        if _chol_solve(A, rhs, col):
            for a in range(P):
                cov_row[a, j] = col[a] * cost / dof
        else:
            for a in range(P):
                cov_row[a, j] = np.nan
    return cost, total_it, conv


@njit(parallel=True, cache=True)
def _fit_stack(E, Y, ncomp, nbg, max_iter, tol, P_out, rss_out, it_out, conv_out, cov_out):
    shared = E.shape[0] == 1
    for s in prange(Y.shape[0]):
        e = E[0] if shared else E[s]
        rss, it, conv = _fit_one(e, Y[s], ncomp, nbg, max_iter, tol, P_out[s], cov_out[s])
        rss_out[s] = rss
        it_out[s] = it
        conv_out[s] = conv


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BatchFit(Result):
    """Parameters of a batched fit; arrays have one row per spectrum, components sorted by energy.

    Attributes
    ----------
    centers_ev, fwhm_ev, heights, areas
        ``(n_spectra, n_components)``; heights and areas in the y units (per eV for PL densities).
    centers_err_ev, fwhm_err_ev
        One-sigma uncertainties from ``(JᵀJ)⁻¹ RSS/(N-P)``.
    background
        ``(n_spectra, n_background)``: offset (and slope per eV about the axis midpoint).
    rss, n_iter, converged
        Per spectrum.
    """

    centers_ev: NDArray[np.float64]
    fwhm_ev: NDArray[np.float64]
    heights: NDArray[np.float64]
    areas: NDArray[np.float64]
    centers_err_ev: NDArray[np.float64]
    fwhm_err_ev: NDArray[np.float64]
    background: NDArray[np.float64]
    rss: NDArray[np.float64]
    n_iter: NDArray[np.int64]
    converged: NDArray[np.bool_]

    @property
    def wavelength_nm(self) -> NDArray[np.float64]:
        """Component centres in nm (``hc/E``)."""
        return HC_EV_NM / self.centers_ev

    @property
    def fwhm_mev(self) -> NDArray[np.float64]:
        """FWHM in meV."""
        return 1000.0 * self.fwhm_ev

    @property
    def fwhm_nm(self) -> NDArray[np.float64]:
        """FWHM in nm (exact edge mapping)."""
        return fwhm_ev_to_nm(self.centers_ev, self.fwhm_ev)

    @property
    def area_fractions(self) -> NDArray[np.float64]:
        """Each component's share of the band area."""
        return self.areas / self.areas.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_spectra": int(self.centers_ev.shape[0]),
            "n_components": int(self.centers_ev.shape[1]),
            "converged": int(self.converged.sum()),
            "centers_ev": self.centers_ev.tolist(),
            "wavelength_nm": self.wavelength_nm.tolist(),
            "fwhm_mev": self.fwhm_mev.tolist(),
            "areas": self.areas.tolist(),
        }


def fit_batch(
    x: ArrayLike,
    y: ArrayLike,
    n_components: int = 2,
    *,
    x_unit: str = "ev",
    background: str = "constant",
    max_iter: int = 100,
    tol: float = 1e-10,
) -> BatchFit:
    """Fit ``n_components`` Gaussians (+ background) to every row of ``y`` in parallel.

    Parameters
    ----------
    x
        Shared axis ``(n_points,)`` or one axis per spectrum ``(n_spectra, n_points)``.
    y
        ``(n_spectra, n_points)`` intensities.
    n_components
        1-3 Gaussian bands.
    x_unit
        ``"ev"`` (y are per-eV densities) or ``"nm"`` (per-nm densities: moved to energy with the
        Jacobian before fitting). The fit is unweighted least squares in energy, as lmfit's default;
        :func:`qdlab.spectra.analyze_pl` additionally weights per-nm data by the inverse Jacobian.
    background
        ``"none"``, ``"constant"`` or ``"linear"`` (slope about the axis midpoint).
    max_iter
        Iteration cap per stage.
    tol
        Relative decrease of the residual sum of squares at which a spectrum is converged.
    """
    X = np.atleast_2d(np.asarray(x, dtype=float))
    Y = np.atleast_2d(np.asarray(y, dtype=float))
    if Y.ndim != 2 or X.shape[1] != Y.shape[1] or X.shape[0] not in (1, Y.shape[0]):
        raise InputError(f"x {X.shape} and y {Y.shape} do not match: expected (n,) or (m, n) with y (m, n)", field="x")
    if not 1 <= n_components <= 3:
        raise InputError("n_components must be 1, 2 or 3", field="n_components")
    nbg = {"none": 0, "constant": 1, "linear": 2}.get(background)
    if nbg is None:
        raise InputError(f"background must be none, constant or linear, got {background!r}", field="background")
    if Y.shape[1] < 3 * n_components + nbg + 2:
        raise InputError(f"{Y.shape[1]} points are too few for {n_components} bands", field="y")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise InputError("x and y must be finite", field="y")
    if x_unit == "nm":
        if np.any(X <= 0):
            raise InputError("wavelengths must be positive", field="x")
        Y = Y * X**2 / HC_EV_NM
        X = HC_EV_NM / X
    elif x_unit != "ev":
        raise InputError(f"x_unit must be 'ev' or 'nm', got {x_unit!r}", field="x_unit")
    order = np.argsort(X[0])
    if X.shape[0] == 1:
        X = np.ascontiguousarray(X[:, order])
        Y = np.ascontiguousarray(Y[:, order])
    else:
        idx = np.argsort(X, axis=1)
        X = np.ascontiguousarray(np.take_along_axis(X, idx, 1))
        Y = np.ascontiguousarray(np.take_along_axis(Y, idx, 1))
    m = Y.shape[0]
    P = 3 * n_components + nbg
    P_out = np.zeros((m, P))
    rss = np.zeros(m)
    iters = np.zeros(m, dtype=np.int64)
    conv = np.zeros(m, dtype=np.bool_)
    cov = np.zeros((m, P, P))
    _fit_stack(X, Y, n_components, nbg, max_iter, tol, P_out, rss, iters, conv, cov)
    k = n_components
    c = P_out[:, 0 : 3 * k : 3]
    s = P_out[:, 1 : 3 * k : 3]
    h = P_out[:, 2 : 3 * k : 3]
    var = np.diagonal(cov, axis1=1, axis2=2)
    c_err = np.sqrt(np.clip(var[:, 0 : 3 * k : 3], 0, None))
    s_err = np.sqrt(np.clip(var[:, 1 : 3 * k : 3], 0, None))
    srt = np.argsort(c, axis=1)

    def take(a: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.take_along_axis(a, srt, 1)

    return BatchFit(
        centers_ev=take(c),
        fwhm_ev=take(FWHM_PER_SIGMA * s),
        heights=take(h),
        areas=take(h * s * _SQRT2PI),
        centers_err_ev=take(c_err),
        fwhm_err_ev=take(FWHM_PER_SIGMA * s_err),
        background=P_out[:, 3 * k :],
        rss=rss,
        n_iter=iters,
        converged=conv,
    )


def fit_series_batch(series: Any, n_components: int = 1, **kwargs: Any) -> BatchFit:
    """Batched fit of every spectrum of a :class:`~qdlab.data.types.SpectrumSeries` (axes may differ in values, not length)."""
    from qdlab.spectra.preprocess import to_energy

    conv = [to_energy(s, emission=True) for s in series]
    n = {s.x.size for s in conv}
    if len(n) != 1:
        raise InputError("all spectra of a batched fit need the same number of points", field="series")
    return fit_batch(np.stack([s.x for s in conv]), np.stack([s.y for s in conv]), n_components, x_unit="ev", **kwargs)


__all__ = ["BatchFit", "fit_batch", "fit_series_batch"]
