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
listed for the best candidates of each peak, including alternatives just outside the tolerance. Spacings
of neighbouring peaks are explained by :mod:`qdlab.ms.spacing`.

Enumeration (:mod:`qdlab.ms.compose`): the compositions of all blocks but the heaviest are built once, sorted by mass, and every
(peak, adduct, charge, count of the heaviest block) is a ``searchsorted`` window into that table, so
1,000 peaks cost a few vectorised numpy calls. Scoring runs over blocks of whole peaks (~32k candidates,
the temporaries stay in cache) and keeps only the log-scores; a candidate's terms are evaluated again,
by the same code (:meth:`_HitTable.evaluate`), when it is built. The best ``max_candidates`` of a peak
are taken from the candidates within ``series_score_window`` of its best (a full sort only where there
are fewer).

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

from qdlab.chem.formula import Formula, parse_formula
from qdlab.chem.weights import default_table, weight_tables
from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.ms.compose import (
    Block,
    _Windows,
    _windows,
    composition_text,
    enumerate_compositions,
    ion_text,
    parse_blocks,
)
from qdlab.ms.config import adduct_table, block_sets, default
from qdlab.ms.spacing import explain_spacings
from qdlab.signal import half_max_width
from qdlab.units import constant

_CHUNK = 32_768  # hits scored per block (the per-hit temporaries of a block fit in L2)


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
        Best first. Built from the scored arrays on first access (so that assigning thousands of peaks
        does not create millions of objects nobody reads).
    """

    mass_da: float
    tolerance_da: float
    n_candidates: int
    _source: Any = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def candidates(self) -> tuple[Candidate, ...]:
        """Candidates, best first."""
        if self._source is None:
            return ()
        shared, keep, mz_obs, tol, lse = self._source
        return tuple(shared.candidate(int(c), rank, mz_obs, tol, lse) for rank, c in enumerate(keep))

    @property
    def best(self) -> Candidate | None:
        """The highest-scoring candidate, if any."""
        return self.candidates[0] if self.candidates else None

    def formulas(self) -> list[str]:
        """Formulas of all candidates (ion notation), best first."""
        return [c.formula for c in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        return {"mass_da": self.mass_da, "tolerance_da": self.tolerance_da, "n_candidates": self.n_candidates,
                "candidates": [c.to_dict() for c in self.candidates]}


def _adduct_mass(spec: Mapping[str, Any], z: int, table: str) -> float:
    if not spec["formula"]:
        return 0.0
    copies = z if spec["per_charge"] else 1
    return copies * parse_formula(spec["formula"]).average_mass_da(table)


@dataclass(frozen=True, eq=False)
class _HitTable:
    """The candidates of one assign_masses call, stored per enumeration pair (peak, adduct-charge, count of the
    heaviest block) and per composition-grid row; the per-hit terms are evaluated on demand.

    :meth:`evaluate` is the one definition of a hit's score: it is run block by block over all hits (keeping
    only the log-score) and again for the few hits that become candidates, with the same operations in the
    same order, so both give identical numbers.
    """

    windows: _Windows
    # per pair
    off: NDArray[np.int64]  # grid row = off + hit index
    nmh: NDArray[np.float64]  # n_heavy * m_heavy
    cm: NDArray[np.float64]  # adduct mass
    ze: NDArray[np.float64]  # z * m_e
    zf: NDArray[np.float64]  # z
    obs: NDArray[np.float64]  # observed m/z
    den: NDArray[np.float64]  # sigma of the mass error
    qz: NDArray[np.int64]  # q - z - fq_grid[row], offset into charge_tab
    fq: NDArray[np.int64]  # formal charge less that of the grid row
    add: NDArray[np.int64]  # adduct index
    z: NDArray[np.int64]  # charge
    # per grid row, and tables
    stoich_grid: NDArray[np.float64] | None  # None: the heavy block is in the target ratio
    fq_grid: NDArray[np.int64]
    charge_tab: NDArray[np.float64]
    ratio: tuple[list[int], NDArray[np.float64], float]  # block indices, target, sigma (stoichiometry term)

    def pair_of(self, sel: NDArray[np.int64]) -> NDArray[np.int64]:
        """Enumeration pair of the selected hits."""
        return self.windows.pair_of(sel)

    def counts(self, sel: NDArray[np.int64], pair: NDArray[np.int64] | None = None) -> NDArray[np.int32]:
        """Count vectors (hits x blocks) of the selected hits."""
        pair = self.pair_of(sel) if pair is None else pair
        return self._counts(self.off[pair] + sel, (self.windows.pair_n + self.windows.cmin_heavy)[pair])

    def _counts(self, g: NDArray[np.int64], nh: NDArray[np.int64]) -> NDArray[np.int32]:
        w = self.windows
        out = np.empty((g.size, len(w.rest) + 1), dtype=np.int32)
        if w.rest:
            out[:, list(w.rest)] = w.grid_counts[g]
        out[:, w.heavy] = nh
        return out

    def evaluate(self, hit: NDArray[np.int64], spread: Any) -> tuple[NDArray[np.float64], ...]:
        """``(m/z, error, mass term, stoichiometry term, charge term, log-score)`` of the given hits.

        ``spread(a)`` maps a per-pair array to the hits (``np.repeat`` over a block of pairs, or a gather).
        """
        g = spread(self.off)
        g += hit
        # m/z = (grid mass + n_heavy m_heavy + base + m_adduct - z m_e) / z, evaluated in this order
        x = np.take(self.windows.gmass, g, mode="clip")
        x += spread(self.nmh)
        if self.windows.base:
            x += self.windows.base
        x += spread(self.cm)
        x -= spread(self.ze)
        x /= spread(self.zf)
        err = spread(self.obs)
        err -= x
        t_mass = err / spread(self.den)
        np.square(t_mass, out=t_mass)
        t_mass *= -0.5
        if self.stoich_grid is not None:
            t_stoich = np.take(self.stoich_grid, g, mode="clip")
        else:
            idx, target, sigma = self.ratio
            nh = spread(self.windows.pair_n + self.windows.cmin_heavy)
            t_stoich = -0.5 * (_clr_distance(self._counts(g, nh), idx, target) / sigma) ** 2
        qi = np.take(self.fq_grid, g, mode="clip")
        qi += spread(self.qz)
        t_charge = np.take(self.charge_tab, qi, mode="clip")
        log_score = t_mass + t_stoich
        log_score += t_charge
        return x, err, t_mass, t_stoich, t_charge, log_score

    def at(self, sel: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """:meth:`evaluate` at the selected hits."""
        pair = self.pair_of(sel)
        return self.evaluate(sel, lambda a: a[pair])


def _peak_blocks(bounds: NDArray[np.int64], pair_peak: NDArray[np.int64]) -> list[tuple[int, int, int, int, int, int]]:
    """Blocks of whole peaks with about ``_CHUNK`` hits each: ``(peak0, peak1, pair0, pair1, hit0, hit1)``."""
    n_tot = int(bounds[-1])
    cuts = np.searchsorted(bounds, np.arange(0, n_tot, _CHUNK), side="right") - 1  # peak holding each cut hit
    k_cuts = [*dict.fromkeys(cuts.tolist()), bounds.size - 1]
    p_cuts = np.searchsorted(pair_peak, k_cuts).tolist()
    h_cuts = bounds[k_cuts].tolist()
    return [(k_cuts[j], k_cuts[j + 1], p_cuts[j], p_cuts[j + 1], h_cuts[j], h_cuts[j + 1]) for j in range(len(k_cuts) - 1)]


def _near_best(log_score: NDArray[np.float64], bounds: NDArray[np.int64], per_peak_n: NDArray[np.int64],
               window: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Hits within ``window`` log units of their peak's best, and their peaks; by peak, best first (stable)."""
    nonempty = per_peak_n > 0
    best = np.full(per_peak_n.size, -np.inf)
    best[nonempty] = np.maximum.reduceat(log_score, bounds[:-1][nonempty])
    sel = np.flatnonzero(log_score >= np.repeat(best - window, per_peak_n))
    return _by_peak_best_first(log_score, sel, np.searchsorted(bounds, sel, side="right") - 1)


