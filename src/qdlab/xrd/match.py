"""Crystallite-size fit with Debye-equation patterns, and a phase check against alternatives.

Model of a measured pattern y(2theta):

    y = s * P(2theta) * <I_Debye(q; D, sigma)> + sum_k c_k T_k(x)    (+ optional Gaussian instrument profile)

with <I_Debye> the number-weighted lognormal average of per-particle Debye intensities of spheres cut
from the phase (:class:`qdlab.xrd.debye.SphereLibrary`), P the polarisation factor and T_k Chebyshev
polynomials for the background. A lattice scaled by alpha (a and c together, fitted by default)
diffracts like the tabulated crystal at q * alpha. For a trial (D, sigma, alpha) the scale and
background are linear and are solved exactly by weighted least squares (Poisson weights 1/y for
counts; the background basis is factorised once by QR and projected out); D, alpha (and optionally
sigma) are found by a grid search on the library followed by Nelder-Mead. The 1-sigma uncertainties
come from the curvature of chi^2, scaled by the reduced chi^2 (so model misfit widens them). An
unresolved K-alpha doublet (XRDML "K-Alpha") is modelled with both lines.

:func:`match_phases` fits tetragonal Cd3P2, Cd metal and CdO the same way (free size and lattice), plus an
"amorphous" model (the Debye pattern of a 1 nm Cd3P2 cluster: short-range order only), and ranks them
by chi^2 with Akaike-type weights exp(-delta chi^2 / 2 chi2_red,best).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Diffractogram, Result
from qdlab.resources import load_toml

_FIT = load_toml("xrd/xrd.toml")["fit"]
#: Largest sphere (nm) in the fit library of each phase.
MAX_DIAMETER_NM: dict[str, float] = {k: float(v) for k, v in _FIT["max_diameter_nm"].items() if k not in ("unit", "source")}
#: Diameter (nm) of the cluster standing in for an amorphous solid.
AMORPHOUS_DIAMETER_NM = float(_FIT["amorphous_diameter_nm"]["value"])
#: The fitted isotropic lattice scale stays within 1 +/- this.
LATTICE_SCALE_LIMIT = float(_FIT["lattice_scale_limit"]["value"])


@dataclass(frozen=True, eq=False)
class SizeFit(Result):
    """Result of a Debye-pattern size fit. ``to_dict()`` leaves out the curves unless asked."""

    phase: str
    diameter_nm: float
    diameter_std_nm: float
    sigma_rel: float
    sigma_rel_std: float | None
    sigma_fitted: bool
    volume_weighted_diameter_nm: float
    lattice_scale: float
    lattice_scale_std: float | None
    lattice_a_angstrom: float
    lattice_c_angstrom: float
    scale: float
    chi2: float
    reduced_chi2: float
    rwp: float
    n_points: int
    background_order: int
    instrument_fwhm_deg: float
    two_theta_range_deg: tuple[float, float]
    at_bound: bool
    at_bound_parameters: list[str]
    background_only_chi2: float
    explained_fraction: float
    unexplained_peak_rel: float
    warnings: list[str]
    wavelength_angstrom: float
    method: str
    two_theta_deg: NDArray[np.float64] = field(repr=False)
    observed: NDArray[np.float64] = field(repr=False)
    model: NDArray[np.float64] = field(repr=False)
    background: NDArray[np.float64] = field(repr=False)

    def to_dict(self, curves: bool = False) -> dict[str, Any]:  # type: ignore[override]
        d = super().to_dict()
        if not curves:
            for k in ("two_theta_deg", "observed", "model", "background"):
                d.pop(k)
        return d


@dataclass(frozen=True)
class PhaseScore(Result):
    """How well one phase explains the pattern."""

    phase: str
    rwp: float
    reduced_chi2: float
    delta_chi2_scaled: float
    weight: float
    diameter_nm: float | None
    description: str
    explained_fraction: float = float("nan")
    unexplained_peak_rel: float = float("nan")
    at_bound: bool = False


@dataclass(frozen=True)
class ImpurityCheck(Result):
    """A second phase fitted together with Cd3P2 (two scales, shared background).

    ``weight_fraction`` is the mass fraction of the second phase from the two per-particle Debye
    scales x atoms per particle x mean atomic mass (no microabsorption correction).
    ``significant`` means dropping it raises chi^2 by more than 100 x the reduced chi^2 (``xrd.toml``).
    """

    phase: str
    diameter_nm: float | None
    weight_fraction: float
    delta_chi2_scaled: float
    significant: bool


@dataclass(frozen=True, eq=False)
class MatchResult(Result):
    """Phase ranking, the Cd3P2 size fit (None when there is no Cd3P2 signal), a Scherrer cross-check
    and, when Cd3P2 is present, a check for minor Cd / CdO alongside it.

    ``best_phase`` is the matched phase, or ``"none"`` when even the best candidate (``best_candidate``)
    fails an acceptance criterion of ``xrd.toml`` [match] (``criteria``; the failed ones in ``reasons``).
    ``warnings`` lists every fit at a bound and every number that should not be used.
    """

    best_phase: str
    scores: list[PhaseScore]
    size_fit: SizeFit | None
    scherrer: dict[str, Any] | None
    wavelength_angstrom: float
    source: str
    impurities: list[ImpurityCheck] = field(default_factory=list)
    matched: bool = True
    best_candidate: str = ""
    criteria: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, curves: bool = False) -> dict[str, Any]:  # type: ignore[override]
        d = super().to_dict()
        d["size_fit"] = None if self.size_fit is None else self.size_fit.to_dict(curves=curves)
        return d


class _Problem:
    """Data, weights and basis of one fit; evaluates chi^2 for trial sizes."""

    def __init__(
        self,
        diffractogram: Diffractogram,
        phase: str,
        two_theta_range_deg: tuple[float, float],
        background_order: int,
        instrument_fwhm_deg: float,
        max_diameter_nm: float | None,
    ) -> None:
        from qdlab.xrd.debye import polarization_factor, q_from_two_theta, sphere_library

        lo, hi = two_theta_range_deg
        tt_all, y_all = diffractogram.two_theta_deg, diffractogram.intensity
        sel = (tt_all >= lo) & (tt_all <= hi)
        if sel.sum() < 20:
            raise InputError(f"fewer than 20 points between {lo} and {hi} deg 2-theta", field="two_theta_range_deg")
        if not 0 <= background_order <= 12:
            raise InputError("background order must be 0-12", field="background_order")
        self.tt = tt_all[sel]
        self.y = y_all[sel]
        if np.ptp(self.y) <= 0:
            raise InputError("the pattern is flat: nothing to fit", field="intensity")
        self.wl = diffractogram.wavelength_angstrom
        self.q = q_from_two_theta(self.tt, self.wl)
        # an unresolved K-alpha doublet (XRDML "K-Alpha"): model both lines, weights 1 : ratio
        meta = diffractogram.meta
        self.lines: list[tuple[NDArray[np.float64], float]] = [(self.q, 1.0)]
        if meta.get("doublet") and meta.get("kalpha1_angstrom") and meta.get("kalpha2_angstrom"):
            r = float(meta.get("kalpha2_ratio", 0.5))
            self.lines = [
                (q_from_two_theta(self.tt, float(meta["kalpha1_angstrom"])), 1.0 / (1 + r)),
                (q_from_two_theta(self.tt, float(meta["kalpha2_angstrom"])), r / (1 + r)),
            ]
        self.pol = polarization_factor(self.tt)
        counts_like = bool(np.all(self.y >= 0))
        floor = max(1.0, 1e-3 * float(np.max(self.y))) if counts_like else 1.0
        self.w = 1.0 / np.maximum(self.y, floor) if counts_like else np.ones_like(self.y)
        self.sw = np.sqrt(self.w)
        x = (2 * self.tt - self.tt[0] - self.tt[-1]) / (self.tt[-1] - self.tt[0])
        self.basis = np.polynomial.chebyshev.chebvander(x, background_order)  # (n, order+1)
        self.qb, self.rb = np.linalg.qr(self.basis * self.sw[:, None])
        self.yw = self.y * self.sw
        self.ry = self.yw - self.qb @ (self.qb.T @ self.yw)
        self.ry2 = float(self.ry @ self.ry)
        self.order = background_order
        self.fwhm = instrument_fwhm_deg
        # margins for lattice scales within +/- LATTICE_SCALE_LIMIT
        q_lo = min(float(q.min()) for q, _ in self.lines)
        q_hi = max(float(q.max()) for q, _ in self.lines)
        qmin = math.floor(10 * q_lo * (1 - 1.5 * LATTICE_SCALE_LIMIT)) / 10
        qmax = math.ceil(10 * q_hi * (1 + 1.5 * LATTICE_SCALE_LIMIT)) / 10
        lib_phase = phase if phase != "amorphous" else "Cd3P2"
        self.max_d = float(max_diameter_nm or MAX_DIAMETER_NM.get(lib_phase, 6.0))
        self.lib = sphere_library(lib_phase, max(qmin, 0.05), qmax, self.max_d)
        self.phase = phase

    def profile(self, diameter_nm: float, sigma_rel: float, lattice_scale: float = 1.0) -> NDArray[np.float64]:
        """Model profile. A lattice scaled by ``lattice_scale`` (all distances x alpha) diffracts as the
        library crystal at q * alpha with diameter D / alpha (form factors taken at q * alpha: an error
        of order (alpha - 1) in a smooth factor, which the scale and background absorb)."""
        from qdlab.xrd.synth import gaussian_broaden

        col = self.lib.intensity @ self.lib.weights(diameter_nm / lattice_scale, sigma_rel)
        m = self.pol * sum(w * np.interp(q * lattice_scale, self.lib.q, col) for q, w in self.lines)
        return gaussian_broaden(self.tt, m, self.fwhm) if self.fwhm > 0 else m

    def solve(
        self, diameter_nm: float, sigma_rel: float, lattice_scale: float = 1.0
    ) -> tuple[float, NDArray[np.float64], float, NDArray[np.float64]]:
        """(chi2, linear coefficients [scale, background...], scale, model profile) for one trial.

        The background basis is factorised once (QR of the weighted basis); for each trial the
        profile is projected onto its orthogonal complement, so the scale and chi^2 follow in O(n k).
        """
        prof = self.profile(diameter_nm, sigma_rel, lattice_scale)
        mw = prof * self.sw
        rm = mw - self.qb @ (self.qb.T @ mw)
        mm = float(rm @ rm)
        scale = float(rm @ self.ry) / mm if mm > 0 else 0.0
        scale = max(scale, 0.0)  # no negative diffraction: background only
        chi2 = max(self.ry2 - scale * scale * mm, 0.0)
        cb = np.linalg.solve(self.rb, self.qb.T @ (self.yw - scale * mw))
        return chi2, np.concatenate([[scale], cb]), scale, prof

    def project(self, profile: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weighted profile with the background basis projected out."""
        mw = profile * self.sw
        return mw - self.qb @ (self.qb.T @ mw)

    def chi2(self, diameter_nm: float, sigma_rel: float, lattice_scale: float = 1.0) -> float:
        return self.solve(diameter_nm, sigma_rel, lattice_scale)[0]


