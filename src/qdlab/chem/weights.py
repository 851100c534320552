"""Standard atomic weights (selectable table) and isotopic compositions, from package data."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.resources import load_toml


def weight_tables() -> dict[str, str]:
    """Names of the shipped atomic-weight tables and their descriptions."""
    data = load_toml("atomic_weights.toml")
    return {name: str(t["description"]) for name, t in data.items()}


@functools.cache
def default_table() -> str:
    """Name of the default atomic-weight table (current IUPAC)."""
    data = load_toml("atomic_weights.toml")
    return next(name for name, t in data.items() if t.get("default"))


@functools.cache
def _weights(table: str) -> dict[str, float]:
    data = load_toml("atomic_weights.toml")
    if table not in data:
        raise InputError(f"unknown atomic-weight table {table!r}; known: {', '.join(data)}", field="weights")
    return {k: float(v) for k, v in data[table]["weights"].items()}


def atomic_weight(symbol: str, table: str | None = None) -> float:
    """Standard atomic weight of an element in Da under the chosen table (default: current IUPAC)."""
    weights = _weights(table or default_table())
    if symbol not in weights:
        raise InputError(f"no atomic weight for element {symbol!r} in table {table or default_table()!r}")
    return weights[symbol]


def known_elements() -> frozenset[str]:
    """Element symbols for which qdlab has atomic weights and isotopic compositions."""
    return frozenset(load_toml("isotopes.toml"))


@dataclass(frozen=True)
class Isotopes:
    """Isotopic composition of one element: mass numbers, exact masses (Da), abundances (sum 1)."""

    symbol: str
    mass_number: NDArray[np.int64]
    mass_da: NDArray[np.float64]
    abundance: NDArray[np.float64]


@functools.cache
def isotopes(symbol: str) -> Isotopes:
    """Isotopic composition of ``symbol`` from ``isotopes.toml``."""
    data = load_toml("isotopes.toml")
    if symbol not in data:
        raise InputError(f"no isotope data for element {symbol!r}")
    d = data[symbol]
    p = np.asarray(d["abundance"], dtype=float)
    return Isotopes(
        symbol, np.asarray(d["mass_number"], dtype=np.int64), np.asarray(d["mass_da"], dtype=float), p / p.sum()
    )


__all__ = ["weight_tables", "default_table", "atomic_weight", "known_elements", "Isotopes", "isotopes"]
