"""Crystal structures for powder XRD: tetragonal Cd3P2 and the alternative phases.

Structures are built with pymatgen from the space group and Wyckoff representatives stored in
``resources/xrd/structures.toml`` (value, unit and source for every lattice constant). The same
structures are shipped as CIF files (``resources/xrd/*.cif``) with their provenance in comments; tests
check that the CIFs and the builds agree.

Cd3P2 has no open, refined coordinate set (the refinements are in ICSD, which may not be copied), so
the Zn3P2-type (D5_9) coordinates are *derived*: P on the ideal fcc sublattice of the fluorite subcell,
Cd in 3/4 of the tetrahedral holes, ordered so that the space group is P4_2/nmc with the D5_9 Wyckoff
sets. :func:`enumerate_zn3p2_orderings` repeats that derivation.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.resources import load_toml, resource_path

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

PHASES: tuple[str, ...] = ("Cd3P2", "Cd", "CdO")


def structure_data(phase: str) -> Mapping[str, Any]:
    """The TOML record of ``phase`` (space group, lattice with sources, sites, citation)."""
    table = load_toml("xrd/structures.toml")
    if phase not in table:
        raise InputError(f"unknown phase {phase!r}; known: {', '.join(sorted(table))}", field="phase")
    return table[phase]


def build_structure(
    phase: str, *, lattice_a_angstrom: float | None = None, lattice_c_angstrom: float | None = None
) -> Structure:
    """Build the conventional cell of ``phase`` with pymatgen.

    Parameters
    ----------
    phase
        ``"Cd3P2"``, ``"Cd"`` or ``"CdO"``.
    lattice_a_angstrom, lattice_c_angstrom
        Override the tabulated lattice constants (e.g. to model strain).

    Returns
    -------
    pymatgen.core.Structure
    """
    from pymatgen.core import Lattice, Structure

    rec = structure_data(phase)
    a = float(lattice_a_angstrom or rec["lattice_a_angstrom"]["value"])
    c = float(lattice_c_angstrom or rec["lattice_c_angstrom"]["value"])
    if not (a > 0 and c > 0):
        raise InputError("lattice constants must be positive", field="lattice_a_angstrom")
    number = int(rec["space_group_number"])
    if number == 194:
        lattice = Lattice.hexagonal(a, c)
    elif number == 225:
        lattice = Lattice.cubic(a)
    else:
        lattice = Lattice.tetragonal(a, c)
    species = [s["species"] for s in rec["sites"]]
    coords = [s["coords"] for s in rec["sites"]]
    return Structure.from_spacegroup(rec["space_group"], lattice, species, coords, tol=1e-3)


@functools.cache
def _cached(phase: str) -> Structure:
    return build_structure(phase)


def cd3p2_structure(*, lattice_a_angstrom: float | None = None, lattice_c_angstrom: float | None = None) -> Structure:
    """Tetragonal Cd3P2 (Zn3P2 type, P4_2/nmc, 40 atoms per cell).

    Examples
    --------
    >>> s = cd3p2_structure()
    >>> s.composition.reduced_formula, len(s)
    ('Cd3P2', 40)
    """
    if lattice_a_angstrom is None and lattice_c_angstrom is None:
        return _cached("Cd3P2").copy()
    return build_structure("Cd3P2", lattice_a_angstrom=lattice_a_angstrom, lattice_c_angstrom=lattice_c_angstrom)


def phase_structure(phase: str) -> Structure:
    """The structure of one of :data:`PHASES` (a copy; safe to modify)."""
    return _cached(phase).copy()


def cif_path(phase: str):
    """Path of the shipped CIF of ``phase`` (``resources/xrd/<phase>.cif``)."""
    structure_data(phase)
    return resource_path(f"xrd/{phase.lower()}.cif")


def load_cif(phase: str) -> Structure:
    """Read the shipped CIF of ``phase`` with pymatgen."""
    from pymatgen.core import Structure

    return Structure.from_str(cif_path(phase).read_text(encoding="utf-8"), fmt="cif")


def write_cif_text(phase: str) -> str:
    """CIF text of the built structure with a provenance header (used to regenerate the shipped CIFs)."""
    from pymatgen.io.cif import CifWriter

    rec = structure_data(phase)
    body = str(CifWriter(phase_structure(phase), symprec=1e-3))
    src_lines = [f"#   {line}" for line in str(rec["source"]).splitlines()]
    header = [
        f"# {rec['name']}",
        "# Written by qdlab.xrd.structure.write_cif_text from resources/xrd/structures.toml (pymatgen CifWriter).",
        f"# Lattice a: {rec['lattice_a_angstrom']['value']} A ({rec['lattice_a_angstrom']['source']})",
        f"# Lattice c: {rec['lattice_c_angstrom']['value']} A ({rec['lattice_c_angstrom']['source']})",
        f"# Coordinates: {rec['coordinates']}",
        "# Provenance:",
        *src_lines,
        "# Not copied from ICSD or any other licensed database.",
        "",
    ]
    return "\n".join(header) + body


def carve_sphere(
    structure: Structure, diameter_nm: float, *, center_frac: tuple[float, float, float] | None = None
) -> tuple[NDArray[np.float64], list[str]]:
    """Cartesian positions (A) and element symbols of all atoms within a sphere cut from the crystal.

    Parameters
    ----------
    structure
        Periodic crystal (conventional cell).
    diameter_nm
        Sphere diameter in nm.
    center_frac
        Sphere centre in fractional coordinates of the cell; default: the cell centre (0.5, 0.5, 0.5)
        shifted by a small irrational offset so that no atom sits exactly on the surface.

    Returns
    -------
    positions, symbols
        ``positions`` has shape (N, 3) in angstrom, centred on the sphere centre.

    Examples
    --------
    >>> pos, sym = carve_sphere(cd3p2_structure(), 2.0)
    >>> bool(np.all(np.linalg.norm(pos, axis=1) <= 10.0))
    True
    """
    if not (diameter_nm > 0 and np.isfinite(diameter_nm)):
        raise InputError(f"diameter must be positive, got {diameter_nm}", field="diameter_nm")
    radius = 5.0 * float(diameter_nm)
    centre_f = np.asarray(center_frac if center_frac is not None else (0.5 + 1e-4, 0.5 + 2e-4, 0.5 + 3e-4), float)
    lat = structure.lattice
    centre = lat.get_cartesian_coords(centre_f)
    # enough cells on each side to cover the sphere
    n = [int(np.ceil(radius / length)) + 1 for length in (lat.a, lat.b, lat.c)]
    frac = structure.frac_coords
    cells = np.array(list(itertools.product(*(range(-k, k + 1) for k in n))), dtype=float)
    all_frac = (frac[None, :, :] + cells[:, None, :]).reshape(-1, 3)
    cart = lat.get_cartesian_coords(all_frac) - centre
    keep = np.einsum("ij,ij->i", cart, cart) <= radius * radius
    syms_cell = [site.specie.symbol for site in structure]
    symbols = [syms_cell[i % len(syms_cell)] for i in np.nonzero(keep)[0]]
    return cart[keep], symbols


def enumerate_zn3p2_orderings() -> dict[str, int]:
    """Re-derive the D5_9 ordering: count cation-vacancy orderings by space group.

    Anions on the fcc sublattice of a fluorite subcell, cations in 24 of the 32 tetrahedral holes of the
    sqrt2 x sqrt2 x 2 supercell, every anion with exactly six cation neighbours. Returns the number of
    orderings per space-group symbol (spglib). Takes about a minute; used by a slow test.
    """
    import spglib

    tmat = np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    inv = np.linalg.inv(tmat)

    def wrap(points: NDArray[np.float64]) -> NDArray[np.float64]:
        f = np.mod(np.round(points @ inv, 6), 1.0)
        out: list[NDArray[np.float64]] = []
        for p in f:
            if not any(np.allclose(np.mod(p - q + 0.5, 1) - 0.5, 0, atol=1e-5) for q in out):
                out.append(p)
        return np.array(out)

    rng = range(-3, 4)
    fcc = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
    anions = wrap(np.array([np.add((i, j, k), b) for i in rng for j in rng for k in rng for b in fcc]))
    tets = wrap(
        np.array([np.add((i, j, k), t) for i in rng for j in rng for k in rng for t in itertools.product((0.25, 0.75), repeat=3)])
    )

    def dist(d: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.linalg.norm((np.mod(d + 0.5, 1) - 0.5) @ tmat, axis=-1)

    neigh = [np.nonzero(np.abs(dist(tets - a) - np.sqrt(3) / 4) < 1e-4)[0] for a in anions]
    found: set[frozenset[int]] = set()

    def dfs(ai: int, vac: frozenset[int]) -> None:
        if ai == len(anions):
            if len(vac) == 8:
                found.add(vac)
            return
        have = [t for t in neigh[ai] if t in vac]
        free = [t for t in neigh[ai] if t not in vac]
        for comb in itertools.combinations(free, 2 - len(have)):
            new = vac | frozenset(int(x) for x in comb)
            if len(new) <= 8 and all(sum(1 for t in nb if t in new) <= 2 for nb in neigh):
                dfs(ai + 1, new)

    dfs(0, frozenset())
    counts: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's OLD_ERROR_HANDLING notice
        for vac in found:
            occ = [i for i in range(len(tets)) if i not in vac]
            cell = (tmat, np.vstack([anions, tets[occ]]), [15] * len(anions) + [48] * len(occ))
            sg = spglib.get_spacegroup(cell, symprec=1e-4) or "?"
            counts[sg] = counts.get(sg, 0) + 1
    return counts


__all__ = [
    "PHASES",
    "structure_data",
    "build_structure",
    "cd3p2_structure",
    "phase_structure",
    "cif_path",
    "load_cif",
    "write_cif_text",
    "carve_sphere",
    "enumerate_zn3p2_orderings",
]
