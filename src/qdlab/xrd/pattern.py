"""Bulk reference patterns (stick positions, hkl, intensities) with pymatgen's ``XRDCalculator``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.resources import load_toml


def wavelength_angstrom(name: str) -> float:
    """A tabulated X-ray wavelength (``CuKa1``, ``CuKa2``, ``CuKa``, ``MoKa1``, ``CoKa1``) in angstrom.

    Examples
    --------
    >>> wavelength_angstrom("CuKa1")
    1.540598
    """
    table = load_toml("xrd/xrd.toml")["wavelengths_angstrom"]
    if name not in table or name.endswith("ratio"):
        known = ", ".join(k for k in table if not k.endswith("ratio"))
        raise InputError(f"unknown X-ray line {name!r}; known: {known}", field="wavelength")
    return float(table[name]["value"])


@dataclass(frozen=True)
class Reflection(Result):
    """One powder reflection (a family of equivalent hkl)."""

    hkl: tuple[int, ...]
    two_theta_deg: float
    d_angstrom: float
    relative_intensity: float
    multiplicity: int


@dataclass(frozen=True, eq=False)
class ReferencePattern(Result):
    """Bulk stick pattern of a phase at one wavelength (relative intensities, strongest = 100)."""

    phase: str
    wavelength_angstrom: float
    reflections: list[Reflection]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def two_theta_deg(self) -> NDArray[np.float64]:
        return np.array([r.two_theta_deg for r in self.reflections])

    @property
    def relative_intensity(self) -> NDArray[np.float64]:
        return np.array([r.relative_intensity for r in self.reflections])

    def strongest(self, n: int = 5) -> list[Reflection]:
        """The ``n`` most intense reflections."""
        return sorted(self.reflections, key=lambda r: -r.relative_intensity)[:n]

    def profile(self, two_theta_deg: ArrayLike, fwhm_deg: float, eta: float = 0.5) -> NDArray[np.float64]:
        """Sticks broadened with a pseudo-Voigt of constant FWHM (for plots and quick comparisons)."""
        tt = np.asarray(two_theta_deg, float)
        out = np.zeros_like(tt)
        hw = fwhm_deg / 2
        for r in self.reflections:
            x = (tt - r.two_theta_deg) / hw
            out += r.relative_intensity * (eta / (1 + x * x) + (1 - eta) * np.exp(-np.log(2) * x * x))
        return out


def reference_pattern(
    phase: str = "Cd3P2",
    *,
    wavelength_angstrom: float | None = None,
    two_theta_min_deg: float = 5.0,
    two_theta_max_deg: float = 90.0,
    min_relative_intensity: float = 0.5,
    structure: Any = None,
) -> ReferencePattern:
    """Reflection list of a bulk phase (pymatgen ``XRDCalculator``: form factors, Lorentz-polarisation).

    Parameters
    ----------
    phase
        ``"Cd3P2"``, ``"Cd"`` or ``"CdO"``.
    wavelength_angstrom
        Default Cu K-alpha1.
    min_relative_intensity
        Drop reflections weaker than this (percent of the strongest).

    Examples
    --------
    >>> ref = reference_pattern("CdO")
    >>> [r.hkl for r in ref.strongest(2)]
    [(1, 1, 1), (2, 0, 0)]
    """
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from qdlab.xrd.structure import phase_structure, structure_data

    wl = float(wavelength_angstrom or globals()["wavelength_angstrom"]("CuKa1"))
    if not (0.1 <= wl <= 5.0):
        raise InputError(f"X-ray wavelength must be 0.1-5 A, got {wl}", field="wavelength_angstrom")
    if not (0 <= two_theta_min_deg < two_theta_max_deg <= 180):
        raise InputError("need 0 <= two_theta_min < two_theta_max <= 180 degrees", field="two_theta")
    s = structure if structure is not None else phase_structure(phase)
    pat = XRDCalculator(wavelength=wl).get_pattern(s, scaled=True, two_theta_range=(two_theta_min_deg, two_theta_max_deg))
    refl: list[Reflection] = []
    for x, y, hkls, d in zip(pat.x, pat.y, pat.hkls, pat.d_hkls, strict=True):
        if y < min_relative_intensity:
            continue
        best = max(hkls, key=lambda h: (tuple(h["hkl"]) >= (0,) * len(h["hkl"]), tuple(h["hkl"])))
        mult = int(sum(h["multiplicity"] for h in hkls))
        refl.append(Reflection(tuple(int(v) for v in best["hkl"]), float(x), float(d), float(y), mult))
    source = "" if structure is not None else str(structure_data(phase)["source"]).split("\n")[0]
    return ReferencePattern(phase, wl, refl, source=source)


__all__ = ["wavelength_angstrom", "Reflection", "ReferencePattern", "reference_pattern"]
