"""Form checking for the dashboard, in a chemist's words: what is wrong, in which box, and an example.

A form is never thrown away: the page is drawn again with what was typed, the errors beside the boxes
and warnings for values that are possible but unusual (a 500 mL/h "injection" is a pour, not a
syringe-pump addition). Warned values run only after the user ticks "run anyway".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: (label, unit, example, plausible range) of each numeric box; outside the range means a warning, not an error.
FIELDS: dict[str, tuple[str, str, str, tuple[float, float]]] = {
    "wavelength_nm": ("PL peak", "nm", "1010", (700.0, 2000.0)),
    "diameter_nm": ("diameter", "nm", "3.4", (1.0, 20.0)),
    "mass_da": ("MALDI mass", "Da", "38000", (1000.0, 5.0e6)),
    "rate_ml_per_h": ("injection rate", "mL/h", "8", (0.1, 50.0)),
    "seed_nm": ("seed PL peak", "nm", "1010", (700.0, 2000.0)),
    "target_nm": ("target PL peak", "nm", "1150", (700.0, 2000.0)),
    "seed_mg": ("seed amount", "mg", "20", (1.0, 500.0)),
    "max_fwhm_mev": ("largest FWHM", "meV", "100", (30.0, 300.0)),
}


@dataclass
class Checked:
    """A checked form: numbers that parsed, errors per box, warnings for the whole form."""

    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors


def number(raw: str, name: str, checked: Checked) -> float | None:
    """Read one box: a positive number in the box's unit, else an error in words (and ``None``)."""
    label, unit, example, (lo, hi) = FIELDS[name]
    text = raw.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        checked.errors[name] = f"{label} must be a number in {unit}, e.g. {example}; “{raw.strip()}” is not a number."
        return None
    if not value > 0 or value == float("inf"):
        checked.errors[name] = f"{label} must be more than 0 {unit}; you typed {raw.strip()}."
        return None
    if not lo <= value <= hi:
        checked.warnings.append(f"{label} {value:g} {unit} is unusual (usually {lo:g}–{hi:g} {unit}); check the unit.")
    checked.values[name] = value
    return value


def size_form(form: dict[str, str]) -> Checked:
    """The sizing calculator: exactly one of PL peak, diameter or MALDI mass."""
    checked = Checked()
    for name in ("wavelength_nm", "diameter_nm", "mass_da"):
        number(form.get(name, ""), name, checked)
    given = [n for n in ("wavelength_nm", "diameter_nm", "mass_da") if form.get(n, "").strip()]
    if len(given) > 1 and not checked.errors:
        names = " and ".join(FIELDS[n][0] for n in given)
        checked.errors["form"] = (f"Enter one value only: you gave {names}. The calculator works out the others "
                                  "from the one you give.")
    return checked


def plan_form(form: dict[str, str]) -> Checked:
    """The planner: seed and target PL peak are needed; seed amount and an FWHM cap are optional."""
    checked = Checked()
    for name in ("seed_nm", "target_nm", "seed_mg", "max_fwhm_mev"):
        number(form.get(name, ""), name, checked)
    for name in ("seed_nm", "target_nm"):
        if not form.get(name, "").strip() and name not in checked.errors:
            label, unit, example, _ = FIELDS[name]
            checked.errors[name] = f"Enter the {label} in {unit}, e.g. {example}."
    return checked


def in_words(message: str) -> str:
    """A library message with its CLI flag or field names (``--wavelength-nm``, ``target_nm``) in the form's words.

    Examples
    --------
    >>> in_words("target_nm: target 900 nm is out of reach")
    'target PL peak (nm): target 900 nm is out of reach'
    """
    names = {**{n: f"{label} ({unit})" for n, (label, unit, _, _) in FIELDS.items()},
             "energy_ev": "photon energy (eV)"}
    for name, words in names.items():
        message = re.sub(rf"(--{name.replace('_', '-')}\b|\b{name}\b)", words, message)
    return message


def kept(form: dict[str, Any]) -> dict[str, str]:
    """What the user typed, as strings, to fill the boxes again."""
    return {k: "" if v is None else str(v) for k, v in form.items()}


__all__ = ["FIELDS", "Checked", "number", "size_form", "plan_form", "in_words", "kept"]
