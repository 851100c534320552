"""Absorption: first excitonic peak (second derivative + local fit), band-edge estimate, Stokes shift.

The absorbance is moved to an increasing energy axis (no Jacobian: absorbance is per photon) and
resampled onto a uniform grid. The first excitonic transition is the lowest-energy significant minimum
of the Savitzky–Golay second derivative ``d²A/dE²`` (a Gaussian's second derivative is most negative at
its centre and crosses zero at ``±sigma``); its position is then refined by fitting a Gaussian plus a
linear background (the rising continuum) in a window of ``±window_sigma`` around it. For a QD the
first-exciton energy *is* the optical band gap used by the sizing curves; the absorption onset (the
low-energy half maximum of the exciton) is reported as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Result, Spectrum
from qdlab.signal import derivative_sigma
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM, fwhm_ev_to_nm

_SQRT2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class AbsorbanceAnalysis(Result):
    """Result of :func:`analyze_absorbance` (energies in eV, widths in meV)."""

    label: str
    kind: str
    exciton_energy_ev: float
    exciton_energy_ev_err: float
    exciton_wavelength_nm: float
    exciton_fwhm_mev: float
    exciton_fwhm_nm: float
    exciton_od: float
    band_edge_ev: float
    band_edge_nm: float
    onset_ev: float
    onset_nm: float
    second_derivative_ev: float
    diameter_nm: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def peaks(self) -> tuple[dict[str, float], ...]:
        """The first exciton as a one-element peak list (same keys as PL peaks)."""
        return (
            {
                "energy_ev": self.exciton_energy_ev,
                "wavelength_nm": self.exciton_wavelength_nm,
                "fwhm_mev": self.exciton_fwhm_mev,
                "fwhm_nm": self.exciton_fwhm_nm,
                "area_fraction": 1.0,
            },
        )


@dataclass(frozen=True)
class StokesShift(Result):
    """Stokes shift between the first excitonic absorption and the PL maximum."""

    absorption_ev: float
    emission_ev: float
    absorption_nm: float
    emission_nm: float
    shift_mev: float
    shift_nm: float


def analyze_absorbance(
    spectrum: Spectrum,
    *,
    smooth_mev: float | None = None,
    min_depth: float = 0.05,
    window_sigma: float = 1.2,
    min_significance: float = 5.0,
    material: str | None = None,
) -> AbsorbanceAnalysis:
    """Find and fit the first excitonic absorption peak.

    Parameters
    ----------
    spectrum
        Absorbance on any axis.
    smooth_mev
        Savitzky–Golay window for the derivative, in meV (default: 1/40 of the energy span, at least
        7 points).
    min_depth
        A second-derivative minimum counts if it is at least this fraction of the deepest one.
    min_significance
        The implied exciton height ``-d2 * sigma^2`` must exceed this many noise standard deviations of
        the absorbance (noise estimated from first differences).
    window_sigma
        Half-width of the local Gaussian fit window in units of the peak's sigma (estimated from the
        zero crossings of the second derivative).
    material
        If given (e.g. ``"Cd3P2"``), the diameter is read from that material's sizing curve.

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_absorbance
    >>> spec, truth = synth_absorbance(447.0, fwhm_mev=60.0)
    >>> round(analyze_absorbance(spec).exciton_wavelength_nm, 1)
    447.0
    """
    import dataclasses

    from scipy.optimize import least_squares
    from scipy.signal import argrelmin, savgol_filter

    s = dataclasses.replace(spectrum, kind="absorbance").to_energy()  # per-photon quantity: no Jacobian
    e_raw, a_raw = s.x, s.y
    ok = np.isfinite(e_raw) & np.isfinite(a_raw)
    e_raw, a_raw = e_raw[ok], a_raw[ok]
    if e_raw.size < 15:
        raise InputError(f"{spectrum.label!r}: {e_raw.size} points are too few for a second derivative")
    n = max(e_raw.size, 400)
    e = np.linspace(e_raw[0], e_raw[-1], n)
    a = np.interp(e, e_raw, a_raw)
    de = e[1] - e[0]
    span = e[-1] - e[0]
    w_ev = (smooth_mev / 1000.0) if smooth_mev else span / 40
    win = max(7, round(w_ev / de) | 1)
    if win >= n:
        win = (n - 1) | 1 if ((n - 1) % 2) else n - 2
    d2 = savgol_filter(a, win, 3, deriv=2, delta=de)
    edge = win // 2 + 1
    mins = [int(i) for i in argrelmin(d2, order=max(2, win // 4))[0] if edge <= i < n - edge and d2[i] < 0]
    if not mins:
        raise ModelError(f"{spectrum.label!r}: no excitonic feature (no minimum of the second derivative)")
    deepest = min(d2[i] for i in mins)
    # noise of the absorbance from first differences (robust), for a significance test of each minimum
    noise_od = derivative_sigma(a_raw, 1)

    def width(i: int) -> float:
        lo = i
        while lo > 0 and d2[lo] < 0:
            lo -= 1
        hi = i
        while hi < n - 1 and d2[hi] < 0:
            hi += 1
        return max(0.5 * (e[hi] - e[lo]), 3 * de)

    # a Gaussian of height h and width sigma has d2 = -h / sigma^2 at its centre
    strong = [
        i for i in mins if d2[i] <= min_depth * deepest and -d2[i] * width(i) ** 2 >= min_significance * noise_od
    ]
    if not strong:
        raise ModelError(f"{spectrum.label!r}: no significant excitonic minimum")
    i0 = min(strong)  # lowest energy
    sigma = width(i0)
    c0 = float(e[i0])
    sel = (e >= c0 - window_sigma * sigma) & (e <= c0 + window_sigma * sigma)
    if sel.sum() < 7:
        sel = np.abs(e - c0) <= 4 * de
    ee, aa = e[sel], a[sel]
    h0 = float(np.interp(c0, ee, aa)) - float(np.min(aa))

    def model(p: np.ndarray, x: np.ndarray) -> np.ndarray:
        c, ls, h, b0, b1 = p
        sg = math.exp(min(max(ls, -13.8), 2.3))
        return h * np.exp(-0.5 * ((x - c) / sg) ** 2) + b0 + b1 * (x - c0)

    p0 = np.array([c0, math.log(sigma), max(h0, 1e-6), float(np.min(aa)), 0.0])
    with np.errstate(all="ignore"):
        res = least_squares(lambda p: model(p, ee) - aa, p0, method="lm", x_scale="jac", max_nfev=4000)
    c, ls, h = (float(v) for v in res.x[:3])
    sg = math.exp(min(max(ls, -13.8), 2.3))
    if not (ee[0] - sigma <= c <= ee[-1] + sigma) or h <= 0:
        c, sg, h = c0, sigma, h0  # fall back to the derivative estimate
    J = res.jac
    rss = float(res.fun @ res.fun)
    try:
        cov = np.linalg.pinv(J.T @ J) * rss / max(ee.size - 5, 1)
        c_err = float(math.sqrt(max(cov[0, 0], 0.0)))
    except np.linalg.LinAlgError:
        c_err = math.nan
    fw = FWHM_PER_SIGMA * sg
    onset = c - fw / 2
    diameter = None
    if material is not None:
        from qdlab.materials import curve_for, get_material

        diameter = float(curve_for(get_material(material)).diameter_nm(c))
    return AbsorbanceAnalysis(
        label=spectrum.label,
        kind="absorbance",
        exciton_energy_ev=float(c),
        exciton_energy_ev_err=c_err,
        exciton_wavelength_nm=HC_EV_NM / c,
        exciton_fwhm_mev=1000 * fw,
        exciton_fwhm_nm=float(fwhm_ev_to_nm(c, fw)),
        exciton_od=float(h),
        band_edge_ev=float(c),
        band_edge_nm=HC_EV_NM / c,
        onset_ev=float(onset),
        onset_nm=HC_EV_NM / onset,
        second_derivative_ev=c0,
        diameter_nm=diameter,
        meta={k: spectrum.meta[k] for k in ("source", "aliquot_id", "time_min", "sha256") if k in spectrum.meta},
    )


def stokes_shift(absorbance: Any, emission: Any) -> StokesShift:
    """Stokes shift (meV and nm) between the first exciton and the PL maximum.

    Parameters
    ----------
    absorbance
        An :class:`AbsorbanceAnalysis`, an absorbance :class:`Spectrum` (analysed here) or an energy
        in eV (float).
    emission
        A :class:`~qdlab.spectra.fit.PLAnalysis`, a PL :class:`Spectrum` or an energy in eV.

    Examples
    --------
    >>> round(stokes_shift(1239.841984 / 447, 1239.841984 / 455).shift_mev, 1)
    48.8
    """
    from qdlab.spectra.fit import PLAnalysis, analyze_pl

    if isinstance(absorbance, Spectrum):
        absorbance = analyze_absorbance(absorbance)
    if isinstance(emission, Spectrum):
        emission = analyze_pl(emission)
    e_abs = absorbance.exciton_energy_ev if isinstance(absorbance, AbsorbanceAnalysis) else float(absorbance)
    e_em = emission.peak_energy_ev if isinstance(emission, PLAnalysis) else float(emission)
    if not (e_abs > 0 and e_em > 0):
        raise InputError("energies must be positive")
    return StokesShift(
        absorption_ev=e_abs,
        emission_ev=e_em,
        absorption_nm=HC_EV_NM / e_abs,
        emission_nm=HC_EV_NM / e_em,
        shift_mev=1000 * (e_abs - e_em),
        shift_nm=HC_EV_NM / e_em - HC_EV_NM / e_abs,
    )


__all__ = ["AbsorbanceAnalysis", "StokesShift", "analyze_absorbance", "stokes_shift"]
