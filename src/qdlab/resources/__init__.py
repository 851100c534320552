"""Package data: constants, atomic weights, isotopes, materials, reagents, recipes, scenarios.

Every number in these TOML files carries its unit and source. Code reads them through
:func:`load_toml`; nothing physical is typed inline twice.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any


@functools.cache
def load_toml(name: str) -> dict[str, Any]:
    """Load a TOML file shipped in ``qdlab/resources`` (cached).

    Parameters
    ----------
    name
        File name relative to the resources folder, e.g. ``"constants.toml"`` or
        ``"recipes/msc-synthesis.toml"``.
    """
    path = resources.files(__name__).joinpath(name)
    return tomllib.loads(path.read_text(encoding="utf-8"))


def resource_path(name: str):
    """Return a traversable path to a shipped resource (file or folder)."""
    return resources.files(__name__).joinpath(name)


def resource_names(folder: str, suffix: str = ".toml") -> list[str]:
    """Sorted names (without ``suffix``) of the shipped files in ``folder``, e.g. the twin's scenarios."""
    return sorted(p.name[: -len(suffix)] for p in resource_path(folder).iterdir() if p.name.endswith(suffix))


__all__ = ["load_toml", "resource_names", "resource_path"]
