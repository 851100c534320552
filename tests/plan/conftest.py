"""A stand-in forward model for the planner tests (mass balance + a renucleation penalty).

It is NOT the digital twin: it exists so the planner's search, campaigns and benchmark harness can be
tested with exact, analytic ground truth, independently of the twin's kinetics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pytest

from qdlab.materials import curve_for, diameter_from_formula_units, formula_units, get_material
from qdlab.plan import design
from qdlab.plan.objective import Outcome
from qdlab.units import AVOGADRO_PER_MOL


@dataclass(frozen=True)
class MassBalanceModel:
    """Final size from the fed Cd3P2 units times an efficiency; renucleation above a safe rate."""

    seed_nm: float = 1010.0
    seed_mg: float = 20.0
    material: str = "Cd3P2"
    efficiency: float = 0.15
    safe_rate_ml_per_h: float = 20.0  # above the twin's reference rate (8 mL/h): the reference recipe is safe
    rel_std: float = 0.1
    mass_share: float = 0.5  # secondary mass fraction per unit number fraction (secondary QDs are smaller)

    def predict(self, params: Mapping[str, float], ramp_factor: float = 1.0) -> Outcome:
        curve = curve_for(get_material(self.material))
        d0 = float(curve.diameter_from_emission_nm(self.seed_nm))
        n_seeds = design.seed_count(self.seed_mg, self.seed_nm, self.material)
        fed = params["cluster_volume_ml"] * params["p_conc_mol_per_l"] * 1e-3 / 2 * AVOGADRO_PER_MOL
        safe = self.safe_rate_ml_per_h * design.rate_scale(self.seed_mg, self.seed_nm, self.material)
        excess = params["injection_rate_ml_per_h"] / safe
        sec = 0.5 / (1.0 + math.exp(-8.0 * (excess - 1.0)))
        grown = self.efficiency * fed * (1 - sec) / n_seeds
        d1 = float(diameter_from_formula_units(formula_units(d0, self.material) + grown, self.material))
        peak = float(curve.emission_nm(d1))
        fwhm = 1000 * abs(float(curve.slope_ev_per_nm(d1))) * 2.3548 * self.rel_std * d1 + 60.0
        return Outcome(
            pl_peak_nm=peak, fwhm_mev=fwhm, bimodal=sec > 0.1, secondary_fraction=sec,
            secondary_mass_fraction=min(self.mass_share * sec, 1.0),
        )

    def parameter_samples(self, n: int, rng: np.random.Generator) -> list[dict[str, float]]:
        return [{"efficiency": self.efficiency * math.exp(0.2 * z)} for z in rng.standard_normal(n)]

    def nominal_parameters(self) -> dict[str, float]:
        return {"efficiency": self.efficiency}

    def with_parameters(self, values: Mapping[str, float]) -> MassBalanceModel:
        return dataclasses.replace(self, **values)


@pytest.fixture
def standin() -> MassBalanceModel:
    return MassBalanceModel()


@pytest.fixture
def standin_cls() -> type[MassBalanceModel]:
    return MassBalanceModel
