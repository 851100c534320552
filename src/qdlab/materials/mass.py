"""Mass <-> diameter <-> number of formula units for QD cores (optionally with a ligand shell).

Bare core: ``M = rho (pi/6) d^3 N_A``. Ligand shell: ``M += sigma pi d^2 m_ligand`` (sigma ligands per
nm^2 of core surface). The reference paper's MALDI sizes (40 kDa -> 2.8 nm, 140 kDa -> 4.2 nm) are
reproduced by a bare Cd3P2 core at the handbook density 5.96 g/cm^3 (``density="handbook"``); the
X-ray density from the lattice constants (5.62 g/cm^3, the default) gives 2.83 and 4.29 nm.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.materials.params import Material, get_material
from qdlab.units import AVOGADRO_PER_MOL


def _material(material: str | Material) -> Material:
    return material if isinstance(material, Material) else get_material(material)


def _ligand_mass_da(ligand: str) -> float:
    from qdlab.chem import average_mass_da

    return average_mass_da(f"({ligand})")


def diameter_to_mass_da(
    diameter_nm: ArrayLike,
    material: str | Material = "Cd3P2",
    *,
    density: str | float = "xray",
    ligands_per_nm2: float = 0.0,
    ligand: str = "OA",
) -> NDArray[np.float64]:
    """Mass (Da) of a spherical QD of the given diameter.

    Parameters
    ----------
    density
        ``"xray"`` (default, from the lattice), ``"handbook"`` or a number in g/cm^3.
    ligands_per_nm2, ligand
        Optional ligand shell: surface density and ligand formula/shorthand (``"OA"`` = oleate).
    """
    d = np.asarray(diameter_nm, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise InputError(f"diameter must be positive, got {diameter_nm!r}", field="diameter_nm")
    if ligands_per_nm2 < 0:
        raise InputError("must be >= 0", field="ligands_per_nm2")
    rho = _material(material).density_g_per_cm3(density)
    core = rho * 1e-21 * math.pi / 6 * d**3 * AVOGADRO_PER_MOL
    if ligands_per_nm2:
        core = core + ligands_per_nm2 * math.pi * d**2 * _ligand_mass_da(ligand)
    return core


def mass_da_to_diameter_nm(
    mass_da: ArrayLike,
    material: str | Material = "Cd3P2",
    *,
    density: str | float = "xray",
    ligands_per_nm2: float = 0.0,
    ligand: str = "OA",
) -> NDArray[np.float64]:
    """Diameter (nm) of the spherical QD core whose total mass is ``mass_da`` (inverse of :func:`diameter_to_mass_da`).

    Examples
    --------
    >>> round(float(mass_da_to_diameter_nm(140_000, density="handbook")), 2)
    4.21
    """
    m = np.asarray(mass_da, dtype=float)
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise InputError(f"mass must be positive, got {mass_da!r}", field="mass_da")
    rho = _material(material).density_g_per_cm3(density)
    k3 = rho * 1e-21 * math.pi / 6 * AVOGADRO_PER_MOL
    if not ligands_per_nm2:
        return np.cbrt(m / k3)
    k2 = ligands_per_nm2 * math.pi * _ligand_mass_da(ligand)
    # solve k3 d^3 + k2 d^2 - m = 0 by Newton from the bare-core guess (monotone, convex)
    d = np.cbrt(m / k3)
    for _ in range(50):
        f = k3 * d**3 + k2 * d**2 - m
        d = d - f / (3 * k3 * d**2 + 2 * k2 * d)
    return d


def formula_units(
    diameter_nm: ArrayLike, material: str | Material = "Cd3P2", *, density: str | float = "xray"
) -> NDArray[np.float64]:
    """Number of formula units (e.g. Cd3P2) in a bare spherical core."""
    mat = _material(material)
    return diameter_to_mass_da(diameter_nm, mat, density=density) / mat.formula_mass_da


def diameter_from_formula_units(
    n_units: ArrayLike, material: str | Material = "Cd3P2", *, density: str | float = "xray"
) -> NDArray[np.float64]:
    """Diameter (nm) of a bare sphere of ``n_units`` formula units."""
    mat = _material(material)
    return mass_da_to_diameter_nm(np.asarray(n_units, dtype=float) * mat.formula_mass_da, mat, density=density)


__all__ = ["diameter_to_mass_da", "mass_da_to_diameter_nm", "formula_units", "diameter_from_formula_units"]
