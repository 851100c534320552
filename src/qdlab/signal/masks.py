"""Points that cannot be trusted: saturated detector readings and non-finite values.

A detector that saturates either writes its overflow value (a Cary writes A = 10 past its
photometric range; an Ocean Optics spectrometer its ADC maximum, 65535 for a 16-bit unit) or
flattens: the top of the band becomes a run of identical maxima. Both are masked here; the caller
reports the mask (:func:`describe_mask`) and excludes the points from fits, so a clipped top is never
fitted as a narrow band.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def saturated(y: ArrayLike, *, ceiling: float | None = None, min_run: int = 3, rel_tol: float = 1e-9) -> NDArray[np.bool_]:
    """Boolean mask of saturated points.

    Parameters
    ----------
    y
        The raw signal (before any smoothing or baseline).
    ceiling
        The instrument's overflow/maximum reading: every point at or above it is saturated.
    min_run
        A run of at least this many consecutive points equal (within ``rel_tol``) to the global maximum
        of ``y`` is a clipped top and is masked. Set 0 to disable.
    rel_tol
        Relative tolerance for "equal to the maximum".

    Examples
    --------
    >>> saturated([0.1, 0.5, 2.0, 2.0, 2.0, 0.4]).tolist()
    [False, False, True, True, True, False]
    >>> saturated([0.1, 10.0, 0.3], ceiling=10.0).tolist()
    [False, True, False]
    >>> saturated([0.1, 0.5, 0.2]).any()
    np.False_
    """
    a = np.asarray(y, dtype=float)
    mask = np.zeros(a.size, dtype=bool)
    fin = np.isfinite(a)
    if ceiling is not None:
        mask |= fin & (a >= ceiling)
    if min_run > 0 and fin.any():
        top = np.nanmax(np.where(fin, a, -np.inf))
        at_top = fin & (np.abs(a - top) <= rel_tol * max(abs(top), 1e-300))
        # runs of consecutive points at the maximum
        edges = np.diff(np.concatenate([[0], at_top.astype(np.int8), [0]]))
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        for s, e in zip(starts, ends, strict=True):
            if e - s >= min_run:
                mask[s:e] = True
    return mask


def describe_mask(x: ArrayLike, mask: ArrayLike, unit: str = "") -> str:
    """Human-readable list of the masked ranges of ``x``, e.g. ``"3 points: 440-442 nm"``.

    Examples
    --------
    >>> describe_mask([440, 441, 442, 443, 450], [True, True, True, False, True], "nm")
    '4 points: 440-442 nm, 450 nm'
    """
    xx = np.asarray(x, dtype=float)
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return "none"
    edges = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    u = f" {unit}" if unit else ""
    parts = [f"{xx[s]:g}{u}" if e - s == 1 else f"{xx[s]:g}-{xx[e - 1]:g}{u}" for s, e in zip(starts, ends, strict=True)]
    return f"{int(m.sum())} points: " + ", ".join(parts)


__all__ = ["describe_mask", "saturated"]
