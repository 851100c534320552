"""Chemical formulas: parsing (parentheses, brackets, charges, ligand shorthands) and masses.

Grammar (whitespace is ignored; digits followed by a sign right after a final ``]`` are a charge,
as in ``[Cd(OA)2]2-``)::

    formula := part+ charge?
    part    := (ELEMENT | SHORTHAND | '(' formula ')' | '[' formula ']') COUNT?
    charge  := ('^')? (DIGITS? ('+'|'-') | ('+'|'-') DIGITS)

Shorthands (``OA`` = oleate C18H33O2, ``OLA``, ``OAc``, ``TOP``, ``TOPO``, ``TMS``, ``ODPA``,
``DCTB``) come from ``resources/ligands.toml``.

Examples
--------
>>> f = parse_formula("Cd32P20(C17H33CO2)5")
>>> f.counts["Cd"], f.counts["C"], f.counts["O"]
(32, 90, 10)
>>> round(f.average_mass_da(table="iupac2007"), 2)
5623.89
>>> parse_formula("Cd32P20(OA)5+").charge
1
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from qdlab.chem.weights import atomic_weight, default_table, known_elements
from qdlab.data.errors import InputError
from qdlab.resources import load_toml
from qdlab.units import constant

_CHARGE_RE = re.compile(r"\^?(?:(\d*)([+-])|([+-])(\d+))$")


@functools.cache
def ligand_shorthands() -> dict[str, dict[str, str]]:
    """The ligand/matrix shorthands usable in formulas, from package data."""
    return {k: dict(v) for k, v in load_toml("ligands.toml").items()}


@dataclass(frozen=True)
class Formula:
    """An elemental composition with a charge.

    Parameters
    ----------
    counts
        Element symbol -> number of atoms (all >= 0).
    charge
        Net charge in elementary charges (+1 for a singly charged cation).
    text
        The text it was parsed from, if any.
    """

    counts: Mapping[str, int]
    charge: int = 0
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", {k: int(v) for k, v in self.counts.items() if int(v) != 0})

    def average_mass_da(self, table: str | None = None) -> float:
        """Average (standard-weight) mass in Da of the species as written.

        Electrons removed or added by the charge are accounted for (0.00055 Da each), which is far
        below the precision of tabulated average masses.
        """
        m = sum(n * atomic_weight(el, table) for el, n in self.counts.items())
        return m - self.charge * constant("electron_mass_da")

    def average_mz(self, table: str | None = None) -> float:
        """Average m/z (mass over |charge|; the mass for neutral species)."""
        return self.average_mass_da(table) / max(abs(self.charge), 1)

    def monoisotopic_mass_da(self) -> float:
        """Mass in Da built from the most abundant isotope of each element."""
        from qdlab.chem.weights import isotopes

        m = 0.0
        for el, n in self.counts.items():
            iso = isotopes(el)
            m += n * float(iso.mass_da[iso.abundance.argmax()])
        return m - self.charge * constant("electron_mass_da")

    def hill(self) -> str:
        """Hill-order string (C, H, then alphabetical), with charge suffix."""
        keys = sorted(self.counts)
        if "C" in self.counts:
            keys = ["C"] + (["H"] if "H" in self.counts else []) + [k for k in keys if k not in ("C", "H")]
        s = "".join(f"{k}{self.counts[k] if self.counts[k] != 1 else ''}" for k in keys)
        return s + charge_suffix(self.charge)

    def __add__(self, other: Formula) -> Formula:
        c = Counter(self.counts)
        c.update(other.counts)
        return Formula(dict(c), self.charge + other.charge)

    def __mul__(self, n: int) -> Formula:
        return Formula({k: v * n for k, v in self.counts.items()}, self.charge * n)

    __rmul__ = __mul__

    def with_charge(self, charge: int) -> Formula:
        """Same composition with another charge."""
        return Formula(self.counts, charge, self.text)

    def __str__(self) -> str:
        return self.text or self.hill()


def charge_suffix(charge: int) -> str:
    """``"+"``, ``"2+"``, ``"-"``... for a charge; empty for 0."""
    if charge == 0:
        return ""
    sign = "+" if charge > 0 else "-"
    return (str(abs(charge)) if abs(charge) != 1 else "") + sign


#: largest count of one element (after multiplying groups) and deepest nesting of groups a formula may have:
#: far beyond any cluster or dot (Cd3P2 QDs of 10 nm have ~10^4 atoms), small enough for exact float masses
_MAX_COUNT = 10**7
_MAX_DEPTH = 20
_MAX_CHARGE = 1000


class _Parser:
    def __init__(self, text: str) -> None:
        self.original = text
        self.s = "".join(text.split())
        self.i = 0
        self.depth = 0
        self.elements = known_elements()
        self.short = sorted(ligand_shorthands(), key=len, reverse=True)

    def fail(self, msg: str) -> InputError:
        shown = self.original if len(self.original) <= 80 else self.original[:80] + "..."
        return InputError(f"cannot parse formula {shown!r} at position {self.i + 1}: {msg}", field="formula")

    def count(self) -> int:
        m = re.match(r"\d+", self.s[self.i :])
        if not m:
            return 1
        if m.end() > len(str(_MAX_COUNT)) or int(m.group()) > _MAX_COUNT:
            raise self.fail(f"count {m.group()[:20]}{'...' if m.end() > 20 else ''} is too large "
                            f"(at most {_MAX_COUNT})")
        self.i += m.end()
        return int(m.group())

    def group(self, close: str | None) -> Counter[str]:
        total: Counter[str] = Counter()
        start = self.i
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch in ")]":
                if close is None:
                    raise self.fail(f"unmatched {ch!r}")
                if ch != close:
                    raise self.fail(f"expected {close!r} but found {ch!r}")
                if self.i == start:
                    raise self.fail("empty group")
                self.i += 1
                return total
            if ch in "([":
                self.depth += 1
                if self.depth > _MAX_DEPTH:
                    raise self.fail(f"groups nested more than {_MAX_DEPTH} deep")
                self.i += 1
                inner = self.group(")" if ch == "(" else "]")
                # "[Cd(OA)2]2-": digits + sign right after a closing ']' at the end are the ion's charge
                tail = self.s[self.i :]
                n = 1 if (ch == "[" and re.fullmatch(r"\d+[+-]", tail)) else self.count()
                for k, v in inner.items():
                    total[k] += v * n
                    if total[k] > _MAX_COUNT:
                        raise self.fail(f"more than {_MAX_COUNT} atoms of {k}")
                self.depth -= 1
                continue
            if ch in "+-^" or (
                close is None and re.fullmatch(r"\d+[+-]", self.s[self.i :]) and self.s[self.i - 1] == "]"
            ):
                if close is not None:
                    raise self.fail("a charge may only stand at the end of the formula")
                return total
            if ch.isupper():
                sym = self._symbol()
                n = self.count()
                if sym in ligand_shorthands():
                    sub = _parse_counts(ligand_shorthands()[sym]["formula"])
                    for k, v in sub.items():
                        total[k] += v * n
                else:
                    total[sym] += n
                continue
            raise self.fail(f"unexpected character {ch!r}; expected an element symbol, '(' or a charge")
        if close is not None:
            raise self.fail(f"missing closing {close!r}")
        return total

    def _symbol(self) -> str:
        rest = self.s[self.i :]
        for name in self.short:
            if rest.startswith(name) and not (len(rest) > len(name) and rest[len(name)].islower()):
                self.i += len(name)
                return name
        two = rest[:2]
        if len(two) == 2 and two[1].islower() and two in self.elements:
            self.i += 2
            return two
        if rest[0] in self.elements:
            self.i += 1
            return rest[0]
        guess = two if len(two) == 2 and two[1].islower() else rest[0]
        raise self.fail(f"unknown element or shorthand {guess!r}")

    def parse(self) -> Formula:
        if not self.s:
            raise InputError("empty formula", field="formula")
        counts = self.group(None)
        charge = 0
        rest = self.s[self.i :]
        if rest:
            m = _CHARGE_RE.fullmatch(rest)
            if not m:
                raise self.fail(f"cannot read charge {rest!r}; write e.g. '+', '2+' or '-'")
            digits = m.group(1) if m.group(2) else m.group(4)
            if digits and (len(digits) > 4 or int(digits) > _MAX_CHARGE):
                raise self.fail(f"charge {digits[:20]} is too large (at most {_MAX_CHARGE})")
            if m.group(2):
                charge = int(m.group(1) or 1) * (1 if m.group(2) == "+" else -1)
            else:
                charge = int(m.group(4)) * (1 if m.group(3) == "+" else -1)
        if not counts:
            raise self.fail("no atoms")
        return Formula(dict(counts), charge, self.original.strip())


@functools.cache
def _parse_counts(text: str) -> dict[str, int]:
    return dict(_Parser(text).parse().counts)


@functools.lru_cache(maxsize=4096)
def parse_formula(text: str) -> Formula:
    """Parse a formula such as ``"Cd32P20(C17H33CO2)5+"`` or ``"Cd32P20(OA)5"``.

    Raises
    ------
    InputError
        With the position of the first character that cannot be read.
    """
    if not isinstance(text, str):
        raise InputError(f"a formula must be text, got {type(text).__name__}", field="formula")
    return _Parser(text).parse()


def average_mass_da(formula: str | Formula, table: str | None = None) -> float:
    """Average mass of a formula (text or :class:`Formula`) under an atomic-weight table."""
    f = parse_formula(formula) if isinstance(formula, str) else formula
    return f.average_mass_da(table or default_table())


__all__ = ["Formula", "parse_formula", "average_mass_da", "ligand_shorthands", "charge_suffix"]