def _polish_and_errors(prob: _Problem, unpack: Any, x0: NDArray[np.float64], lower: NDArray[np.float64],
                       upper: NDArray[np.float64], names: tuple[str, ...]) -> tuple[NDArray[np.float64], Any]:
    """Least-squares polish of the nonlinear parameters with the fit layer (:func:`qdlab.fit.fit`).

    Variable projection: the scale and the Chebyshev background are linear and eliminated for every trial
    (:meth:`_Problem.solve`), so the residual is the weighted data minus the scaled profile, both with the
    background projected out. The fit layer's covariance ``(J^T J)^+ chi^2 / dof`` of that residual is the
    Gauss-Newton covariance of the nonlinear parameters (Golub & Pereyra 1973), replacing a hand-written
    finite-difference Hessian of chi^2. Returns ``(values, FitResult)``; the values are ``x0`` when the polish
    does not lower chi^2.
    """
    from qdlab.fit import Model, Parameter, fit

    def residual(_x: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        d, s, alpha = unpack(p)
        prof = prob.profile(d, s, alpha)
        rm = prob.project(prof)
        mm = float(rm @ rm)
        scale = max(float(rm @ prob.ry) / mm, 0.0) if mm > 0 else 0.0
        return prob.ry - scale * rm

    model = Model(residual, names, name=f"Debye size fit ({prob.phase})")
    params = [Parameter(nm, float(v), min=float(lo), max=float(hi)) for nm, v, lo, hi in zip(names, x0, lower, upper, strict=True)]
    idx = np.arange(prob.y.size, dtype=float)
    res = fit(model, idx, np.zeros_like(idx), params)
    xs = np.array(res.values) if res.rss <= prob.chi2(*unpack(x0)) else x0
    return xs, res


def _unexplained_peak_rel(prob: _Problem, model: NDArray[np.float64], background: NDArray[np.float64]) -> float:
    """Height of the strongest feature the model leaves unexplained, relative to the strongest observed one.

    Both curves are smoothed by a running mean over ~0.1 deg (a sharp lab line is ~0.05-0.2 deg wide). A
    residual counts only where it exceeds 5 standard deviations of the smoothed noise (Poisson: sqrt(model)
    for counts; else the scatter of point-to-point differences). 1 means the strongest peak in the data is
    not where the candidate diffracts; a correct phase leaves noise and small model error (< 0.1 on simulated
    Cd3P2, see ``xrd.toml`` [match]).
    """
    step = float(np.median(np.abs(np.diff(prob.tt)))) or 0.02
    w = max(1, round(0.1 / step))
    kern = np.ones(w) / w
    resid = np.convolve(prob.y - model, kern, mode="same")
    above = np.convolve(prob.y - background, kern, mode="same")
    if np.all(prob.y >= 0):
        sigma = np.sqrt(np.maximum(model, 1.0) / w)
    else:
        sigma = np.full_like(model, float(np.median(np.abs(np.diff(prob.y)))) / 0.6745 / math.sqrt(2 * w))
    top = float(np.max(above))
    if top <= 0:
        return 0.0
    excess = np.where(resid > 5 * sigma, resid, 0.0)
    return float(np.max(excess) / top)


def fit_crystallite_size(
    diffractogram: Diffractogram,
    *,
    phase: str = "Cd3P2",
    sigma_rel: float = 0.10,
    fit_sigma: bool = False,
    fit_lattice: bool = True,
    two_theta_range_deg: tuple[float, float] = (15.0, 80.0),
    background_order: int = 8,
    instrument_fwhm_deg: float = 0.0,
    min_diameter_nm: float = 1.5,
    max_diameter_nm: float | None = None,
) -> SizeFit:
    """Fit the mean crystallite diameter (Debye-equation model of spheres).

    Parameters
    ----------
    diffractogram
        Measured pattern (raw counts are best: Poisson weights).
    phase
        Crystal phase of the model (default tetragonal Cd3P2).
    sigma_rel
        Relative width of the number-weighted lognormal size distribution (fixed, e.g. from TEM),
        or the start value when ``fit_sigma``.
    fit_sigma
        Also fit ``sigma_rel`` (strongly correlated with the diameter; needs good counting statistics).
    fit_lattice
        Fit an isotropic lattice scale too (a and c times alpha, |alpha - 1| <= 3 %; default on): QDs
        are often contracted or expanded against bulk, and a 1.5 % strain left unmodelled biases a
        5 nm size by -17 % on simulated data.
    two_theta_range_deg
        Fit window.
    background_order
        Degree of the Chebyshev background.
    instrument_fwhm_deg
        Gaussian instrument profile convolved with the model (0 = ignore; < 0.1 deg matters little
        for 2-8 nm crystals).
    min_diameter_nm, max_diameter_nm
        Search bounds (the library goes up to 7 nm for Cd3P2, 5 nm for Cd and CdO; larger crystallites
        are flagged by ``at_bound``).
    """
    from scipy.optimize import minimize

    from qdlab.xrd.structure import structure_data

    if not 0 <= sigma_rel < 0.6:
        raise InputError("sigma_rel must be in [0, 0.6)", field="sigma_rel")
    if instrument_fwhm_deg < 0:
        raise InputError("instrument FWHM must be >= 0", field="instrument_fwhm_deg")
    prob = _Problem(diffractogram, phase, two_theta_range_deg, background_order, instrument_fwhm_deg, max_diameter_nm)
    d_lo = max(min_diameter_nm, prob.lib.diameters_nm[1])
    d_hi = prob.max_d
    if d_lo >= d_hi:
        raise InputError("min_diameter_nm must be below the library maximum", field="min_diameter_nm")
    a_lo, a_hi = 1 - LATTICE_SCALE_LIMIT, 1 + LATTICE_SCALE_LIMIT

    def unpack(p: NDArray[np.float64]) -> tuple[float, float, float]:
        k = 1
        s = sigma_rel
        if fit_sigma:
            s, k = float(p[k]), k + 1
        alpha = float(p[k]) if fit_lattice else 1.0
        return float(p[0]), s, alpha

    def objective(p: NDArray[np.float64]) -> float:
        d, s, alpha = unpack(p)
        if not (d_lo <= d <= d_hi and 0 <= s < 0.6 and a_lo <= alpha <= a_hi):
            return 1e300
        return prob.chi2(d, s, alpha)

    grid_d = prob.lib.diameters_nm[(prob.lib.diameters_nm >= d_lo) & (prob.lib.diameters_nm <= d_hi)]
    grid_s = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3] if fit_sigma else [sigma_rel]
    grid_a = list(np.linspace(a_lo, a_hi, 13)) if fit_lattice else [1.0]
    best = (np.inf, float(grid_d[0]), grid_s[0], 1.0)
    for alpha in grid_a:
        for s in grid_s:
            for d in grid_d:
                c = prob.chi2(float(d), float(s), float(alpha))
                if c < best[0]:
                    best = (c, float(d), float(s), float(alpha))
    x0 = [best[1]] + ([max(best[2], 0.02)] if fit_sigma else []) + ([best[3]] if fit_lattice else [])
    steps = np.array([0.1] + ([0.02] if fit_sigma else []) + ([0.002] if fit_lattice else []))
    x0_arr = np.array(x0)
    simplex = np.vstack([x0_arr] + [x0_arr + np.eye(len(x0))[k] * steps[k] for k in range(len(x0))])
    opt = minimize(objective, x0_arr, method="Nelder-Mead", options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-3})
    xs = opt.x if opt.fun <= best[0] else x0_arr
    lower = np.array([d_lo] + ([0.0] if fit_sigma else []) + ([a_lo] if fit_lattice else []))
    upper = np.array([d_hi] + ([0.6] if fit_sigma else []) + ([a_hi] if fit_lattice else []))
    names = ("diameter_nm",) + (("sigma_rel",) if fit_sigma else ()) + (("lattice_scale",) if fit_lattice else ())
    inside = bool(np.all((xs - steps > lower) & (xs + steps < upper)))
    xs, polish = _polish_and_errors(prob, unpack, xs, lower, upper, names)
    d_fit, s_fit, a_fit = unpack(xs)
    chi2, coef, scale, prof = prob.solve(d_fit, s_fit, a_fit)
    dof = max(1, len(prob.y) - (prob.order + 2) - len(xs))
    red = chi2 / dof
    # the fit layer counts only the nonlinear parameters in its dof; the scale and background are fitted too
    dof_fix = math.sqrt(max(len(prob.y) - len(xs), 1) / dof)
    usable = inside and not polish.flagged("at_bound") and not polish.flagged("undetermined")
    std = np.array(polish.stderr) * dof_fix if usable and np.all(np.isfinite(polish.stderr)) else None
    if scale <= 0:
        raise ModelError(f"no {phase} diffraction signal found in the pattern (best scale is zero)")

    def err(k: int) -> float:
        return float(std[k]) if std is not None else float("nan")

    background = prob.basis @ coef[1:]
    model = prof * scale + background
    rwp = float(np.sqrt(np.sum(prob.w * (prob.y - model) ** 2) / np.sum(prob.w * prob.y**2)))
    bounded: list[str] = []
    if d_fit - d_lo < 0.15:
        bounded.append(f"diameter_nm at its lower bound {d_lo:.2f} nm")
    if d_hi - d_fit < 0.15:
        bounded.append(f"diameter_nm at its upper bound {d_hi:.2f} nm (largest sphere of the {phase} library)")
    if fit_sigma and s_fit < 0.02:
        bounded.append("sigma_rel at its lower bound 0")
    if fit_sigma and s_fit > 0.58:
        bounded.append("sigma_rel at its upper bound 0.6")
    if fit_lattice and a_fit - a_lo < 0.002:
        bounded.append(f"lattice_scale at its lower bound {a_lo:.3f}")
    if fit_lattice and a_hi - a_fit < 0.002:
        bounded.append(f"lattice_scale at its upper bound {a_hi:.3f}")
    at_bound = bool(bounded)
    warnings = [f"fit at a bound: {b}; the value is a limit, not an estimate" for b in bounded]
    if std is None:
        warnings.append("standard errors not available (a parameter at a bound, or chi^2 not curved upwards)")
    explained = 1.0 - chi2 / prob.ry2 if prob.ry2 > 0 else 0.0
    unexplained = _unexplained_peak_rel(prob, model, background)
    rec = structure_data(phase if phase != "amorphous" else "Cd3P2")
    # lognormal number distribution: <D^k> = exp(k mu + k^2 s^2 / 2); volume-weighted mean = <D^4>/<D^3>
    ln_s2 = math.log1p(s_fit**2)
    d_vol = d_fit * math.exp(3.0 * ln_s2)
    return SizeFit(
        phase=phase,
        diameter_nm=d_fit,
        diameter_std_nm=err(0),
        sigma_rel=s_fit,
        sigma_rel_std=err(1) if fit_sigma else None,
        sigma_fitted=fit_sigma,
        volume_weighted_diameter_nm=d_vol,
        lattice_scale=a_fit,
        lattice_scale_std=err(len(xs) - 1) if fit_lattice else None,
        lattice_a_angstrom=a_fit * float(rec["lattice_a_angstrom"]["value"]),
        lattice_c_angstrom=a_fit * float(rec["lattice_c_angstrom"]["value"]),
        scale=scale,
        chi2=chi2,
        reduced_chi2=red,
        rwp=rwp,
        n_points=len(prob.y),
        background_order=prob.order,
        instrument_fwhm_deg=float(instrument_fwhm_deg),
        two_theta_range_deg=(float(prob.tt[0]), float(prob.tt[-1])),
        at_bound=at_bound,
        at_bound_parameters=bounded,
        background_only_chi2=prob.ry2,
        explained_fraction=float(explained),
        unexplained_peak_rel=unexplained,
        warnings=warnings,
        wavelength_angstrom=prob.wl,
        method="Debye equation, spheres cut from the crystal, lognormal number distribution; Chebyshev background; Poisson-weighted LSQ",
        two_theta_deg=prob.tt,
        observed=prob.y,
        model=model,
        background=background,
    )


