"""Core commands: ``qdlab size``, ``qdlab mass``, ``qdlab materials``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, emit, key_value_table
from qdlab.data.errors import InputError


def _density(value: str) -> str | float:
    if value in ("xray", "handbook"):
        return value
    try:
        return float(value)
    except ValueError as exc:
        raise InputError(
            f"expected 'xray', 'handbook' or a number in g/cm^3, got {value!r}", field="--density"
        ) from exc


def size(
    material: Annotated[str, typer.Option(help="Material parameter set (Cd3P2, InP, InAs, CdSe).")] = "Cd3P2",
    wavelength_nm: Annotated[float | None, typer.Option(help="PL peak wavelength (nm).")] = None,
    energy_ev: Annotated[float | None, typer.Option(help="Band-edge (first exciton) energy (eV).")] = None,
    diameter_nm: Annotated[float | None, typer.Option(help="Core diameter (nm).")] = None,
    mass_da: Annotated[float | None, typer.Option(help="Molecular mass from MALDI (Da).")] = None,
    sizing: Annotated[
        str | None, typer.Option(help="Sizing curve: moreels (empirical) or kane; default per material.")
    ] = None,
    density: Annotated[str, typer.Option(help="Core density: xray (from lattice), handbook, or g/cm^3.")] = "xray",
    ligands_per_nm2: Annotated[float, typer.Option(help="Oleate shell density for mass conversions.")] = 0.0,
    json_out: JsonOpt = False,
) -> None:
    """Convert between QD size, band-edge energy, emission wavelength and mass."""
    from qdlab.materials.convert import size_info

    info = size_info(
        material,
        wavelength_nm=wavelength_nm,
        energy_ev=energy_ev,
        diameter_nm=diameter_nm,
        mass_da=mass_da,
        sizing=sizing,
        density=_density(density),
        ligands_per_nm2=ligands_per_nm2,
    )

    def render(d: dict[str, Any]) -> None:
        key_value_table(
            f"{d['material']} quantum dot",
            d,
            [
                ("diameter_nm", "diameter (nm)"),
                ("wavelength_nm", "PL peak (nm)"),
                ("emission_energy_ev", "PL peak (eV)"),
                ("absorption_nm", "first exciton (nm)"),
                ("energy_ev", "band edge (eV)"),
                ("stokes_shift_mev", "Stokes shift (meV)"),
                ("mass_da", "mass (Da)"),
                ("formula_units", "formula units"),
                ("density_g_per_cm3", "density (g/cm3)"),
            ],
        )
        print(f"sizing curve: {d['sizing']['kind']} — {d['sizing']['source']}")

    emit(info, json_out, render)


def mass(
    formula: Annotated[str, typer.Argument(help='Formula, e.g. "Cd32P20(C17H33CO2)5" or "Cd32P20(OA)5+".')],
    weights: Annotated[
        str | None,
        typer.Option(help="Atomic-weight table: iupac2021 (default) or iupac2007 (reproduces the paper's Table 1)."),
    ] = None,
    charge: Annotated[int | None, typer.Option(help="Override the charge written in the formula.")] = None,
    envelope: Annotated[bool, typer.Option(help="Include the 1-Da-binned isotope envelope in the output.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Average, monoisotopic and most-abundant masses and the isotope envelope of a formula."""
    from qdlab.chem import default_table, isotope_envelope, parse_formula

    f = parse_formula(formula)
    if charge is not None:
        f = f.with_charge(charge)
    table = weights or default_table()
    env = isotope_envelope(f)
    z = max(abs(f.charge), 1)
    out: dict[str, Any] = {
        "formula": formula,
        "hill": f.hill(),
        "charge": f.charge,
        "weights": table,
        "average_da": f.average_mass_da(table),
        "average_mz": f.average_mass_da(table) / z,
        "monoisotopic_da": f.monoisotopic_mass_da(),
        "most_abundant_da": env.most_abundant_da,
        "isotopic_average_da": env.average_da,
        "envelope_fwhm_da": env.fwhm_da,
        "envelope_std_da": env.std_da,
    }
    if envelope:
        out["envelope"] = env.to_dict()["bins"]

    def render(d: dict[str, Any]) -> None:
        key_value_table(
            f"{d['hill']}",
            d,
            [
                ("average_da", f"average mass (Da, {d['weights']})"),
                ("monoisotopic_da", "monoisotopic mass (Da)"),
                ("most_abundant_da", "most abundant bin (Da)"),
                ("isotopic_average_da", "isotope-averaged mass (Da)"),
                ("envelope_fwhm_da", "envelope FWHM (Da)"),
                ("charge", "charge"),
            ],
        )

    emit(out, json_out, render)


def materials_cmd(
    name: Annotated[str | None, typer.Argument(help="Show one material's parameters with sources.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List material parameter sets, or show one with units and sources."""
    from qdlab import materials

    if name is None:
        data = {"materials": materials.list_materials()}
        emit(data, json_out, lambda d: print("\n".join(d["materials"])))
        return
    m = materials.get_material(name)

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"{d['name']}: {d['structure']}", title_justify="left")
        for col in ("parameter", "value", "unit", "source"):
            t.add_column(col, overflow="fold")
        for k, q in d["params"].items():
            t.add_row(k, f"{q['value']:g}", q["unit"], q["source"])
        out_console().print(t)

    emit(m.to_dict(), json_out, render)


def register(app: typer.Typer) -> None:
    """Attach the core commands to the root app."""
    app.command("size")(size)
    app.command("mass")(mass)
    app.command("materials")(materials_cmd)