def _by_peak_best_first(log_score: NDArray[np.float64], sel: NDArray[np.int64],
                        q_sel: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``sel`` and its peaks ``q_sel`` ordered by peak, then best first (ties: by index, as a stable sort)."""
    key = -log_score[sel]
    order = np.argsort(key)  # introsort; equals the stable order unless two keys are equal
    k = key[order]
    if np.any(k[1:] == k[:-1]):
        order = np.argsort(key, kind="stable")
    q = q_sel[order]
    if q.size and q.max() < 2**15:  # numpy's stable sort of int16 is a radix sort
        q = q.astype(np.int16)
    order = order[np.argsort(q, kind="stable")]
    return sel[order], q_sel[order]


@dataclass(frozen=True, eq=False)
class _Shared:
    """Scored arrays of one assign_masses call, shared by its peaks' lazily built candidates."""

    blocks: tuple[Block, ...]
    tables: tuple[str, ...]
    adduct_names: tuple[str, ...]
    hits: _HitTable
    log_score: NDArray[np.float64]  # final (all terms)
    t_env: NDArray[np.float64] | None  # envelope term of every hit (None: 0)
    series_at: tuple[NDArray[np.int64], NDArray[np.float64]] | None  # hits with a series term (sorted), the term
    bmass_mat: NDArray[np.float64]
    add_mass: dict[tuple[int, int], NDArray[np.float64]]
    add_copies: dict[tuple[int, int], int]
    e_mass: float
    ex_vec: NDArray[np.int64]
    ex_dm: NDArray[np.float64]
    cmin: NDArray[np.int64]
    cmax: NDArray[np.int64]
    isobar_top: int

    def candidate(self, c: int, rank: int, mz_obs: float, tol: float, lse: float) -> Candidate:
        h = self.hits
        sel = np.array([c])
        pair = h.pair_of(sel)
        cnt = h.counts(sel, pair)[0].astype(np.int64)
        mz_theo, err, t_mass, t_stoich, t_charge, _ = (float(v[0]) for v in h.at(sel))
        t_series = 0.0
        if self.series_at is not None:
            j = int(np.searchsorted(self.series_at[0], c))
            if j < self.series_at[0].size and self.series_at[0][j] == c:
                t_series = float(self.series_at[1][j])
        pr = int(pair[0])
        ai, z = int(h.add[pr]), int(h.z[pr])
        a = self.adduct_names[ai]
        copies = self.add_copies[(ai, z)]
        mt = (cnt @ self.bmass_mat + self.add_mass[(ai, z)] - z * self.e_mass) / z
        alts: list[dict[str, Any]] = []
        if rank < self.isobar_top and self.ex_vec.size:
            new = cnt[None, :] + self.ex_vec
            ok = np.all(new >= self.cmin, axis=1) & np.all(new <= self.cmax, axis=1) & (new.sum(axis=1) > 0)
            for v, dm in zip(new[ok], self.ex_dm[ok], strict=True):
                m_alt = float(mz_theo + dm / z)
                alts.append({"formula": ion_text(composition_text(self.blocks, v), a, copies, z), "mass_da": m_alt,
                             "error_da": mz_obs - m_alt, "within_tolerance": bool(abs(mz_obs - m_alt) <= tol)})
        return Candidate(
            formula=ion_text(composition_text(self.blocks, cnt), a, copies, z),
            counts={b.name: int(n) for b, n in zip(self.blocks, cnt, strict=True)},
            adduct=a, charge=z, mass_da=mz_theo, error_da=err,
            score=float(np.exp(self.log_score[c] - lse)), log_score=float(self.log_score[c]),
            terms={"mass": t_mass, "stoichiometry": t_stoich, "charge": t_charge,
                   "envelope": 0.0 if self.t_env is None else float(self.t_env[c]), "series": t_series},
            formal_charge=int(h.fq_grid[h.off[pr] + c] + h.fq[pr]), masses_by_table={t: float(m) for t, m in zip(self.tables, mt, strict=True)},
            near_isobaric=tuple(alts),
        )


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
# scoring helpers


def _clr_distance(counts: NDArray[np.int32], idx: list[int], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """Aitchison distance between block counts (pseudo-count 0.5) and the target ratio."""
    if len(idx) < 2:
        return np.zeros(counts.shape[0])
    sub = counts[:, idx]
    table = np.log(np.arange(int(sub.max(initial=0)) + 1) + 0.5)  # log lookup instead of 2 log() per row
    t = np.log(target)
    if len(idx) == 2:  # |clr(x) - clr(t)| = |ln(x1/x0) - ln(t1/t0)| / sqrt(2)
        return np.abs(table[sub[:, 1]] - table[sub[:, 0]] - (t[1] - t[0])) * (1 / math.sqrt(2))
    x = table[sub]
    x -= x.mean(axis=1, keepdims=True)
    return np.sqrt(np.sum((x - (t - t.mean())) ** 2, axis=1))

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


@functools.lru_cache(maxsize=64)
def _exchange_table(block_masses: tuple[float, ...], window_da: float,
                    max_units: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """:func:`_exchange_vectors` and their opposites as arrays (exchange x blocks, mass shifts), read-only."""
    exchanges = _exchange_vectors(np.asarray(block_masses), window_da, max_units)
    ex_vec = np.asarray([v for v, _ in exchanges], dtype=np.int64).reshape(-1, len(block_masses))
    ex_dm = np.asarray([dm for _, dm in exchanges], dtype=float)
    ex_vec = np.concatenate([ex_vec, -ex_vec])
    ex_dm = np.concatenate([ex_dm, -ex_dm])
    ex_vec.flags.writeable = False
    ex_dm.flags.writeable = False
    return ex_vec, ex_dm


def _instrument_profile(env_mz: NDArray[np.float64], env_p: NDArray[np.float64], x: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    z = (x[:, None] - env_mz[None, :]) / sigma
    return np.exp(-0.5 * z * z) @ env_p


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
        default. ``"NAME:q"`` sets a block's formal charge. A set name from ``resources/ms/blocks.toml``
        (``"Cd3P2"``, ``"InP"``, ``"CdSe"``) selects its blocks and stoichiometry target.
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
    if mz_obs.ndim != 1 or not np.all(np.isfinite(mz_obs)) or np.any(mz_obs <= 0):  # empty is fine
        raise InputError("masses must be positive finite numbers", field="mass")
    cfg = {k: default("assign", k) for k in (
        "tolerance_da", "envelope_tolerance_fraction", "mass_sigma_fraction", "stoichiometry_sigma", "charge_sigma",
        "envelope_weight", "envelope_top", "series_weight", "series_step_units", "series_window_da", "series_top", "series_score_window",
        "isobar_window_da", "isobar_max_units", "isobar_top", "instrument_resolution")}
    for k, v in (scoring or {}).items():
        if k not in cfg:
            raise InputError(f"unknown scoring setting {k!r}; known: {', '.join(cfg)}", field="scoring")
        cfg[k] = v
    table = weights or default_table()
    tables = list(weight_tables())
    if table not in tables:
        raise InputError(f"unknown atomic-weight table {table!r}; known: {', '.join(tables)}", field="weights")
    sets = block_sets()
    if isinstance(blocks, str) and blocks.strip() in sets:  # a named block set, e.g. "InP"
        chosen = sets[blocks.strip()]
        blocks = list(chosen["blocks"])
        if target_ratio is None:
            target_ratio = {k: float(v) for k, v in chosen["target_ratio"].items()}
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
                px, py = (np.asarray(a, dtype=float) for a in profiles[i])
                if px.size >= 3 and np.max(py) > 0:
                    fw = half_max_width(px, py)  # NaN if the profile does not fall to half height
            if not (math.isfinite(fw) and fw > 0):
                fw = _representative_fwhm(m, blk, target_ratio, table)
            tol[i] = cfg["envelope_tolerance_fraction"] * fw
    else:
        tol = np.broadcast_to(np.asarray(tolerance_da, dtype=float), mz_obs.shape).copy()
    if not np.all(np.isfinite(tol)) or np.any(tol <= 0):
        raise InputError("tolerance must be > 0", field="tolerance_da")

    # enumerate for every (adduct, charge): neutral core mass M = z*mz - k*m_add + z*m_e
    combos = []
    for ai, a in enumerate(add_names):
        spec = known[a]
        add_m = _adduct_mass(spec, 1, table)
        for z in zs:
            m_add = add_m * (z if spec["per_charge"] else 1)
            combos.append((ai, z, m_add, z * mz_obs - m_add + z * e_mass))
    cmax_a = np.asarray(cmax, dtype=np.int64)
    cmin_a = np.asarray(cmin, dtype=np.int64)
    n_peaks, n_combos = mz_obs.size, len(combos)
    # one enumeration over (peak, adduct-charge) queries in peak-major order: hits come out grouped by peak,
    # as windows of the composition grid, one per "pair" (peak, adduct-charge, count of the heaviest block).
    # Per-hit arrays are built from per-pair values with the floating-point operations of a per-hit
    # evaluation, in the same order (so the scores do not depend on this layout).
    targets = np.stack([t for _, _, _, t in combos], axis=1).ravel()
    tols = np.stack([z * tol for _, z, _, _ in combos], axis=1).ravel()
    win = _windows(targets, tols, bm, cmax_a, cmin_a)
    reps = win.hits
    pair_peak = win.pair_q // n_combos
    pair_combo = win.pair_q % n_combos
    per_peak_n = np.bincount(pair_peak, weights=reps, minlength=n_peaks).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(per_peak_n)])
    n_tot = int(bounds[-1])
    combo_m = np.asarray([c[2] for c in combos])
    combo_zf = np.asarray([float(c[1]) for c in combos])
    combo_add = np.asarray([c[0] for c in combos], dtype=np.int64)
    combo_z = np.asarray([c[1] for c in combos], dtype=np.int64)

    # intrinsic terms; stoichiometry and formal charge are computed per grid row, then gathered
    gcounts = win.grid_counts
    rest, heavy = list(win.rest), win.heavy
    stoich_grid: NDArray[np.float64] | None = None  # per grid row, when the heavy block is not in the ratio
    if ratio_idx and heavy not in ratio_idx:
        cols = [rest.index(j) for j in ratio_idx]
        stoich_grid = -0.5 * (_clr_distance(gcounts[:, cols], list(range(len(cols))), ratio_t)
                              / cfg["stoichiometry_sigma"]) ** 2
    elif not ratio_idx:
        stoich_grid = np.zeros(gcounts.shape[0])
    add_charge = np.asarray([1 if known[a]["per_charge"] and known[a]["formula"] else 0 for a in add_names])
    fq_grid = (gcounts.astype(np.int64) @ bq[rest].astype(np.int64)) if rest else np.zeros(gcounts.shape[0], np.int64)
    # formal charge q = q(grid row) + q_heavy n_heavy + adduct charges (integers: any order is exact)
    pair_z = combo_z[pair_combo]
    pair_fq = int(bq[heavy]) * (win.pair_n + win.cmin_heavy) + add_charge[combo_add[pair_combo]] * pair_z
    pair_qz = pair_fq - pair_z  # q - z = fq_grid[row] + pair_qz
    # the charge term takes few integer values: a table of -0.5 ((q - z) / sigma)^2, computed as per hit
    q_lo = int(fq_grid.min(initial=0)) + int(pair_qz.min(initial=0))
    q_hi = int(fq_grid.max(initial=0)) + int(pair_qz.max(initial=0))
    charge_tab = np.arange(q_lo, q_hi + 1) / cfg["charge_sigma"]
    np.square(charge_tab, out=charge_tab)
    charge_tab *= -0.5
    hits = _HitTable(
        win, off=win.lo - win.starts, nmh=win.pair_n * win.mh, cm=combo_m[pair_combo], ze=combo_zf[pair_combo] * e_mass,
        zf=combo_zf[pair_combo], obs=mz_obs[pair_peak], den=cfg["mass_sigma_fraction"] * tol[pair_peak],
        qz=pair_qz - q_lo, fq=pair_fq, add=combo_add[pair_combo], z=pair_z, stoich_grid=stoich_grid, fq_grid=fq_grid,
        charge_tab=charge_tab, ratio=(ratio_idx, ratio_t, cfg["stoichiometry_sigma"]))

    # log-scores of all hits, block by block (whole peaks, ~_CHUNK hits: the temporaries stay in cache);
    # on the way, the candidates within `window` of their peak's best (as _near_best)
    window = float(cfg["series_score_window"])
    log_score = np.empty(n_tot)
    near_parts: list[NDArray[np.int64]] = []
    for k0, k1, p0, p1, h0, h1 in (blocks_ := _peak_blocks(bounds, pair_peak)):
        r = reps[p0:p1]
        ls = log_score[h0:h1]
        ls[:] = hits.evaluate(np.arange(h0, h1), lambda a, p0=p0, p1=p1, r=r: np.repeat(a[p0:p1], r))[-1]
        n_b = per_peak_n[k0:k1]
        ne = n_b > 0
        best_b = np.maximum.reduceat(ls, bounds[k0:k1][ne] - h0)
        near_parts.append(np.flatnonzero(ls >= np.repeat(best_b - window, n_b[ne])) + h0)
    near_pre = None
    if profiles is None and n_tot:
        sel = np.concatenate(near_parts)
        q_sel = np.searchsorted(bounds, sel, side="right") - 1
        near_pre = _by_peak_best_first(log_score, sel, q_sel)
    t_env: NDArray[np.float64] | None = None
    series_at: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None  # rescored hits (sorted), their bonus

    def ranked(i: int, k: int | None = None) -> NDArray[np.int64]:
        """Candidates of peak i (global indices), best first (only the best k when given)."""
        b0 = int(bounds[i])
        ls = log_score[b0:int(bounds[i + 1])]
        if k is not None and k < ls.size:
            part = np.argpartition(-ls, k - 1)[:k]
            return b0 + part[np.argsort(-ls[part], kind="stable")]
        return b0 + np.argsort(-ls, kind="stable")

    # isotope-envelope similarity where a profile exists
    if profiles is not None:
        from qdlab.chem import isotope_envelope

        res = float(resolution or cfg["instrument_resolution"])
        n_top = int(cfg["envelope_top"])
        t_env = np.zeros(n_tot)
        for i in range(mz_obs.size):
            prof = profiles[i]
            if prof is None or bounds[i + 1] == bounds[i]:
                continue
            x = np.asarray(prof[0], float)
            y = np.clip(np.asarray(prof[1], float), 0, None)
            if x.size < 3 or not np.any(y > 0):
                continue
            top = ranked(i, n_top)
            top_pair = hits.pair_of(top)
            vals = []
            for cnt, ai, z in zip(hits.counts(top, top_pair), hits.add[top_pair], hits.z[top_pair], strict=True):
                f = Formula({})
                for b, n in zip(blk, cnt, strict=True):
                    if n:
                        f = f + b.formula * int(n)
                spec = known[add_names[ai]]
                if spec["formula"]:
                    f = f + parse_formula(spec["formula"]) * int(z if spec["per_charge"] else 1)
                env = isotope_envelope(f.with_charge(int(z)))
                s_da = max(float(np.mean(x)) / (res * 2.3548200450309493), 1e-3)
                pred = _instrument_profile(env.mz, env.probability, x, s_da)
                cos = float(pred @ y / (np.linalg.norm(pred) * np.linalg.norm(y) + 1e-300))
                vals.append(cfg["envelope_weight"] * math.log(max(cos, 1e-3)))
            # candidates outside the evaluated top get the worst evaluated value (they cannot overtake)
            t_env[bounds[i]:bounds[i + 1]] = min(vals)
            t_env[top] = vals
        log_score = log_score + t_env

    # series consistency with neighbouring peaks (vectorised over all peaks). Only candidates within
    # `series_score_window` log units of their peak's best are rescored: the others have relative
    # probability < exp(-window), and a bonus <= series_weight cannot change that.
    near: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None  # (hits, their peaks) near each peak's best
    if series and n_peaks > 1 and cfg["series_weight"] and n_tot:
        order = np.argsort(mz_obs, kind="stable")
        close = np.abs(np.diff(mz_obs[order])) <= cfg["series_window_da"]
        left = np.full(n_peaks, -1)
        right = np.full(n_peaks, -1)
        left[order[1:][close]] = order[:-1][close]
        right[order[:-1][close]] = order[1:][close]
        nonempty = per_peak_n > 0
        sel, q_sel = near_pre or _near_best(log_score, bounds, per_peak_n, window)  # by peak, best first
        first = np.searchsorted(q_sel, np.arange(n_peaks))
        k_top = int(cfg["series_top"])
        rank_in_peak = np.arange(sel.size) - first[q_sel]
        top_mask = rank_in_peak < k_top
        own = hits.counts(sel).astype(np.int64)
        tops = np.full((k_top, len(blk), n_peaks), -(10**6), dtype=np.int64)  # sentinel: never "close"
        tops.transpose(2, 0, 1)[q_sel[top_mask], rank_in_peak[top_mask]] = own[top_mask]
        own = own.T.copy()  # blocks x selected: contiguous columns
        ok = np.zeros(sel.size)
        n_nb = np.zeros(sel.size)
        for nb in (left, right):
            j = nb[q_sel]
            has = (j >= 0) & nonempty[np.maximum(j, 0)]
            o = own[:, has]
            nbt = tops[:, :, j[has]]  # top rank x block x selected
            # L1 distance to the closest of the neighbour's top candidates, one (rank, block) column at a time
            d = None
            for r in range(k_top):
                dr = np.abs(o[0] - nbt[r, 0])
                for b in range(1, o.shape[0]):
                    dr += np.abs(o[b] - nbt[r, b])
                d = dr if d is None else np.minimum(d, dr, out=d)
            ok[has] += d <= cfg["series_step_units"]
            n_nb += has
        bonus = np.where(n_nb > 0, cfg["series_weight"] * ok / np.maximum(n_nb, 1), 0.0)
        log_score[sel] += bonus  # the others get + 0
        o = np.argsort(sel)
        series_at = sel[o], bonus[o]
        if window >= 0 and cfg["series_weight"] > 0:
            # a non-negative bonus on these only: they still rank above every other candidate of their peak
            near = _by_peak_best_first(log_score, sel, q_sel)  # re-rank by the final scores
    elif window >= 0:
        near = near_pre  # final scores = pre-series scores

    # normalisation (log-sum-exp per peak) and the kept candidates of each peak
    lse = np.zeros(n_peaks)
    nonempty = per_peak_n > 0
    for k0, k1, _, _, h0, h1 in blocks_:
        ls = log_score[h0:h1]
        n_b = per_peak_n[k0:k1]
        ne = n_b > 0
        b_ne = bounds[k0:k1][ne] - h0
        m = np.maximum.reduceat(ls, b_ne)
        e = ls - np.repeat(m, n_b[ne])
        # most e are far below -745, where exp is exactly 0 but takes libm's slow underflow path: skip them
        live = np.flatnonzero(e > -750.0)
        w = np.zeros(h1 - h0)
        w[live] = np.exp(e[live])
        # per-peak np.sum (pairwise summation), not np.add.reduceat (sequential): the same rounding as before
        b_end = [*b_ne[1:].tolist(), h1 - h0]
        sums = np.array([w[b0:b1].sum() for b0, b1 in zip(b_ne.tolist(), b_end, strict=True)])
        lse[k0:k1][ne] = m + np.log(sums)
    keep_of: list[NDArray[np.int64] | None] = [None] * n_peaks
    if max_candidates is not None and max_candidates >= 1 and n_tot:
        # the best k of a peak lie among the candidates near its best, when there are k of them
        k = int(max_candidates)
        if near is None:
            near = _near_best(log_score, bounds, per_peak_n, max(window, 0.0))
        cnt = np.bincount(near[1], minlength=n_peaks)
        first = np.cumsum(cnt) - cnt
        need = np.minimum(per_peak_n, k)
        for i in np.flatnonzero(need <= cnt).tolist():
            keep_of[i] = near[0][first[i]:first[i] + need[i]]
    exchanges = _exchange_table(tuple(bm.tolist()), float(cfg["isobar_window_da"]), int(cfg["isobar_max_units"]))
    shared = _Shared(
        blocks=blk, tables=tuple(tables), adduct_names=tuple(add_names), hits=hits, log_score=log_score,
        t_env=t_env, series_at=series_at,
        bmass_mat=np.stack([bmass[t] for t in tables], axis=1),
        add_mass={(ai, z): np.asarray([_adduct_mass(known[a], z, t) for t in tables]) for ai, a in enumerate(add_names) for z in zs},
        add_copies={(ai, z): (z if known[a]["per_charge"] else 1) for ai, a in enumerate(add_names) for z in zs},
        e_mass=e_mass, ex_vec=exchanges[0], ex_dm=exchanges[1], cmin=cmin_a, cmax=cmax_a,
        isobar_top=int(cfg["isobar_top"]),
    )
    peaks: list[PeakAssignment] = []
    for i, (m_i, tol_i, n_i, lse_i) in enumerate(zip(mz_obs.tolist(), tol.tolist(), per_peak_n.tolist(), lse.tolist(),
                                                     strict=True)):
        keep = keep_of[i]
        if keep is None:
            keep = ranked(i, max_candidates)
        peaks.append(PeakAssignment(m_i, tol_i, n_i, _source=(shared, keep, m_i, tol_i, lse_i)))
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
    "explain_spacings",
]