def _fixed_fit(
    diffractogram: Diffractogram, phase: str, diameter_nm: float, two_theta_range_deg: tuple[float, float], background_order: int
) -> tuple[float, float, float, float, float]:
    """(chi2, reduced chi2, Rwp, explained fraction, unexplained peak) of one fixed-size model (the amorphous
    cluster, or a phase with no signal)."""
    prob = _Problem(diffractogram, phase, two_theta_range_deg, background_order, 0.0, None)  # reuses the cached library
    chi2, coef, scale, prof = prob.solve(diameter_nm, 0.0)
    background = prob.basis @ coef[1:]
    model = prof * scale + background
    rwp = float(np.sqrt(np.sum(prob.w * (prob.y - model) ** 2) / np.sum(prob.w * prob.y**2)))
    dof = max(1, len(prob.y) - (prob.order + 2))
    explained = 1.0 - chi2 / prob.ry2 if prob.ry2 > 0 else 0.0
    return chi2, chi2 / dof, rwp, float(explained), _unexplained_peak_rel(prob, model, background)


def mean_atomic_mass_da(phase: str) -> float:
    """Mean atomic mass (Da) of ``phase``: its formula's weight over its atom count (the cell's ratio).

    From the phase's formula, not from its built structure: building one from its space group costs
    ~0.6 s of pymatgen symmetry work per phase in every new process.
    """
    from pymatgen.core import Composition

    comp = Composition(phase)
    return float(comp.weight) / comp.num_atoms


