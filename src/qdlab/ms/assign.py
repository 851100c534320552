"""Composition assignment of cluster ions from building blocks (Cd, P, oleate, ... or any formula).

For every observed m/z, :func:`assign_masses` enumerates **every** composition ``sum_i n_i B_i`` (plus an
adduct, for each charge) whose m/z lies within the tolerance, then ranks them by a log-score that adds

* a Gaussian mass-error term (sigma = tolerance / 2);
* a stoichiometry prior: Aitchison (centred-log-ratio) distance of the inorganic block counts from the
  target ratio (Cd3P2 by default);
* a soft formal-charge term: the formal charge ``q = sum n_i c_i`` (Cd +2, P -3, oleate -1, ...) compared
  with the ion charge (soft because the paper's own "+" fragments range over q = -2..+2);
* isotope-envelope similarity (cosine) between the observed profile and the theoretical nominal-mass
  envelope (:func:`qdlab.chem.isotope_envelope`) broadened by the instrument resolution, when a profile
  is given;
* series consistency: a bonus when a neighbouring peak has a good candidate that differs by a small step
  of building blocks.

Near-isobaric alternatives (compositions related by a small exchange such as +Cd2P2 -OA, 5.3 Da) are
listed for every candidate, including alternatives just outside the tolerance.

Enumeration: the compositions of all blocks but the heaviest are built once, sorted by mass, and every
(peak, adduct, charge, count of the heaviest block) is a ``searchsorted`` window into that table, so
1,000 peaks cost a few vectorised numpy calls.

Examples
--------
>>> res = assign_masses([5623.4], blocks="Cd,P,OA", tolerance_da=1.0, weights="iupac2007")
>>> res.peaks[0].candidates[0].formula
'Cd32P20(OA)5+'
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.chem.formula import Formula, charge_suffix, ligand_shorthands, parse_formula
from qdlab.chem.weights import default_table, weight_tables
from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.ms.config import adduct_table, default, formal_charges
from qdlab.units import constant

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


@dataclass(frozen=True, eq=False)
class Candidate(Result):
    """One composition that explains an observed peak.

    Attributes
    ----------
    formula
        Ion notation (``"Cd32P20(OA)5+"``).
    counts
        Block name -> count.
    adduct, charge
        Ionising adduct name and ion charge.
    mass_da
        Theoretical average m/z (Da for z = 1) under the chosen atomic-weight table.
    error_da
        ``observed - theoretical`` in m/z units.
    score
        Normalised score (softmax of ``log_score`` over this peak's candidates; sums to 1).
    log_score
        Sum of the terms in ``terms`` (0 is perfect).
    terms
        The individual log-score terms (mass, stoichiometry, charge, envelope, series).
    formal_charge
        ``sum n_i q_i`` of the neutral composition plus the adduct charges.
    masses_by_table
        Theoretical m/z under every shipped atomic-weight table.
    near_isobaric
        Compositions related by a small block exchange within the isobar window (formula, m/z, in tolerance).
    """

    formula: str
    counts: dict[str, int]
    adduct: str
    charge: int
    mass_da: float
    error_da: float
    score: float
    log_score: float
    terms: dict[str, float]
    formal_charge: int
    masses_by_table: dict[str, float]
    near_isobaric: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, eq=False)
class PeakAssignment(Result):
    """All candidates of one observed m/z, best first.

    Attributes
    ----------
    mass_da
        Observed m/z.
    tolerance_da
        The tolerance used (m/z units).
    n_candidates
        Number of compositions found within the tolerance (all are kept in ``candidates`` unless
        ``max_candidates`` was given).
    candidates
        Best first.
    """

    mass_da: float
    tolerance_da: float
    n_candidates: int
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        """The highest-scoring candidate, if any."""
        return self.candidates[0] if self.candidates else None

    def formulas(self) -> list[str]:
        """Formulas of all candidates (ion notation), best first."""
        return [c.formula for c in self.candidates]


@dataclass(frozen=True, eq=False)
class AssignmentResult(Result):
    """Assignments of a list of peaks plus the settings that produced them."""

    peaks: tuple[PeakAssignment, ...]
    blocks: tuple[dict[str, Any], ...]
    adducts: tuple[str, ...]
    charges: tuple[int, ...]
    weights: str
    target_ratio: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self, top: int | None = None) -> list[dict[str, Any]]:
        """Table-1-style rows: observed m/z, candidate, theoretical masses (every table), error, score."""
        rows = []
        for pk in self.peaks:
            for rank, c in enumerate(pk.candidates[: top or None], start=1):
                rows.append({
                    "observed_mass_da": pk.mass_da, "rank": rank, "formula": c.formula,
                    **{f"mass_da_{t}": m for t, m in c.masses_by_table.items()},
                    "error_da": c.error_da, "score": c.score, "formal_charge": c.formal_charge,
                    "near_isobaric": ", ".join(a["formula"] for a in c.near_isobaric),
                })
        return rows


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


def enumerate_compositions(
    targets_da: NDArray[np.float64],
    tol_da: NDArray[np.float64],
    block_masses: Sequence[float],
    *,
    max_counts: Sequence[int] | None = None,
    min_counts: Sequence[int] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Every count vector ``n`` (n_i >= 0) with ``|n . m - target| <= tol`` for each target.

    Returns
    -------
    query, counts, mass
        Index of the target of each hit, the count vectors (hits x blocks) and their masses.

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
    t = np.asarray(targets_da, float) - cmin @ bm
    tol = np.broadcast_to(np.asarray(tol_da, float), t.shape)
    cmax = cmax - cmin
    if np.any(cmax < 0):
        raise InputError("a minimum count exceeds the maximum", field="max_counts")
    heavy = int(np.argmax(bm))
    rest = [i for i in range(k) if i != heavy]
    max_mass = float(np.max(t + tol)) if t.size else 0.0
    if max_mass < 0:
        return np.zeros(0, np.int64), np.zeros((0, k), np.int32), np.zeros(0)
    gmass, gcounts = _cached_grid(tuple(float(bm[i]) for i in rest), tuple(int(cmax[i]) for i in rest), round(max_mass + 1.0, 0))
    mh = bm[heavy]
    nh_max = np.minimum(np.floor(np.maximum(t + tol, 0) / mh).astype(np.int64), cmax[heavy])
    lengths = np.where(t + tol >= 0, nh_max + 1, 0)
    pair_q = np.repeat(np.arange(t.size), lengths)
    starts = np.cumsum(lengths) - lengths
    pair_n = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    resid = t[pair_q] - pair_n * mh
    lo = np.searchsorted(gmass, resid - tol[pair_q], side="left")
    hi = np.searchsorted(gmass, resid + tol[pair_q], side="right")
    hits = hi - lo
    h_total = int(hits.sum())
    pair_idx = np.repeat(np.arange(hits.size), hits)
    hstarts = np.cumsum(hits) - hits
    gidx = lo[pair_idx] + (np.arange(h_total) - hstarts[pair_idx])
    counts = np.zeros((h_total, k), dtype=np.int32)
    if rest:
        counts[:, rest] = gcounts[gidx]
    counts[:, heavy] = pair_n[pair_idx]
    counts += cmin.astype(np.int32)
    mass = gmass[gidx] + pair_n[pair_idx] * mh + cmin @ bm
    nonempty = counts.sum(axis=1) > 0
    return pair_q[pair_idx][nonempty], counts[nonempty], mass[nonempty]


# --------------------------------------------------------------------------------------------------
# scoring helpers


def _clr_distance(counts: NDArray[np.int32], idx: list[int], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """Aitchison distance between block counts (pseudo-count 0.5) and the target ratio."""
    if len(idx) < 2:
        return np.zeros(counts.shape[0])
    x = np.log(counts[:, idx].astype(float) + 0.5)
    x -= x.mean(axis=1, keepdims=True)
    t = np.log(target)
    t = t - t.mean()
    return np.sqrt(np.sum((x - t) ** 2, axis=1))


def _exchange_vectors(block_masses: NDArray[np.float64], window_da: float, max_units: int) -> list[tuple[NDArray[np.int64], float]]:
    """Small integer exchanges ``v`` (L1 <= max_units, first nonzero > 0) with ``|v . m| <= window``."""
    k = block_masses.size
    out = []
    rng = range(-max_units, max_units + 1)
    for v in itertools.product(rng, repeat=k):
        l1 = sum(abs(x) for x in v)
        if l1 == 0 or l1 > max_units:
            continue
        first = next(x for x in v if x)
        if first < 0:
            continue
        arr = np.asarray(v, dtype=np.int64)
        dm = float(arr @ block_masses)
        if abs(dm) <= window_da:
            out.append((arr, dm))
    out.sort(key=lambda p: (int(np.abs(p[0]).sum()), abs(p[1])))
    return out


def _instrument_profile(env_mz: NDArray[np.float64], env_p: NDArray[np.float64], x: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    z = (x[:, None] - env_mz[None, :]) / sigma
    return np.exp(-0.5 * z * z) @ env_p


def profile_fwhm_da(mz: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """FWHM (m/z units) of the highest peak of a profile window, by linear interpolation."""
    from qdlab.chem.isotopes import _fwhm

    return float(_fwhm(np.asarray(mz, float), np.asarray(y, float)))


def _representative_fwhm(mass_da: float, blocks: Sequence[Block], target: Mapping[str, float], table: str) -> float:
    """Isotope-envelope FWHM of a target-ratio composition of the given mass (for tolerance='envelope')."""
    from qdlab.chem import isotope_envelope

    names = [b.name for b in blocks]
    tb = [(blocks[names.index(n)], r) for n, r in target.items() if n in names] or [(blocks[0], 1.0)]
    unit = sum(r * b.mass_da(table) for b, r in tb)
    k = max(mass_da / unit, 1e-9)
    f = Formula({})
    for b, r in tb:
        f = f + b.formula * max(round(k * r), 1)
    fw = isotope_envelope(f).fwhm_da
    return fw if math.isfinite(fw) and fw > 0 else 1.0


# --------------------------------------------------------------------------------------------------
# main entry


def assign_masses(
    masses_da: Sequence[float] | NDArray[np.float64],
    *,
    blocks: str | Sequence[str | Block] = "Cd,P,OA",
    adducts: str | Sequence[str] = ("none",),
    charges: int | Sequence[int] = (1,),
    tolerance_da: float | str | Sequence[float] | None = None,
    weights: str | None = None,
    target_ratio: Mapping[str, float] | None = None,
    max_counts: Mapping[str, int] | None = None,
    min_counts: Mapping[str, int] | None = None,
    block_charges: Mapping[str, int] | None = None,
    profiles: Sequence[tuple[Any, Any] | None] | None = None,
    resolution: float | None = None,
    max_candidates: int | None = None,
    series: bool = True,
    scoring: Mapping[str, float] | None = None,
) -> AssignmentResult:
    """Enumerate and rank every building-block composition that explains each observed m/z.

    Parameters
    ----------
    masses_da
        Observed m/z values (Da for singly charged ions), e.g. peak centroids.
    blocks
        Building blocks: element symbols, ligand shorthands (``OA``) or formulas, ``"Cd,P,OA"`` by
        default. ``"NAME:q"`` sets a block's formal charge.
    adducts
        Names from ``resources/ms/adducts.toml``: ``none`` (radical cation, the paper's convention),
        ``H``, ``Na``, ``K``, ``DCTB``.
    charges
        Ion charge(s) to consider (1-3).
    tolerance_da
        m/z tolerance: a number (default 3 Da from package data), one number per peak, or
        ``"envelope"`` = 0.2 x the envelope FWHM (observed if a profile is given, else the theoretical
        FWHM of a target-ratio composition of that mass).
    weights
        Atomic-weight table for theoretical masses (``"iupac2021"`` default; ``"iupac2007"`` reproduces
        the paper's Table 1).
    target_ratio
        Stoichiometry prior, e.g. ``{"Cd": 3, "P": 2}`` (default when Cd and P are blocks). Blocks not
        named are unconstrained. ``{}`` disables the prior.
    max_counts, min_counts
        Bounds on the count of each block.
    block_charges
        Formal charges overriding the package data.
    profiles
        Per peak ``(mz, intensity)`` window of the (baseline-corrected) spectrum, or None; enables the
        isotope-envelope similarity term.
    resolution
        Instrument resolving power m/dm used to broaden theoretical envelopes.
    max_candidates
        Keep only the best N candidates per peak in the result (all are enumerated and counted).
    series
        Add the neighbouring-peak consistency term.
    scoring
        Overrides of ``[assign]`` defaults (``charge_sigma``, ``envelope_weight``...).

    Returns
    -------
    AssignmentResult
    """
    mz_obs = np.atleast_1d(np.asarray(masses_da, dtype=float))
    if mz_obs.ndim != 1 or not np.all(np.isfinite(mz_obs)) or np.any(mz_obs <= 0):
        raise InputError("masses must be positive finite numbers", field="mass")
    cfg = {k: default("assign", k) for k in (
        "tolerance_da", "envelope_tolerance_fraction", "mass_sigma_fraction", "stoichiometry_sigma", "charge_sigma",
        "envelope_weight", "envelope_top", "series_weight", "series_step_units", "series_window_da", "series_top",
        "isobar_window_da", "isobar_max_units", "isobar_top", "instrument_resolution")}
    for k, v in (scoring or {}).items():
        if k not in cfg:
            raise InputError(f"unknown scoring setting {k!r}; known: {', '.join(cfg)}", field="scoring")
        cfg[k] = v
    table = weights or default_table()
    tables = list(weight_tables())
    if table not in tables:
        raise InputError(f"unknown atomic-weight table {table!r}; known: {', '.join(tables)}", field="weights")
    blk = parse_blocks(blocks, block_charges)
    names = [b.name for b in blk]
    add_names = [a.strip() for a in adducts.split(",")] if isinstance(adducts, str) else [str(a) for a in adducts]
    known = adduct_table()
    for a in add_names:
        if a not in known:
            raise InputError(f"unknown adduct {a!r}; known: {', '.join(known)}", field="adducts")
    zs = [int(charges)] if isinstance(charges, (int, np.integer)) else [int(z) for z in charges]
    if not zs or any(z < 1 or z > 3 for z in zs):
        raise InputError("charges must be between 1 and 3", field="charge")
    if target_ratio is None:
        target_ratio = {"Cd": 3.0, "P": 2.0} if {"Cd", "P"} <= set(names) else {}
    for n in target_ratio:
        if n not in names:
            raise InputError(f"target-ratio block {n!r} is not among the blocks {names}", field="target_ratio")
        if not target_ratio[n] > 0:
            raise InputError(f"target ratio of {n!r} must be > 0", field="target_ratio")
    ratio_idx = [names.index(n) for n in target_ratio]
    ratio_t = np.asarray([float(target_ratio[n]) for n in target_ratio])
    for label, mapping in (("max_counts", max_counts), ("min_counts", min_counts)):
        for n in mapping or {}:
            if n not in names:
                raise InputError(f"{n!r} is not a building block", field=label)
    cmax = [int((max_counts or {}).get(n, np.iinfo(np.int32).max)) for n in names]
    cmin = [int((min_counts or {}).get(n, 0)) for n in names]
    e_mass = constant("electron_mass_da")
    bmass = {t: np.asarray([b.mass_da(t) for b in blk]) for t in tables}
    bm = bmass[table]
    bq = np.asarray([b.formal_charge for b in blk])
    if profiles is not None and len(profiles) != mz_obs.size:
        raise InputError(f"{len(profiles)} profiles for {mz_obs.size} peaks", field="profiles")

    # tolerance per peak (m/z units)
    if tolerance_da is None:
        tol = np.full(mz_obs.size, float(cfg["tolerance_da"]))
    elif isinstance(tolerance_da, str):
        if tolerance_da != "envelope":
            raise InputError(f"tolerance must be a number or 'envelope', got {tolerance_da!r}", field="tolerance_da")
        tol = np.empty(mz_obs.size)
        for i, m in enumerate(mz_obs):
            fw = float("nan")
            if profiles is not None and profiles[i] is not None:
                fw = profile_fwhm_da(*profiles[i])
            if not (math.isfinite(fw) and fw > 0):
                fw = _representative_fwhm(m, blk, target_ratio, table)
            tol[i] = cfg["envelope_tolerance_fraction"] * fw
    else:
        tol = np.broadcast_to(np.asarray(tolerance_da, dtype=float), mz_obs.shape).copy()
    if not np.all(np.isfinite(tol)) or np.any(tol <= 0):
        raise InputError("tolerance must be > 0", field="tolerance_da")

    # enumerate for every (adduct, charge): neutral core mass M = z*mz - k*m_add + z*m_e
    all_q, all_counts, all_err, all_add, all_z, all_mz = [], [], [], [], [], []
    for ai, a in enumerate(add_names):
        spec = known[a]
        af = parse_formula(spec["formula"]) if spec["formula"] else Formula({})
        for z in zs:
            copies = z if spec["per_charge"] else (1 if spec["formula"] else 0)
            add_m = copies * af.average_mass_da(table) if af.counts else 0.0
            target = z * mz_obs - add_m + z * e_mass
            q, counts, core_mass = enumerate_compositions(target, z * tol, bm, max_counts=cmax, min_counts=cmin)
            mz_theo = (core_mass + add_m - z * e_mass) / z
            all_q.append(q)
            all_counts.append(counts)
            all_err.append(mz_obs[q] - mz_theo)
            all_add.append(np.full(q.size, ai))
            all_z.append(np.full(q.size, z))
            all_mz.append(mz_theo)
    q = np.concatenate(all_q)
    counts = np.concatenate(all_counts) if all_counts else np.zeros((0, len(blk)), np.int32)
    err = np.concatenate(all_err)
    add_i = np.concatenate(all_add)
    z_i = np.concatenate(all_z)
    mz_theo = np.concatenate(all_mz)

    # intrinsic terms
    sigma = cfg["mass_sigma_fraction"] * tol[q]
    t_mass = -0.5 * (err / sigma) ** 2
    t_stoich = -0.5 * (_clr_distance(counts, ratio_idx, ratio_t) / cfg["stoichiometry_sigma"]) ** 2
    add_charge = np.asarray([1 if known[a]["per_charge"] and known[a]["formula"] else 0 for a in add_names])
    fq = counts @ bq + add_charge[add_i] * z_i
    t_charge = -0.5 * ((fq - z_i) / cfg["charge_sigma"]) ** 2
    log_score = t_mass + t_stoich + t_charge
    t_env = np.zeros(q.size)
    t_series = np.zeros(q.size)

    # group by peak, best first
    order = np.lexsort((-log_score, q))
    bounds = np.searchsorted(q[order], np.arange(mz_obs.size + 1))

    def groups() -> list[NDArray[np.int64]]:
        o = np.lexsort((-log_score, q))
        b = np.searchsorted(q[o], np.arange(mz_obs.size + 1))
        return [o[b[i]:b[i + 1]] for i in range(mz_obs.size)]

    per_peak = [order[bounds[i]:bounds[i + 1]] for i in range(mz_obs.size)]

    # isotope-envelope similarity where a profile exists
    if profiles is not None:
        from qdlab.chem import isotope_envelope

        res = float(resolution or cfg["instrument_resolution"])
        for i, idx in enumerate(per_peak):
            prof = profiles[i]
            if prof is None or idx.size == 0:
                continue
            x = np.asarray(prof[0], float)
            y = np.clip(np.asarray(prof[1], float), 0, None)
            if x.size < 3 or not np.any(y > 0):
                continue
            top = idx[: int(cfg["envelope_top"])]
            vals = []
            for c in top:
                f = Formula({})
                for b, n in zip(blk, counts[c], strict=False):
                    if n:
                        f = f + b.formula * int(n)
                spec = known[add_names[add_i[c]]]
                if spec["formula"]:
                    copies = z_i[c] if spec["per_charge"] else 1
                    f = f + parse_formula(spec["formula"]) * int(copies)
                env = isotope_envelope(f.with_charge(int(z_i[c])))
                s = max(float(np.mean(x)) / (res * 2.3548), 1e-3)
                pred = _instrument_profile(env.mz, env.probability, x, s)
                cos = float(pred @ y / (np.linalg.norm(pred) * np.linalg.norm(y) + 1e-300))
                vals.append(cfg["envelope_weight"] * math.log(max(cos, 1e-3)))
            t_env[top] = vals
            rest = idx[int(cfg["envelope_top"]):]
            if rest.size:
                t_env[rest] = min(vals)
        log_score = log_score + t_env
        per_peak = groups()

    # series consistency with neighbouring peaks
    if series and mz_obs.size > 1 and cfg["series_weight"]:
        peak_order = np.argsort(mz_obs)
        neighbours: dict[int, list[int]] = {int(i): [] for i in range(mz_obs.size)}
        for a_, b_ in itertools.pairwise(peak_order):
            if abs(mz_obs[b_] - mz_obs[a_]) <= cfg["series_window_da"]:
                neighbours[int(a_)].append(int(b_))
                neighbours[int(b_)].append(int(a_))
        for i, idx in enumerate(per_peak):
            nb = [j for j in neighbours[i] if per_peak[j].size]
            if not nb or idx.size == 0:
                continue
            ok = np.zeros(idx.size)
            for j in nb:
                ref = counts[per_peak[j][: int(cfg["series_top"])]]
                d = np.abs(counts[idx][:, None, :].astype(np.int64) - ref[None, :, :]).sum(axis=2).min(axis=1)
                ok += d <= cfg["series_step_units"]
            t_series[idx] = cfg["series_weight"] * ok / len(nb)
        log_score = log_score + t_series
        per_peak = groups()

    exchanges = _exchange_vectors(bm, float(cfg["isobar_window_da"]), int(cfg["isobar_max_units"]))
    isobar_top = int(cfg["isobar_top"])
    add_copies = {}
    add_mass_t: dict[tuple[int, int], NDArray[np.float64]] = {}
    for ai, a in enumerate(add_names):
        spec = known[a]
        for z in zs:
            copies = z if spec["per_charge"] else 1
            add_copies[(ai, z)] = copies
            add_mass_t[(ai, z)] = np.asarray(
                [copies * parse_formula(spec["formula"]).average_mass_da(t) if spec["formula"] else 0.0 for t in tables])
    bmass_mat = np.stack([bmass[t] for t in tables], axis=1)  # blocks x tables
    cmax_a = np.asarray(cmax, dtype=np.int64)
    cmin_a = np.asarray(cmin, dtype=np.int64)
    peaks: list[PeakAssignment] = []
    for i, idx in enumerate(per_peak):
        ls = log_score[idx]
        w = np.exp(ls - ls.max()) if idx.size else ls
        prob = w / w.sum() if idx.size else w
        keep = idx if max_candidates is None else idx[:max_candidates]
        by_table_all = (counts[keep] @ bmass_mat) if keep.size else np.zeros((0, len(tables)))
        cands = []
        for r, c in enumerate(keep):
            cnt = counts[c]
            a = add_names[add_i[c]]
            z = int(z_i[c])
            copies = add_copies[(int(add_i[c]), z)]
            mt = (by_table_all[r] + add_mass_t[(int(add_i[c]), z)] - z * e_mass) / z
            alts = []
            if r < isobar_top:
                for v, dm in exchanges:
                    for sgn in (1, -1):
                        new = cnt.astype(np.int64) + sgn * v
                        if np.any(new < cmin_a) or np.any(new > cmax_a) or new.sum() == 0:
                            continue
                        mz_alt = float(mz_theo[c] + sgn * dm / z)
                        alts.append({"formula": ion_text(composition_text(blk, new), a, copies, z), "mass_da": mz_alt,
                                     "error_da": float(mz_obs[i] - mz_alt),
                                     "within_tolerance": bool(abs(mz_obs[i] - mz_alt) <= tol[i])})
            cands.append(Candidate(
                formula=ion_text(composition_text(blk, cnt), a, copies, z),
                counts={b.name: int(n) for b, n in zip(blk, cnt, strict=False)},
                adduct=a, charge=z, mass_da=float(mz_theo[c]), error_da=float(err[c]),
                score=float(prob[r]), log_score=float(log_score[c]),
                terms={"mass": float(t_mass[c]), "stoichiometry": float(t_stoich[c]), "charge": float(t_charge[c]),
                       "envelope": float(t_env[c]), "series": float(t_series[c])},
                formal_charge=int(fq[c]), masses_by_table={t: float(m) for t, m in zip(tables, mt, strict=False)},
                near_isobaric=tuple(alts),
            ))
        peaks.append(PeakAssignment(float(mz_obs[i]), float(tol[i]), int(idx.size), tuple(cands)))
    return AssignmentResult(
        peaks=tuple(peaks),
        blocks=tuple({"name": b.name, "formula": b.formula.hill(), "mass_da": float(bm[j]), "formal_charge": b.formal_charge}
                     for j, b in enumerate(blk)),
        adducts=tuple(add_names), charges=tuple(zs), weights=table, target_ratio=dict(target_ratio),
        settings={k: v for k, v in cfg.items()},
    )


__all__ = [
    "Block",
    "Candidate",
    "PeakAssignment",
    "AssignmentResult",
    "parse_blocks",
    "composition_text",
    "ion_text",
    "enumerate_compositions",
    "assign_masses",
]
