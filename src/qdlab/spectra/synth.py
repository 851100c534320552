"""Realistic synthetic optical spectra with exact ground truth (tests, benchmarks, demos).

PL bands are Gaussians (or Voigts) *in energy* — the natural shape of an inhomogeneously broadened
ensemble — written as photon densities per eV. On a wavelength axis the density per nm is
``f(E) * |dE/dlambda| = f(E) * hc / lambda^2`` exactly, so converting back with the Jacobian recovers
``f(E)`` and the true centre, FWHM and area.

Examples
--------
>>> spec, truth = synth_pl([(1100.0, 120.0, 1.0)], axis="nm")
>>> spec.x_unit, round(truth.components[0].energy_ev, 4)
('nm', 1.1271)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import voigt_profile

from qdlab.data.errors import InputError
from qdlab.data.types import Result, Spectrum, SpectrumSeries
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM


@dataclass(frozen=True)
class ComponentTruth(Result):
    """Ground truth of one synthetic band."""

    energy_ev: float
    wavelength_nm: float
    fwhm_ev: float
    area: float
    fraction: float
    gamma_ev: float = 0.0


@dataclass(frozen=True)
class SynthTruth(Result):
    """Ground truth of a synthetic spectrum: components, baseline (per eV) and noise level."""

    components: tuple[ComponentTruth, ...]
    baseline_offset: float = 0.0
    baseline_slope_per_ev: float = 0.0
    noise_sigma: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bimodal(self) -> bool:
        """True if there are two or more components."""
        return len(self.components) >= 2


def gaussian_ev(energy_ev: NDArray[np.float64], center_ev: float, fwhm_ev: float, area: float) -> NDArray[np.float64]:
    """Area-normalised Gaussian band on an energy axis (per eV)."""
    sigma = fwhm_ev / FWHM_PER_SIGMA
    return area / (sigma * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((energy_ev - center_ev) / sigma) ** 2)


def voigt_ev(
    energy_ev: NDArray[np.float64], center_ev: float, sigma_ev: float, gamma_ev: float, area: float
) -> NDArray[np.float64]:
    """Area-normalised Voigt band (Gaussian ``sigma`` convolved with Lorentzian HWHM ``gamma``)."""
    return area * voigt_profile(energy_ev - center_ev, sigma_ev, gamma_ev)


def _axis(axis: str, range_nm: tuple[float, float], n_points: int) -> NDArray[np.float64]:
    lo, hi = range_nm
    if not (0 < lo < hi):
        raise InputError(f"bad wavelength range {range_nm}", field="range_nm")
    if axis == "nm":
        return np.linspace(lo, hi, n_points)
    if axis == "ev":
        return np.linspace(HC_EV_NM / hi, HC_EV_NM / lo, n_points)
    raise InputError(f"axis must be 'nm' or 'ev', got {axis!r}", field="axis")


def energy_center_for_apex_nm(apex_nm: float, fwhm_mev: float) -> float:
    """Centre (eV) of a Gaussian-in-energy band whose maximum *on a wavelength plot* is at ``apex_nm``.

    The per-nm density is ``f(E) E^2 / hc``; its maximum solves ``E^2 - c E - 2 sigma^2 = 0``, so
    ``c = E* - 2 sigma^2 / E*`` with ``E* = hc / apex_nm``.

    >>> round(HC_EV_NM / energy_center_for_apex_nm(1338.0, 100.0), 1)
    1343.6
    """
    e_star = HC_EV_NM / apex_nm
    sigma = fwhm_mev / 1000.0 / FWHM_PER_SIGMA
    return e_star - 2 * sigma**2 / e_star


def synth_pl(
    components: Sequence[tuple[float, float, float]],
    *,
    axis: Literal["nm", "ev"] = "nm",
    range_nm: tuple[float, float] | None = None,
    n_points: int = 1000,
    noise: float = 0.0,
    baseline_slope_per_ev: float = 0.0,
    baseline_offset: float = 0.0,
    lorentz_hwhm_mev: float = 0.0,
    seed: int | None = 0,
    label: str = "synthetic",
    meta: dict[str, Any] | None = None,
) -> tuple[Spectrum, SynthTruth]:
    """Synthetic PL spectrum from bands ``(peak_wavelength_nm, fwhm_mev, area)``.

    Parameters
    ----------
    components
        One tuple per band: centre wavelength (nm; the centre is the Gaussian centre in energy,
        ``E = hc/lambda``), FWHM in meV (of the Gaussian part), integrated photons (area per eV).
    axis
        Output axis ``"nm"`` (density per nm) or ``"ev"`` (density per eV).
    range_nm
        Wavelength window; default: +-6 FWHM around the bands, at most a factor 1.6 in wavelength.
    noise
        Gaussian noise sigma relative to the highest point of the noiseless spectrum.
    baseline_slope_per_ev, baseline_offset
        Linear background ``offset + slope * (E - E_mid)`` added to the per-eV density.
    lorentz_hwhm_mev
        If > 0, bands are Voigts with this Lorentzian HWHM.
    seed
        Random seed for the noise.
    """
    if not components:
        raise InputError("at least one component is needed", field="components")
    comps = [(float(a), float(b), float(c)) for a, b, c in components]
    e_c = [HC_EV_NM / lam for lam, _, _ in comps]
    f_ev = [w / 1000.0 for _, w, _ in comps]
    if range_nm is None:  # +-6 FWHM, but never beyond a factor 1.6 in wavelength either side
        e_lo = min(max(e - 6 * f, e / 1.6) for e, f in zip(e_c, f_ev, strict=True))
        e_hi = max(min(e + 6 * f, 1.6 * e) for e, f in zip(e_c, f_ev, strict=True))
        range_nm = (HC_EV_NM / e_hi, HC_EV_NM / e_lo)
    x = _axis(axis, range_nm, n_points)
    e = HC_EV_NM / x if axis == "nm" else x
    gamma = lorentz_hwhm_mev / 1000.0
    dens = np.zeros_like(e)
    total = sum(c[2] for c in comps)
    truths = []
    for (_lam, _w, area), ec, fw in zip(comps, e_c, f_ev, strict=True):
        if gamma > 0:
            dens += voigt_ev(e, ec, fw / FWHM_PER_SIGMA, gamma, area)
        else:
            dens += gaussian_ev(e, ec, fw, area)
        truths.append(ComponentTruth(ec, HC_EV_NM / ec, fw, area, area / total, gamma))
    e_mid = 0.5 * (e.min() + e.max())
    dens = dens + baseline_offset + baseline_slope_per_ev * (e - e_mid)
    y = dens * HC_EV_NM / x**2 if axis == "nm" else dens
    sig = noise * float(np.max(np.abs(y)))
    if sig > 0:
        y = y + np.random.default_rng(seed).normal(0.0, sig, y.shape)
    spec = Spectrum(x, y, x_unit=axis, kind="pl", meta={"synthetic": True, **(meta or {})}, label=label)
    truth = SynthTruth(tuple(truths), baseline_offset, baseline_slope_per_ev, sig, {"e_mid_ev": e_mid})
    return spec, truth


def synth_absorbance(
    first_exciton_nm: float,
    *,
    fwhm_mev: float = 80.0,
    peak_od: float = 0.3,
    axis: Literal["nm", "ev"] = "nm",
    range_nm: tuple[float, float] | None = None,
    n_points: int = 1000,
    continuum_od_per_ev: float = 0.6,
    second_transition_mev: float = 250.0,
    scatter_od_at_400nm: float = 0.0,
    noise: float = 0.0,
    seed: int | None = 0,
    label: str = "synthetic absorbance",
) -> tuple[Spectrum, SynthTruth]:
    """Synthetic QD absorbance: first excitonic Gaussian + a second transition + a rising continuum.

    The continuum is ``continuum_od_per_ev * (E - E1)`` above the first exciton (zero below, smoothed by
    an error-function edge of the exciton width) and Rayleigh scattering ``∝ lambda^-4`` is optional.
    Truth: the first-exciton energy (Gaussian centre).
    """
    from scipy.special import erf

    e1 = HC_EV_NM / first_exciton_nm
    f = fwhm_mev / 1000.0
    if range_nm is None:
        range_nm = (HC_EV_NM / (e1 + 1.0), HC_EV_NM / max(e1 - 8 * f, 0.05))
    x = _axis(axis, range_nm, n_points)
    e = HC_EV_NM / x if axis == "nm" else x
    sigma = f / FWHM_PER_SIGMA
    h = peak_od * sigma * math.sqrt(2 * math.pi)
    od = gaussian_ev(e, e1, f, h)
    e2 = e1 + second_transition_mev / 1000.0
    od += gaussian_ev(e, e2, 1.5 * f, 0.8 * h)
    step = 0.5 * (1 + erf((e - e2) / (math.sqrt(2) * sigma)))
    od += continuum_od_per_ev * np.clip(e - e1, 0, None) * step
    lam = HC_EV_NM / e
    od += scatter_od_at_400nm * (400.0 / lam) ** 4
    if noise > 0:
        od = od + np.random.default_rng(seed).normal(0.0, noise * peak_od, od.shape)
    spec = Spectrum(x, od, x_unit=axis, kind="absorbance", meta={"synthetic": True}, label=label)
    truth = SynthTruth((ComponentTruth(e1, HC_EV_NM / e1, f, h, 1.0),), extra={"second_ev": e2})
    return spec, truth


def synth_series(
    peaks_nm: Sequence[float | Sequence[float]],
    *,
    fwhm_mev: float | Sequence[float] = 110.0,
    brightness: Sequence[float] | None = None,
    time_min: Sequence[float] | None = None,
    axis: Literal["nm", "ev"] = "nm",
    range_nm: tuple[float, float] = (800.0, 1600.0),
    n_points: int = 800,
    noise: float = 0.002,
    seed: int = 0,
    apex: bool = False,
) -> tuple[SpectrumSeries, list[SynthTruth]]:
    """Synthetic aliquot series; an entry of ``peaks_nm`` that is a sequence makes a multimodal aliquot.

    ``brightness`` scales each aliquot's total area (e.g. proportional to its QY). With ``apex=True``
    each peak wavelength is where the band peaks *on a wavelength plot* (as peaks are read in papers);
    otherwise it is ``hc / E_centre``.
    """
    n = len(peaks_nm)
    widths = [float(fwhm_mev)] * n if np.isscalar(fwhm_mev) else [float(w) for w in fwhm_mev]  # type: ignore[arg-type]
    bright = [1.0] * n if brightness is None else [float(b) for b in brightness]
    times = [5.0 * i for i in range(n)] if time_min is None else [float(t) for t in time_min]
    spectra = []
    truths = []
    for i, pk in enumerate(peaks_nm):
        lams = [float(pk)] if np.isscalar(pk) else [float(p) for p in pk]  # type: ignore[union-attr]
        if apex:
            lams = [HC_EV_NM / energy_center_for_apex_nm(lam, widths[i]) for lam in lams]
        comps = [(lam, widths[i], bright[i] / len(lams)) for lam in lams]
        s, t = synth_pl(
            comps, axis=axis, range_nm=range_nm, n_points=n_points, noise=noise, seed=seed + i,
            label=f"A{i} ({times[i]:g} min)", meta={"aliquot_id": f"A{i}", "time_min": times[i]},
        )
        spectra.append(s)
        truths.append(t)
    return SpectrumSeries.from_spectra(spectra, times, [f"A{i}" for i in range(n)], {"synthetic": True}), truths


def detector_response(wavelength_nm: NDArray[np.float64], kind: str = "ingaas") -> NDArray[np.float64]:
    """A smooth model detector response (counts per photon, max 1) for synthetic sphere measurements.

    ``ingaas``: rises from 900 nm, flat to 1500 nm, falls to 1700 nm; ``si``: peaks near 700 nm.
    Only for synthetic data; real corrections come from the instrument's calibration file.
    """
    lam = np.asarray(wavelength_nm, dtype=float)
    if kind == "ingaas":
        return 0.05 + 0.95 / (1 + np.exp(-(lam - 950.0) / 40.0)) / (1 + np.exp((lam - 1650.0) / 30.0))
    if kind == "si":
        return np.exp(-0.5 * ((lam - 700.0) / 200.0) ** 2) + 0.02
    raise InputError(f"unknown detector {kind!r}; expected 'ingaas' or 'si'", field="kind")


def synth_sphere(
    qy: float,
    absorptance: float,
    *,
    indirect_absorptance: float = 0.0,
    excitation_nm: float = 808.0,
    emission_nm: float = 1150.0,
    emission_fwhm_mev: float = 120.0,
    photons: float = 1.0e6,
    range_nm: tuple[float, float] = (700.0, 1650.0),
    n_points: int = 2000,
    response: str | None = "ingaas",
) -> dict[str, Spectrum]:
    """Synthetic integrating-sphere spectra (counts per nm) with a known quantum yield.

    Returns the de Mello measurements ``a`` (empty sphere), ``b`` (sample, beam on the wall), ``c``
    (beam on the sample) and the two-step pair ``blank``/``sample``. Photon bookkeeping (de Mello
    et al., Adv. Mater. 9, 230 (1997)): ``L_b = L_a(1-mu)``, ``P_b = L_a mu eta``,
    ``L_c = L_a(1-A)(1-mu)``, ``P_c = L_a A eta + L_a(1-A) mu eta``. The counts are photon densities
    multiplied by the detector ``response`` (None: ideal photon counter).
    """
    if not (0 <= qy <= 1 and 0 < absorptance < 1 and 0 <= indirect_absorptance < 1):
        raise InputError("need 0 <= qy <= 1, 0 < absorptance < 1, 0 <= indirect_absorptance < 1")
    lam = np.linspace(range_nm[0], range_nm[1], n_points)
    e = HC_EV_NM / lam
    jac = HC_EV_NM / lam**2  # per-eV -> per-nm
    laser = gaussian_ev(e, HC_EV_NM / excitation_nm, 0.004, 1.0) * jac
    emis = gaussian_ev(e, HC_EV_NM / emission_nm, emission_fwhm_mev / 1000.0, 1.0) * jac
    r = np.ones_like(lam) if response is None else detector_response(lam, response)
    mu, a_, eta, la = indirect_absorptance, absorptance, qy, photons
    parts = {
        "a": (la, 0.0),
        "b": (la * (1 - mu), la * mu * eta),
        "c": (la * (1 - a_) * (1 - mu), la * a_ * eta + la * (1 - a_) * mu * eta),
        "blank": (la, 0.0),
        "sample": (la * (1 - a_), la * a_ * eta),
    }
    out = {}
    for name, (lphot, pphot) in parts.items():
        y = (lphot * laser + pphot * emis) * r
        out[name] = Spectrum(lam, y, "nm", "pl", {"synthetic": True, "measurement": name}, f"sphere {name}")
    return out


__all__ = [
    "energy_center_for_apex_nm",
    "ComponentTruth",
    "SynthTruth",
    "gaussian_ev",
    "voigt_ev",
    "synth_pl",
    "synth_absorbance",
    "synth_series",
    "detector_response",
    "synth_sphere",
]
