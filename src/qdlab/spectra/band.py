"""What a chemist reads off a PL band: its peak, its FWHM and whether it has two resolved maxima.

One estimator for every band qdlab reports, measured or simulated: :func:`~qdlab.spectra.analyze_pl`
applies it to the fitted, background-free band of a measured spectrum; the digital twin applies it to
its own noise-free QD emission (:mod:`qdlab.twin.observe`). The band is given per unit energy on an
increasing energy grid; the peak wavelength, the width in nm and the modes are read on the same band
drawn against wavelength (per-nm density, Jacobian ``E^2/hc``), as the spectra are displayed; the FWHM in
meV on the energy axis.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.resources import load_toml
from qdlab.signal import half_max_width, parabolic_apex
from qdlab.units import HC_EV_NM, energy_ev_to_wavelength_nm


@dataclass(frozen=True)
class BandSummary:
    """Peak, widths and resolved maxima of one band (NaN widths where it does not fall to half height)."""

    peak_energy_ev: float
    peak_wavelength_nm: float
    fwhm_mev: float
    fwhm_nm: float
    modes_nm: tuple[float, ...]

    @property
    def bimodal(self) -> bool:
        """Two or more resolved maxima (see :func:`band_modes`)."""
        return len(self.modes_nm) >= 2


def analysis_default(name: str) -> float:
    """A default of the optical analysis from ``resources/spectra/analysis.toml``."""
    table = load_toml("spectra/analysis.toml")
    if name not in table:
        raise InputError(f"unknown analysis default {name!r}")
    return float(table[name]["value"])


@functools.cache
def _mode_ratios() -> tuple[float, float]:
    """``bimodal_minor_peak_ratio`` and ``bimodal_max_dip_ratio`` (read once)."""
    return analysis_default("bimodal_minor_peak_ratio"), analysis_default("bimodal_max_dip_ratio")


def band_modes(x: NDArray[np.float64], band: NDArray[np.float64]) -> list[float]:
    """Positions (in the units of ``x``) of the resolved maxima of a sampled band, strongest first.

    A local maximum counts if it reaches ``bimodal_minor_peak_ratio`` of the strongest one and the valley
    between it and every stronger retained maximum falls below ``bimodal_max_dip_ratio`` times its height
    (``resources/spectra/analysis.toml``).

    Examples
    --------
    >>> x = np.linspace(0, 10, 1001)
    >>> y = np.exp(-0.5 * ((x - 3) / 0.5) ** 2) + 0.6 * np.exp(-0.5 * ((x - 7) / 0.5) ** 2)
    >>> [round(v, 2) for v in band_modes(x, y)]
    [3.0, 7.0]
    """
    y = np.asarray(band, dtype=float)
    return _band_modes(x, y, float(y.max()) if y.size >= 3 else math.nan)


def _band_modes(x: NDArray[np.float64], y: NDArray[np.float64], ymax: float) -> list[float]:
    """:func:`band_modes` of ``y`` (a float array) whose maximum, ``y.max()``, is ``ymax`` (NaN: too short)."""
    if not ymax > 0:  # no positive point (or a NaN, which no point would pass either)
        return []
    minor, dip = _mode_ratios()
    mid = y[1:-1]
    inner = (mid > y[:-2]) & (mid >= y[2:]) & (mid >= minor * ymax)
    idx = inner.ravel().nonzero()[0] + 1  # np.flatnonzero, without its wrappers
    if idx.size > 1:
        idx = idx[np.argsort(-y[idx])]
    kept: list[int] = []
    for i in idx:
        if all(y[min(i, j): max(i, j) + 1].min() < dip * min(y[i], y[j]) for j in kept):
            kept.append(int(i))
    return [float(x[i]) for i in kept]


@dataclass(frozen=True, eq=False)
class BandGrid:
    """An energy grid prepared for :func:`summarize_band`: its wavelength axis, computed once.

    Build it with :meth:`of` and pass it instead of the energy array where many bands share one grid
    (the digital twin's aliquots); the summary is the same as with the array.

    Attributes
    ----------
    energy_ev
        The energy grid (eV), a private copy.
    energy_sq
        ``energy_ev ** 2``, for the Jacobian.
    wavelength_nm
        ``hc / energy_ev`` sorted increasing.
    order
        The stable sorting order: ``wavelength_nm = (hc / energy_ev)[order]``.
    """

    energy_ev: NDArray[np.float64]
    energy_sq: NDArray[np.float64]
    wavelength_nm: NDArray[np.float64]
    order: NDArray[np.intp]

    @classmethod
    def of(cls, energy_ev: ArrayLike) -> BandGrid:
        """The grid of ``energy_ev`` (positive and finite, else :class:`InputError`)."""
        e = np.array(energy_ev, dtype=float)
        lam = energy_ev_to_wavelength_nm(e)
        order = np.argsort(lam, kind="stable")
        return cls(e, e**2, lam[order], order)

    @functools.cached_property
    def _reversed(self) -> bool:
        """Whether :attr:`order` just reverses the grid (an increasing energy grid)."""
        return bool(np.array_equal(self.order, np.arange(self.order.size)[::-1]))

    def per_nm(self, per_ev: NDArray[np.float64]) -> NDArray[np.float64]:
        """A band per unit energy on this grid drawn per nm on :attr:`wavelength_nm` (Jacobian ``E^2/hc``)."""
        if self._reversed:  # the same products and quotients, taken in the reversed order
            return np.divide((per_ev * self.energy_sq)[::-1], HC_EV_NM)
        return (per_ev * self.energy_sq / HC_EV_NM)[self.order]


def summarize_band(energy_ev: ArrayLike | BandGrid, per_ev: ArrayLike) -> BandSummary:
    """Peak (parabolic apex), FWHM (half-maximum crossings) and modes of a band sampled per unit energy.

    Parameters
    ----------
    energy_ev
        The increasing energy grid (eV), or a :class:`BandGrid` of it (prepared once for many bands).
    per_ev
        The band per unit energy on that grid.

    Examples
    --------
    >>> e = np.linspace(0.8, 1.6, 4001)
    >>> s = summarize_band(e, np.exp(-0.5 * ((e - 1.2) / 0.04) ** 2))
    >>> round(s.peak_energy_ev, 4), round(s.fwhm_mev, 1), s.bimodal
    (1.2, 94.2, False)
    >>> round(s.peak_wavelength_nm, 1)  # the per-nm band (x E^2/hc) peaks blue of hc/1.2 eV = 1033.2 nm
    1030.9
    """
    grid = energy_ev if isinstance(energy_ev, BandGrid) else None
    e = grid.energy_ev if grid is not None else np.asarray(energy_ev, dtype=float)
    y = np.asarray(per_ev, dtype=float)
    i = int(np.argmax(y)) if y.size else 0
    # a positive maximum (argmax would have stopped at a NaN) means a positive point: one array pass, not two
    if e.size < 3 or y.size == 0 or (not y.flat[i] > 0 and not (y > 0).any()):
        nan = float("nan")
        return BandSummary(nan, nan, nan, nan, ())
    pos_ev, _ = parabolic_apex(e, y, i)
    fw_ev = half_max_width(e, y, i)
    if grid is None:
        grid = BandGrid.of(e)
    lam, y_lam = grid.wavelength_nm, grid.per_nm(y)
    j = int(np.argmax(y_lam))
    apex_nm, _ = parabolic_apex(lam, y_lam, j)
    fw_nm = half_max_width(lam, y_lam, j)
    return BandSummary(float(pos_ev), float(apex_nm), 1000.0 * float(fw_ev), float(fw_nm),
                       tuple(_band_modes(lam, y_lam, float(y_lam[j]))))  # y_lam[j] is y_lam.max()


@dataclass(frozen=True)
class DataBand:
    """The band read from the data: what :func:`band_on_data` returns.

    ``band`` is the background-free band on the data's energy points; ``background`` the level taken
    away at each point; ``how`` says where that background came from; ``edge`` the band's height at the
    low- and high-energy ends of the data (fractions of its maximum).
    """

    band: NDArray[np.float64]
    background: NDArray[np.float64]
    how: str
    edge: tuple[float, float] = (0.0, 0.0)


def _background(e: NDArray[np.float64], smooth: NDArray[np.float64], sig: float) -> tuple[NDArray[np.float64] | None, str]:
    """The background under a smoothed band on its recorded density (see :func:`band_on_data`)."""
    k = max(3, e.size // 20)
    x0, x1 = float(np.median(e[:k])), float(np.median(e[-k:]))
    y0, y1 = float(np.median(smooth[:k])), float(np.median(smooth[-k:]))
    ends = y0 + (y1 - y0) * (e - x0) / (x1 - x0) if x1 != x0 else np.full(e.size, y0)
    rel = smooth - ends
    height = float(np.max(smooth) - np.min(smooth))
    tol = max(analysis_default("band_free_level") * height, 4.0 * sig)
    need = int(analysis_default("band_free_min_points"))
    apex = int(np.argmax(rel))

    def floor(v: NDArray[np.float64]) -> float:
        # the need-th lowest value, so that a dead pixel (a single 0 count) does not set the floor
        m = min(need, v.size) - 1
        return float(np.partition(v, m)[m])

    free = rel <= floor(rel) + tol
    low = smooth <= floor(smooth) + tol
    level = float(np.median(smooth[low]))
    # a sloping background needs evidence: long stretches on both sides of the band, on one line to within
    # band_line_tolerance of the band's height (a tail or a pedestal of emission curves away from any line)
    tol_line = max(analysis_default("band_line_tolerance") * height, 4.0 * sig)
    strict = rel <= floor(rel) + tol_line
    long_enough = analysis_default("band_line_min_fraction") * e.size
    if free[:apex].sum() >= need and free[apex:].sum() >= need:
        sel = np.flatnonzero(free)
        if float(np.max(np.abs(smooth[sel] - level))) <= tol:
            return np.full(e.size, level), "the level of band-free channels on both sides"
        if strict[:apex].sum() >= long_enough and strict[apex:].sum() >= long_enough:
            sel = np.flatnonzero(strict)
            slope, icpt = np.polyfit(e[sel], smooth[sel], 1)
            line = icpt + slope * e
            if float(np.max(np.abs(smooth[sel] - line[sel]))) <= tol_line:
                return line, "a sloping line through band-free channels on both sides"
    if low.sum() >= need:
        return np.full(e.size, level), "the level of the lowest band-free channels"
    return None, "no band-free channel in the window: the fitted linear background was taken away"


def band_on_data(energy_ev: ArrayLike, y: ArrayLike, model_band: ArrayLike, fitted_background: ArrayLike,
                 fwhm_ev: float, noise_sigma: ArrayLike, recorded_scale: ArrayLike | None = None) -> DataBand:
    """The band as the data draw it: a fitted model plus its smoothed residual, minus a measured background.

    A sum of Gaussians does not follow a skewed or tailing band exactly, and a free linear background
    takes up whatever band the components miss (a blue pedestal of small QDs becomes a "background" of
    10 % of the maximum). Peak and FWHM read off such a model move with the model, not with the sample.
    Here the fit only removes the noise: the residual ``y - model_band - fitted_background`` is smoothed by
    a Savitzky-Golay filter (cubic, a window of ``band_smoothing_fraction`` of the FWHM), what remains of the
    noise (``noise_sigma`` per point, times the filter's noise gain) is shrunk away by a non-negative
    garrote ``r max(0, 1 - (k sigma / r)^2)`` with ``k = band_residual_threshold``, and the rest is added back: the band follows the data wherever they
    resolve a departure from the model, and is the model where they do not.

    The background is measured where the data show no band: channels within ``band_free_level`` of the
    band's height (or 4 sigmas of the smoothed noise) of the straight line through the window's two
    ends. The background is the constant level of the lowest of them (a dark level), unless band-free
    channels on both sides of the band depart from that level and lie on one straight line (within the
    same tolerance): then that sloping line. Emission that does not return to it (a pedestal at the edge
    of the window) stays part of the band. Where no channel is free of the band, the fitted linear
    background is used. The background is constant or straight on the axis the data were recorded on:
    ``recorded_scale`` turns the energy density into that recorded density (for a spectrum recorded per
    nm, proportional to ``E^2``: a flat dark level per nm is a curved one per eV). ``how`` says which, and ``edge`` how high the band still is at the window's
    ends (fractions of its height), for the caller's warnings.

    Examples
    --------
    >>> e = np.linspace(0.9, 1.5, 601)
    >>> skewed = np.where(e < 1.2, np.exp(-0.5 * ((e - 1.2) / 0.03) ** 2), np.exp(-0.5 * ((e - 1.2) / 0.06) ** 2))
    >>> one = np.exp(-0.5 * ((e - 1.215) / 0.045) ** 2)   # a symmetric fit that misses the skew
    >>> d = band_on_data(e, skewed + 0.05 + 0.1 * e, 0.95 * one, 0.08 + 0.1 * e, 0.106, 0.0)
    >>> bool(np.max(np.abs(d.band - skewed)) < 0.005), d.how   # within the 1 % band-free level
    (True, 'a sloping line through band-free channels on both sides')
    """
    e = np.asarray(energy_ev, dtype=float)
    yy = np.asarray(y, dtype=float)
    mb = np.asarray(model_band, dtype=float)
    fb = np.asarray(fitted_background, dtype=float)
    noise = np.broadcast_to(np.nan_to_num(np.asarray(noise_sigma, dtype=float)), e.shape)
    resid = yy - mb - fb
    step = float(np.median(np.abs(np.diff(e)))) if e.size > 1 else 0.0
    window = 0
    if step > 0 and math.isfinite(fwhm_ev) and fwhm_ev > 0:
        window = max(5, int(analysis_default("band_smoothing_fraction") * fwhm_ev / step)) | 1
    gain = 1.0
    if 0 < window < e.size:
        from scipy.signal import savgol_coeffs, savgol_filter

        resid = savgol_filter(resid, window, 3)
        gain = float(np.sqrt(np.sum(savgol_coeffs(window, 3) ** 2)))
    # what is left of the noise after smoothing is shrunk away (non-negative garrote at k sigmas: continuous,
    # and nearly unbiased for a residual far above it); a residual the model cannot follow (a skew, a
    # shoulder) stands many sigmas above it and is kept
    sig_pts = gain * noise
    k_sig = analysis_default("band_residual_threshold")
    thr2 = (k_sig * sig_pts) ** 2
    resid = resid * np.maximum(1.0 - thr2 / np.maximum(resid**2, 1e-300), 0.0)
    smooth = mb + resid + fb
    scale = np.ones_like(e) if recorded_scale is None else np.asarray(recorded_scale, dtype=float)
    bg_rec, how = _background(e, smooth * scale, float(np.median(sig_pts * scale)))
    bg = fb if bg_rec is None else bg_rec / scale
    if recorded_scale is not None and not how.startswith(("a sloping", "the level of band-free channels on both")):
        # a background straight per eV (one drawn on the energy axis) is a line too
        bg_e, how_e = _background(e, smooth, float(np.median(sig_pts)))
        if bg_e is not None and how_e.startswith("a sloping"):
            bg, how = bg_e, how_e + " (straight per eV)"
    band = smooth - bg
    top = float(np.max(band)) or 1.0
    k = max(3, e.size // 20)
    edge = (float(np.median(band[:k])) / top, float(np.median(band[-k:])) / top)
    return DataBand(band=band, background=bg, how=how, edge=edge)


__all__ = ["BandGrid", "BandSummary", "DataBand", "analysis_default", "band_modes", "band_on_data", "summarize_band"]
