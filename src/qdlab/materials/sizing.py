"""Sizing curves: QD diameter <-> band-edge energy <-> emission wavelength.

Two forms are provided, both invertible and fittable to a user's calibration pairs:

* :class:`MoreelsCurve` — empirical ``E(d) = E_g + 1/(a d^2 + b d + c)`` (Moreels et al., ACS Nano 2009,
  3, 3023 for PbS). It is the default for Cd3P2, fitted to the reference paper's anchors.
* :class:`KaneCurve` — two-band Kane (non-parabolic) electron plus parabolic hole in a spherical box,
  with the Brus Coulomb term: ``E = E_g + [-E_g/2 + sqrt(E_g^2/4 + E_g hbar^2 k^2 / 2 m_e)]
  + hbar^2 k^2 / 2 m_h - 1.786 e^2 / (4 pi eps0 eps R)``, ``k = pi/R``.

The curve gives the band-edge (first excitonic absorption) energy; emission is red of it by the
material's Stokes shift. For Cd3P2 the Kane form with bulk parameters is 0.3-0.5 eV bluer than the
paper's PL at the TEM sizes (trap/Stokes emission, surface effects); see ``docs/science.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Result
from qdlab.materials.params import Material, get_material
from qdlab.units import HC_EV_NM, constant

_D_MIN_NM = 0.5
_D_MAX_NM = 100.0


def _diameters(d: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(d, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"diameters must be positive and finite, got {d!r}", field="diameter_nm")
    return arr


@dataclass(frozen=True)
class SizingCurve:
    """Base class. Subclasses implement :meth:`energy_ev` (band edge vs diameter)."""

    eg_ev: float
    stokes_shift_ev: float = 0.0
    source: str = ""

    kind: str = field(default="", init=False)

    def energy_ev(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:  # pragma: no cover - abstract
        raise NotImplementedError

    def emission_energy_ev(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        """PL peak energy (band edge minus Stokes shift) in eV."""
        return self.energy_ev(diameter_nm) - self.stokes_shift_ev

    def emission_nm(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        """PL peak wavelength in nm."""
        return HC_EV_NM / self.emission_energy_ev(diameter_nm)

    def absorption_nm(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        """First excitonic absorption wavelength in nm."""
        return HC_EV_NM / self.energy_ev(diameter_nm)

    def diameter_nm(self, energy_ev: ArrayLike) -> NDArray[np.float64]:
        """Diameter (nm) whose band-edge energy is ``energy_ev`` (vectorised bisection/Newton)."""
        e = np.asarray(energy_ev, dtype=float)
        lo_e = float(self.energy_ev(_D_MAX_NM))
        hi_e = float(self.energy_ev(_D_MIN_NM))
        if not np.all(np.isfinite(e)) or np.any(e <= lo_e) or np.any(e >= hi_e):
            raise InputError(
                f"band-edge energy {np.round(e, 4).tolist()} eV is outside this curve's range "
                f"({lo_e:.3f}-{hi_e:.3f} eV, i.e. {_D_MAX_NM:g}-{_D_MIN_NM:g} nm)",
                field="energy_ev",
            )
        # energy decreases monotonically with size: bisection on log d, then polish
        lo = np.full(e.shape, math.log(_D_MIN_NM))
        hi = np.full(e.shape, math.log(_D_MAX_NM))
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            too_blue = self.energy_ev(np.exp(mid)) > e
            lo = np.where(too_blue, mid, lo)
            hi = np.where(too_blue, hi, mid)
        return np.exp(0.5 * (lo + hi))

    def diameter_from_emission_nm(self, wavelength_nm: ArrayLike) -> NDArray[np.float64]:
        """Diameter (nm) of QDs emitting at ``wavelength_nm``."""
        lam = np.asarray(wavelength_nm, dtype=float)
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise InputError(f"wavelength must be positive, got {wavelength_nm!r}", field="wavelength_nm")
        return self.diameter_nm(HC_EV_NM / lam + self.stokes_shift_ev)

    def slope_ev_per_nm(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        """dE/dd (eV/nm), by central differences."""
        d = _diameters(diameter_nm)
        h = 1e-4 * d
        return (self.energy_ev(d + h) - self.energy_ev(d - h)) / (2 * h)

    def params(self) -> dict[str, float]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), float)
        }


@dataclass(frozen=True)
class MoreelsCurve(SizingCurve):
    """``E(d) = E_g + 1/(a d^2 + b d + c)`` with d in nm and E in eV."""

    a_per_ev_nm2: float = 0.1
    b_per_ev_nm: float = 0.2
    c_per_ev: float = 0.0
    kind: str = field(default="moreels", init=False)

    def energy_ev(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        d = _diameters(diameter_nm)
        return self.eg_ev + 1.0 / (self.a_per_ev_nm2 * d * d + self.b_per_ev_nm * d + self.c_per_ev)

    def diameter_nm(self, energy_ev: ArrayLike) -> NDArray[np.float64]:
        """Closed-form inverse (positive root of the quadratic)."""
        e = np.asarray(energy_ev, dtype=float)
        if not np.all(np.isfinite(e)) or np.any(e <= self.eg_ev):
            raise InputError(
                f"energy {np.round(e, 4).tolist()} eV is at or below the bulk gap {self.eg_ev} eV: no finite size",
                field="energy_ev",
            )
        a, b, c = self.a_per_ev_nm2, self.b_per_ev_nm, self.c_per_ev - 1.0 / (e - self.eg_ev)
        if a == 0:
            return -c / b
        return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


@dataclass(frozen=True)
class KaneCurve(SizingCurve):
    """Two-band Kane electron + parabolic hole + Brus Coulomb term (strong confinement)."""

    electron_mass_rel: float = 0.05
    hole_mass_rel: float = 0.5
    eps: float = 10.0
    kind: str = field(default="kane", init=False)

    def energy_ev(self, diameter_nm: ArrayLike) -> NDArray[np.float64]:
        d = _diameters(diameter_nm)
        r = d / 2
        kin = constant("hbar2_over_2m0") * (math.pi / r) ** 2  # hbar^2 k^2 / 2 m0, eV
        eg = self.eg_ev
        e_el = -eg / 2 + np.sqrt(eg * eg / 4 + eg * kin / self.electron_mass_rel)
        e_h = kin / self.hole_mass_rel
        coul = constant("brus_coulomb_coefficient") * constant("coulomb_e2_over_4pi_eps0") / (self.eps * r)
        return eg + e_el + e_h - coul


@dataclass(frozen=True)
class SizingFit(Result):
    """Result of fitting a sizing curve to calibration pairs."""

    kind: str
    params: dict[str, float]
    std: dict[str, float]
    covariance: list[list[float]]
    rms_residual_ev: float
    residuals_ev: list[float]
    n_points: int
    curve: SizingCurve

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("curve")
        return d

    def report(self) -> str:
        """A short human-readable fit report (lmfit style)."""
        lines = [f"[[Sizing fit: {self.kind}]]  points = {self.n_points}, rms = {1000 * self.rms_residual_ev:.1f} meV"]
        for k, v in self.params.items():
            s = self.std.get(k, float("nan"))
            lines.append(f"    {k:20s} = {v:.6g} +/- {s:.2g}")
        return "\n".join(lines)


def curve_for(material: str | Material, kind: str | None = None) -> SizingCurve:
    """The shipped sizing curve of a material (``kind``: ``"moreels"`` or ``"kane"``; default per material)."""
    m = material if isinstance(material, Material) else get_material(material)
    kind = kind or m.default_sizing
    stokes = m.value("stokes_shift_mev") / 1000 if "stokes_shift_mev" in m.params else 0.0
    if kind == "kane":
        return KaneCurve(
            eg_ev=m.value("band_gap_ev"),
            stokes_shift_ev=stokes,
            electron_mass_rel=m.value("electron_mass_rel"),
            hole_mass_rel=m.value("hole_mass_rel"),
            eps=m.value("eps_inf"),
            source=f"{m.name} bulk parameters (materials.toml)",
        )
    if kind == "moreels":
        p = m.sizing.get("moreels")
        if p is None:
            raise InputError(
                f"{m.name} has no empirical (Moreels) sizing curve; use kind='kane' or fit one", field="sizing"
            )
        return MoreelsCurve(
            eg_ev=float(p["eg_ev"]),
            stokes_shift_ev=stokes,
            a_per_ev_nm2=float(p["a_per_ev_nm2"]),
            b_per_ev_nm=float(p["b_per_ev_nm"]),
            c_per_ev=float(p["c_per_ev"]),
            source=str(p["source"]),
        )
    raise InputError(f"unknown sizing-curve kind {kind!r}; expected 'moreels' or 'kane'", field="sizing")


def fit_sizing_curve(
    diameter_nm: ArrayLike,
    *,
    energy_ev: ArrayLike | None = None,
    emission_nm: ArrayLike | None = None,
    kind: Literal["moreels", "kane"] = "moreels",
    material: str | Material = "Cd3P2",
    sigma_ev: ArrayLike | None = None,
    sigma_diameter_nm: ArrayLike | None = None,
    fit_c: bool = False,
) -> SizingFit:
    """Fit a sizing curve to calibration pairs.

    Parameters
    ----------
    diameter_nm
        Measured diameters (TEM, MALDI...).
    energy_ev, emission_nm
        Either band-edge energies, or PL peak wavelengths (shifted up by the material's Stokes shift).
    kind
        ``"moreels"`` fits ``a, b`` (and ``c`` if ``fit_c``) at the material's bulk gap; ``"kane"`` fits
        the effective electron and hole masses.
    sigma_ev
        Uncertainty of each energy; uncertainties of the parameters are then absolute, otherwise
        scaled by the residual scatter (needs more points than parameters).
    sigma_diameter_nm
        Uncertainty of each diameter; converted to an energy uncertainty through the local slope of
        a first fit (effective-variance method) and combined with ``sigma_ev``.
    """
    m = material if isinstance(material, Material) else get_material(material)
    d = _diameters(diameter_nm).ravel()
    stokes = m.value("stokes_shift_mev") / 1000 if "stokes_shift_mev" in m.params else 0.0
    if (energy_ev is None) == (emission_nm is None):
        raise InputError("give exactly one of energy_ev or emission_nm")
    if energy_ev is not None:
        e = np.asarray(energy_ev, dtype=float).ravel()
    else:
        lam = np.asarray(emission_nm, dtype=float).ravel()
        if np.any(lam <= 0):
            raise InputError("wavelengths must be positive", field="emission_nm")
        e = HC_EV_NM / lam + stokes
    if e.size != d.size:
        raise InputError(f"{d.size} diameters but {e.size} energies", field="energy_ev")
    eg = m.value("band_gap_ev")
    if np.any(e <= eg):
        raise InputError(f"energies must exceed the bulk gap {eg} eV of {m.name}", field="energy_ev")
    sig = None if sigma_ev is None else np.broadcast_to(np.asarray(sigma_ev, dtype=float), e.shape)
    if sigma_diameter_nm is not None:
        first = fit_sizing_curve(d, energy_ev=e, kind=kind, material=m, fit_c=fit_c)
        sd = np.broadcast_to(np.asarray(sigma_diameter_nm, dtype=float), e.shape)
        from_d = np.abs(first.curve.slope_ev_per_nm(d)) * sd
        sig = np.sqrt(from_d**2 + (0.0 if sig is None else sig**2))

    if kind == "moreels":
        names = ["a_per_ev_nm2", "b_per_ev_nm"] + (["c_per_ev"] if fit_c else [])

        def model(dd: NDArray[np.float64], *p: float) -> NDArray[np.float64]:
            c = p[2] if fit_c else 0.0
            return eg + 1.0 / (p[0] * dd * dd + p[1] * dd + c)

        # linear initial guess: 1/(E-Eg) = a d^2 + b d (+ c)
        basis = np.column_stack([d * d, d] + ([np.ones_like(d)] if fit_c else []))
        p0, *_ = np.linalg.lstsq(basis, 1.0 / (e - eg), rcond=None)
        p0 = np.where(np.abs(p0) < 1e-6, 1e-3, p0)
    elif kind == "kane":
        names = ["electron_mass_rel", "hole_mass_rel"]
        base = KaneCurve(eg_ev=eg, electron_mass_rel=1.0, hole_mass_rel=1.0, eps=m.value("eps_inf"))

        def model(dd: NDArray[np.float64], *p: float) -> NDArray[np.float64]:
            return dataclasses.replace(
                base, electron_mass_rel=abs(p[0]) + 1e-4, hole_mass_rel=abs(p[1]) + 1e-4
            ).energy_ev(dd)

        p0 = np.array([m.value("electron_mass_rel"), m.value("hole_mass_rel")])
    else:
        raise InputError(f"unknown sizing-curve kind {kind!r}; expected 'moreels' or 'kane'", field="kind")
    if d.size < len(names):
        raise InputError(f"need at least {len(names)} calibration pairs for a {kind} fit, got {d.size}")
    try:
        from scipy import optimize  # imported when fitting: keeps `qdlab --help` fast

        popt, pcov = optimize.curve_fit(model, d, e, p0=p0, sigma=sig, absolute_sigma=sig is not None, maxfev=20000)
    except (RuntimeError, ValueError) as exc:  # pragma: no cover - pathological data
        raise ModelError(f"sizing-curve fit did not converge: {exc}") from exc
    if kind == "kane":
        popt = np.abs(popt) + 1e-4
    resid = e - model(d, *popt)
    if d.size == len(names) and sig is None:
        pcov = np.full((len(names), len(names)), np.nan)
    std = np.sqrt(np.clip(np.diag(pcov), 0, None)) if np.all(np.isfinite(pcov)) else np.full(len(names), np.nan)
    params = dict(zip(names, map(float, popt), strict=True))
    if kind == "moreels":
        curve: SizingCurve = MoreelsCurve(
            eg_ev=eg,
            stokes_shift_ev=stokes,
            source="user calibration",
            c_per_ev=params.get("c_per_ev", 0.0),
            a_per_ev_nm2=params["a_per_ev_nm2"],
            b_per_ev_nm=params["b_per_ev_nm"],
        )
    else:
        curve = KaneCurve(eg_ev=eg, stokes_shift_ev=stokes, source="user calibration", eps=m.value("eps_inf"), **params)
    return SizingFit(
        kind=kind,
        params=params,
        std=dict(zip(names, map(float, std), strict=True)),
        covariance=np.asarray(pcov, dtype=float).tolist(),
        rms_residual_ev=float(np.sqrt(np.mean(resid**2))),
        residuals_ev=resid.tolist(),
        n_points=int(d.size),
        curve=curve,
    )


__all__ = ["SizingCurve", "MoreelsCurve", "KaneCurve", "SizingFit", "curve_for", "fit_sizing_curve"]
