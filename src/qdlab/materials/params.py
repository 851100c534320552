"""Material parameter sets read from ``resources/materials.toml``."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qdlab.data.errors import InputError
from qdlab.resources import load_toml
from qdlab.units import AVOGADRO_PER_MOL


@dataclass(frozen=True)
class Quantity:
    """A number with its unit and source."""

    value: float
    unit: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class Material:
    """A semiconductor's parameter set.

    Attributes
    ----------
    name
        Key such as ``"Cd3P2"``.
    formula
        Formula unit.
    structure
        Crystal structure description.
    params
        Named :class:`Quantity` values (lattice, gap, masses, dielectric constants...).
    sizing
        Raw sizing-curve parameter tables by kind (``"moreels"``, ``"kane"``).
    default_sizing
        Which curve :func:`qdlab.materials.sizing_curve` returns by default.
    """

    name: str
    formula: str
    structure: str
    params: Mapping[str, Quantity]
    sizing: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_sizing: str = "kane"

    def value(self, key: str) -> float:
        """Value of parameter ``key`` (raises :class:`InputError` naming the material if absent)."""
        if key not in self.params:
            raise InputError(f"material {self.name} has no parameter {key!r}")
        return self.params[key].value

    @property
    def formula_mass_da(self) -> float:
        """Average mass of one formula unit (Da) under the default atomic-weight table."""
        from qdlab.chem import average_mass_da

        return average_mass_da(self.formula)

    @property
    def cell_volume_nm3(self) -> float:
        """Unit-cell volume in nm^3 from the lattice constants (cubic, tetragonal or hexagonal)."""
        a = self.value("lattice_a_angstrom") / 10
        if "lattice_c_angstrom" not in self.params:
            return a**3
        c = self.value("lattice_c_angstrom") / 10
        if "wurtzite" in self.structure or "hexagonal" in self.structure:
            return math.sqrt(3) / 2 * a * a * c
        return a * a * c

    @property
    def volume_per_formula_unit_nm3(self) -> float:
        """Volume of one formula unit in the crystal (nm^3)."""
        return self.cell_volume_nm3 / self.value("formula_units_per_cell")

    @property
    def molar_volume_cm3_per_mol(self) -> float:
        """Molar volume per formula unit (cm^3/mol)."""
        return self.volume_per_formula_unit_nm3 * 1e-21 * AVOGADRO_PER_MOL

    def density_g_per_cm3(self, source: str | float = "xray") -> float:
        """Density: ``"xray"`` (from lattice and formula mass), ``"handbook"`` (tabulated) or a number."""
        if isinstance(source, (int, float)):
            if not (math.isfinite(source) and source > 0):
                raise InputError(f"density must be positive, got {source}", field="density")
            return float(source)
        if source == "xray":
            return self.formula_mass_da / (self.volume_per_formula_unit_nm3 * 1e-21 * AVOGADRO_PER_MOL)
        if source == "handbook":
            if "density_handbook_g_per_cm3" in self.params:
                return self.value("density_handbook_g_per_cm3")
            raise InputError(f"no handbook density for {self.name}; use 'xray' or a number", field="density")
        raise InputError(f"density must be 'xray', 'handbook' or a number, got {source!r}", field="density")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": self.formula,
            "structure": self.structure,
            "formula_mass_da": self.formula_mass_da,
            "density_xray_g_per_cm3": self.density_g_per_cm3("xray"),
            "params": {k: q.to_dict() for k, q in self.params.items()},
            "default_sizing": self.default_sizing,
        }


@functools.cache
def get_material(name: str) -> Material:
    """Return the parameter set for ``name`` (case-insensitive: ``"cd3p2"`` works).

    Raises
    ------
    InputError
        If the material is unknown; the message lists the known ones.
    """
    table = load_toml("materials.toml")
    key = {k.lower(): k for k in table}.get(str(name).lower())
    if key is None:
        raise InputError(f"unknown material {name!r}; known: {', '.join(table)}", field="material")
    d = table[key]
    params = {k: Quantity(float(v["value"]), str(v["unit"]), str(v["source"])) for k, v in d["params"].items()}
    return Material(
        name=key,
        formula=d["formula"],
        structure=d["structure"],
        params=params,
        sizing=d.get("sizing", {}),
        default_sizing=d.get("default_sizing", "kane"),
    )


def list_materials() -> list[str]:
    """Names of the shipped material parameter sets."""
    return list(load_toml("materials.toml"))


__all__ = ["Quantity", "Material", "get_material", "list_materials"]
