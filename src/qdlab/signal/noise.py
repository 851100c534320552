"""Robust noise estimates: the standard deviation of white noise on top of a smooth signal.

``mad_sigma`` is the normal-consistent median absolute deviation (R's ``mad``; ``scipy.stats.
median_abs_deviation(scale="normal")``): right for a flat (baseline-corrected) signal. ``derivative_sigma``
estimates the same sigma from the k-th differences, which remove a smooth signal (a peak, a sloping
background) before the MAD: for white noise of variance s², the k-th difference has variance
``C(2k, k) s²`` (2, 6, 20 for k = 1, 2, 3).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import median_abs_deviation

from qdlab.data.errors import InputError


def mad_sigma(y: ArrayLike) -> float:
    """Normal-consistent median absolute deviation of ``y`` (NaNs ignored).

    Examples
    --------
    >>> round(mad_sigma([1.0, 2.0, 3.0, 4.0, 100.0]), 4)
    1.4826
    """
    a = np.asarray(y, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan")
    return float(median_abs_deviation(a, scale="normal"))


def derivative_sigma(y: ArrayLike, order: int = 1) -> float:
    """Sigma of white noise on ``y`` from the MAD of its ``order``-th differences.

    The differences remove a signal that is smooth on the sampling scale, so this works on raw spectra
    with peaks and backgrounds. It underestimates correlated (smoothed) noise; use ``mad_sigma`` of the
    residual of a fit there.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.linspace(0, 1, 20001)
    >>> y = 50 * np.exp(-0.5 * ((x - 0.5) / 0.05) ** 2) + rng.normal(0, 0.3, x.size)
    >>> round(derivative_sigma(y, 2), 1)
    0.3
    """
    if order < 1:
        raise InputError(f"order must be >= 1, got {order}", field="order")
    a = np.asarray(y, dtype=float)
    a = a[np.isfinite(a)]
    if a.size <= order + 1:
        return float("nan")
    d = np.diff(a, n=order)
    return mad_sigma(d) / math.sqrt(math.comb(2 * order, order))


def local_sigma(y: ArrayLike, order: int = 4, window: int = 51) -> NDArray[np.float64]:
    """Sigma of the noise at each point, for noise whose size follows the signal (shot noise).

    The MAD of the ``order``-th differences in a running window of ``window`` points (scaled as in
    :func:`derivative_sigma`), so that the top of a Poisson-counted band gets its own, larger sigma
    instead of the median of the whole spectrum (set by its quiet wings).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mean = 1e4 * np.exp(-0.5 * ((np.arange(4000) - 2000) / 300.0) ** 2) + 100
    >>> s = local_sigma(rng.poisson(mean).astype(float), window=401)
    >>> bool(abs(s[2000] / np.sqrt(mean[2000]) - 1) < 0.2), bool(abs(s[10] / np.sqrt(mean[10]) - 1) < 0.2)
    (True, True)
    """
    from scipy.ndimage import median_filter

    if order < 1 or window < 3:
        raise InputError(f"order must be >= 1 and window >= 3, got {order}, {window}", field="order")
    a = np.asarray(y, dtype=float)
    if a.size <= order + 1:
        return np.full(a.size, float("nan"))
    d = np.abs(np.diff(a, n=order))
    med = median_filter(d, size=min(window, d.size), mode="mirror") / 0.6744897501960817
    sig = med / math.sqrt(math.comb(2 * order, order))
    # the differences sit between points: pad to the signal's length
    left = order // 2
    return np.concatenate([np.full(left, sig[0]), sig, np.full(a.size - sig.size - left, sig[-1])])


__all__ = ["derivative_sigma", "local_sigma", "mad_sigma"]
