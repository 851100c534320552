"""Building blocks and exhaustive enumeration of compositions within a mass tolerance.

A block is an element symbol, a ligand shorthand (``OA`` = oleate) or any formula. The compositions of
all blocks but the heaviest are built once, sorted by mass (cached per block set and mass range), and
every (query, count of the heaviest block) is a ``searchsorted`` window of that table: thousands of
queries cost a few vectorised numpy calls.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.chem.formula import Formula, charge_suffix, ligand_shorthands, parse_formula
from qdlab.data.errors import InputError
from qdlab.ms.config import formal_charges

_MAX_GRID = 20_000_000


@dataclass(frozen=True)
class Block:
    """One building block: an element, a ligand shorthand or a formula.

    Attributes
    ----------
    name
        As written by the user (``"Cd"``, ``"OA"``, ``"C2H3O2"``).
    formula
        Its elemental composition.
    formal_charge
        Charge used by the charge-balance score (Cd +2, P -3, OA -1; 0 if unknown).
    is_element
        True for a single element symbol (written without parentheses in formulas).
    """

    name: str
    formula: Formula
    formal_charge: int
    is_element: bool

    def mass_da(self, table: str | None = None) -> float:
        """Average mass of the block (Da) under an atomic-weight table."""
        return self.formula.with_charge(0).average_mass_da(table)


def parse_blocks(blocks: str | Sequence[str | Block], charges: Mapping[str, int] | None = None) -> tuple[Block, ...]:
    """Parse building blocks from ``"Cd,P,OA"`` or a sequence; formal charges from package data or ``charges``.

    A block may carry its formal charge inline: ``"C2H3O2:-1"``.

    Examples
    --------
    >>> [(b.name, b.formal_charge) for b in parse_blocks("Cd,P,OA")]
    [('Cd', 2), ('P', -3), ('OA', -1)]
    """
    items = [s.strip() for s in blocks.split(",")] if isinstance(blocks, str) else list(blocks)
    table = dict(formal_charges())
    table.update(charges or {})
    out: list[Block] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Block):
            out.append(item)
            continue
        if not item:
            raise InputError("empty building block in the list", field="blocks")
        name, _, q = item.partition(":")
        name = name.strip()
        f = parse_formula(name)
        if f.charge:
            raise InputError(f"write block {name!r} without a charge (give formal charges as NAME:q)", field="blocks")
        if q:
            try:
                fc = int(q)
            except ValueError as exc:
                raise InputError(f"formal charge of {name!r} must be an integer, got {q!r}", field="blocks") from exc
        else:
            fc = int(table.get(name, table.get(f.hill(), 0)))
        is_el = len(f.counts) == 1 and next(iter(f.counts.values())) == 1 and name not in ligand_shorthands()
        if name in seen:
            raise InputError(f"block {name!r} given twice", field="blocks")
        seen.add(name)
        out.append(Block(name, f, fc, is_el))
    if not out:
        raise InputError("give at least one building block", field="blocks")
    return tuple(out)


def composition_text(blocks: Sequence[Block], counts: Sequence[int]) -> str:
    """Write counts of blocks as a formula: ``Cd32P20(OA)5``."""
    parts = []
    for b, n in zip(blocks, counts, strict=False):
        n = int(n)
        if n == 0:
            continue
        core = b.name if b.is_element else f"({b.name})"
        parts.append(core + (str(n) if n != 1 else ""))
    return "".join(parts) or "(empty)"


def ion_text(core: str, adduct: str, copies: int, charge: int) -> str:
    """Ion notation: ``Cd32P20(OA)5+`` or ``[Cd32P20(OA)5+Na]+``."""
    if adduct == "none":
        # "Cd31P17(OA)5^2+": the caret keeps a count and a charge apart
        return core + ("^" if abs(charge) > 1 else "") + charge_suffix(charge)
    add = (str(copies) if copies > 1 else "") + adduct
    return f"[{core}+{add}]{charge_suffix(charge)}"


# --------------------------------------------------------------------------------------------------
# enumeration


def _grid(masses: tuple[float, ...], max_counts: tuple[int, ...], max_mass: float) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """All count vectors of the given blocks with total mass <= max_mass, sorted by mass."""
    total = np.zeros(1)
    counts = np.zeros((1, 0), dtype=np.int32)
    for m, cmax in zip(masses, max_counts, strict=False):
        nmax = np.minimum(np.floor((max_mass - total) / m).astype(np.int64), cmax)
        nmax = np.maximum(nmax, -1)
        lengths = nmax + 1
        n_new = int(lengths.sum())
        if n_new > _MAX_GRID:
            raise InputError(
                f"too many compositions to enumerate ({n_new:,} > {_MAX_GRID:,}); lower the mass, "
                "give fewer/heavier blocks or set max counts", field="blocks")
        rows = np.repeat(np.arange(total.size), lengths)
        starts = np.cumsum(lengths) - lengths
        n = (np.arange(n_new) - np.repeat(starts, lengths)).astype(np.int32)
        total = total[rows] + n * m
        counts = np.concatenate([counts[rows], n[:, None]], axis=1)
    order = np.argsort(total, kind="stable")
    return total[order], counts[order]


@functools.lru_cache(maxsize=16)
def _cached_grid(masses: tuple[float, ...], max_counts: tuple[int, ...], max_mass: float):
    return _grid(masses, max_counts, max_mass)


@dataclass(frozen=True, eq=False)
class _Hits:
    """Raw enumeration result: per hit its query, grid row and count of the heaviest block."""

    q: NDArray[np.int64]
    gidx: NDArray[np.int64]
    n_heavy: NDArray[np.int64]
    mass: NDArray[np.float64]
    grid_counts: NDArray[np.int32]  # grid rows x (blocks - 1), minimum counts included
    heavy: int
    rest: tuple[int, ...]

    def counts(self, sel: NDArray[np.int64] | slice = slice(None)) -> NDArray[np.int32]:
        """Count vectors (hits x blocks) of the selected hits."""
        g = self.gidx[sel]
        out = np.empty((g.size, len(self.rest) + 1), dtype=np.int32)
        if self.rest:
            out[:, list(self.rest)] = self.grid_counts[g]
        out[:, self.heavy] = self.n_heavy[sel]
        return out


@dataclass(frozen=True, eq=False)
class _Windows:
    """Enumeration before expansion: per (query, count of the heaviest block) "pair", a window of grid rows.

    Only pairs with at least one hit are kept, so ``starts`` (first hit of each pair) is increasing.
    Hits are numbered pair by pair, and within a pair by grid row (the order of :class:`_Hits`).
    """

    pair_q: NDArray[np.int64]  # query of each pair (non-decreasing)
    pair_n: NDArray[np.int64]  # count of the heaviest block above its minimum
    lo: NDArray[np.int64]  # first grid row of the window
    hits: NDArray[np.int64]  # rows in the window (> 0)
    starts: NDArray[np.int64]  # index of the pair's first hit
    n_hits: int
    gmass: NDArray[np.float64]  # grid masses (minimum counts excluded), sorted
    grid_counts: NDArray[np.int32]  # grid rows x (blocks - 1), minimum counts included
    heavy: int
    rest: tuple[int, ...]
    mh: float  # mass of the heaviest block
    base: float  # mass of the minimum counts
    cmin_heavy: int

    def gidx(self) -> NDArray[np.int64]:
        """Grid row of every hit."""
        g = np.repeat(self.lo - self.starts, self.hits)
        g += np.arange(self.n_hits)
        return g

    def pair_of(self, hit: NDArray[np.int64]) -> NDArray[np.int64]:
        """Pair of each given hit."""
        return np.searchsorted(self.starts, hit, side="right") - 1


def _windows(t_in: NDArray[np.float64], tol: NDArray[np.float64], bm: NDArray[np.float64], cmax_in: NDArray[np.int64],
             cmin: NDArray[np.int64], grid_max_mass: float | None = None) -> _Windows:
    """Grid windows of every (query, count of the heaviest block) within ``tol`` of the targets ``t_in``."""
    k = bm.size
    base = float(cmin @ bm)
    t = t_in - base
    cmax = cmax_in - cmin
    if np.any(cmax < 0):
        raise InputError("a minimum count exceeds the maximum", field="max_counts")
    heavy = int(np.argmax(bm))
    rest = tuple(i for i in range(k) if i != heavy)
    max_mass = (float(np.max(t + tol)) if t.size else 0.0) if grid_max_mass is None else grid_max_mass - base
    gmass, gcounts = _cached_grid(tuple(float(bm[i]) for i in rest), tuple(int(cmax[i]) for i in rest),
                                  round(max(max_mass, 0.0) + 1.0, 0))
    gfull = gcounts + cmin[list(rest)].astype(np.int32) if np.any(cmin) else gcounts
    mh = bm[heavy]
    nh_max = np.minimum(np.floor(np.maximum(t + tol, 0) / mh).astype(np.int64), cmax[heavy])
    lengths = np.where(t + tol >= 0, nh_max + 1, 0)
    pair_q = np.repeat(np.arange(t.size), lengths)
    starts = np.cumsum(lengths) - lengths
    pair_n = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    resid = t[pair_q] - pair_n * mh
    tq = tol[pair_q]
    lo = np.searchsorted(gmass, resid - tq, side="left")
    hi = np.searchsorted(gmass, resid + tq, side="right")
    if not np.any(cmin):  # grid row 0 is the all-zero composition (mass 0, sorted first): never a hit alone
        lo[(pair_n == 0) & (lo == 0) & (hi > 0)] = 1
    hits = hi - lo
    keep = np.flatnonzero(hits > 0)
    hits = hits[keep]
    hstarts = np.cumsum(hits) - hits
    return _Windows(pair_q[keep], pair_n[keep], lo[keep], hits, hstarts, int(hits.sum()), gmass, gfull, heavy + 0, rest,
                    mh, base, int(cmin[heavy]))


def _enumerate(t_in: NDArray[np.float64], tol: NDArray[np.float64], bm: NDArray[np.float64], cmax_in: NDArray[np.int64],
               cmin: NDArray[np.int64], grid_max_mass: float | None = None) -> _Hits:
    w = _windows(t_in, tol, bm, cmax_in, cmin, grid_max_mass)
    gidx = w.gidx()
    n_heavy = np.repeat(w.pair_n, w.hits)
    mass = w.gmass[gidx] + n_heavy * w.mh + w.base
    return _Hits(np.repeat(w.pair_q, w.hits), gidx, n_heavy + w.cmin_heavy, mass, w.grid_counts, w.heavy, w.rest)


def enumerate_compositions(
    targets_da: NDArray[np.float64],
    tol_da: NDArray[np.float64],
    block_masses: Sequence[float],
    *,
    max_counts: Sequence[int] | None = None,
    min_counts: Sequence[int] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Every count vector ``n`` (n_i >= 0, not all 0) with ``|n . m - target| <= tol`` for each target.

    The compositions of all blocks but the heaviest are built once (up to the largest target), sorted
    by mass; each (target, count of the heaviest block) is then a ``searchsorted`` window of that table.

    Returns
    -------
    query, counts, mass
        Index of the target of each hit (non-decreasing), the count vectors (hits x blocks) and masses.

    Examples
    --------
    >>> q, n, m = enumerate_compositions(np.array([10.0]), np.array([0.1]), [2.0, 3.0])
    >>> sorted(map(tuple, n.tolist()))
    [(2, 2), (5, 0)]
    """
    bm = np.asarray(block_masses, dtype=float)
    k = bm.size
    if np.any(bm <= 0):
        raise InputError("building-block masses must be positive", field="blocks")
    cmax = np.full(k, np.iinfo(np.int32).max, dtype=np.int64) if max_counts is None else np.asarray(max_counts, np.int64)
    cmin = np.zeros(k, dtype=np.int64) if min_counts is None else np.asarray(min_counts, np.int64)
    t = np.asarray(targets_da, float)
    tol = np.broadcast_to(np.asarray(tol_da, float), t.shape)
    h = _enumerate(t, tol, bm, cmax, cmin)
    return h.q, h.counts(), h.mass



__all__ = ["Block", "parse_blocks", "composition_text", "ion_text", "enumerate_compositions"]
