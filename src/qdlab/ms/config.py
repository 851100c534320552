"""Shipped defaults of :mod:`qdlab.ms` (``resources/ms/*.toml``), each with unit and source."""

from __future__ import annotations

import functools
from typing import Any

from qdlab.resources import load_toml


def default(section: str, key: str) -> Any:
    """The default value of ``[section] key`` in ``resources/ms/defaults.toml``."""
    return load_toml("ms/defaults.toml")[section][key]["value"]


@functools.cache
def adduct_table() -> dict[str, dict[str, Any]]:
    """Adduct definitions (``resources/ms/adducts.toml``)."""
    return {k: dict(v) for k, v in load_toml("ms/adducts.toml").items()}


@functools.cache
def formal_charges() -> dict[str, int]:
    """Formal charges of common building blocks (``resources/ms/blocks.toml``)."""
    return {k: int(v["value"]) for k, v in load_toml("ms/blocks.toml")["formal_charge"].items()}


def block_sets() -> dict[str, dict[str, Any]]:
    """Named default building-block sets with their stoichiometry targets."""
    return {k: dict(v) for k, v in load_toml("ms/blocks.toml")["sets"].items()}


def published_clusters() -> dict[str, dict[str, Any]]:
    """Published non-Cd3P2 cluster formulas with citations (used by tests and docs)."""
    return {k: dict(v) for k, v in load_toml("ms/published_clusters.toml").items()}


__all__ = ["default", "adduct_table", "formal_charges", "block_sets", "published_clusters"]
