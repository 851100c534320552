"""Reagents (molar mass from the formula, density with source) and amount conversions.

Amount strings understood by :func:`parse_amount` (case-insensitive, µ/u both accepted)::

    "0.30 mmol"   "1.5 mol"   "250 umol"
    "20 mg"       "1.2 g"
    "0.145 ml"    "290 ul"    "6 mL"   "0.01 L"
    "6 ml of 0.50 M"   "2 ml of 100 mM"        (a solution: volume and molar concentration)
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from qdlab.chem.formula import parse_formula
from qdlab.data.errors import InputError
from qdlab.resources import load_toml

_UNITS = {
    "mol": ("amount", 1e3),
    "mmol": ("amount", 1.0),
    "umol": ("amount", 1e-3),
    "nmol": ("amount", 1e-6),
    "kg": ("mass", 1e3),
    "g": ("mass", 1.0),
    "mg": ("mass", 1e-3),
    "ug": ("mass", 1e-6),
    "l": ("volume", 1e3),
    "ml": ("volume", 1.0),
    "ul": ("volume", 1e-3),
}
_CONC = {"m": 1.0, "mm": 1e-3, "mol/l": 1.0, "mmol/l": 1e-3, "um": 1e-6}
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_AMOUNT_RE = re.compile(rf"^\s*({_NUM})\s*([a-zA-Zµμ/]+)\s*(?:of\s+({_NUM})\s*([a-zA-Z/]+))?\s*$")


@dataclass(frozen=True)
class Reagent:
    """A reagent: formula, molar mass (from the formula), density, physical state."""

    key: str
    name: str
    formula: str
    state: str
    molar_mass_g_per_mol: float
    density_g_per_ml: float | None
    boiling_point_c: float | None
    inorganic_mass_fraction: float | None
    sources: dict[str, str]

    def element_mmol_per_mmol(self, element: str) -> int:
        """Atoms of ``element`` per formula unit."""
        return int(parse_formula(self.formula).counts.get(element, 0))


@dataclass(frozen=True)
class Amount:
    """A parsed amount: ``kind`` is amount/mass/volume/solution; value in mmol, g or mL."""

    text: str
    kind: str
    value: float
    conc_mol_per_l: float | None = None


@functools.cache
def _reagent_table() -> dict[str, dict[str, Any]]:
    return load_toml("reagents.toml")


def list_reagents() -> list[str]:
    """Keys of the shipped reagents."""
    return list(_reagent_table())


@functools.cache
def get_reagent(name: str) -> Reagent:
    """Look up a reagent by key or alias (case-insensitive).

    Raises
    ------
    InputError
        Naming the unknown reagent and listing the known ones.
    """
    table = _reagent_table()
    wanted = name.strip().lower()
    for key, d in table.items():
        if wanted == key.lower() or wanted in [a.lower() for a in d.get("aliases", [])]:
            f = parse_formula(d["formula"])
            sources = {k: v["source"] for k, v in d.items() if isinstance(v, dict) and "source" in v}
            dens = d.get("density_g_per_ml")
            bp = d.get("boiling_point_c")
            inorg = d.get("inorganic_mass_fraction")
            return Reagent(
                key=key,
                name=d["name"],
                formula=d["formula"],
                state=d["state"],
                molar_mass_g_per_mol=f.average_mass_da(),
                density_g_per_ml=None if dens is None else float(dens["value"]),
                boiling_point_c=None if bp is None else float(bp["value"]),
                inorganic_mass_fraction=None if inorg is None else float(inorg["value"]),
                sources=sources,
            )
    raise InputError(f"unknown reagent {name!r}; known: {', '.join(table)}", field="reagent")


def parse_amount(text: str | float | dict[str, Any]) -> Amount:
    """Parse an amount string (see module docstring) or a ``{value, unit}`` table."""
    if isinstance(text, dict):
        if set(text) - {"value", "unit"} or "value" not in text or "unit" not in text:
            raise InputError(f"an amount table needs exactly 'value' and 'unit', got {sorted(text)}", field="amount")
        text = f"{text['value']} {text['unit']}"
    if not isinstance(text, str):
        raise InputError(f"an amount needs a unit, e.g. '0.30 mmol', got {text!r}", field="amount")
    m = _AMOUNT_RE.match(text.replace("µ", "u").replace("μ", "u"))
    if not m:
        raise InputError(
            f"cannot read amount {text!r}; expected e.g. '0.30 mmol', '20 mg', '290 ul' or '6 ml of 0.50 M'",
            field="amount",
        )
    value = float(m.group(1))
    unit = m.group(2).lower()
    if unit not in _UNITS:
        raise InputError(f"unknown unit {m.group(2)!r} in {text!r}; use mol/mmol/umol, g/mg, L/ml/ul", field="amount")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"amount must be positive, got {text!r}", field="amount")
    kind, factor = _UNITS[unit]
    if m.group(3) is not None:
        if kind != "volume":
            raise InputError(f"a solution is written 'V ml of C M', got {text!r}", field="amount")
        conc = float(m.group(3))
        cu = m.group(4).lower()
        if cu not in _CONC:
            raise InputError(f"unknown concentration unit {m.group(4)!r} in {text!r}; use M or mM", field="amount")
        conc *= _CONC[cu]
        if not conc > 0:
            raise InputError(f"concentration must be positive in {text!r}", field="amount")
        return Amount(text, "solution", value * factor, conc)
    return Amount(text, kind, value * factor)


@dataclass(frozen=True)
class ResolvedAmount:
    """An amount of a reagent in every unit that can be derived."""

    reagent: str
    text: str
    mmol: float
    mass_g: float | None
    volume_ml: float | None
    note: str = ""


def resolve_amount(reagent: Reagent, amount: Amount) -> ResolvedAmount:
    """Convert an amount of ``reagent`` to mmol, grams and millilitres where possible."""
    mw = reagent.molar_mass_g_per_mol
    rho = reagent.density_g_per_ml
    note = ""
    if amount.kind == "amount":
        mmol = amount.value
        mass = mmol * mw / 1000
        vol = mass / rho if (rho and reagent.state == "liquid") else None
    elif amount.kind == "mass":
        mass = amount.value
        frac = reagent.inorganic_mass_fraction
        if frac is not None:
            note = f"{frac:.0%} of the mass counted as {reagent.formula} (assumption)"
            mmol = mass * frac / mw * 1000
        else:
            mmol = mass / mw * 1000
        vol = mass / rho if (rho and reagent.state == "liquid") else None
    elif amount.kind == "volume":
        if rho is None:
            raise InputError(
                f"{reagent.name} has no density in qdlab's data; give it in mmol, mass, or as a solution 'V ml of C M'",
                field="amount",
            )
        vol = amount.value
        mass = vol * rho
        mmol = mass / mw * 1000
    else:  # solution
        vol = amount.value
        mmol = vol * float(amount.conc_mol_per_l)  # mL x mol/L = mmol
        mass = mmol * mw / 1000
        note = f"solution, {amount.conc_mol_per_l:g} M"
    return ResolvedAmount(reagent.key, amount.text, mmol, mass, vol, note)


__all__ = ["Reagent", "Amount", "ResolvedAmount", "list_reagents", "get_reagent", "parse_amount", "resolve_amount"]
