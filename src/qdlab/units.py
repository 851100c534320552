"""Units and conversions: wavelength <-> energy <-> wavenumber, spectra with the Jacobian.

Constants come from ``resources/constants.toml`` (CODATA 2018). Emission spectra recorded per unit
wavelength must be multiplied by the Jacobian ``|dlambda/dE| = hc/E^2`` when moved to an energy axis
(Mooney & Kambhampati, J. Phys. Chem. Lett. 2013, 4, 3316); absorbance is a per-photon quantity and
only changes axis.

Examples
--------
>>> round(float(wavelength_nm_to_energy_ev(1239.841984)), 6)
1.0
>>> round(stokes_shift_mev(447.0, 455.0), 1)
48.8
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.resources import load_toml


def constant(name: str) -> float:
    """Value of a physical constant from package data (see ``constants.toml`` for unit and source)."""
    table = load_toml("constants.toml")
    if name not in table:
        raise InputError(f"unknown constant {name!r}; known: {', '.join(sorted(table))}")
    return float(table[name]["value"])


HC_EV_NM: float = constant("hc")
AVOGADRO_PER_MOL: float = constant("avogadro")
BOLTZMANN_EV_PER_K: float = constant("boltzmann_ev")
GAS_CONSTANT_J_PER_MOL_K: float = constant("gas_constant")
WAVENUMBER_CM_PER_EV: float = constant("wavenumber_per_ev")
FWHM_PER_SIGMA: float = constant("fwhm_per_sigma")


def _positive(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"must be positive and finite, got {x!r}", field=name)
    return arr


def wavelength_nm_to_energy_ev(wavelength_nm: ArrayLike) -> NDArray[np.float64]:
    """Photon energy in eV for a vacuum wavelength in nm (E = hc/lambda)."""
    return HC_EV_NM / _positive(wavelength_nm, "wavelength_nm")


def energy_ev_to_wavelength_nm(energy_ev: ArrayLike) -> NDArray[np.float64]:
    """Vacuum wavelength in nm for a photon energy in eV."""
    return HC_EV_NM / _positive(energy_ev, "energy_ev")


def wavenumber_cm_to_energy_ev(wavenumber_per_cm: ArrayLike) -> NDArray[np.float64]:
    """Photon energy in eV for a wavenumber in cm^-1."""
    return _positive(wavenumber_per_cm, "wavenumber_per_cm") / WAVENUMBER_CM_PER_EV


def energy_ev_to_wavenumber_cm(energy_ev: ArrayLike) -> NDArray[np.float64]:
    """Wavenumber in cm^-1 for a photon energy in eV."""
    return _positive(energy_ev, "energy_ev") * WAVENUMBER_CM_PER_EV


def fwhm_ev_to_nm(center_ev: ArrayLike, fwhm_ev: ArrayLike) -> NDArray[np.float64]:
    """Width in nm of a band centred at ``center_ev`` with FWHM ``fwhm_ev`` (exact, not lambda^2 dE/hc).

    The band edges ``E -/+ fwhm/2`` are mapped to wavelength and subtracted.
    """
    c = np.asarray(center_ev, dtype=float)
    f = np.asarray(fwhm_ev, dtype=float)
    lo = np.maximum(c - f / 2, 1e-12)
    return HC_EV_NM / lo - HC_EV_NM / (c + f / 2)


def fwhm_nm_to_ev(center_nm: ArrayLike, fwhm_nm: ArrayLike) -> NDArray[np.float64]:
    """Width in eV of a band centred at ``center_nm`` with FWHM ``fwhm_nm`` (exact edge mapping)."""
    c = np.asarray(center_nm, dtype=float)
    f = np.asarray(fwhm_nm, dtype=float)
    lo = np.maximum(c - f / 2, 1e-12)
    return HC_EV_NM / lo - HC_EV_NM / (c + f / 2)


def stokes_shift_mev(absorption_nm: float, emission_nm: float) -> float:
    """Stokes shift in meV between an absorption and an emission peak given in nm.

    >>> round(stokes_shift_mev(447, 455), 2)
    48.77
    """
    e_abs = float(wavelength_nm_to_energy_ev(absorption_nm))
    e_em = float(wavelength_nm_to_energy_ev(emission_nm))
    return 1000.0 * (e_abs - e_em)


def spectrum_to_energy(
    wavelength_nm: ArrayLike, intensity: ArrayLike, *, jacobian: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move a spectrum from a wavelength axis to an energy axis.

    Parameters
    ----------
    wavelength_nm, intensity
        The spectrum; any order of the axis.
    jacobian
        Multiply by ``lambda^2/hc`` (per-nm -> per-eV density). True for emission, False for absorbance.

    Returns
    -------
    energy_ev, intensity
        Sorted by increasing energy.
    """
    lam = _positive(wavelength_nm, "wavelength_nm")
    y = np.asarray(intensity, dtype=float)
    e = HC_EV_NM / lam
    if jacobian:
        y = y * lam**2 / HC_EV_NM
    order = np.argsort(e, kind="stable")
    return e[order], y[order]


def spectrum_to_wavelength(
    energy_ev: ArrayLike, intensity: ArrayLike, *, jacobian: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move a spectrum from an energy axis to a wavelength axis (inverse of :func:`spectrum_to_energy`).

    Returns
    -------
    wavelength_nm, intensity
        Sorted by increasing wavelength.
    """
    e = _positive(energy_ev, "energy_ev")
    y = np.asarray(intensity, dtype=float)
    lam = HC_EV_NM / e
    if jacobian:
        y = y * e**2 / HC_EV_NM
    order = np.argsort(lam, kind="stable")
    return lam[order], y[order]


__all__ = [
    "HC_EV_NM",
    "AVOGADRO_PER_MOL",
    "BOLTZMANN_EV_PER_K",
    "GAS_CONSTANT_J_PER_MOL_K",
    "WAVENUMBER_CM_PER_EV",
    "FWHM_PER_SIGMA",
    "constant",
    "wavelength_nm_to_energy_ev",
    "energy_ev_to_wavelength_nm",
    "wavenumber_cm_to_energy_ev",
    "energy_ev_to_wavenumber_cm",
    "fwhm_ev_to_nm",
    "fwhm_nm_to_ev",
    "stokes_shift_mev",
    "spectrum_to_energy",
    "spectrum_to_wavelength",
]
