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
from numpy.typing import ArrayLike
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


__all__ = ["derivative_sigma", "mad_sigma"]
