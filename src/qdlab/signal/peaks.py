"""Peaks of a 1-D signal: apex, prominence, own bases, widths at any relative height, bounded centroids.

Built on :func:`scipy.signal.find_peaks`, :func:`~scipy.signal.peak_prominences` and
:func:`~scipy.signal.peak_widths`. What qdlab adds:

* a noise model: a peak must stand ``min_snr`` noise sigmas above its surroundings (prominence, not
  height, so a shoulder on a strong neighbour's flank is judged by its own rise);
* **own bases**: scipy's bases of a strong peak can reach past weaker neighbours; here each base is also
  cut at the valley towards the neighbouring peak, so every peak owns a disjoint stretch of the axis;
* widths measured from zero (``reference="zero"``: the FWHM of a baseline-corrected band) or from the
  peak's base (``reference="prominence"``: scipy's definition), with a ``truncated`` flag when the
  signal does not fall to that level inside the peak's own region (the width is then a lower bound);
* centroids computed only over the peak's own region above the chosen level, so a peak's position
  never comes from a stronger neighbour;
* :func:`local_maxima` (the first maximum of a centred window, MALDIquant's ``localMaxima`` rule) and
  :func:`valleys`, the lowest points between neighbouring apexes (the bounds of their own regions);
* :func:`parabolic_apex`, the vertex of the parabola through an apex and its two neighbours.

Positions on the axis are interpolated linearly from the fractional indices (any monotonic axis).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal as _sig

from qdlab.data.errors import InputError
from qdlab.signal.noise import derivative_sigma


@dataclass(frozen=True, eq=False)
class Peaks:
    """Peaks found by :func:`find_peaks` (in increasing index order).

    Attributes
    ----------
    index
        Apex indices.
    x
        Apex positions on the axis.
    height
        Signal at the apex.
    prominence
        Rise of the apex above the higher of its two bases (scipy's definition).
    left_base, right_base
        The peak's own region (indices, inclusive): scipy's bases cut at the valleys towards the
        neighbouring peaks.
    noise
        The noise sigma used for the threshold (NaN if none).
    """

    index: NDArray[np.int64]
    x: NDArray[np.float64]
    height: NDArray[np.float64]
    prominence: NDArray[np.float64]
    left_base: NDArray[np.int64]
    right_base: NDArray[np.int64]
    noise: float

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def snr(self) -> NDArray[np.float64]:
        """Prominence in units of the noise sigma (inf for noise-free data)."""
        if not self.noise > 0:
            return np.full(self.index.size, np.inf)
        return self.prominence / self.noise

    def take(self, keep: ArrayLike) -> Peaks:
        """The subset selected by a boolean mask or index array (bases kept as they are)."""
        k = np.asarray(keep)
        return Peaks(self.index[k], self.x[k], self.height[k], self.prominence[k], self.left_base[k],
                     self.right_base[k], self.noise)


@dataclass(frozen=True, eq=False)
class Widths:
    """Widths of peaks at a level (see :func:`widths`)."""

    left_x: NDArray[np.float64]
    right_x: NDArray[np.float64]
    level: NDArray[np.float64]
    left_ips: NDArray[np.float64]
    right_ips: NDArray[np.float64]
    truncated: NDArray[np.bool_]

    @property
    def width(self) -> NDArray[np.float64]:
        """``|right_x - left_x|`` (a lower bound where ``truncated``)."""
        return np.abs(self.right_x - self.left_x)


def _axis(x: ArrayLike | None, y: NDArray[np.float64]) -> NDArray[np.float64]:
    if x is None:
        return np.arange(y.size, dtype=float)
    xx = np.asarray(x, dtype=float)
    if xx.shape != y.shape:
        raise InputError(f"axis has {xx.size} points but the signal has {y.size}", field="x")
    return xx


def _at(ips: NDArray[np.float64], xx: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.interp(ips, np.arange(xx.size, dtype=float), xx)


def find_peaks(
    x: ArrayLike | None,
    y: ArrayLike,
    *,
    noise: float | None = None,
    min_snr: float = 3.0,
    prominence: float | None = None,
    distance: int | None = None,
    window: int | None = None,
    min_height_snr: float | None = None,
) -> Peaks:
    """Local maxima of ``y`` that rise ``min_snr`` noise sigmas (or ``prominence``) above their bases.

    Parameters
    ----------
    x
        The axis (``None``: indices).
    y
        The signal (baseline-corrected when heights are to mean anything).
    noise
        Noise sigma; ``None`` estimates it from the second differences (:func:`derivative_sigma`).
    min_snr
        Required prominence in noise sigmas.
    prominence
        Absolute minimum prominence (the larger of the two thresholds applies).
    distance
        Minimum index distance between peaks (scipy's rule: the higher one is kept).
    window
        A peak must also be the maximum of the centred ``2*window+1`` window and lie at least ``window``
        points from either end (MALDIquant's local-maximum rule).
    min_height_snr
        Also require the apex itself to stand this many noise sigmas above zero (for baseline-corrected
        signals). Prominence alone compares an apex with the lowest point of its surroundings, so on
        unsmoothed white noise of ``N`` points it reaches about ``2 sqrt(2 ln N)`` sigmas by chance.

    Examples
    --------
    >>> x = np.linspace(0, 100, 2001)
    >>> y = np.exp(-0.5 * ((x - 40) / 2) ** 2) + 0.4 * np.exp(-0.5 * ((x - 47) / 2) ** 2)
    >>> pk = find_peaks(x, y, noise=0.01)
    >>> [round(float(v), 1) for v in pk.x], bool(pk.right_base[0] <= pk.left_base[1])
    ([40.0, 47.0], True)
    """
    yy = np.asarray(y, dtype=float)
    xx = _axis(x, yy)
    if yy.size < 3:
        raise InputError(f"{yy.size} points are too few to find peaks", field="y")
    if not np.all(np.isfinite(yy)):
        raise InputError("the signal has non-finite values; mask them first", field="y")
    sigma = derivative_sigma(yy, 2) if noise is None else float(noise)
    thr = max(prominence or 0.0, min_snr * sigma if np.isfinite(sigma) else 0.0)
    idx, props = _sig.find_peaks(yy, prominence=thr if thr > 0 else (None, None), distance=distance)
    if min_height_snr is not None and np.isfinite(sigma) and idx.size:
        ok = yy[idx] > min_height_snr * sigma
        idx = idx[ok]
        props = {k: v[ok] for k, v in props.items()}
    if window is not None and window > 0 and idx.size:
        from scipy.ndimage import maximum_filter1d

        wmax = maximum_filter1d(yy, size=2 * window + 1, mode="nearest")
        ok = (yy[idx] >= wmax[idx]) & (idx >= window) & (idx < yy.size - window)
        idx = idx[ok]
        props = {k: v[ok] for k, v in props.items()}
    if idx.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return Peaks(e, np.zeros(0), np.zeros(0), np.zeros(0), e, e, float(sigma))
    prom = props["prominences"].astype(float)
    lb = np.asarray(props["left_bases"], dtype=np.int64).copy()
    rb = np.asarray(props["right_bases"], dtype=np.int64).copy()
    v = valleys(yy, idx)  # own bases: cut at the valley between neighbours
    rb[:-1] = np.minimum(rb[:-1], v)
    lb[1:] = np.maximum(lb[1:], v)
    return Peaks(idx.astype(np.int64), xx[idx].astype(float), yy[idx].astype(float), prom, lb, rb, float(sigma))


def valleys(y: ArrayLike, index: ArrayLike) -> NDArray[np.int64]:
    """Index of the lowest point between each pair of neighbouring apexes (the first of equal minima).

    ``index`` must be increasing; the result has one entry fewer. These are the boundaries of the
    peaks' own regions.

    Examples
    --------
    >>> valleys([0.0, 2.0, 0.5, 0.4, 3.0, 1.0, 2.0], [1, 4, 6]).tolist()
    [3, 5]
    """
    yy = np.asarray(y, dtype=float)
    idx = np.asarray(index, dtype=np.int64).reshape(-1)
    if idx.size and (idx[0] < 0 or idx[-1] >= yy.size or np.any(np.diff(idx) < 0)):
        raise InputError("peak indices must be increasing and inside the signal", field="index")
    return np.asarray([int(a) + int(np.argmin(yy[a: b + 1])) for a, b in itertools.pairwise(idx)], dtype=np.int64)


def local_maxima(y: ArrayLike, half_window: int, *, edges: bool = False) -> NDArray[np.bool_]:
    """Points that are the first maximum of their centred ``2*half_window+1``-point window.

    MALDIquant's ``localMaxima`` rule (the window is padded with zeros at the ends; of equal values in
    one window the leftmost wins, so a plateau counts once, at its first point). With ``edges=False``
    points closer than ``half_window`` to either end are never maxima (their window is incomplete).

    Examples
    --------
    >>> local_maxima([1.0, 2.0, 1.0, 2.0, 1.0], 1).tolist()
    [False, True, False, True, False]
    >>> local_maxima([0.0, 3.0, 3.0, 1.0, 0.0], 2, edges=True).tolist()
    [False, True, False, False, False]
    """
    from numpy.lib.stride_tricks import sliding_window_view

    yy = np.asarray(y, dtype=float)
    hw = int(half_window)
    if hw < 1:
        raise InputError(f"half_window must be >= 1, got {half_window}", field="half_window")
    if yy.ndim != 1 or yy.size == 0:
        return np.zeros(yy.size, dtype=bool)
    padded = np.concatenate([np.zeros(hw), yy, np.zeros(hw)])
    out = np.argmax(sliding_window_view(padded, 2 * hw + 1), axis=1) == hw
    if not edges:
        out[:hw] = False
        out[max(yy.size - hw, 0):] = False
    return out


def parabolic_apex(x: ArrayLike | None, y: ArrayLike, index: int) -> tuple[float, float]:
    """Position and height of the vertex of the parabola through ``index`` and its two neighbours.

    The offset is limited to one sample; at the ends of the signal, or on a flat top, the sample itself.
    On a non-uniform axis the offset is scaled by the mean of the two neighbouring steps.

    Examples
    --------
    >>> parabolic_apex(None, [0.0, 3.0, 4.0, 3.0], 2)
    (2.0, 4.0)
    >>> parabolic_apex([0.0, 1.0, 2.0], [1.0, 2.0, 2.0], 1)
    (1.5, 2.125)
    """
    yy = np.asarray(y, dtype=float)
    xx = _axis(x, yy)
    i = int(index)
    if not 0 < i < yy.size - 1:
        return float(xx[i]), float(yy[i])
    a, b, c = yy[i - 1: i + 2].tolist()
    x0, x1, x2 = xx[i - 1: i + 2].tolist()
    den = a - 2.0 * b + c
    d = min(max(0.5 * (a - c) / den, -1.0), 1.0) if den != 0 else 0.0  # np.clip: a NaN stays NaN
    return x1 + d * 0.5 * (x2 - x0), b - 0.25 * (a - c) * d


def widths(
    x: ArrayLike | None,
    y: ArrayLike,
    peaks: Peaks,
    *,
    rel_height: float = 0.5,
    reference: Literal["zero", "prominence"] = "zero",
) -> Widths:
    """Width of every peak at ``rel_height`` down from its apex, inside the peak's own region.

    ``reference="zero"`` measures at ``(1 - rel_height) * height`` (rel_height = 0.5: the FWHM of a
    baseline-corrected band); ``"prominence"`` at ``height - rel_height * prominence`` (scipy's
    :func:`~scipy.signal.peak_widths`). Crossings are linearly interpolated; where the signal stays
    above the level up to the peak's own base, the base is used and ``truncated`` is set.

    Examples
    --------
    >>> x = np.linspace(-10, 10, 4001)
    >>> y = np.exp(-0.5 * x**2)
    >>> w = widths(x, y, find_peaks(x, y, noise=1e-3))
    >>> round(float(w.width[0]), 4)  # 2 sqrt(2 ln 2)
    2.3548
    """
    if not 0 < rel_height <= 1:
        raise InputError(f"rel_height must be in (0, 1], got {rel_height}", field="rel_height")
    yy = np.asarray(y, dtype=float)
    xx = _axis(x, yy)
    if len(peaks) == 0:
        e = np.zeros(0)
        return Widths(e, e, e, e, e, np.zeros(0, dtype=bool))
    ref = peaks.height if reference == "zero" else peaks.prominence
    if reference not in ("zero", "prominence"):
        raise InputError(f"reference must be 'zero' or 'prominence', got {reference!r}", field="reference")
    ref = np.maximum(ref, 0.0)
    _w, level, lips, rips = _sig.peak_widths(yy, peaks.index, rel_height=rel_height,
                                             prominence_data=(ref, peaks.left_base, peaks.right_base))
    trunc = (yy[peaks.left_base] > level) | (yy[peaks.right_base] > level)
    return Widths(_at(lips, xx), _at(rips, xx), level.astype(float), lips, rips, trunc.astype(bool))


def centroids(x: ArrayLike | None, y: ArrayLike, peaks: Peaks, *, rel_height: float = 0.5,
              weights: Literal["excess", "signal"] = "excess") -> NDArray[np.float64]:
    """Centroid of every peak over its own region above the level of :func:`widths` (zero reference).

    The weights are ``y - level`` (``weights="excess"``) or ``y`` itself (``"signal"``: the classic
    intensity-weighted centroid of the points above the level) between the two crossings, so the centroid
    always lies inside the peak's own width at that level and inside its own bases: a weaker peak next to
    a stronger one keeps its own position.

    Examples
    --------
    >>> x = np.linspace(0, 100, 4001)
    >>> y = np.exp(-0.5 * ((x - 40) / 2) ** 2) + 0.3 * np.exp(-0.5 * ((x - 50) / 2) ** 2)
    >>> [round(float(c), 2) for c in centroids(x, y, find_peaks(x, y, noise=1e-3))]
    [40.0, 50.0]
    """
    if weights not in ("excess", "signal"):
        raise InputError(f"weights must be 'excess' or 'signal', got {weights!r}", field="weights")
    yy = np.asarray(y, dtype=float)
    xx = _axis(x, yy)
    w = widths(xx, yy, peaks, rel_height=rel_height)
    out = np.empty(len(peaks))
    for k in range(len(peaks)):
        lo = max(int(np.ceil(w.left_ips[k])), int(peaks.left_base[k]))
        hi = min(int(np.floor(w.right_ips[k])), int(peaks.right_base[k]))
        floor = w.level[k] if weights == "excess" else 0.0
        seg = np.clip(yy[lo: hi + 1] - floor, 0.0, None)
        s = float(seg.sum())
        out[k] = float((xx[lo: hi + 1] * seg).sum() / s) if s > 0 else float(peaks.x[k])
    return out


def half_max_width(x: ArrayLike, y: ArrayLike, k: int | None = None) -> float:
    """Full width at half maximum of the band around index ``k`` (default: the global maximum).

    The crossings are searched over the whole signal (the band's region is everything until the signal
    falls to half of ``y[k]``); NaN when it does not fall to half height inside the data, 0 for fewer
    than two points.

    Examples
    --------
    >>> x = np.linspace(-5, 5, 2001)
    >>> round(half_max_width(x, np.exp(-0.5 * x**2)), 4)  # 2 sqrt(2 ln 2)
    2.3548
    """
    yy = np.asarray(y, dtype=float)
    xx = np.asarray(x, dtype=float)
    if xx.size < 2:
        return 0.0
    k = int(np.argmax(yy)) if k is None else int(k)
    if yy.ndim == 1 and xx.shape == yy.shape and 0 <= k < yy.size:
        w = _half_max_width_1d(xx, yy, k)
        if w is not None:
            return w
    pk = Peaks(np.array([k]), xx[[k]], yy[[k]], np.array([yy[k]]), np.array([0]), np.array([yy.size - 1]), float("nan"))
    w = widths(xx, yy, pk)
    return float("nan") if bool(w.truncated[0]) else float(w.width[0])


def _half_max_width_1d(xx: NDArray[np.float64], yy: NDArray[np.float64], k: int) -> float | None:
    """:func:`half_max_width` without the ``Peaks`` record: the same arithmetic, in a few array passes.

    The crossings are those of :func:`scipy.signal.peak_widths` (walk out from ``k`` while the signal stays
    above ``y[k] - max(y[k], 0) / 2``, interpolate linearly) and the positions those of :func:`numpy.interp`
    on the index axis. ``None`` where scipy would warn of a zero width: the caller then takes scipy's path.
    """
    n = yy.size
    yk = float(yy[k])
    level = yk - (yk if not yk < 0.0 else 0.0) * 0.5  # np.maximum(y[k], 0): a NaN stays NaN
    above = yy > level
    left = right = k
    if above[k]:
        down = above[k:0:-1]  # k, k - 1, ..., 1: the walk stops at the first point not above, or at 0
        t = int(down.argmin()) if down.size else 0
        left = k - t if down.size and not down[t] else 0
        up = above[k: n - 1]  # k, ..., n - 2: it stops at the first point not above, or at n - 1
        t = int(up.argmin()) if up.size else 0
        right = k + t if up.size and not up[t] else n - 1
    ip_left, ip_right = float(left), float(right)
    y_left, y_right = float(yy[left]), float(yy[right])
    if y_left < level:
        ip_left += (level - y_left) / (float(yy[left + 1]) - y_left)
    if y_right < level:
        ip_right -= (level - y_right) / (float(yy[right - 1]) - y_right)
    if ip_right - ip_left == 0:
        return None
    if yy[0] > level or yy[n - 1] > level:
        return float("nan")
    return abs(_interp_index(ip_right, xx) - _interp_index(ip_left, xx))


def _interp_index(ip: float, xx: NDArray[np.float64]) -> float:
    """``np.interp(ip, np.arange(xx.size), xx)`` for one point, branch for branch."""
    n = xx.size
    if ip != ip:
        return ip
    if ip < 0.0:
        return float(xx[0])
    if ip >= n - 1:
        return float(xx[n - 1])
    j = int(ip)
    x0, x1 = xx[j: j + 2].tolist()
    if j == ip:
        return x0
    slope = x1 - x0  # over a unit step of the index axis
    r = slope * (ip - j) + x0
    if r != r:
        r = slope * (ip - (j + 1)) + x1
        if r != r and x0 == x1:
            r = x0
    return r


__all__ = ["Peaks", "Widths", "centroids", "find_peaks", "half_max_width", "local_maxima", "parabolic_apex", "valleys",
           "widths"]
