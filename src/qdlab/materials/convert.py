"""One QD size described every way qdlab knows: diameter, band edge, PL, mass, formula units.

Shared by the CLI (``qdlab size``) and the web app, so both give the same answer.
"""

from __future__ import annotations

from typing import Any

from qdlab.data.errors import InputError


def size_info(
    material: str = "Cd3P2",
    *,
    wavelength_nm: float | None = None,
    energy_ev: float | None = None,
    diameter_nm: float | None = None,
    mass_da: float | None = None,
    sizing: str | None = None,
    density: str | float = "xray",
    ligands_per_nm2: float = 0.0,
) -> dict[str, Any]:
    """Everything qdlab knows about one QD size, from exactly one of the four inputs.

    ``wavelength_nm`` is the PL peak, ``energy_ev`` the band-edge (first exciton) energy.
    """
    from qdlab import materials
    from qdlab.units import HC_EV_NM

    given = {
        k: v
        for k, v in dict(
            wavelength_nm=wavelength_nm, energy_ev=energy_ev, diameter_nm=diameter_nm, mass_da=mass_da
        ).items()
        if v is not None
    }
    if len(given) != 1:
        raise InputError("give exactly one of --wavelength-nm, --energy-ev, --diameter-nm, --mass-da")
    ((key, value),) = given.items()
    if not (value > 0 and value < float("inf")):
        raise InputError(f"must be a positive number, got {value}", field=f"--{key.replace('_', '-')}")
    mat = materials.get_material(material)
    curve = materials.curve_for(mat, sizing)
    if key == "wavelength_nm":
        if value > 20000:
            raise InputError(
                f"{value} nm is not an optical wavelength for a QD (expected 200-20000 nm)", field="--wavelength-nm"
            )
        d = float(curve.diameter_from_emission_nm(value))
    elif key == "energy_ev":
        d = float(curve.diameter_nm(value))
    elif key == "mass_da":
        if value > 1e9:
            raise InputError(f"{value:g} Da is beyond any QD (expected < 1e9 Da)", field="--mass-da")
        d = float(materials.mass_da_to_diameter_nm(value, mat, density=density, ligands_per_nm2=ligands_per_nm2))
    else:
        if value > 100:
            raise InputError(f"{value} nm is not a quantum dot (expected 0.5-100 nm)", field="--diameter-nm")
        d = value
    if d < 0.5 or d > 100:
        raise InputError(f"the implied diameter {d:.3g} nm is outside 0.5-100 nm", field=f"--{key.replace('_', '-')}")
    e_edge = float(curve.energy_ev(d))
    e_pl = e_edge - curve.stokes_shift_ev
    if e_pl <= 0:
        raise InputError(f"no emission for {d:.3g} nm: energy below zero", field=key)
    return {
        "material": mat.name,
        "diameter_nm": d,
        "energy_ev": e_edge,
        "absorption_nm": HC_EV_NM / e_edge,
        "emission_energy_ev": e_pl,
        "wavelength_nm": HC_EV_NM / e_pl,
        "stokes_shift_mev": 1000 * curve.stokes_shift_ev,
        "mass_da": float(materials.diameter_to_mass_da(d, mat, density=density, ligands_per_nm2=ligands_per_nm2)),
        "formula_units": float(materials.formula_units(d, mat, density=density)),
        "density_g_per_cm3": mat.density_g_per_cm3(density),
        "ligands_per_nm2": ligands_per_nm2,
        "sizing": {"kind": curve.kind, "source": curve.source},
    }


__all__ = ["size_info"]