def check_impurities(
    diffractogram: Diffractogram,
    size_fit: SizeFit,
    *,
    phases: tuple[str, ...] = ("Cd", "CdO"),
    two_theta_range_deg: tuple[float, float] = (15.0, 80.0),
    background_order: int = 8,
    instrument_fwhm_deg: float = 0.0,
) -> list[ImpurityCheck]:
    """Fit candidate second phases together with the fitted Cd3P2 and estimate their mass fractions.

    The Cd3P2 profile is held at the fitted size, spread and lattice. Each candidate's diameter is
    searched on its library grid (from ``min_impurity_diameter_nm`` in ``xrd.toml``: smaller crystals
    give humps as broad as the QDs' and trade off against model error) with Cd3P2 alone; then all
    candidates enter one joint fit (non-negative scales, NNLS; the same Chebyshev background, projected
    out). A candidate is ``significant`` when dropping it from the joint fit raises chi^2 by more than
    ``impurity_delta_chi2_threshold`` (``xrd.toml``, 100) x the reduced chi^2: far above statistics,
    because model error alone (size quadrature, background) can reach ~50 on pure Cd3P2. Weight
    fractions come from the joint fit (detection limit on simulated 2000-count patterns: ~1-3 wt%).
    """
    from scipy.optimize import nnls

    d_min = float(_FIT["min_impurity_diameter_nm"]["value"])
    threshold = float(_FIT["impurity_delta_chi2_threshold"]["value"])
    main = _Problem(diffractogram, size_fit.phase, two_theta_range_deg, background_order, instrument_fwhm_deg, None)
    r_main = main.project(main.profile(size_fit.diameter_nm, size_fit.sigma_rel, size_fit.lattice_scale))

    def fit(columns: list[NDArray[np.float64]]) -> tuple[NDArray[np.float64], float]:
        coef, rnorm = nnls(np.column_stack(columns), main.ry)
        return coef, float(rnorm**2)

    def mass_per_particle(phase: str, lib: Any, diameter_nm: float) -> float:
        return lib.n_atoms_mean(diameter_nm, size_fit.sigma_rel) * mean_atomic_mass_da(phase)

    _, chi2_main = fit([r_main])
    red = chi2_main / max(1, len(main.y) - (main.order + 3))
    cands: list[tuple[str, float, NDArray[np.float64], float]] = []  # phase, diameter, column, mass/particle
    for ph in phases:
        other = _Problem(diffractogram, ph, two_theta_range_deg, background_order, instrument_fwhm_deg, None)
        best: tuple[float, float | None, NDArray[np.float64] | None] = (chi2_main, None, None)
        for d in other.lib.diameters_nm[other.lib.diameters_nm >= d_min]:
            col = other.project(other.profile(float(d), size_fit.sigma_rel))
            coef, chi2 = fit([r_main, col])
            if coef[1] > 0 and chi2 < best[0]:
                best = (chi2, float(d), col)
        if best[1] is not None and best[2] is not None:
            cands.append((ph, best[1], best[2], mass_per_particle(ph, other.lib, best[1])))
    out = {ph: ImpurityCheck(ph, None, 0.0, 0.0, False) for ph in phases}
    if cands:
        coef, chi2_all = fit([r_main] + [c[2] for c in cands])
        m_main = mass_per_particle(size_fit.phase, main.lib, size_fit.diameter_nm / size_fit.lattice_scale)
        masses = [coef[0] * m_main] + [coef[k + 1] * c[3] for k, c in enumerate(cands)]
        total = sum(masses)
        for k, (ph, d, _, _) in enumerate(cands):
            _, chi2_drop = fit([r_main] + [c[2] for m, c in enumerate(cands) if m != k])
            delta = (chi2_drop - chi2_all) / max(red, 1e-12)
            frac = masses[k + 1] / total if total > 0 else 0.0
            out[ph] = ImpurityCheck(ph, d, float(frac), float(delta), bool(delta > threshold and coef[k + 1] > 0))
    return [out[ph] for ph in phases]


