"""Peak picking: local maxima above a signal-to-noise threshold, with centroid masses and widths.

As MALDIquant's ``detectPeaks(method="MAD", halfWindowSize=20, SNR=2)``: a point is a peak when it is the
maximum of the centred window of ``2*half_window+1`` points and exceeds ``snr * noise`` (MAD noise of the
baseline-corrected intensity). Differences (documented defaults in ``resources/ms/defaults.toml``):

* default ``snr = 3`` (MALDIquant: 2);
* besides the apex m/z (MALDIquant's peak position) every peak gets an intensity-weighted **centroid** over
  the contiguous region above 20 % of its height, on the linear (back-transformed) signal, its FWHM and
  area: for 25-Da-wide Cd isotope envelopes the centroid, not the apex bin, estimates the average mass;
* maxima within ``half_window`` points of either end are ignored (their window is incomplete);
* optional ``min_separation_da`` merges maxima closer than that (keeps the higher one), useful for noisy
  envelopes in which a window of points is narrower than the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum, Result
from qdlab.ms.config import default
from qdlab.ms.preprocess import Preprocessed, preprocess


@dataclass(frozen=True, eq=False)
class PeakList(Result):
    """Picked peaks, in increasing m/z.

    Attributes
    ----------
    mz_da
        Centroid m/z of each peak (Da for z = 1).
    apex_mz_da
        m/z of the highest point (MALDIquant's peak position).
    intensity
        Apex height of the baseline-corrected (transformed) signal.
    snr
        ``intensity / noise``.
    fwhm_da
        Full width at half maximum of the linear signal (m/z units).
    area
        Area of the linear signal over the centroid region.
    index
        Index of the apex in the spectrum.
    noise
        The noise level used.
    """

    mz_da: NDArray[np.float64]
    apex_mz_da: NDArray[np.float64]
    intensity: NDArray[np.float64]
    snr: NDArray[np.float64]
    fwhm_da: NDArray[np.float64]
    area: NDArray[np.float64]
    index: NDArray[np.int64]
    noise: float
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.mz_da.size)

    def rows(self) -> list[dict[str, float]]:
        """One dict per peak."""
        return [
            {"mz_da": float(a), "apex_mz_da": float(b), "intensity": float(c), "snr": float(d), "fwhm_da": float(e),
             "area": float(f), "index": int(g)}
            for a, b, c, d, e, f, g in zip(self.mz_da, self.apex_mz_da, self.intensity, self.snr, self.fwhm_da,
                                           self.area, self.index, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"noise": self.noise, "settings": self.settings, "peaks": self.rows()}


def _half_max_region(y: NDArray[np.float64], i: int, frac: float) -> tuple[int, int]:
    """Contiguous index range around ``i`` where ``y > frac * y[i]``."""
    level = y[i] * frac
    lo = i
    while lo > 0 and y[lo - 1] > level:
        lo -= 1
    hi = i
    while hi < y.size - 1 and y[hi + 1] > level:
        hi += 1
    return lo, hi


def _fwhm(x: NDArray[np.float64], y: NDArray[np.float64], i: int, lo: int, hi: int) -> float:
    half = y[i] / 2

    def cross(a: int, b: int) -> float:
        if y[b] == y[a]:
            return float(x[a])
        return float(x[a] + (half - y[a]) * (x[b] - x[a]) / (y[b] - y[a]))

    left = cross(lo - 1, lo) if lo > 0 else float(x[lo])
    right = cross(hi, hi + 1) if hi < y.size - 1 else float(x[hi])
    return right - left


def profile_fwhm_da(mz: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """FWHM (m/z units) of the highest peak of a profile window, by linear interpolation (NaN if flat).

    Examples
    --------
    >>> x = np.linspace(-10, 10, 2001)
    >>> round(profile_fwhm_da(x, np.exp(-0.5 * x**2)), 3)
    2.355
    """
    x = np.asarray(mz, dtype=float)
    yy = np.asarray(y, dtype=float)
    if x.size < 3:
        return float("nan")
    i = int(np.argmax(yy))
    if not yy[i] > 0:
        return float("nan")
    lo, hi = _half_max_region(yy, i, 0.5)
    return _fwhm(x, yy, i, lo, hi)


def pick_peaks(
    data: MassSpectrum | Preprocessed,
    *,
    snr: float | None = None,
    half_window: int | None = None,
    mz_range_da: tuple[float | None, float | None] = (None, None),
    min_separation_da: float | None = None,
    centroid_fraction: float | None = None,
) -> PeakList:
    """Find peaks above ``snr`` x noise (MAD) that are maxima of a ``2*half_window+1``-point window.

    A raw :class:`MassSpectrum` is preprocessed first with the defaults of :func:`preprocess`.

    Examples
    --------
    >>> mz = np.linspace(1000, 2000, 4001)
    >>> y = 50 + 1000 * np.exp(-0.5 * ((mz - 1400) / 4) ** 2) + 500 * np.exp(-0.5 * ((mz - 1700) / 4) ** 2)
    >>> pk = pick_peaks(MassSpectrum(mz, y))
    >>> [round(float(m), 1) for m in pk.mz_da]
    [1400.0, 1700.0]
    """
    pre = data if isinstance(data, Preprocessed) else preprocess(data)
    s = float(default("peaks", "snr") if snr is None else snr)
    hw = int(default("peaks", "half_window") if half_window is None else half_window)
    sep = float(default("peaks", "min_separation_da") if min_separation_da is None else min_separation_da)
    frac = float(default("peaks", "centroid_fraction") if centroid_fraction is None else centroid_fraction)
    if not s > 0 or hw < 1 or sep < 0 or not 0 < frac < 1:
        raise InputError("need snr > 0, half_window >= 1, min_separation_da >= 0 and 0 < centroid_fraction < 1")
    from scipy.ndimage import maximum_filter1d

    x, y, lin = pre.mz, pre.intensity, pre.linear
    noise = float(pre.noise)  # 0 for noise-free data: every positive maximum is a peak (S/N = inf), as MALDIquant
    wmax = maximum_filter1d(y, size=2 * hw + 1, mode="nearest")
    cand = np.nonzero((y == wmax) & (y > s * noise) & (y > 0))[0]
    # a maximum whose window is cut by the spectrum's end cannot be told from an edge artefact
    cand = cand[(cand >= hw) & (cand < y.size - hw)]
    # plateaus: keep the first point of runs of equal maxima
    if cand.size:
        cand = cand[np.concatenate([[True], np.diff(cand) > 1])]
    lo_mz, hi_mz = mz_range_da
    if lo_mz is not None:
        cand = cand[x[cand] >= lo_mz]
    if hi_mz is not None:
        cand = cand[x[cand] <= hi_mz]
    if sep > 0 and cand.size > 1:
        keep: list[int] = []
        for i in cand[np.argsort(-y[cand])]:
            if all(abs(x[i] - x[j]) >= sep for j in keep):
                keep.append(int(i))
        cand = np.sort(np.asarray(keep, dtype=np.int64))
    cent, fw, area = [], [], []
    for i in cand:
        li = int(np.argmax(lin[max(i - hw, 0): i + hw + 1])) + max(i - hw, 0)
        lo, hi = _half_max_region(lin, li, frac) if lin[li] > 0 else (i, i)
        w = np.clip(lin[lo: hi + 1], 0, None)
        cent.append(float(np.sum(x[lo: hi + 1] * w) / np.sum(w)) if np.sum(w) > 0 else float(x[i]))
        if lin[li] > 0:
            hlo, hhi = _half_max_region(lin, li, 0.5)
            fw.append(_fwhm(x, lin, li, hlo, hhi))
        else:
            fw.append(float("nan"))
        area.append(float(np.trapezoid(w, x[lo: hi + 1])) if hi > lo else 0.0)
    return PeakList(
        mz_da=np.asarray(cent, float), apex_mz_da=x[cand].astype(float), intensity=y[cand].astype(float),
        snr=(y[cand] / noise if noise > 0 else np.full(cand.size, np.inf)).astype(float), fwhm_da=np.asarray(fw, float), area=np.asarray(area, float),
        index=cand.astype(np.int64), noise=float(noise),
        settings={"snr": s, "half_window": hw, "min_separation_da": sep, "centroid_fraction": frac,
                  "mz_range_da": list(mz_range_da)},
    )


__all__ = ["PeakList", "pick_peaks", "profile_fwhm_da"]
