"""Peak picking: MALDIquant's local maxima above a signal-to-noise threshold, each measured on its own peak.

**Detection** is MALDIquant's ``detectPeaks(method="MAD", halfWindowSize=20)``: a point is a peak when it is
the first maximum of the centred window of ``2*half_window+1`` points (:func:`qdlab.signal.local_maxima`)
and its intensity (transformed, smoothed, baseline-corrected) exceeds ``snr`` x the MAD noise of the whole
spectrum. ``apex_mz_da``, ``intensity`` and ``snr`` are MALDIquant's peak position, intensity and S/N.

**Measurement** uses the signal core (:mod:`qdlab.signal`) on the linear (back-transformed) signal. Every
peak owns a stretch of the axis: its region ends at the lowest point between it and each neighbouring
peak (and at scipy's prominence bases). Inside that region only:

* the linear apex is the highest point of the candidate's own bump (where the linear signal stays above
  half its value at MALDIquant's apex, at most ``half_window`` points away): never across a valley, so
  two peaks never share a maximum, and on a broad rippled envelope its top rather than the nearest ripple;
* the FWHM is measured at half the linear apex height, with ``fwhm_truncated`` set where the signal does
  not fall to half height before the region ends (the width is then a lower bound);
* the **centroid** ``mz_da`` is intensity-weighted over the points above ``centroid_fraction`` of the
  apex height between the peak's own crossings of that level; if a shoulder pulls it outside the peak's
  own half-maximum crossings, or more than ``shoulder_shift_fraction`` (0.25) FWHM away from the centroid
  above half height, that centroid above half height is used instead and the peak's ``note`` says so;
* the area is that of the linear signal over the centroid's stretch.

Differences from MALDIquant (documented defaults in ``resources/ms/defaults.toml``):

* default ``snr = 3`` (MALDIquant: 2);
* maxima within ``half_window`` points of either end are ignored (MALDIquant pads the window with zeros);
* besides the apex, every peak gets a centroid, FWHM and area measured on its own peak (above);
* optional ``min_separation_da`` merges maxima closer than that (keeps the higher one).

Before this version the centroid region was the contiguous run above 20 % of the height around the
highest linear point of the ``2*half_window+1`` window, which on real linear-mode spectra could span a
stronger neighbour: up to 9 of the 50 strongest peaks of a real Bruker flex spectrum reported a mass
further from their own apex than their own FWHM (docs/ms.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum, Result
from qdlab.ms.config import default
from qdlab.ms.preprocess import Preprocessed, preprocess
from qdlab.signal import Peaks, centroids, local_maxima, valleys, widths

_SHOULDER_NOTE = "shoulder: centroid taken above half height"


@dataclass(frozen=True, eq=False)
class PeakList(Result):
    """Picked peaks, in increasing m/z.

    Attributes
    ----------
    mz_da
        Centroid m/z of each peak (Da for z = 1), inside its own half-maximum crossings and own region.
    apex_mz_da
        m/z of the highest point of the transformed signal (MALDIquant's peak position).
    intensity
        Apex height of the baseline-corrected (transformed) signal.
    snr
        ``intensity / noise``.
    fwhm_da
        Full width at half maximum of the linear signal inside the peak's own region (m/z units).
    area
        Area of the linear signal over the centroid's stretch.
    index
        Index of the apex in the spectrum.
    noise
        The noise level used.
    fwhm_left_mz_da, fwhm_right_mz_da
        The half-maximum crossings (linear interpolation), or the region's end where truncated.
    fwhm_truncated
        True where the signal does not fall to half height inside the peak's own region: ``fwhm_da`` is
        then a lower bound (an unresolved neighbour).
    region_left_mz_da, region_right_mz_da
        The peak's own region: the valleys towards its neighbours (or its prominence bases).
    notes
        One string per peak, empty unless something about the peak needs saying.
    """

    mz_da: NDArray[np.float64]
    apex_mz_da: NDArray[np.float64]
    intensity: NDArray[np.float64]
    snr: NDArray[np.float64]
    fwhm_da: NDArray[np.float64]
    area: NDArray[np.float64]
    index: NDArray[np.int64]
    noise: float
    fwhm_left_mz_da: NDArray[np.float64]
    fwhm_right_mz_da: NDArray[np.float64]
    fwhm_truncated: NDArray[np.bool_]
    region_left_mz_da: NDArray[np.float64]
    region_right_mz_da: NDArray[np.float64]
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.mz_da.size)

    def take(self, keep: ArrayLike, **settings: Any) -> PeakList:
        """The peaks selected by an index array or boolean mask (``settings`` are added to the record)."""
        k = np.asarray(keep)
        if k.dtype == bool:
            k = np.nonzero(k)[0]
        arrays = {name: getattr(self, name)[k] for name in _ARRAY_FIELDS}
        notes = tuple(self.notes[int(i)] for i in k) if self.notes else ()
        return PeakList(**arrays, noise=self.noise, notes=notes, settings={**self.settings, **settings})

    def strongest(self, n: int | None) -> PeakList:
        """The ``n`` most intense peaks, in m/z order (all when ``n`` is None or not smaller than the list)."""
        if n is None or len(self) <= n:
            return self
        return self.take(np.sort(np.argsort(-self.intensity, kind="stable")[:n]), max_peaks=n)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per peak."""
        notes = self.notes or ("",) * len(self)
        return [
            {"mz_da": float(self.mz_da[i]), "apex_mz_da": float(self.apex_mz_da[i]),
             "intensity": float(self.intensity[i]), "snr": float(self.snr[i]), "fwhm_da": float(self.fwhm_da[i]),
             "area": float(self.area[i]), "index": int(self.index[i]),
             "fwhm_left_mz_da": float(self.fwhm_left_mz_da[i]), "fwhm_right_mz_da": float(self.fwhm_right_mz_da[i]),
             "fwhm_truncated": bool(self.fwhm_truncated[i]), "region_left_mz_da": float(self.region_left_mz_da[i]),
             "region_right_mz_da": float(self.region_right_mz_da[i]), "note": notes[i]}
            for i in range(len(self))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"noise": self.noise, "settings": self.settings, "peaks": self.rows()}


_ARRAY_FIELDS = ("mz_da", "apex_mz_da", "intensity", "snr", "fwhm_da", "area", "index", "fwhm_left_mz_da",
                 "fwhm_right_mz_da", "fwhm_truncated", "region_left_mz_da", "region_right_mz_da")


def _merge_closer_than(x: NDArray[np.float64], y: NDArray[np.float64], cand: NDArray[np.int64],
                       sep: float) -> NDArray[np.int64]:
    """Of maxima closer than ``sep`` (m/z units), keep the higher (greedy, highest first)."""
    keep: list[int] = []
    for i in cand[np.argsort(-y[cand], kind="stable")]:
        if all(abs(x[i] - x[j]) >= sep for j in keep):
            keep.append(int(i))
    return np.sort(np.asarray(keep, dtype=np.int64))


def _own_peaks(x: NDArray[np.float64], lin: NDArray[np.float64], cand: NDArray[np.int64], hw: int) -> Peaks:
    """Each candidate's own peak on ``lin``.

    Its region runs between the valleys (of ``lin``) to the neighbouring candidates. Its apex is the
    highest point of ``lin`` on the candidate's own bump: the run around the candidate where ``lin`` stays
    above half its value there (at most ``hw`` points away), provided the candidate lies inside that
    apex's half-maximum crossings; otherwise the candidate itself. So the apex is never a neighbour's,
    and on a broad rippled envelope it is the top rather than the nearest ripple.
    """
    v = valleys(lin, cand)
    lb = np.concatenate([[0], v]).astype(np.int64)
    rb = np.concatenate([v, [lin.size - 1]]).astype(np.int64)
    nan = float("nan")
    run = widths(None, lin, Peaks(cand, x[cand], lin[cand], lin[cand], lb, rb, nan), rel_height=0.5)
    lo = np.minimum(np.maximum.reduce([np.ceil(run.left_ips).astype(np.int64), lb, cand - hw]), cand)
    hi = np.maximum(np.minimum.reduce([np.floor(run.right_ips).astype(np.int64), rb, cand + hw]), cand)
    apex = np.asarray([a + int(np.argmax(lin[a: b + 1])) for a, b in zip(lo, hi, strict=True)], dtype=np.int64)
    top = widths(None, lin, Peaks(apex, x[apex], lin[apex], lin[apex], lb, rb, nan), rel_height=0.5)
    apex = np.where((top.left_ips <= cand) & (cand <= top.right_ips), apex, cand)
    height = lin[apex].astype(float)
    return Peaks(apex, x[apex].astype(float), height, height - np.maximum(lin[lb], lin[rb]), lb, rb, nan)


def _measure(x: NDArray[np.float64], lin: NDArray[np.float64], cand: NDArray[np.int64], hw: int,
             frac: float, shift: float) -> dict[str, Any]:
    """Centroid, FWHM, crossings, region and area of every candidate, each on its own peak of ``lin``."""
    m = cand.size
    if m == 0:
        e = np.zeros(0)
        return {"mz_da": e, "fwhm_da": e, "area": e, "fwhm_left_mz_da": e, "fwhm_right_mz_da": e,
                "fwhm_truncated": np.zeros(0, dtype=bool), "region_left_mz_da": e, "region_right_mz_da": e, "notes": ()}
    pk = _own_peaks(x, lin, cand, hw)
    half = widths(x, lin, pk, rel_height=0.5)
    cw = widths(x, lin, pk, rel_height=1.0 - frac)
    cen = centroids(x, lin, pk, rel_height=1.0 - frac, weights="signal")
    notes = [""] * m
    cen_half = centroids(x, lin, pk, rel_height=0.5, weights="signal")
    shoulder = (cen < half.left_x) | (cen > half.right_x) | (np.abs(cen - cen_half) > shift * half.width)
    for k in np.nonzero(shoulder)[0]:
        cen[k] = cen_half[k]
        notes[k] = _SHOULDER_NOTE
    area = np.empty(m)
    for k in range(m):
        lo = max(int(np.ceil(cw.left_ips[k])), int(pk.left_base[k]))
        hi = min(int(np.floor(cw.right_ips[k])), int(pk.right_base[k]))
        area[k] = float(np.trapezoid(np.clip(lin[lo: hi + 1], 0.0, None), x[lo: hi + 1])) if hi > lo else 0.0
    return {"mz_da": cen, "fwhm_da": half.width, "area": area, "fwhm_left_mz_da": half.left_x,
            "fwhm_right_mz_da": half.right_x, "fwhm_truncated": half.truncated,
            "region_left_mz_da": x[pk.left_base].astype(float), "region_right_mz_da": x[pk.right_base].astype(float),
            "notes": tuple(notes)}


def pick_peaks(
    data: MassSpectrum | Preprocessed,
    *,
    snr: float | None = None,
    half_window: int | None = None,
    mz_range_da: tuple[float | None, float | None] = (None, None),
    min_separation_da: float | None = None,
    centroid_fraction: float | None = None,
    shoulder_shift_fraction: float | None = None,
) -> PeakList:
    """Find peaks above ``snr`` x noise (MAD) that are maxima of a ``2*half_window+1``-point window.

    A raw :class:`MassSpectrum` is preprocessed first with the defaults of :func:`preprocess`. Peaks are
    found on the whole spectrum (so a strong neighbour just outside ``mz_range_da`` still bounds its
    neighbours' regions) and then restricted to ``mz_range_da``.

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
    shift = float(default("peaks", "shoulder_shift_fraction") if shoulder_shift_fraction is None
                  else shoulder_shift_fraction)
    if not s > 0 or hw < 1 or sep < 0 or not 0 < frac < 1 or not shift > 0:
        raise InputError("need snr > 0, half_window >= 1, min_separation_da >= 0, 0 < centroid_fraction < 1 and "
                         "shoulder_shift_fraction > 0")
    x, y, lin = pre.mz, pre.intensity, pre.linear
    noise = float(pre.noise)  # 0 for noise-free data: every positive maximum is a peak (S/N = inf), as MALDIquant
    cand = np.nonzero(local_maxima(y, hw) & (y > s * noise) & (y > 0))[0].astype(np.int64)
    if sep > 0 and cand.size > 1:
        cand = _merge_closer_than(x, y, cand, sep)
    meas = _measure(x, lin, cand, hw, frac, shift)
    lo_mz, hi_mz = mz_range_da
    inside = np.ones(cand.size, dtype=bool)
    if lo_mz is not None:
        inside &= x[cand] >= lo_mz
    if hi_mz is not None:
        inside &= x[cand] <= hi_mz
    k = np.nonzero(inside)[0]
    notes = meas.pop("notes")
    return PeakList(
        apex_mz_da=x[cand][k].astype(float), intensity=y[cand][k].astype(float),
        snr=(y[cand][k] / noise if noise > 0 else np.full(k.size, np.inf)).astype(float),
        index=cand[k], noise=noise, notes=tuple(notes[i] for i in k),
        **{name: np.asarray(v)[k] for name, v in meas.items()},
        settings={"snr": s, "half_window": hw, "min_separation_da": sep, "centroid_fraction": frac,
                  "shoulder_shift_fraction": shift, "mz_range_da": list(mz_range_da)},
    )


__all__ = ["PeakList", "pick_peaks"]
