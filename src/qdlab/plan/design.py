"""Design rules used before (and to bracket) any twin run: mass balance and the no-renucleation rule.

* Mass balance. ``N_s`` seeds of diameter ``d_s`` grown to ``d_t`` need
  ``N_s [n(d_t) - n(d_s)]`` Cd3P2 units (``n`` from :func:`qdlab.materials.formula_units`). A feed at
  phosphorus concentration ``c_P`` holds ``c_P / 2`` Cd3P2 units per litre, of which only a fraction
  (the incorporation efficiency, 10-15 % in the paper's 1010-nm batch; notes-kinetics.md section 0)
  ends up on the seeds. The injected volume follows.
* No renucleation (notes-kinetics.md section 2). With diffusion-limited uptake the steady supersaturation
  stays below the nucleation threshold while the monomer supply ``F <= F_max``, ``F_max ∝ N_s r``.
  The safe rate therefore scales with the number of seeds and their radius and may grow as the seeds
  grow: a ramp from ``F`` to ``F d_t/d_s`` keeps the same margin throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from qdlab.data.errors import InputError
from qdlab.materials import curve_for, diameter_to_mass_da, formula_units, get_material
from qdlab.plan.space import value
from qdlab.units import AVOGADRO_PER_MOL


def seed_diameter_nm(seed_nm: float, material: str = "Cd3P2") -> float:
    """Seed diameter from its PL peak through the material's default sizing curve.

    Examples
    --------
    >>> 2.5 < seed_diameter_nm(1010.0) < 3.2
    True
    """
    curve = curve_for(get_material(material))
    return float(curve.diameter_from_emission_nm(seed_nm))


def seed_count(seed_mg: float, seed_nm: float, material: str = "Cd3P2") -> float:
    """Number of seed QDs in ``seed_mg`` of ligand-capped seeds emitting at ``seed_nm``.

    The inorganic mass fraction is package data (``[design] seed_inorganic_fraction``).
    """
    if not (seed_mg > 0 and math.isfinite(seed_mg)):
        raise InputError(f"seed amount must be positive, got {seed_mg}", field="seed_mg")
    d = seed_diameter_nm(seed_nm, material)
    mass_g = float(diameter_to_mass_da(d, material)) / AVOGADRO_PER_MOL
    return seed_mg * 1e-3 * value("design", "seed_inorganic_fraction") / mass_g


def units_needed(seed_mg: float, seed_nm: float, target_nm: float, material: str = "Cd3P2") -> float:
    """Cd3P2 formula units that must deposit on the seeds to move their PL from ``seed_nm`` to ``target_nm``."""
    curve = curve_for(get_material(material))
    d0 = float(curve.diameter_from_emission_nm(seed_nm))
    d1 = float(curve.diameter_from_emission_nm(target_nm))
    n = seed_count(seed_mg, seed_nm, material)
    return n * float(formula_units(d1, material) - formula_units(d0, material))


def volume_for_target_ml(
    seed_mg: float,
    seed_nm: float,
    target_nm: float,
    p_conc_mol_per_l: float,
    *,
    material: str = "Cd3P2",
    efficiency: float | None = None,
) -> float:
    """Feed volume (mL) the mass balance asks for (a first guess; the twin refines it).

    Examples
    --------
    >>> v = volume_for_target_ml(20.0, 1010.0, 1277.0, 0.0813)
    >>> 3.0 < v < 40.0
    True
    """
    if target_nm <= seed_nm:
        return 0.0
    eff = value("design", "incorporation_efficiency") if efficiency is None else efficiency
    if not (0 < eff <= 1):
        raise InputError(f"efficiency must be in (0, 1], got {eff}", field="efficiency")
    units_per_ml = p_conc_mol_per_l * 1e-3 / 2.0 * AVOGADRO_PER_MOL
    return units_needed(seed_mg, seed_nm, target_nm, material) / (units_per_ml * eff)


def ramp_factor(seed_nm: float, target_nm: float, material: str = "Cd3P2") -> float:
    """Final/initial rate of a ramp that keeps the no-renucleation margin: ``d_t / d_s`` (>= 1)."""
    if target_nm <= seed_nm:
        return 1.0
    curve = curve_for(get_material(material))
    return float(curve.diameter_from_emission_nm(target_nm) / curve.diameter_from_emission_nm(seed_nm))


def rate_scale(
    seed_mg: float, seed_nm: float, material: str = "Cd3P2", *, ref_mg: float | None = None, ref_nm: float | None = None
) -> float:
    """``F_max`` of these seeds relative to the reference seeds: ``N_s r / (N_ref r_ref)``.

    The reference seeds are those of the twin's reference scenario (``[twin] reference_scenario``:
    20 mg at 1010 nm), whose injection rate is the planner's reference rate.

    Examples
    --------
    >>> round(rate_scale(40.0, 1010.0), 6)
    2.0
    """
    from qdlab.plan.space import reference_value

    ref_mg = reference_value("seeds.mass_mg") if ref_mg is None else ref_mg
    ref_nm = reference_value("seeds.emission_nm") if ref_nm is None else ref_nm
    num = seed_count(seed_mg, seed_nm, material) * seed_diameter_nm(seed_nm, material)
    den = seed_count(ref_mg, ref_nm, material) * seed_diameter_nm(ref_nm, material)
    return num / den


def max_blue_shift_nm(seed_nm: float) -> float:
    """The bluest peak etching can give from ``seed_nm`` (paper: up to ~170 meV, 1102 -> 956 nm)."""
    from qdlab.units import HC_EV_NM

    e = HC_EV_NM / seed_nm + value("paper", "max_etch_blue_shift_mev") / 1000.0
    return HC_EV_NM / e


def safety_moves() -> list[dict[str, Any]]:
    """Ordered recipe changes that reduce secondary nucleation (package data ``[[safety_moves]]``)."""
    from qdlab.plan.space import config

    return [dict(m) for m in config()["safety_moves"]]


def apply_move(move: Mapping[str, Any], params: dict[str, float], ramp: float, space: Any) -> tuple[float, bool]:
    """Apply one safety move to ``params`` in place (clipped to the bounds); returns (new ramp, changed?)."""
    var, op, x = move["variable"], move["op"], float(move["value"])
    if var == "ramp_factor":
        new = x if op == "set" else ramp * x if op == "mul" else ramp + x
        return new, abs(new - ramp) > 1e-12
    old = params[var]
    new = x if op == "set" else old * x if op == "mul" else old + x
    params[var] = space[var].clip(new)
    return ramp, abs(params[var] - old) > 1e-12


__all__ = [
    "safety_moves",
    "apply_move",
    "seed_diameter_nm",
    "seed_count",
    "units_needed",
    "volume_for_target_ml",
    "ramp_factor",
    "rate_scale",
    "max_blue_shift_nm",
]
