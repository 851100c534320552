"""Small numerical helpers shared by several parts of qdlab (core layer: numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def half_max_width(x: NDArray[np.float64], y: NDArray[np.float64], k: int | None = None) -> float:
    """Full width at half maximum of the band around index ``k`` (default: the global maximum).

    Walks outwards from ``k`` to the first samples at or below ``y[k]/2`` and interpolates linearly
    between neighbouring samples. Returns NaN when the band does not fall to half height inside the
    data, and 0 for fewer than two points.

    Examples
    --------
    >>> x = np.linspace(-5, 5, 2001)
    >>> round(half_max_width(x, np.exp(-0.5 * x**2)), 4)  # 2 sqrt(2 ln 2)
    2.3548
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2:
        return 0.0
    k = int(np.argmax(y)) if k is None else int(k)
    half = 0.5 * y[k]
    lo = k
    while lo > 0 and y[lo] > half:
        lo -= 1
    hi = k
    while hi < y.size - 1 and y[hi] > half:
        hi += 1
    if y[lo] > half or y[hi] > half:
        return float("nan")
    xl = x[lo] + (half - y[lo]) * (x[lo + 1] - x[lo]) / (y[lo + 1] - y[lo])
    xh = x[hi - 1] + (half - y[hi - 1]) * (x[hi] - x[hi - 1]) / (y[hi] - y[hi - 1])
    return float(abs(xh - xl))


__all__ = ["half_max_width"]
