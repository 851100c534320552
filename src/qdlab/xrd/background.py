"""Background estimation for powder patterns (pybaselines).

Nanocrystal patterns have humps several degrees wide on a background from the holder, air scatter
and the ligand shell, so the default is SNIP with a half window wider than the humps (in points,
from the 2-theta step); ``arpls`` (asymmetrically reweighted penalised least squares) is the
alternative. The estimate is only as good as that window: :mod:`qdlab.xrd.match` fits a smooth
polynomial background jointly with the model instead, and uses this module for scores and plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Diffractogram, Result


@dataclass(frozen=True, eq=False)
class BackgroundResult(Result):
    """A background estimate and the pattern with it removed."""

    two_theta_deg: NDArray[np.float64]
    baseline: NDArray[np.float64]
    corrected: NDArray[np.float64]
    method: str
    window_deg: float

    def diffractogram(self, original: Diffractogram) -> Diffractogram:
        """The corrected pattern as a :class:`Diffractogram` (meta notes the subtraction)."""
        meta = dict(original.meta)
        meta["background"] = {"method": self.method, "window_deg": self.window_deg}
        return Diffractogram(self.two_theta_deg, self.corrected, original.wavelength_angstrom, meta)


def subtract_background(
    diffractogram: Diffractogram, *, method: str = "snip", window_deg: float = 8.0, lam: float = 1e7
) -> BackgroundResult:
    """Estimate and subtract a smooth background.

    Parameters
    ----------
    diffractogram
        The measured pattern.
    method
        ``"snip"`` (default) or ``"arpls"``.
    window_deg
        SNIP maximum half window in degrees 2-theta; make it larger than the widest hump (a 3 nm QD
        hump is ~3 deg FWHM).
    lam
        Smoothness of ``arpls`` (in units of the point spacing squared).

    Examples
    --------
    >>> tt = np.linspace(10, 80, 701)
    >>> y = 100 + 0.5 * tt + 1000 * np.exp(-0.5 * ((tt - 41) / 1.0) ** 2)
    >>> r = subtract_background(Diffractogram(tt, y))
    >>> bool(abs(r.corrected[310] - 1000) < 60)
    True
    """
    from pybaselines import Baseline

    tt, y = diffractogram.two_theta_deg, diffractogram.intensity
    step = float(np.median(np.diff(tt)))
    if not window_deg > 0:
        raise InputError("window must be positive", field="window_deg")
    fitter = Baseline(x_data=tt)
    if method == "snip":
        half = max(2, round(window_deg / step))
        half = min(half, max(2, (len(y) - 1) // 2))
        base, _ = fitter.snip(y, max_half_window=half, decreasing=True, smooth_half_window=max(1, half // 20))
    elif method == "arpls":
        base, _ = fitter.arpls(y, lam=lam)
    else:
        raise InputError(f"unknown background method {method!r}; use snip or arpls", field="method")
    base = np.asarray(base, float)
    return BackgroundResult(tt.copy(), base, y - base, method, float(window_deg))


__all__ = ["BackgroundResult", "subtract_background"]
