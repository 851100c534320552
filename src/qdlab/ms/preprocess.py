"""MALDIquant-equivalent preprocessing: intensity transform, Savitzky-Golay smoothing, baseline, MAD noise.

The pipeline follows MALDIquant's demo (Gibb & Strimmer, Bioinformatics 2012, 28, 2270):
``transformIntensity(sqrt) -> smoothIntensity(SavitzkyGolay, halfWindowSize=10) -> removeBaseline(SNIP,
iterations=100) -> estimateNoise(MAD)``, built on scipy (``savgol_filter``) and pybaselines
(``tophat``). Windows are in points, as in MALDIquant.

Differences from MALDIquant, on purpose or by library:

* SNIP uses ``decreasing=True`` (MALDIquant's default; pybaselines' own default is ``False``).
* SNIP is our 6-line numpy port of MALDIquant's C loop, not pybaselines' ``snip``: pybaselines pads the
  ends first, and both of its paddings hurt MALDI spectra (linear extrapolation is ~100x slower here and
  drives decaying baselines negative; edge padding bends a sloped baseline across the whole spectrum),
  while MALDIquant leaves the ends unclipped so that a straight baseline is reproduced exactly.
* TopHat is pybaselines' ``tophat`` with edge padding.
* Besides the transformed, baseline-corrected intensity, :class:`Preprocessed` keeps ``linear``, the
  corrected signal back on the original intensity scale (``inv(smoothed) - inv(baseline)``), which is
  what centroids and isotope-envelope comparisons use (the square root flattens envelope shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum, Result
from qdlab.ms.config import default
from qdlab.signal import estimate_baseline as estimate_array_baseline
from qdlab.signal import mad_sigma

Transform = Literal["sqrt", "log", "log2", "log10", "none"]
BaselineMethod = Literal["snip", "tophat", "none"]

_FORWARD = {
    "sqrt": np.sqrt,
    "log": lambda y: np.log(y + 1.0),
    "log2": lambda y: np.log2(y + 1.0),
    "log10": lambda y: np.log10(y + 1.0),
    "none": lambda y: y,
}
_INVERSE = {
    "sqrt": lambda y: np.square(np.maximum(y, 0.0)),
    "log": lambda y: np.expm1(y),
    "log2": lambda y: np.exp2(y) - 1.0,
    "log10": lambda y: np.power(10.0, y) - 1.0,
    "none": lambda y: y,
}


@dataclass(frozen=True, eq=False)
class Preprocessed(Result):
    """A preprocessed mass spectrum.

    Attributes
    ----------
    mz
        m/z axis (unchanged).
    intensity
        Transformed, smoothed, baseline-corrected intensity (MALDIquant's result).
    baseline
        The baseline in the transformed scale.
    linear
        Baseline-corrected signal on the original intensity scale.
    noise
        MAD noise level of ``intensity`` (scalar, MALDIquant's ``estimateNoise(method="MAD")``).
    settings
        The parameters used.
    """

    mz: NDArray[np.float64]
    intensity: NDArray[np.float64]
    baseline: NDArray[np.float64]
    linear: NDArray[np.float64]
    noise: float
    settings: dict[str, Any] = field(default_factory=dict)
    mode: str = "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"n_points": int(self.mz.size), "noise": self.noise, "settings": self.settings, "mode": self.mode}


def mad_noise(y: NDArray[np.float64]) -> float:
    """Median absolute deviation scaled to a Gaussian sigma (1.4826 MAD), as R's ``mad``.

    MALDIquant's ``estimateNoise(method="MAD")``; the signal core's :func:`qdlab.signal.mad_sigma`.

    Examples
    --------
    >>> round(mad_noise(np.array([1.0, 2.0, 3.0, 4.0, 100.0])), 4)
    1.4826
    """
    return mad_sigma(y)


def snip_baseline(y: NDArray[np.float64], iterations: int, *, decreasing: bool = True) -> NDArray[np.float64]:
    """SNIP baseline exactly as MALDIquant's C implementation (no edge padding, ends left unclipped).

    For each window ``k`` (``iterations`` down to 1 when ``decreasing``), every interior point becomes
    ``min(y[i], (y[i-k] + y[i+k]) / 2)``, all points of one window updated from the previous values.

    Examples
    --------
    >>> snip_baseline(np.array([1.0, 1.0, 9.0, 1.0, 1.0]), 2).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    z = np.array(y, dtype=float, copy=True)
    n = z.size
    ks = range(min(iterations, (n - 1) // 2), 0, -1) if decreasing else range(1, min(iterations, (n - 1) // 2) + 1)
    for k in ks:
        z[k:n - k] = np.minimum(z[k:n - k], 0.5 * (z[: n - 2 * k] + z[2 * k:]))
    return z


def estimate_baseline(y: NDArray[np.float64], method: BaselineMethod = "snip", *, snip_iterations: int | None = None,
                      snip_decreasing: bool | None = None, tophat_half_window: int | None = None) -> NDArray[np.float64]:
    """Baseline of ``y`` by SNIP or TopHat (pybaselines), windows in points."""
    y = np.asarray(y, dtype=float)
    if method == "none":
        return np.zeros_like(y)
    if method == "snip":
        it = int(snip_iterations if snip_iterations is not None else default("preprocess", "snip_iterations"))
        dec = bool(snip_decreasing if snip_decreasing is not None else default("preprocess", "snip_decreasing"))
        if it < 1:
            raise InputError("must be >= 1", field="snip_iterations")
        return snip_baseline(y, it, decreasing=dec)
    elif method == "tophat":
        hw = int(tophat_half_window if tophat_half_window is not None else default("preprocess", "tophat_half_window"))
        if hw < 1:
            raise InputError("must be >= 1", field="tophat_half_window")
        hw = min(hw, max((y.size - 1) // 2, 1))
        base = estimate_array_baseline(y, None, "tophat", half_window=hw)
    else:
        raise InputError(f"unknown baseline method {method!r}; expected snip, tophat or none", field="baseline")
    return np.asarray(base, dtype=float)


def preprocess(
    spectrum: MassSpectrum,
    *,
    transform: Transform | None = None,
    smooth_half_window: int | None = None,
    smooth_order: int | None = None,
    baseline: BaselineMethod | None = None,
    snip_iterations: int | None = None,
    snip_decreasing: bool | None = None,
    tophat_half_window: int | None = None,
) -> Preprocessed:
    """Transform, smooth, remove the baseline and estimate the noise of a mass spectrum.

    Defaults (``resources/ms/defaults.toml``) are MALDIquant's: sqrt, Savitzky-Golay 21 points/order 3,
    SNIP with 100 iterations (decreasing), MAD noise. ``smooth_half_window=0`` disables smoothing.

    Examples
    --------
    >>> mz = np.linspace(1000, 2000, 2001)
    >>> y = 100 + 400 * np.exp(-0.5 * ((mz - 1500) / 3) ** 2)
    >>> pre = preprocess(MassSpectrum(mz, y))
    >>> int(np.argmax(pre.linear)) == 1000
    True
    """
    t = transform or default("preprocess", "transform")
    if t not in _FORWARD:
        raise InputError(f"unknown transform {t!r}; expected one of {', '.join(_FORWARD)}", field="transform")
    hws = int(default("preprocess", "smooth_half_window") if smooth_half_window is None else smooth_half_window)
    order = int(default("preprocess", "smooth_order") if smooth_order is None else smooth_order)
    method = baseline or default("preprocess", "baseline")
    y = np.asarray(spectrum.intensity, dtype=float)
    if y.size < 3:
        raise InputError("spectrum has fewer than 3 points", field="intensity")
    yt = _FORWARD[t](np.clip(y, 0.0, None))
    if hws > 0:
        from scipy.signal import savgol_filter

        window = 2 * hws + 1
        if window > y.size:
            window = y.size if y.size % 2 else y.size - 1
        if order >= window:
            raise InputError(f"smoothing order {order} needs a window > {order} points", field="smooth_order")
        ys = savgol_filter(yt, window, order)
    else:
        ys = yt
    base = estimate_baseline(ys, method, snip_iterations=snip_iterations, snip_decreasing=snip_decreasing,
                             tophat_half_window=tophat_half_window)
    corrected = ys - base
    linear = _INVERSE[t](ys) - _INVERSE[t](base)
    settings = {"transform": t, "smooth_half_window": hws, "smooth_order": order, "baseline": method,
                "snip_iterations": snip_iterations or default("preprocess", "snip_iterations"),
                "snip_decreasing": default("preprocess", "snip_decreasing") if snip_decreasing is None else snip_decreasing,
                "tophat_half_window": tophat_half_window or default("preprocess", "tophat_half_window")}
    return Preprocessed(np.asarray(spectrum.mz, float), corrected, base, linear, mad_noise(corrected), settings, spectrum.mode)


__all__ = ["Preprocessed", "preprocess", "estimate_baseline", "mad_noise"]
