"""Objectives of the planner: distance to the target wavelength, linewidth, PLQY; no bimodality.

A measured (or twin-predicted) outcome is scored by one scalar loss to minimise,

``loss = |peak - target| / s_lambda + w_fwhm * max(0, FWHM - FWHM_ref) / s_fwhm + w_qy * (1 - PLQY)``

(the PLQY term only where it was measured), and a constraint ``bimodal`` (feasible when the PL is
single-peaked). Weights and scales are package data (``resources/plan/planner.toml``, ``[objective]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.plan.space import value


@dataclass(frozen=True)
class Outcome(Result):
    """What an overgrowth gave (final aliquot): measured or predicted.

    Parameters
    ----------
    pl_peak_nm
        PL peak wavelength.
    fwhm_mev
        PL linewidth (FWHM) in meV.
    plqy
        PL quantum yield as a fraction 0-1, or ``None`` when not measured.
    bimodal
        Two PL populations (secondary nucleation).
    secondary_fraction
        Number fraction of secondary QDs (twin only; ``None`` when measured).
    secondary_mass_fraction
        Share of the QDs' material (volume-weighted, ``N d^3``) held by secondary QDs (twin only;
        ``None`` when measured). The planner's secondary-nucleation risk: unlike the number fraction it
        is not dominated by small, PL-dim nuclei.
    """

    pl_peak_nm: float
    fwhm_mev: float | None = None
    plqy: float | None = None
    bimodal: bool = False
    secondary_fraction: float | None = None
    secondary_mass_fraction: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.pl_peak_nm) and 200.0 < self.pl_peak_nm < 5000.0):
            raise InputError(f"PL peak must be 200-5000 nm, got {self.pl_peak_nm}", field="pl_peak_nm")
        if self.fwhm_mev is not None and not (math.isfinite(self.fwhm_mev) and 0 < self.fwhm_mev < 2000):
            raise InputError(f"FWHM must be 0-2000 meV, got {self.fwhm_mev}", field="fwhm_mev")
        if self.plqy is not None and not (0.0 <= self.plqy <= 1.0):
            raise InputError(f"PLQY is a fraction 0-1, got {self.plqy} (give 0.15 for 15 %)", field="plqy")
        if self.secondary_fraction is not None and not (0.0 <= self.secondary_fraction <= 1.0):
            raise InputError(f"must be 0-1, got {self.secondary_fraction}", field="secondary_fraction")
        if self.secondary_mass_fraction is not None and not (0.0 <= self.secondary_mass_fraction <= 1.0):
            raise InputError(f"must be 0-1, got {self.secondary_mass_fraction}", field="secondary_mass_fraction")

    @property
    def secondary_risk(self) -> float:
        """Secondary-nucleation risk, 0-1: the secondary mass fraction, else the number fraction, else 0."""
        if self.secondary_mass_fraction is not None:
            return self.secondary_mass_fraction
        return self.secondary_fraction or 0.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Outcome:
        """Build from a dict with the field names (extra keys ignored)."""
        def opt(k: str) -> float | None:
            v = data.get(k)
            return None if v is None else float(v)

        return cls(
            pl_peak_nm=float(data["pl_peak_nm"]),
            fwhm_mev=opt("fwhm_mev"),
            plqy=opt("plqy"),
            bimodal=bool(data.get("bimodal", False)),
            secondary_fraction=opt("secondary_fraction"),
            secondary_mass_fraction=opt("secondary_mass_fraction"),
        )


@dataclass(frozen=True)
class Objective(Result):
    """Scalar loss around a target wavelength (see the module docstring).

    Examples
    --------
    >>> obj = Objective(target_nm=1300.0)
    >>> obj.loss(Outcome(pl_peak_nm=1315.0, fwhm_mev=100.0))
    1.0
    >>> obj.feasible(Outcome(pl_peak_nm=1300.0, bimodal=True))
    False
    """

    target_nm: float
    wavelength_scale_nm: float = value("objective", "wavelength_scale_nm")
    fwhm_ref_mev: float = value("objective", "fwhm_ref_mev")
    fwhm_scale_mev: float = value("objective", "fwhm_scale_mev")
    fwhm_weight: float = value("objective", "fwhm_weight")
    plqy_weight: float = value("objective", "plqy_weight")
    max_fwhm_mev: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_nm) and 200.0 < self.target_nm < 5000.0):
            raise InputError(f"target must be 200-5000 nm, got {self.target_nm}", field="target_nm")
        if self.max_fwhm_mev is not None and not self.max_fwhm_mev > 0:
            raise InputError("must be positive", field="max_fwhm_mev")

    def wavelength_error_nm(self, outcome: Outcome) -> float:
        """Absolute distance of the peak from the target (nm)."""
        return abs(outcome.pl_peak_nm - self.target_nm)

    def components(self, outcome: Outcome) -> dict[str, float]:
        """The loss terms, by name."""
        out = {"wavelength": self.wavelength_error_nm(outcome) / self.wavelength_scale_nm}
        if outcome.fwhm_mev is not None:
            out["fwhm"] = self.fwhm_weight * max(0.0, outcome.fwhm_mev - self.fwhm_ref_mev) / self.fwhm_scale_mev
        if outcome.plqy is not None:
            out["plqy"] = self.plqy_weight * (1.0 - outcome.plqy)
        return out

    def loss(self, outcome: Outcome) -> float:
        """Scalar loss (lower is better)."""
        return float(sum(self.components(outcome).values()))

    def constraint(self, outcome: Outcome) -> float:
        """Optuna-style constraint value: <= 0 feasible. Bimodal PL (+1) and FWHM above the cap (meV/100)."""
        c = 1.0 if outcome.bimodal else 0.0
        if self.max_fwhm_mev is not None and outcome.fwhm_mev is not None and outcome.fwhm_mev > self.max_fwhm_mev:
            c += (outcome.fwhm_mev - self.max_fwhm_mev) / 100.0
        return c if c > 0 else -1.0

    def feasible(self, outcome: Outcome) -> bool:
        """Single-peaked and within the FWHM cap."""
        return self.constraint(outcome) <= 0


__all__ = ["Outcome", "Objective"]
