"""What a chemist reads off a PL band: its peak, its FWHM and whether it has two resolved maxima.

One estimator for every band qdlab reports, measured or simulated: :func:`~qdlab.spectra.analyze_pl`
applies it to the fitted, background-free band of a measured spectrum; the digital twin applies it to
its own noise-free QD emission (:mod:`qdlab.twin.observe`). The band is given per unit energy on an
increasing energy grid; the peak wavelength, the width in nm and the modes are read on the same band
drawn against wavelength (per-nm density, Jacobian ``E^2/hc``), as the spectra are displayed; the FWHM in
meV on the energy axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.resources import load_toml
from qdlab.signal import half_max_width, parabolic_apex
from qdlab.units import spectrum_to_wavelength


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
    minor = analysis_default("bimodal_minor_peak_ratio")
    dip = analysis_default("bimodal_max_dip_ratio")
    y = np.asarray(band, dtype=float)
    if y.size < 3 or not np.any(y > 0):
        return []
    ymax = float(y.max())
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] >= minor * ymax)
    idx = np.flatnonzero(inner) + 1
    idx = idx[np.argsort(-y[idx])]
    kept: list[int] = []
    for i in idx:
        if all(y[min(i, j): max(i, j) + 1].min() < dip * min(y[i], y[j]) for j in kept):
            kept.append(int(i))
    return [float(x[i]) for i in kept]


def summarize_band(energy_ev: ArrayLike, per_ev: ArrayLike) -> BandSummary:
    """Peak (parabolic apex), FWHM (half-maximum crossings) and modes of a band sampled per unit energy.

    Examples
    --------
    >>> e = np.linspace(0.8, 1.6, 4001)
    >>> s = summarize_band(e, np.exp(-0.5 * ((e - 1.2) / 0.04) ** 2))
    >>> round(s.peak_energy_ev, 4), round(s.fwhm_mev, 1), s.bimodal
    (1.2, 94.2, False)
    >>> round(s.peak_wavelength_nm, 1)  # the per-nm band (x E^2/hc) peaks blue of hc/1.2 eV = 1033.2 nm
    1030.9
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(per_ev, dtype=float)
    if e.size < 3 or not np.any(y > 0):
        nan = float("nan")
        return BandSummary(nan, nan, nan, nan, ())
    i = int(np.argmax(y))
    pos_ev, _ = parabolic_apex(e, y, i)
    fw_ev = half_max_width(e, y, i)
    lam, y_lam = spectrum_to_wavelength(e, y)
    j = int(np.argmax(y_lam))
    apex_nm, _ = parabolic_apex(lam, y_lam, j)
    fw_nm = half_max_width(lam, y_lam, j)
    return BandSummary(float(pos_ev), float(apex_nm), 1000.0 * float(fw_ev), float(fw_nm),
                       tuple(band_modes(lam, y_lam)))


__all__ = ["BandSummary", "analysis_default", "band_modes", "summarize_band"]
