"""The twin's kinetic and optical parameter set, read from ``resources/twin/parameters.toml``.

Every number lives in package data with its unit and source; this module only validates it. The
pydantic models forbid unknown keys and negative values so that a mistyped scenario override fails
with the offending field named.

Examples
--------
>>> p = default_parameters()
>>> p.cluster_units
10.0
>>> round(p.capillary_length_nm(453.15), 3)
1.886
"""

from __future__ import annotations

import functools
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qdlab.materials import get_material
from qdlab.resources import load_toml
from qdlab.units import GAS_CONSTANT_J_PER_MOL_K

_FILE = "twin/parameters.toml"


class KineticParameters(BaseModel):
    """Rate-law parameters (units in the names; sources in ``parameters.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_temperature_c: float = Field(gt=-273.15)
    surface_energy_j_per_m2: float = Field(ge=0)
    surface_energy_slope_j_per_m2_k: float = Field(0.0, le=0)
    transfer_coefficient: float = Field(ge=0, le=1)
    diffusion_m2_per_s: float = Field(gt=0)
    diffusion_activation_kj_per_mol: float = Field(ge=0)
    growth_rate_m_per_s: float = Field(gt=0)
    growth_activation_kj_per_mol: float = Field(ge=0)
    solubility_mol_per_l: float = Field(gt=0)
    solubility_enthalpy_kj_per_mol: float = Field(ge=0)
    acid_solubility_l_per_mol: float = Field(ge=0)
    precursor_conversion_per_s: float = Field(ge=0)
    precursor_activation_kj_per_mol: float = Field(ge=0)
    cluster_dissolution_per_s: float = Field(ge=0)
    acid_cluster_activation_l_per_mol: float = Field(ge=0)
    cluster_dissolution_activation_kj_per_mol: float = Field(ge=0)
    cluster_units: float = Field(gt=0)
    cluster_diffusion_m2_per_s: float = Field(ge=0)
    fusion_probability: float = Field(ge=0)
    fusion_activation_kj_per_mol: float = Field(default=0.0, ge=0)
    coalescence_l_per_mol_s: float = Field(ge=0)
    coalescence_activation_kj_per_mol: float = Field(default=0.0, ge=0)
    coalescence_nucleus_clusters: float = Field(ge=1)
    nucleation_prefactor_per_l_s: float = Field(ge=0)
    etch_rate_nm_per_s_per_m: float = Field(ge=0)
    etch_acid_per_unit: float = Field(ge=0)
    qd_viscosity_pa_s: float = Field(gt=0)
    ligand_shell_nm: float = Field(ge=0)
    min_radius_nm: float = Field(gt=0)
    #: deprecated: the nucleus class resolution is a solver setting now (``SolverSettings``); when given,
    #: it is used as ``SolverSettings.nucleation_window_s`` with a DeprecationWarning
    nucleation_window_s: float | None = Field(default=None, gt=0)

    @property
    def unit_volume_nm3(self) -> float:
        """Volume of one Cd3P2 formula unit (nm^3), from the materials package (X-ray density)."""
        return float(get_material("Cd3P2").volume_per_formula_unit_nm3)

    @property
    def molar_volume_l_per_mol(self) -> float:
        """Molar volume of Cd3P2 (L/mol)."""
        return float(get_material("Cd3P2").molar_volume_cm3_per_mol) / 1000.0

    def capillary_length_nm(self, temperature_k: float) -> float:
        """Capillary length l_c = 2 gamma(T) V_m / (R T) in nm, gamma(T) as in the kernels (:mod:`qdlab.twin.model`).

        ``gamma(T) = gamma_ref + dgamma/dT (T - T_ref)``, floored at zero; exactly ``gamma_ref`` at ``T_ref``.
        """
        vm_m3 = self.molar_volume_l_per_mol * 1e-3
        gamma = self.surface_energy_j_per_m2
        tref = self.reference_temperature_c + 273.15
        if temperature_k != tref:
            gamma = max(gamma + self.surface_energy_slope_j_per_m2_k * (temperature_k - tref), 0.0)
        return 2 * gamma * vm_m3 / (GAS_CONSTANT_J_PER_MOL_K * temperature_k) * 1e9

    def cluster_radius_nm(self) -> float:
        """Radius of an MSC as a bulk-density sphere of ``cluster_units`` formula units."""
        return (3 * self.cluster_units * self.unit_volume_nm3 / (4 * math.pi)) ** (1 / 3)


class OpticalParameters(BaseModel):
    """Parameters of the observation model (size distribution -> spectra)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    homogeneous_fwhm_mev: float = Field(gt=0)
    cluster_pl_nm: float = Field(gt=0)
    cluster_abs_nm: float = Field(gt=0)
    cluster_fwhm_mev: float = Field(gt=0)
    cluster_relative_qy: float = Field(ge=0)
    absorption_continuum_ratio: float = Field(ge=0)
    excitation_exponent: float = Field(ge=0)
    tem_min_diameter_nm: float = Field(ge=0)


def _values(table: dict[str, Any]) -> dict[str, float]:
    return {k: float(v["value"]) for k, v in table.items()}


@functools.cache
def default_parameters() -> KineticParameters:
    """The shared kinetic parameter set shipped with qdlab."""
    return KineticParameters(**_values(load_toml(_FILE)["params"]))


@functools.cache
def default_optics() -> OpticalParameters:
    """The shipped optical parameters."""
    return OpticalParameters(**_values(load_toml(_FILE)["optics"]))


def parameter_table() -> dict[str, dict[str, Any]]:
    """All parameters with value, unit and source (for reports and docs)."""
    data = load_toml(_FILE)
    return {**{f"params.{k}": dict(v) for k, v in data["params"].items()},
            **{f"optics.{k}": dict(v) for k, v in data["optics"].items()}}


__all__ = ["KineticParameters", "OpticalParameters", "default_parameters", "default_optics", "parameter_table"]
