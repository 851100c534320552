"""Absorption: first excitonic peak (second derivative + local fit), band-edge estimate, Stokes shift.

Saturated points are masked first (:mod:`qdlab.spectra.checks`). The absorbance is moved to an increasing energy axis (no Jacobian: absorbance is per photon) and
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
from numpy.typing import NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Result, Spectrum
from qdlab.fit import Model, Parameter, fit
from qdlab.signal import derivative_sigma, describe_mask, find_peaks, mad_sigma
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM, fwhm_ev_to_nm

_SQRT2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class AbsorbanceAnalysis(Result):
    """Result of :func:`analyze_absorbance` (energies in eV, widths in meV).

    ``noise_od`` is the measured noise, ``exciton_snr`` the fitted exciton height over it;
    ``saturated_points``/``saturated_nm`` the masked saturated points; ``flags`` the local fit's quality
    flags (:data:`qdlab.fit.FLAGS`); ``warnings`` one sentence per problem found (kind, axis, saturation,
    flags).
    """

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
    noise_od: float = math.nan
    exciton_snr: float = math.nan
    saturated_points: int = 0
    saturated_nm: str = "none"
    flags: dict[str, list[str]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
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


def _segments(good: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Runs of True as (start, stop) index pairs (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


def _gauss_line(c0: float) -> Model:
    def f(x: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        c, sg, h, b0, b1 = p
        return h * np.exp(-0.5 * ((x - c) / sg) ** 2) + b0 + b1 * (x - c0)

    def jac(x: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        c, sg, h, _b0, _b1 = p
        z = (x - c) / sg
        g = np.exp(-0.5 * z * z)
        return np.stack([h * g * z / sg, h * g * z * z / sg, g, np.ones_like(x), x - c0], 1)

    return Model(f, ("center_ev", "sigma_ev", "height_od", "background_od", "slope_od_per_ev"), jac=jac,
                 name="first exciton (Gaussian + line)")


def _no_exciton(spectrum: Spectrum, reason: str, warnings: list[str]) -> ModelError:
    extra = f" [{'; '.join(warnings)}]" if warnings else ""
    return ModelError(f"no exciton found in {spectrum.label!r}: {reason}{extra}")


def analyze_absorbance(
    spectrum: Spectrum,
    *,
    smooth_mev: float | None = None,
    min_depth: float = 0.05,
    window_sigma: float = 1.2,
    min_significance: float = 5.0,
    material: str | None = None,
) -> AbsorbanceAnalysis:
    """Find and fit the first excitonic absorption peak, or say that there is none.

    Saturated points (the instrument's overflow reading, e.g. A = 10 from a Cary, or a flat top at the
    maximum; :func:`qdlab.spectra.checks.saturation`) are masked and reported; above a saturated stretch
    nothing is analysed (the lowest-energy unsaturated stretch is used). Second-derivative minima are
    candidates from low to high energy; the first whose local Gaussian-plus-line fit rises
    ``min_significance`` noise sigmas above its background, with its centre and height inside their
    bounds, is the first exciton. The noise is measured on the data: the larger of the white-noise
    sigma (second differences) and the scatter about a Savitzky–Golay smooth of the smoothing window's
    width (which also sees noise correlated over a few points).

    Parameters
    ----------
    spectrum
        Absorbance on any axis.
    smooth_mev
        Savitzky–Golay window for the derivative, in meV (default: 1/40 of the energy span, at least
        7 points).
    min_depth
        A second-derivative minimum is a candidate if it is at least this fraction of the deepest one.
    min_significance
        The fitted exciton height (above the local linear background) must exceed this many noise sigmas.
    window_sigma
        Half-width of the local Gaussian fit window in units of the peak's sigma (estimated from the
        zero crossings of the second derivative).
    material
        If given (e.g. ``"Cd3P2"``), the diameter is read from that material's sizing curve.

    Raises
    ------
    InputError
        An axis no UV-vis-NIR-SWIR instrument records, a negated absorbance, too few points.
    ModelError
        ``no exciton found``, with the reason (no feature, features below the noise, region saturated).

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_absorbance
    >>> spec, truth = synth_absorbance(447.0, fwhm_mev=60.0)
    >>> round(analyze_absorbance(spec).exciton_wavelength_nm, 1)
    447.0
    """
    import dataclasses

    from scipy.signal import savgol_coeffs, savgol_filter

    from qdlab.spectra.checks import (
        check_absorbance_scale,
        check_axis,
        check_sign,
        kind_warning,
        saturation,
        saturation_warning,
    )
    from qdlab.spectra.fit import analysis_default

    warnings = kind_warning(spectrum, "absorbance") + check_axis(spectrum)
    check_sign(spectrum, "absorbance")
    check_absorbance_scale(spectrum)
    min_fwhm_ev = analysis_default("min_exciton_fwhm_mev") / 1000.0
    narrow: list[str] = []
    s = dataclasses.replace(spectrum, kind="absorbance").to_energy()  # per-photon quantity: no Jacobian
    mask, why, _src = saturation(s)
    n_sat = int(mask.sum())
    sat_nm = "none"
    if n_sat:
        lam_sat = dataclasses.replace(s, y=np.where(mask, 1.0, 0.0)).to_wavelength()
        sat_nm = describe_mask(lam_sat.x, lam_sat.y > 0.5, "nm")
        warnings.append(saturation_warning(dataclasses.replace(lam_sat, y=lam_sat.y), lam_sat.y > 0.5, why))
    good = np.isfinite(s.x) & np.isfinite(s.y) & ~mask
    if good.sum() < 15:
        if n_sat:
            raise _no_exciton(spectrum, f"only {int(good.sum())} unsaturated points", warnings)
        raise InputError(f"{spectrum.label!r}: {int(good.sum())} points are too few for a second derivative")
    need = max(15, good.sum() // 10)
    segs = [(a, b) for a, b in _segments(good) if b - a >= need]
    if not segs:
        raise _no_exciton(spectrum, f"no unsaturated stretch of {need} points", warnings)
    lo_i, hi_i = segs[0]  # lowest energy: the first exciton lies below any saturated stretch
    if n_sat and (lo_i > 0 or hi_i < s.x.size) and good[hi_i:].any():
        warnings.append(
            f"analysed {HC_EV_NM / s.x[hi_i - 1]:.1f}-{HC_EV_NM / s.x[lo_i]:.1f} nm only (below the first saturated stretch)"
        )
    e_raw, a_raw = s.x[lo_i:hi_i], s.y[lo_i:hi_i]
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
    # measured noise: white (second differences) and correlated over up to the smoothing window
    step_raw = float(np.median(np.diff(e_raw)))
    win_raw = max(7, round(w_ev / step_raw) | 1) if step_raw > 0 else 7
    white = derivative_sigma(a_raw, 2)
    corr = mad_sigma(a_raw - savgol_filter(a_raw, win_raw, 3)) if win_raw < a_raw.size else 0.0
    noise_od = float(max(white, corr))
    # candidates: minima of d2A/dE2 whose prominence stands min_significance sigmas above the noise that
    # the Savitzky-Golay filter passes into d2 (white noise on the raw points, resampled onto the grid)
    coeffs = savgol_coeffs(win, 3, deriv=2, delta=de)
    dens = max(n / e_raw.size, 1.0)  # upsampled points are not independent
    noise_d2 = noise_od * float(np.sqrt(np.sum(coeffs**2) * dens))
    pk = find_peaks(None, -d2, noise=noise_d2, min_snr=min_significance, distance=max(2, win // 4),
                    min_height_snr=min_significance)
    mins = [int(i) for i in pk.index if edge <= i < n - edge and d2[i] < 0]
    if not mins:
        raise _no_exciton(
            spectrum,
            f"no minimum of the second derivative stands {min_significance:g} noise sigmas out "
            f"(noise {noise_od:.2g} OD)",
            warnings,
        )
    deepest = min(d2[i] for i in mins)

    def width(i: int) -> float:
        lo = i
        while lo > 0 and d2[lo] < 0:
            lo -= 1
        hi = i
        while hi < n - 1 and d2[hi] < 0:
            hi += 1
        return max(0.5 * (e[hi] - e[lo]), 3 * de)

    # a Gaussian of height h and width sigma has d2 = -h / sigma^2 at its centre
    cands = sorted(i for i in mins if d2[i] <= min_depth * deepest)
    best_snr, chosen = 0.0, None
    for i0 in cands:
        sigma = width(i0)
        implied = -d2[i0] * sigma**2
        implied_snr = implied / noise_od if noise_od > 0 else math.inf
        if implied_snr < min_significance:
            best_snr = max(best_snr, implied_snr)
            continue
        c0 = float(e[i0])
        half = window_sigma * sigma
        sel = (e_raw >= c0 - half) & (e_raw <= c0 + half)
        if sel.sum() < 7:
            sel_g = np.abs(e - c0) <= max(half, 4 * de)
            ee, aa = e[sel_g], a[sel_g]
        else:
            ee, aa = e_raw[sel], a_raw[sel]
        h0 = max(float(np.interp(c0, ee, aa)) - float(np.min(aa)), 1e-6)
        pars = [
            Parameter("center_ev", c0, c0 - half, c0 + half, unit="eV"),
            Parameter("sigma_ev", sigma, 0.5 * de, max(span, 2 * sigma), unit="eV"),
            Parameter("height_od", h0, 0.0, math.inf, unit="OD"),
            Parameter("background_od", float(np.min(aa))),
            Parameter("slope_od_per_ev", 0.0),
        ]
        try:
            r = fit(_gauss_line(c0), ee, aa, pars, max_nfev=4000)
        except ModelError:
            r = None
        if r is None or r.has("at_bound", "center_ev") or r.has("at_bound", "height_od"):
            if FWHM_PER_SIGMA * sigma < min_fwhm_ev:
                narrow.append(f"{HC_EV_NM / c0:.1f} nm ({1000 * FWHM_PER_SIGMA * sigma:.1f} meV FWHM)")
                continue
            # a shoulder the local Gaussian cannot place inside its window: the lowest-energy feature is
            # still the first exciton; report the second-derivative estimate and say so
            vals = {"center_ev": c0, "sigma_ev": sigma, "height_od": h0}
            why = ("the local Gaussian fit ran to the edge of its window (a shoulder, not a resolved peak); "
                   "position and width from the second-derivative minimum, no standard error")
            chosen = (vals, math.nan, c0, implied_snr, {"center_ev": ["at_bound"]}, [f"first exciton: {why}"])
            break
        snr = r["height_od"] / noise_od if noise_od > 0 else math.inf
        best_snr = max(best_snr, snr)
        if snr < min_significance:
            continue
        if FWHM_PER_SIGMA * r["sigma_ev"] < min_fwhm_ev:
            narrow.append(f"{HC_EV_NM / r['center_ev']:.1f} nm ({1000 * FWHM_PER_SIGMA * r['sigma_ev']:.1f} meV FWHM)")
            continue
        if snr < 2 * min_significance:
            r = r.with_flag("height_od", "below_noise",
                            f"exciton height {r['height_od']:.3g} OD is only {snr:.1f} noise sigmas ({noise_od:.2g} OD)")
        vals = {k: r[k] for k in ("center_ev", "sigma_ev", "height_od")}
        chosen = (vals, r.err("center_ev"), c0, snr, {k: list(v) for k, v in r.flags.items()}, r.warnings())
        break
    if narrow:
        warnings.append(
            f"skipped narrower features at {', '.join(narrow)}: below the {1000 * min_fwhm_ev:g} meV of any QD "
            "ensemble's first exciton (solvent overtone, lamp/detector changeover or noise)"
        )
    if chosen is None:
        raise _no_exciton(
            spectrum,
            f"no second-derivative feature rises {min_significance:g} noise sigmas above its background "
            f"(best {best_snr:.1f}; noise {noise_od:.2g} OD)",
            warnings,
        )
    vals, c_err, c0, snr, flags, fit_warnings = chosen
    c, sg, h = vals["center_ev"], vals["sigma_ev"], vals["height_od"]
    warnings.extend(fit_warnings)
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
        exciton_energy_ev_err=float(c_err),
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
        noise_od=noise_od,
        exciton_snr=float(snr),
        saturated_points=n_sat,
        saturated_nm=sat_nm,
        flags=flags,
        warnings=tuple(warnings),
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
