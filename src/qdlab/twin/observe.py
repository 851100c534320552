"""Observation model: size classes -> PL and absorption spectra and a per-aliquot summary.

PL (energy space, notes-kinetics section 4)::

    I(E) = sum_i N_i d_i^p QY L(E - E_PL(d_i); Gamma_hom)  +  MSC line at 455 nm

with ``d^p`` the excitation cross-section far above the gap (``p = 3``: per-volume absorption), a
Gaussian homogeneous line ``L`` and ``E_PL(d)`` from :func:`qdlab.materials.curve_for`. The spectrum is
built on an energy grid and handed over as a canonical :class:`~qdlab.data.types.Spectrum` on a
wavelength axis through :meth:`Spectrum.to_wavelength`, which applies the Jacobian ``hc/lambda^2``.
Absorbance: a first-exciton Gaussian at the band-edge energy plus a smoothed continuum above it,
both proportional to the QD volume, plus the MSC band at 447 nm.

Peak wavelength, FWHM and bimodality come from :func:`qdlab.spectra.band.summarize_band`, the estimator
that :func:`qdlab.spectra.analyze_pl` applies to a measured spectrum's fitted band: peak and width in nm
on the wavelength-axis band (as a chemist reads them), the FWHM in meV on the energy axis, ``bimodal``
for two resolved maxima on the wavelength axis.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.data.types import Result, Spectrum
from qdlab.materials import curve_for
from qdlab.spectra.band import summarize_band
from qdlab.twin.parameters import OpticalParameters
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM

ENERGY_GRID_EV: NDArray[np.float64] = np.linspace(0.70, 3.10, 1201)


@dataclass(frozen=True)
class Aliquot(Result):
    """Per-aliquot summary (what the CLI's ``--json`` prints for each aliquot).

    ``secondary_fraction`` is the number fraction of QDs that nucleated during the run;
    ``secondary_mass_fraction`` the fraction of the QDs' Cd3P2 (volume-weighted, ∝ N d³) they hold,
    which is closer to what the PL and the yield see. ``tem_mean_diameter_nm`` is what TEM sizing would
    report: the number mean of the QDs at or above ``OpticalParameters.tem_min_diameter_nm`` (smaller ones
    are not counted on a micrograph), ``tem_counted_fraction`` the share of the QDs it counts.
    """

    aliquot_id: str
    time_min: float
    temperature_c: float
    volume_ml: float
    pl_peak_nm: float
    fwhm_mev: float
    fwhm_nm: float
    mean_diameter_nm: float
    diameter_std_nm: float
    secondary_fraction: float
    secondary_mass_fraction: float
    bimodal: bool
    cluster_fraction: float
    supersaturation: float
    n_classes: int
    tem_mean_diameter_nm: float = float("nan")
    tem_counted_fraction: float = float("nan")


def wavelength_peak_nm(qd_pl_e: NDArray[np.float64], energy_ev: NDArray[np.float64] = ENERGY_GRID_EV) -> float:
    """Peak wavelength (nm) of an energy-grid PL after the Jacobian to the wavelength axis."""
    return summarize_band(energy_ev, qd_pl_e).peak_wavelength_nm


def _broaden(energy_ev: NDArray[np.float64], centers_ev: NDArray[np.float64], weights: NDArray[np.float64],
             fwhm_ev: float) -> NDArray[np.float64]:
    """Sum of unit-area Gaussians (FWHM ``fwhm_ev``) at ``centers_ev`` with ``weights`` on a uniform grid.

    Weights are deposited on the grid by linear interpolation (conserving area and centroid) and then
    convolved with the sampled Gaussian: O(grid x kernel) instead of O(grid x classes).
    """
    de = float(energy_ev[1] - energy_ev[0])
    pos = (centers_ev - energy_ev[0]) / de
    ok = (pos >= 0) & (pos < energy_ev.size - 1)
    i0 = np.floor(pos[ok]).astype(np.int64)
    fr = pos[ok] - i0
    w = weights[ok]
    hist = np.bincount(i0, w * (1 - fr), minlength=energy_ev.size) + np.bincount(i0 + 1, w * fr, minlength=energy_ev.size)
    sig = fwhm_ev / FWHM_PER_SIGMA
    half = math.ceil(5 * sig / de)
    k = np.arange(-half, half + 1) * de
    kern = np.exp(-0.5 * (k / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
    return np.convolve(hist[: energy_ev.size], kern, mode="same")


def qd_pl_energy(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], optics: OpticalParameters,
                 energy_ev: NDArray[np.float64] = ENERGY_GRID_EV, material: str = "Cd3P2") -> NDArray[np.float64]:
    """QD PL intensity per unit energy on the uniform grid ``energy_ev`` (arbitrary units)."""
    keep = (number > 0) & (diameter_nm > 0.5)
    if not np.any(keep):
        return np.zeros_like(energy_ev)
    d = diameter_nm[keep]
    w = number[keep] * d**optics.excitation_exponent
    e0 = curve_for(material).emission_energy_ev(d)
    return _broaden(energy_ev, e0, w, optics.homogeneous_fwhm_mev / 1000)


def spectra_for(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], cluster_units: float,
                optics: OpticalParameters, meta: dict[str, object], unit_volume_nm3: float,
                material: str = "Cd3P2") -> tuple[Spectrum, Spectrum, NDArray[np.float64]]:
    """PL and absorbance spectra (wavelength axis) and the QD-only PL on the energy grid."""
    e = ENERGY_GRID_EV
    curve = curve_for(material)
    qd = qd_pl_energy(diameter_nm, number, optics, e, material)
    # MSC line: per-volume excitation like a QD (units x unit volume), relative QY
    sig_c = optics.cluster_fwhm_mev / 1000 / FWHM_PER_SIGMA
    e_c = HC_EV_NM / optics.cluster_pl_nm
    w_c = cluster_units * 6.0 * unit_volume_nm3 / math.pi * optics.cluster_relative_qy  # d^3 equivalent
    pl = qd + w_c * np.exp(-0.5 * ((e - e_c) / sig_c) ** 2) / (sig_c * math.sqrt(2 * math.pi))
    # absorbance
    keep = (number > 0) & (diameter_nm > 0.5)
    ab = np.zeros_like(e)
    if np.any(keep):
        d = diameter_nm[keep]
        vol = number[keep] * d**3
        e1 = curve.energy_ev(d)
        fw = optics.homogeneous_fwhm_mev / 1000
        sig = fw / FWHM_PER_SIGMA
        peak = _broaden(e, e1, vol * sig * math.sqrt(2 * math.pi), fw)
        # continuum: a smoothed step above each band edge (cumulative sum of the deposited weights)
        steps = np.cumsum(_broaden(e, e1 + 2 * sig, vol, fw)) * float(e[1] - e[0])
        ab = peak + optics.absorption_continuum_ratio * steps
    e_ca = HC_EV_NM / optics.cluster_abs_nm
    ab = ab + w_c / max(optics.cluster_relative_qy, 1e-12) * np.exp(-0.5 * ((e - e_ca) / sig_c) ** 2)
    pl_s = Spectrum(e, pl, x_unit="ev", kind="pl", meta={**meta, "source": "qdlab.twin"}).to_wavelength()
    ab_s = Spectrum(e, ab, x_unit="ev", kind="absorbance", meta={**meta, "source": "qdlab.twin"}).to_wavelength()
    # normalised to 1 at the maximum of the displayed (wavelength-axis) spectrum
    pl_s = dataclasses.replace(pl_s, y=pl_s.y / (float(pl_s.y.max()) or 1.0))
    ab_s = dataclasses.replace(ab_s, y=ab_s.y / (float(ab_s.y.max()) or 1.0))
    return pl_s, ab_s, qd


def summarize(aliquot_id: str, time_min: float, temperature_c: float, volume_ml: float,
              diameter_nm: NDArray[np.float64], number: NDArray[np.float64], secondary: NDArray[np.bool_],
              qd_pl_e: NDArray[np.float64], cluster_units: float, monomer_units: float, qd_units: float,
              supersaturation: float, window_nm: tuple[float, float] | None = None,
              tem_min_diameter_nm: float = 0.0) -> Aliquot:
    """The per-aliquot summary from the classes and the QD-only PL on the energy grid.

    With ``window_nm`` the peak, FWHM and bimodality are read only inside that wavelength window
    (the detector's range), as a spectroscopist measuring there would; the sizes are not windowed.
    ``tem_min_diameter_nm``: QDs smaller than this are not counted in ``tem_mean_diameter_nm``.
    """
    live = number > 0
    ntot = float(number[live].sum())
    if ntot > 0:
        d = diameter_nm[live]
        w = number[live] / ntot
        mean = float((w * d).sum())
        std = float(math.sqrt(max((w * (d - mean) ** 2).sum(), 0.0)))
        sec = float(number[live & secondary].sum() / ntot)
        vol = number[live] * d**3  # Cd3P2 held by each class, in units of a common factor
        sec_mass = float(vol[secondary[live]].sum() / vol.sum()) if vol.sum() > 0 else float("nan")
    else:
        mean = std = sec = sec_mass = float("nan")
    seen = live & (diameter_nm >= tem_min_diameter_nm)
    n_seen = float(number[seen].sum())
    tem_mean = float((number[seen] * diameter_nm[seen]).sum() / n_seen) if n_seen > 0 else float("nan")
    tem_frac = n_seen / ntot if ntot > 0 else float("nan")
    if window_nm is not None:
        lam_e = HC_EV_NM / ENERGY_GRID_EV
        qd_pl_e = np.where((lam_e >= window_nm[0]) & (lam_e <= window_nm[1]), qd_pl_e, 0.0)
    # the same estimator as a measured spectrum's analysis (qdlab.spectra.analyze_pl reads its fitted band so)
    band = summarize_band(ENERGY_GRID_EV, qd_pl_e)
    total = cluster_units + monomer_units + qd_units
    return Aliquot(
        aliquot_id=aliquot_id, time_min=time_min, temperature_c=temperature_c, volume_ml=volume_ml,
        pl_peak_nm=band.peak_wavelength_nm, fwhm_mev=band.fwhm_mev, fwhm_nm=band.fwhm_nm, mean_diameter_nm=mean,
        diameter_std_nm=std, secondary_fraction=sec, secondary_mass_fraction=sec_mass, bimodal=band.bimodal,
        cluster_fraction=cluster_units / total if total > 0 else float("nan"),
        supersaturation=supersaturation, n_classes=int(live.sum()), tem_mean_diameter_nm=tem_mean,
        tem_counted_fraction=tem_frac,
    )


__all__ = ["Aliquot", "ENERGY_GRID_EV", "qd_pl_energy", "spectra_for", "summarize", "wavelength_peak_nm"]