PHASE_DESCRIPTIONS = {
    "Cd3P2": "tetragonal Cd3P2 (Zn3P2 type, P4_2/nmc)",
    "Cd": "cadmium metal (hcp)",
    "CdO": "cadmium oxide (rock salt)",
    "amorphous": "amorphous: short-range Cd3P2 order only (1 nm cluster)",
}


def match_phases(
    diffractogram: Diffractogram,
    *,
    phases: tuple[str, ...] = ("Cd3P2", "Cd", "CdO", "amorphous"),
    sigma_rel: float = 0.10,
    two_theta_range_deg: tuple[float, float] = (15.0, 80.0),
    background_order: int = 8,
    instrument_fwhm_deg: float = 0.0,
    fit_lattice: bool = True,
    scherrer: bool = True,
) -> MatchResult:
    """Score candidate phases and fit the Cd3P2 crystallite size.

    Every crystalline candidate gets the same treatment (free diameter and, with ``fit_lattice``,
    lattice scale; fixed ``sigma_rel``; same background), so the comparison is by chi^2 on the same
    points.
    """
    from qdlab.xrd.scherrer import MIN_PEAK_SNR, scherrer_from_pattern

    unknown = [p for p in phases if p not in PHASE_DESCRIPTIONS]
    if unknown:
        raise InputError(f"unknown phase(s) {unknown}; choose from {sorted(PHASE_DESCRIPTIONS)}", field="phases")
    fits: dict[str, SizeFit] = {}
    raw: list[tuple[str, float, float, float, float | None, float, float, bool]] = []
    for ph in phases:
        if ph == "amorphous":
            chi2, red, rwp, expl, unexpl = _fixed_fit(diffractogram, ph, AMORPHOUS_DIAMETER_NM, two_theta_range_deg, background_order)
            raw.append((ph, chi2, red, rwp, None, expl, unexpl, False))
            continue
        try:
            fit = fit_crystallite_size(
                diffractogram, phase=ph, sigma_rel=sigma_rel, two_theta_range_deg=two_theta_range_deg,
                background_order=background_order, instrument_fwhm_deg=instrument_fwhm_deg, fit_lattice=fit_lattice,
            )
        except ModelError:  # no positive signal of this phase: score the background-only fit
            chi2, red, rwp, expl, unexpl = _fixed_fit(diffractogram, ph, 2.0, two_theta_range_deg, background_order)
            raw.append((ph, chi2, red, rwp, None, expl, unexpl, False))
            continue
        fits[ph] = fit
        raw.append((ph, fit.chi2, fit.reduced_chi2, fit.rwp, fit.diameter_nm, fit.explained_fraction,
                    fit.unexplained_peak_rel, fit.at_bound))
    if not raw:
        raise ModelError("no candidate phase could be fitted")
    best_chi2 = min(r[1] for r in raw)
    best_red = min(r[2] for r in raw if r[1] == best_chi2)
    deltas = [(r[1] - best_chi2) / max(best_red, 1e-12) for r in raw]
    w = np.exp(-0.5 * np.minimum(np.array(deltas), 1400.0))
    w = np.where(w < 1e-300, 0.0, w / w.sum())
    scores = sorted(
        (PhaseScore(r[0], r[3], r[2], float(dl), float(wi), r[4], PHASE_DESCRIPTIONS[r[0]], r[5], r[6], r[7])
         for r, dl, wi in zip(raw, deltas, w, strict=True)),
        key=lambda s: -s.weight,
    )
    size_fit = fits.get("Cd3P2")
    if size_fit is None and "Cd3P2" not in phases:
        try:
            size_fit = fit_crystallite_size(
                diffractogram, sigma_rel=sigma_rel, two_theta_range_deg=two_theta_range_deg,
                background_order=background_order, instrument_fwhm_deg=instrument_fwhm_deg, fit_lattice=fit_lattice,
            )
        except ModelError:
            size_fit = None
    sch: dict[str, Any] | None = None
    if scherrer:
        wl = diffractogram.wavelength_angstrom
        window = tuple(2 * math.degrees(math.asin(min(1.0, wl / (2 * d)))) for d in (2.45, 1.98))
        try:
            res, peak = scherrer_from_pattern(diffractogram, window, instrument_breadth_deg=instrument_fwhm_deg)  # type: ignore[arg-type]
            sch = res.to_dict() | {"peak_window_deg": list(window), "pseudo_voigt_eta": peak.eta, "applies": True,
                                   "at_bound_parameters": list(peak.at_bound_parameters),
                                   "amplitude_snr": peak.amplitude_snr,
                                   "warnings": [f"peak fit at a bound: {b}" for b in peak.at_bound_parameters]}
            if not peak.amplitude_snr >= MIN_PEAK_SNR:
                sch["applies"] = False
                sch["warnings"].append(f"no significant line in {window[0]:.1f}-{window[1]:.1f} deg (height "
                                       f"{peak.amplitude_snr:.1f} x rms residual < {MIN_PEAK_SNR:g})")
        except (InputError, ModelError) as exc:  # no Scherrer size: said, not silently dropped
            sch = {"error": str(exc), "applies": False, "warnings": [str(exc)]}
    best = scores[0]
    criteria = acceptance_criteria()
    reasons = _rejections(best, criteria)
    matched = not reasons
    warnings: list[str] = []
    if not matched:
        warnings.append(f"no phase matched: the best candidate {best.phase} fails " + "; ".join(reasons))
    if best.phase != "Cd3P2" or not matched:
        if size_fit is not None:
            warnings.append("the Cd3P2 size fit does not describe this pattern (Cd3P2 was not matched): do not use its diameter")
        if sch is not None and "diameter_nm" in sch:
            sch["applies"] = False
            warnings.append("the Scherrer size is of the strongest line in the Cd3P2 window, not of a matched Cd3P2 phase")
    if size_fit is not None:
        warnings.extend(f"Cd3P2 size fit: {w_}" for w_ in size_fit.warnings)
    if sch is not None and sch.get("warnings"):
        warnings.extend(f"Scherrer: {w_}" for w_ in sch["warnings"])
    impurities: list[ImpurityCheck] = []
    if size_fit is not None and best.phase == "Cd3P2" and matched:
        impurities = check_impurities(
            diffractogram, size_fit, phases=tuple(p for p in phases if p in ("Cd", "CdO")),
            two_theta_range_deg=two_theta_range_deg, background_order=background_order,
            instrument_fwhm_deg=instrument_fwhm_deg,
        )
    src = str(diffractogram.meta.get("source", ""))
    return MatchResult(
        best.phase if matched else "none", scores, size_fit, sch, diffractogram.wavelength_angstrom, src, impurities,
        matched=matched, best_candidate=best.phase, criteria=criteria, reasons=reasons, warnings=warnings,
    )


