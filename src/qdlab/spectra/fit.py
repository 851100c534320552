"""PL band fitting in energy space: 1-3 Gaussian or Voigt components, BIC model selection, bimodality.

The spectrum is moved to an increasing energy axis with the Jacobian (photon density per eV), then
``n = 1, 2, 3`` area-normalised components plus a linear background are fitted through the fit layer
(:func:`qdlab.fit.fit`: Levenberg–Marquardt, analytic Jacobians, bounds that encode what a band may be).
A component is added only if the Bayesian information criterion
``BIC = N ln(RSS/N) + k ln N`` drops by more than ``bic_min_improvement`` (package data, Kass &
Raftery's "very strong" threshold). The band is called *bimodal* when the fitted band (all retained
components, background removed), drawn against wavelength as chemists read it, has two resolved maxima: the smaller reaches ``bimodal_minor_peak_ratio``
of the larger and the valley between them falls below ``bimodal_max_dip_ratio`` of the smaller (the
thresholds of :func:`qdlab.spectra.band.band_modes`, shared with the twin). A skewed single band that needs two or three
overlapping components is therefore not bimodal, whatever the components' spacing.

The fit layer, not lmfit, runs here: the same minimum and standard errors as lmfit (tests/fit) at 5-8x
less CPU per fit (``benchmarks/bench_spectra.py``), and an analysis runs up to ~15 fits per spectrum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Result, Spectrum
from qdlab.fit import FitResult, Model, Parameter, fit
from qdlab.signal import derivative_sigma, half_max_width, local_sigma, parabolic_apex
from qdlab.spectra.band import analysis_default, band_modes, band_on_data, summarize_band
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM, fwhm_ev_to_nm

Shape = Literal["gaussian", "voigt"]
_SQRT2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Peak(Result):
    """One fitted PL component (centre and widths in energy; wavelengths derived exactly)."""

    energy_ev: float
    energy_ev_err: float
    wavelength_nm: float
    wavelength_nm_err: float
    fwhm_mev: float
    fwhm_mev_err: float
    fwhm_nm: float
    area: float
    area_err: float
    area_fraction: float
    height_per_ev: float
    shape: str = "gaussian"
    gaussian_fwhm_mev: float = math.nan
    lorentz_hwhm_mev: float = 0.0


@dataclass(frozen=True)
class PLAnalysis(Result):
    """Result of :func:`analyze_pl`.

    Attributes
    ----------
    bimodal
        The band, drawn against wavelength, has two resolved maxima (see :func:`band_modes`).
    modes_nm
        Wavelengths of those resolved maxima (one for a unimodal band).
    peaks
        Components sorted by increasing wavelength (bluest first).
    main
        Index in ``peaks`` of the component with the largest area.
    peak_energy_ev, fwhm_mev
        Maximum and FWHM of the band on the energy axis: the data less their measured background, with
        the channel noise smoothed out by the fit (:func:`qdlab.spectra.band.band_on_data`), so that
        they do not depend on how well a sum of Gaussians follows a skewed band.
    peak_wavelength_nm, fwhm_nm
        Maximum and FWHM of the same band drawn against wavelength (per-nm density) — what is read off
        a wavelength plot. Because of the Jacobian the apex lies a few nm to the blue of
        ``hc / peak_energy_ev`` for broad SWIR bands (same convention as the twin's ``pl_peak_nm``).
    integrated
        Integral of the background-free band (photons, in the spectrum's intensity units x eV).
    bic
        BIC of each tried number of components.
    flags
        Quality flags of the chosen fit per parameter (:data:`qdlab.fit.FLAGS`: ``at_bound``,
        ``below_noise`` for a component under ``min_band_snr`` noise sigmas ...).
    background_from
        Where the background under the band was measured (band-free channels on one or both sides, or
        the fit's linear term where the band fills the window).
    saturated_points, saturated
        Saturated channels (masked, not fitted) and their ranges.
    warnings
        One sentence per problem: the file says another kind, axis outside an instrument's range,
        saturation, flags.
    """

    label: str
    kind: str
    shape: str
    n_components: int
    bimodal: bool
    modes_nm: tuple[float, ...]
    peaks: tuple[Peak, ...]
    main: int
    peak_energy_ev: float
    peak_wavelength_nm: float
    fwhm_mev: float
    fwhm_nm: float
    integrated: float
    background: tuple[float, float]
    bic: dict[str, float]
    rss: float
    r_squared: float
    n_points: int
    meta: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)
    saturated_points: int = 0
    saturated: str = "none"
    warnings: tuple[str, ...] = ()
    background_from: str = ""


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------
def _n_per(shape: str) -> int:
    return 3 if shape == "gaussian" else 4


def _sig(log_width: float) -> float:
    """Width from its logarithm, clipped to 1e-6..10 eV so that trial steps cannot overflow."""
    return math.exp(min(max(float(log_width), -13.8), 2.3))


def _model(p: NDArray[np.float64], e: NDArray[np.float64], n: int, shape: str, e0: float) -> NDArray[np.float64]:
    y = p[0] + p[1] * (e - e0)
    k = _n_per(shape)
    for i in range(n):
        c, ls, a = p[2 + k * i : 5 + k * i]
        s = _sig(ls)
        if shape == "gaussian":
            y = y + a / (s * _SQRT2PI) * np.exp(-0.5 * ((e - c) / s) ** 2)
        else:
            from scipy.special import voigt_profile

            g = _sig(p[5 + k * i])
            y = y + a * voigt_profile(e - c, s, g)
    return y


def _jac_gauss(p: NDArray[np.float64], e: NDArray[np.float64], n: int, e0: float) -> NDArray[np.float64]:
    J = np.empty((e.size, 2 + 3 * n))
    J[:, 0] = 1.0
    J[:, 1] = e - e0
    for i in range(n):
        c, ls, a = p[2 + 3 * i : 5 + 3 * i]
        s = _sig(ls)
        z = (e - c) / s
        g = np.exp(-0.5 * z * z) / (s * _SQRT2PI)
        J[:, 2 + 3 * i] = a * g * z / s
        J[:, 3 + 3 * i] = a * g * (z * z - 1.0)
        J[:, 4 + 3 * i] = g
    return J


def _jac_voigt(p: NDArray[np.float64], e: NDArray[np.float64], n: int, e0: float) -> NDArray[np.float64]:
    """Analytic Jacobian of area-normalised Voigts via the Faddeeva function ``w(z)``.

    ``V = Re w(z) / (sigma sqrt(2 pi))`` with ``z = (x + i gamma) / (sigma sqrt 2)`` and
    ``w'(z) = -2 z w(z) + 2 i / sqrt(pi)``.
    """
    from scipy.special import wofz

    J = np.empty((e.size, 2 + 4 * n))
    J[:, 0] = 1.0
    J[:, 1] = e - e0
    for i in range(n):
        c, ls, a, lg = p[2 + 4 * i : 6 + 4 * i]
        s, g = _sig(ls), _sig(lg)
        z = ((e - c) + 1j * g) / (s * math.sqrt(2))
        w = wofz(z)
        dw = -2 * z * w + 2j / math.sqrt(math.pi)
        norm = 1.0 / (s * _SQRT2PI)
        v = w.real * norm
        dz_dx = 1.0 / (s * math.sqrt(2))
        J[:, 2 + 4 * i] = -a * norm * dw.real * dz_dx  # d/dc
        J[:, 3 + 4 * i] = a * s * (-v / s + norm * (dw * (-z / s)).real)  # d/dlog(sigma)
        J[:, 4 + 4 * i] = v  # d/da
        J[:, 5 + 4 * i] = a * g * norm * (dw * 1j).real * dz_dx  # d/dlog(gamma)
    return J


def _voigt_fwhm(sigma: float, gamma: float) -> float:
    """FWHM of a Voigt profile, solved numerically (no empirical approximation)."""
    from scipy.optimize import brentq
    from scipy.special import voigt_profile

    if gamma <= 0:
        return FWHM_PER_SIGMA * sigma
    half = 0.5 * voigt_profile(0.0, sigma, gamma)
    hi = FWHM_PER_SIGMA * sigma + 2 * gamma + 1e-12
    return 2.0 * brentq(lambda x: voigt_profile(x, sigma, gamma) - half, 0.0, hi)


# --------------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------------
@dataclass
class _Fit:
    n: int
    result: FitResult
    valid: bool

    @property
    def p(self) -> NDArray[np.float64]:
        return self.result.p

    @property
    def cov(self) -> NDArray[np.float64]:
        return self.result.covariance

    @property
    def rss(self) -> float:
        return self.result.rss

    @property
    def bic(self) -> float:
        return self.result.bic


def pl_model(n: int, shape: str, e0: float) -> Model:
    """The ``n``-component PL model on the energy axis: linear background plus area-normalised bands.

    Parameters (in order): ``background``, ``slope_per_ev`` (about ``e0``), then per component ``k``:
    ``center_ev_k``, ``log_sigma_ev_k``, ``area_k`` (and ``log_gamma_ev_k`` for Voigts).
    """
    names = ["background", "slope_per_ev"]
    for i in range(1, n + 1):
        names += [f"center_ev_{i}", f"log_sigma_ev_{i}", f"area_{i}"] + ([f"log_gamma_ev_{i}"] if shape == "voigt" else [])
    jfun = _jac_gauss if shape == "gaussian" else _jac_voigt
    return Model(
        func=lambda x, p: _model(p, x, n, shape, e0),
        names=tuple(names),
        jac=lambda x, p: jfun(p, x, n, e0),
        name=f"{n} {shape} band{'s' if n > 1 else ''} + line",
    )


def pl_parameters(model: Model, p0: NDArray[np.float64], e: NDArray[np.float64], shape: str) -> list[Parameter]:
    """Parameters with the bounds a PL band must respect: centre within the data range +-10 %, width
    between 0.2 sampling steps and the data span, area >= 0 (Voigt: Lorentz width within the clip range)."""
    span = float(e[-1] - e[0])
    step = float(np.median(np.diff(e)))
    out = []
    for name, v in zip(model.names, p0, strict=True):
        if name.startswith("center_ev"):
            out.append(Parameter(name, float(v), e[0] - 0.1 * span, e[-1] + 0.1 * span, unit="eV"))
        elif name.startswith("log_sigma"):
            out.append(Parameter(name, float(v), math.log(0.2 * step), math.log(span)))
        elif name.startswith("area"):
            out.append(Parameter(name, float(v), 0.0, math.inf))
        elif name.startswith("log_gamma"):
            out.append(Parameter(name, float(v), -13.8, 2.3))
        else:
            out.append(Parameter(name, float(v)))
    return out


def _initial_single(e: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, float]:
    k = int(np.argmax(y))
    c, _ = parabolic_apex(e, y, k)
    w = half_max_width(e, y, k)
    span = e[-1] - e[0]
    if not math.isfinite(w) or w <= 0:
        w = span / 6
    s = max(w / FWHM_PER_SIGMA, 2 * np.median(np.diff(e)))
    a = float(np.max(y)) * s * _SQRT2PI
    return c, s, a


def _run(e, y, p0, n, shape, e0, ymax, floor, w=None):
    model = pl_model(n, shape, e0)
    try:
        res = fit(model, e, y, pl_parameters(model, p0, e, shape), weights=w, max_nfev=1500, rss_floor=floor)
    except ModelError:
        return None
    # a component pinned at a bound (zero area, width at the sampling step or the span, centre outside
    # the data) is a degenerate fit: it takes part in model selection only if nothing better exists
    valid = bool(np.all(np.isfinite(res.p))) and not any(
        res.has("at_bound", nm) for nm in model.names if not nm.startswith("log_gamma")
    )
    return _Fit(n, res, valid)


def _candidates(e, y, prev: _Fit | None, n, shape, e0):
    """Starting vectors for an ``n``-component fit built from the ``n-1`` fit and the residual."""
    from scipy.signal import find_peaks

    kper = _n_per(shape)
    out = []
    if prev is None:
        # from the raw data, then from a median-filtered copy (robust to noise spikes)
        from scipy.signal import medfilt

        k = max(3, (e.size // 50) | 1)
        for yy in (y, medfilt(y, k)):
            c, s, a = _initial_single(e, yy)
            comp = [c, math.log(s), a] + ([math.log(s / 10)] if shape == "voigt" else [])
            out.append(np.array([float(np.median(yy[: max(3, e.size // 20)])), 0.0, *comp]))
        return out
    base = prev.p
    resid = y - _model(base, e, prev.n, shape, e0)
    seeds = []
    i = int(np.argmax(resid))
    seeds.append(e[i])
    pk, props = find_peaks(y, prominence=0.03 * np.max(y))
    for j in np.argsort(props["prominences"])[::-1][:3]:
        seeds.append(e[pk[j]])
    span = e[-1] - e[0]
    main = int(np.argmax(base[4::kper][: prev.n]))
    cm, lsm, am = base[2 + kper * main : 5 + kper * main]
    sm = _sig(lsm)
    unique: list[float] = []
    for sd in seeds:
        if all(abs(sd - u) > 0.5 * sm for u in unique):
            unique.append(float(sd))
    for sd in unique:
        s_new = max(min(sm, span / 10), 2 * np.median(np.diff(e)))
        h = max(float(np.interp(sd, e, resid)), 0.05 * float(np.max(y)))
        comp = [sd, math.log(s_new), h * s_new * _SQRT2PI] + ([math.log(s_new / 10)] if shape == "voigt" else [])
        out.append(np.concatenate([base, comp]))
    # split the main component symmetrically (two overlapping populations)
    split = base.copy()
    split[2 + kper * main : 5 + kper * main] = [cm - 0.6 * sm, math.log(0.7 * sm), 0.5 * am]
    comp = [cm + 0.6 * sm, math.log(0.7 * sm), 0.5 * am] + ([split[5 + kper * main]] if shape == "voigt" else [])
    out.append(np.concatenate([split, comp]))
    return out


def _fit_n(e, y, prev, n, shape, e0, ymax, floor, w=None) -> _Fit | None:
    best = None
    for p0 in _candidates(e, y, prev, n, shape, e0):
        f = _run(e, y, p0, n, shape, e0, ymax, floor, w)
        if f is None:
            continue
        if best is None or (f.valid, -f.rss) > (best.valid, -best.rss):
            best = f
    return best


def _significant(e: NDArray[np.float64], y: NDArray[np.float64], f: _Fit, shape: str, e0: float) -> bool:
    """The strongest band rises ``min_band_snr`` noise sigmas above the background and spans >= 3 points.

    The noise is estimated from first differences of the data (robust MAD; insensitive to the model).
    """
    kper = _n_per(shape)
    noise = derivative_sigma(y, 1)
    band = f.p.copy()
    band[0] = band[1] = 0.0
    height = float(np.max(_model(band, e, f.n, shape, e0)))
    spacing = float(np.median(np.diff(e)))
    widest = max(FWHM_PER_SIGMA * _sig(f.p[3 + kper * i]) for i in range(f.n))
    return height >= analysis_default("min_band_snr") * noise and widest >= 3 * spacing


def fit_components(
    spectrum: Spectrum,
    n_components: int,
    *,
    shape: Shape = "gaussian",
) -> _Fit:
    """Fit exactly ``n_components`` to an energy-axis spectrum (internal helper, exposed for tests)."""
    e, y = spectrum.x, spectrum.y
    ymax = float(np.max(np.abs(y)))
    e0 = float(0.5 * (e[0] + e[-1]))
    floor = e.size * (1e-6 * ymax) ** 2
    prev = None
    for n in range(1, n_components + 1):
        prev = _fit_n(e, y, prev, n, shape, e0, ymax, floor)
        if prev is None:
            raise ModelError(f"the {n}-component fit of {spectrum.label!r} failed")
    assert prev is not None
    return prev


def analyze_pl(
    spectrum: Spectrum,
    *,
    shape: Shape = "gaussian",
    max_components: int = 3,
    n_components: int | None = None,
    baseline: str = "none",
    response: Any = None,
    window_nm: tuple[float, float] | None = None,
    smooth_points: int = 0,
    weighting: str = "auto",
) -> PLAnalysis:
    """Fit a PL spectrum in energy space and decide its modality.

    Parameters
    ----------
    spectrum
        PL spectrum on any axis (per-nm densities get the Jacobian).
    shape
        ``"gaussian"`` (inhomogeneous ensemble) or ``"voigt"``.
    max_components
        Largest number of components tried (1-3); BIC picks among them.
    n_components
        Force this number of components (no model selection).
    baseline
        Subtract a pybaselines baseline first (``"none"``: a linear background is fitted together with
        the bands anyway).
    response
        Optional detector spectral response (see :func:`qdlab.spectra.preprocess.correct_response`).
    window_nm
        Restrict the fit to this wavelength window.
    smooth_points
        Savitzky–Golay window before fitting (0: none; fitting raw data is preferred).
    weighting
        ``"auto"``: a spectrum recorded per nm is fitted with residual weights ``hc/lambda^2`` (the inverse
        Jacobian), so that channels whose noise the Jacobian amplified do not dominate; ``"none"``:
        unweighted least squares in energy.

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_pl
    >>> spec, truth = synth_pl([(1000.0, 110.0, 1.0), (1150.0, 90.0, 0.6)], noise=0.005)
    >>> r = analyze_pl(spec)
    >>> r.bimodal, [round(p.wavelength_nm) for p in r.peaks]
    (True, [1000, 1150])
    """
    from qdlab.spectra import preprocess as pp

    if shape not in ("gaussian", "voigt"):
        raise InputError(f"shape must be 'gaussian' or 'voigt', got {shape!r}", field="shape")
    if not 1 <= max_components <= 3:
        raise InputError("max_components must be 1, 2 or 3", field="max_components")
    import dataclasses

    from qdlab.spectra.checks import check_axis, check_sign, kind_warning, saturation, saturation_warning

    warnings = kind_warning(spectrum, "pl") + check_axis(spectrum)
    check_sign(spectrum, "PL")
    mask, why, _src = saturation(dataclasses.replace(spectrum, kind="pl"))
    s = spectrum
    if mask.any():
        # saturated channels are dropped (the energy conversion removes NaNs); the flanks are fitted
        warnings.append(saturation_warning(spectrum, mask, why))
        s = dataclasses.replace(spectrum, y=np.where(mask, np.nan, spectrum.y))
    if response is not None:
        s = pp.correct_response(s, response)
    if window_nm is not None:
        s = s.to_wavelength() if s.x_unit != "nm" else s
        s = pp.crop(s, *window_nm)
    recorded_per_nm = spectrum.x_unit == "nm"
    s = pp.to_energy(s, emission=True)
    if s.x.size < 8:
        raise InputError(f"{spectrum.label!r}: {s.x.size} points are too few to fit a band")
    if baseline != "none":
        s, _ = pp.subtract_baseline(s, baseline)
    if smooth_points:
        s = pp.smooth(s, smooth_points)
    e, y = s.x, s.y
    ymax = float(np.max(np.abs(y)))
    if not ymax > 0:
        raise InputError(f"{spectrum.label!r} has no signal (all zero)")
    if weighting not in ("auto", "none"):
        raise InputError(f"weighting must be 'auto' or 'none', got {weighting!r}", field="weighting")
    w = None
    if weighting == "auto" and recorded_per_nm:
        # channel noise recorded per nm is multiplied by the Jacobian lambda^2/hc on the energy axis:
        # weight residuals by its inverse so that every recorded channel counts equally
        jac = (HC_EV_NM / e) ** 2 / HC_EV_NM
        w = (1.0 / jac) / np.mean(1.0 / jac)
    e0 = float(0.5 * (e[0] + e[-1]))
    floor = e.size * (1e-6 * ymax) ** 2
    improve = analysis_default("bic_min_improvement")
    fits: dict[int, _Fit] = {}
    nmax = n_components or max_components
    first = _fit_n(e, y, None, 1, shape, e0, ymax, floor, w)
    if first is None or not first.valid or not _significant(e, y, first, shape, e0):
        if mask.any():
            raise ModelError(f"{spectrum.label!r}: {int(mask.sum())} of {mask.size} points are saturated ({why}); "
                             "the band's unsaturated flanks cannot be fitted: record it with a shorter integration "
                             "time or lower gain")
        raise ModelError(f"no significant PL band in {spectrum.label!r} (is there emission in the data range?)")
    fits[1] = first
    chosen = first
    prev = first
    # add components while the BIC drops by more than the threshold (all of them when forced)
    for n in range(2, nmax + 1):
        f = _fit_n(e, y, prev, n, shape, e0, ymax, floor, w)
        if f is None:
            break
        fits[n] = f
        prev = f
        if n_components is None:
            if f.valid and f.bic < chosen.bic - improve:
                chosen = f
            else:
                break
    if n_components is not None:
        if n_components not in fits:
            raise ModelError(f"the {n_components}-component fit of {spectrum.label!r} failed")
        chosen = fits[n_components]
    if mask.any():
        _check_clipped_top(spectrum, mask, why, chosen, shape, e0, response, window_nm)
    res = _summarise(spectrum, s, chosen, fits, shape)
    return _quality(res, chosen, e, y, shape, e0, warnings, int(mask.sum()), mask, spectrum)


def _check_clipped_top(spectrum: Spectrum, mask: NDArray[np.bool_], why: str | None, f: _Fit, shape: str,
                       e0: float, response: Any, window_nm: tuple[float, float] | None) -> None:
    """Refuse a fit of the flanks that contradicts the clipped top.

    A saturated point only says the true signal was at least the recorded value; a band fitted to the
    unsaturated flanks must pass above (nearly all) those lower bounds, or its peak and width are invented.
    """
    import dataclasses

    from qdlab.spectra import preprocess as pp

    lower = dataclasses.replace(spectrum, y=np.where(mask, spectrum.y, np.nan), kind="pl")
    if response is not None:
        lower = pp.correct_response(lower, response)
    if window_nm is not None:
        lower = pp.crop(lower.to_wavelength() if lower.x_unit != "nm" else lower, *window_nm)
    lower = pp.to_energy(lower, emission=True)
    if lower.x.size == 0:
        return
    fitted = _model(f.p, lower.x, f.n, shape, e0)
    below = fitted < analysis_default("clipped_top_min_ratio") * lower.y
    if np.mean(below) > analysis_default("clipped_top_max_below_fraction"):
        raise ModelError(
            f"{spectrum.label!r}: {int(mask.sum())} of {mask.size} points are saturated ({why}) and the band "
            f"fitted to the unsaturated flanks falls below the clipped top at {int(below.sum())} of them: its peak "
            "and width cannot be trusted; record it with a shorter integration time or lower gain")


def _quality(res: PLAnalysis, f: _Fit, e: NDArray[np.float64], y: NDArray[np.float64], shape: str, e0: float,
             warnings: list[str], n_sat: int, mask: NDArray[np.bool_], spectrum: Spectrum) -> PLAnalysis:
    """Attach the fit's flags (at a bound; a component below the noise) and every warning to the result."""
    import dataclasses

    from qdlab.signal import describe_mask

    r = f.result
    kper = _n_per(shape)
    noise = derivative_sigma(y, 1)
    snr_min = analysis_default("min_band_snr")
    for i in range(f.n):
        one = np.r_[0.0, 0.0, r.p[2 + kper * i: 2 + kper * (i + 1)]]
        h = float(np.max(_model(one, e, 1, shape, e0)))
        if noise > 0 and h < snr_min * noise:
            r = r.with_flag(f"area_{i + 1}", "below_noise",
                            f"component {i + 1} rises {h / noise:.1f} noise sigmas, below {snr_min:g}")
    flags = {k: list(v) for k, v in r.flags.items()}
    unit = {"nm": "nm", "ev": "eV"}.get(spectrum.x_unit, "cm-1")
    return dataclasses.replace(
        res, warnings=tuple([*warnings, *res.warnings, *r.warnings()]), flags=flags, saturated_points=n_sat,
        saturated=describe_mask(spectrum.x, mask, unit) if n_sat else "none",
    )


def _edge_notes(data: Any, e: NDArray[np.float64]) -> list[str]:
    """A warning for each end of the window where the band has not fallen to its background."""
    limit = analysis_default("band_edge_warning_level")
    out = []
    for frac, e_end, side in ((data.edge[0], e[0], "red"), (data.edge[1], e[-1], "blue")):
        if frac > limit:
            out.append(f"the band does not fall to its background at the {side} end of the data "
                       f"({100 * frac:.0f} % of its height at {HC_EV_NM / e_end:.0f} nm): emission beyond the "
                       "window (or a background that is not flat) is counted in the peak and FWHM; widen the "
                       "window, or remove a background (--baseline, baseline=)")
    return out


def _summarise(original: Spectrum, s: Spectrum, f: _Fit, fits: dict[int, _Fit], shape: str) -> PLAnalysis:
    e, y = s.x, s.y
    e0 = float(0.5 * (e[0] + e[-1]))
    kper = _n_per(shape)
    p = f.p
    cov = f.cov if f.cov is not None else np.full((p.size, p.size), np.nan)
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    areas = p[4::kper][: f.n]
    total = float(np.sum(areas))
    peaks = []
    for i in range(f.n):
        c, ls, a = p[2 + kper * i : 5 + kper * i]
        sig = _sig(ls)
        gam = _sig(p[5 + kper * i]) if shape == "voigt" else 0.0
        fw = _voigt_fwhm(sig, gam)
        c_err, ls_err, a_err = err[2 + kper * i : 5 + kper * i]
        fw_err = FWHM_PER_SIGMA * sig * ls_err if shape == "gaussian" else fw * ls_err
        if shape == "gaussian":
            height = a / (sig * _SQRT2PI)
        else:
            from scipy.special import voigt_profile

            height = a * float(voigt_profile(0.0, sig, gam))
        peaks.append(
            Peak(
                energy_ev=float(c),
                energy_ev_err=float(c_err),
                wavelength_nm=HC_EV_NM / c,
                wavelength_nm_err=float(HC_EV_NM / c**2 * c_err),
                fwhm_mev=1000 * fw,
                fwhm_mev_err=1000 * float(fw_err),
                fwhm_nm=float(fwhm_ev_to_nm(c, fw)),
                area=float(a),
                area_err=float(a_err),
                area_fraction=float(a / total) if total > 0 else math.nan,
                height_per_ev=float(height),
                shape=shape,
                gaussian_fwhm_mev=1000 * FWHM_PER_SIGMA * sig,
                lorentz_hwhm_mev=1000 * gam,
            )
        )
    peaks.sort(key=lambda q: q.wavelength_nm)
    main = int(np.argmax([q.area for q in peaks]))
    # whole-band maximum and FWHM on a fine grid of the background-free model
    grid = np.linspace(e[0], e[-1], 20001)
    pb = p.copy()
    pb[0] = pb[1] = 0.0
    band = _model(pb, grid, f.n, shape, e0)
    # the band as the data draw it (the fit removes only the noise; the background is measured where the
    # data show no band), then peak, widths and modes by the estimator of every band qdlab reports
    model_on_e = _model(pb, e, f.n, shape, e0)
    # channel noise: white on the recorded axis, so per-nm data carry the Jacobian's factor on the energy axis
    w = e**2 / np.mean(e**2) if original.x_unit == "nm" else np.ones_like(e)
    # shot noise grows with the signal: a running estimate over one FWHM of channels
    fwhm_model_ev = summarize_band(grid, band).fwhm_mev / 1000.0
    span = fwhm_model_ev / max(float(np.median(np.diff(e))), 1e-12)
    noise = local_sigma(y * w, 4, max(21, int(span) if math.isfinite(span) else 0) | 1) / w
    data = band_on_data(e, y, model_on_e, p[0] + p[1] * (e - e0), fwhm_model_ev, noise, recorded_scale=w)
    from scipy.interpolate import make_interp_spline

    band = band + make_interp_spline(e, data.band - model_on_e, k=3)(grid)
    bs = summarize_band(grid, band)
    notes = list(_edge_notes(data, e))
    resid = y - _model(p, e, f.n, shape, e0)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return PLAnalysis(
        label=original.label,
        kind="pl",
        shape=shape,
        n_components=f.n,
        bimodal=bs.bimodal,
        modes_nm=tuple(sorted(bs.modes_nm)),
        peaks=tuple(peaks),
        main=main,
        peak_energy_ev=bs.peak_energy_ev,
        peak_wavelength_nm=bs.peak_wavelength_nm,
        fwhm_mev=bs.fwhm_mev,
        fwhm_nm=bs.fwhm_nm,
        integrated=total,
        background=(float(p[0]), float(p[1])),
        bic={str(n): float(fi.bic) for n, fi in fits.items()},
        rss=float(resid @ resid),
        r_squared=1 - float(resid @ resid) / ss_tot if ss_tot > 0 else math.nan,
        n_points=int(e.size),
        background_from=data.how,
        warnings=tuple(notes),
        meta={k: original.meta[k] for k in ("source", "aliquot_id", "time_min", "sha256") if k in original.meta},
    )


__all__ = ["Peak", "PLAnalysis", "analyze_pl", "fit_components", "analysis_default", "band_modes"]