def acceptance_criteria() -> dict[str, float]:
    """Thresholds a best candidate must meet to count as matched (``xrd.toml`` [match], with sources)."""
    table = load_toml("xrd/xrd.toml")["match"]
    return {k: float(v["value"]) for k, v in table.items()}


def _rejections(score: PhaseScore, criteria: dict[str, float]) -> list[str]:
    """The acceptance criteria that ``score`` fails (empty: matched)."""
    out = []
    if not score.rwp <= criteria["rwp_max"]:
        out.append(f"Rwp {score.rwp:.3f} > {criteria['rwp_max']:g}")
    if not score.explained_fraction >= criteria["min_explained_fraction"]:
        out.append(f"it explains {100 * score.explained_fraction:.1f} % of the chi^2 left by the background alone "
                   f"(< {100 * criteria['min_explained_fraction']:g} %)")
    if not score.unexplained_peak_rel <= criteria["max_unexplained_peak_rel"]:
        out.append(f"the strongest unexplained feature is {score.unexplained_peak_rel:.2f} x the strongest observed one "
                   f"(> {criteria['max_unexplained_peak_rel']:g}: the observed peaks are not where {score.phase} diffracts)")
    return out


__all__ = [
    "SizeFit",
    "PhaseScore",
    "ImpurityCheck",
    "MatchResult",
    "fit_crystallite_size",
    "match_phases",
    "acceptance_criteria",
    "check_impurities",
    "PHASE_DESCRIPTIONS",
]
