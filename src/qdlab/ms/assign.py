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

from qdlab.chem.formula import Formula, parse_formula
from qdlab.chem.weights import default_table, weight_tables
from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.ms.compose import (
    Block,
    _enumerate,
    _Hits,
    composition_text,
    enumerate_compositions,
    ion_text,
    parse_blocks,
)
from qdlab.ms.config import adduct_table, block_sets, default
from qdlab.ms.spacing import explain_spacings
from qdlab.signal import half_max_width
from qdlab.units import constant


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
class _Shared:
    """Scored arrays of one assign_masses call, shared by its peaks' lazily built candidates."""

    blocks: tuple[Block, ...]
    tables: tuple[str, ...]
    adduct_names: tuple[str, ...]
    hits: _Hits
    err: NDArray[np.float64]
    mz_theo: NDArray[np.float64]
    add_i: NDArray[np.int64]
    z_i: NDArray[np.int64]
    fq: NDArray[np.int64]
    log_score: NDArray[np.float64]
    terms: tuple[tuple[str, NDArray[np.float64]], ...]
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
        cnt = self.hits.counts(np.array([c]))[0].astype(np.int64)
        ai, z = int(self.add_i[c]), int(self.z_i[c])
        a = self.adduct_names[ai]
        copies = self.add_copies[(ai, z)]
        mt = (cnt @ self.bmass_mat + self.add_mass[(ai, z)] - z * self.e_mass) / z
        alts: list[dict[str, Any]] = []
        if rank < self.isobar_top and self.ex_vec.size:
            new = cnt[None, :] + self.ex_vec
            ok = np.all(new >= self.cmin, axis=1) & np.all(new <= self.cmax, axis=1) & (new.sum(axis=1) > 0)
            for v, dm in zip(new[ok], self.ex_dm[ok], strict=True):
                m_alt = float(self.mz_theo[c] + dm / z)
                alts.append({"formula": ion_text(composition_text(self.blocks, v), a, copies, z), "mass_da": m_alt,
                             "error_da": mz_obs - m_alt, "within_tolerance": bool(abs(mz_obs - m_alt) <= tol)})
        return Candidate(
            formula=ion_text(composition_text(self.blocks, cnt), a, copies, z),
            counts={b.name: int(n) for b, n in zip(self.blocks, cnt, strict=True)},
            adduct=a, charge=z, mass_da=float(self.mz_theo[c]), error_da=float(self.err[c]),
            score=float(np.exp(self.log_score[c] - lse)), log_score=float(self.log_score[c]),
            terms={name: float(arr[c]) for name, arr in self.terms},
            formal_charge=int(self.fq[c]), masses_by_table={t: float(m) for t, m in zip(self.tables, mt, strict=True)},
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
    # one enumeration over (peak, adduct-charge) queries in peak-major order: hits come out grouped by peak
    targets = np.stack([t for _, _, _, t in combos], axis=1).ravel()
    tols = np.stack([z * tol for _, z, _, _ in combos], axis=1).ravel()
    hits_q = _enumerate(targets, tols, bm, cmax_a, cmin_a)
    BLK = hits_q.q % n_combos
    Q = hits_q.q // n_combos
    per_peak_n = np.bincount(Q, minlength=n_peaks)
    bounds = np.concatenate([[0], np.cumsum(per_peak_n)])
    n_tot = int(bounds[-1])
    G, NH = hits_q.gidx, hits_q.n_heavy
    combo_m = np.asarray([c[2] for c in combos])
    combo_zf = np.asarray([float(c[1]) for c in combos])
    mz_theo = (hits_q.mass + combo_m[BLK] - combo_zf[BLK] * e_mass) / combo_zf[BLK]
    hits = _Hits(Q, G, NH, mz_theo, hits_q.grid_counts, hits_q.heavy, hits_q.rest)
    combo_add = np.asarray([c[0] for c in combos], dtype=np.int64)
    combo_z = np.asarray([c[1] for c in combos], dtype=np.int64)
    add_i = combo_add[BLK]
    z_i = combo_z[BLK]
    err = mz_obs[Q] - mz_theo

    # intrinsic terms; stoichiometry and formal charge are computed per grid row, then gathered
    gcounts = hits.grid_counts
    rest, heavy = list(hits.rest), hits.heavy
    t_mass = -0.5 * (err / (cfg["mass_sigma_fraction"] * tol[Q])) ** 2
    if ratio_idx and heavy not in ratio_idx:
        cols = [rest.index(j) for j in ratio_idx]
        t_stoich = (-0.5 * (_clr_distance(gcounts[:, cols], list(range(len(cols))), ratio_t)
                            / cfg["stoichiometry_sigma"]) ** 2)[G]
    elif ratio_idx:
        t_stoich = -0.5 * (_clr_distance(hits.counts(), ratio_idx, ratio_t) / cfg["stoichiometry_sigma"]) ** 2
    else:
        t_stoich = np.zeros(n_tot)
    add_charge = np.asarray([1 if known[a]["per_charge"] and known[a]["formula"] else 0 for a in add_names])
    fq_grid = (gcounts.astype(np.int64) @ bq[rest].astype(np.int64)) if rest else np.zeros(gcounts.shape[0], np.int64)
    fq = fq_grid[G] + int(bq[heavy]) * NH + add_charge[add_i] * z_i
    t_charge = -0.5 * ((fq - z_i) / cfg["charge_sigma"]) ** 2
    log_score = t_mass + t_stoich + t_charge
    t_env = np.zeros(n_tot)
    t_series = np.zeros(n_tot)

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
        for i in range(mz_obs.size):
            prof = profiles[i]
            if prof is None or bounds[i + 1] == bounds[i]:
                continue
            x = np.asarray(prof[0], float)
            y = np.clip(np.asarray(prof[1], float), 0, None)
            if x.size < 3 or not np.any(y > 0):
                continue
            top = ranked(i, n_top)
            vals = []
            for c, cnt in zip(top, hits.counts(top), strict=True):
                f = Formula({})
                for b, n in zip(blk, cnt, strict=True):
                    if n:
                        f = f + b.formula * int(n)
                spec = known[add_names[add_i[c]]]
                if spec["formula"]:
                    f = f + parse_formula(spec["formula"]) * int(z_i[c] if spec["per_charge"] else 1)
                env = isotope_envelope(f.with_charge(int(z_i[c])))
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
    if series and n_peaks > 1 and cfg["series_weight"] and n_tot:
        order = np.argsort(mz_obs, kind="stable")
        close = np.abs(np.diff(mz_obs[order])) <= cfg["series_window_da"]
        left = np.full(n_peaks, -1)
        right = np.full(n_peaks, -1)
        left[order[1:][close]] = order[:-1][close]
        right[order[:-1][close]] = order[1:][close]
        nonempty = per_peak_n > 0
        best = np.full(n_peaks, -np.inf)
        best[nonempty] = np.maximum.reduceat(log_score, bounds[:-1][nonempty])
        sel = np.nonzero(log_score >= best[Q] - float(cfg["series_score_window"]))[0]
        sel = sel[np.lexsort((-log_score[sel], Q[sel]))]  # by peak, best first
        q_sel = Q[sel]
        first = np.searchsorted(q_sel, np.arange(n_peaks))
        k_top = int(cfg["series_top"])
        rank_in_peak = np.arange(sel.size) - first[q_sel]
        top_mask = rank_in_peak < k_top
        tops = np.full((n_peaks, k_top, len(blk)), -(10**6), dtype=np.int64)  # sentinel: never "close"
        tops[q_sel[top_mask], rank_in_peak[top_mask]] = hits.counts(sel[top_mask])
        own = hits.counts(sel).astype(np.int64)
        ok = np.zeros(sel.size)
        n_nb = np.zeros(sel.size)
        for nb in (left, right):
            j = nb[q_sel]
            has = (j >= 0) & nonempty[np.maximum(j, 0)]
            d = np.abs(own[has][:, None, :] - tops[j[has]]).sum(axis=2).min(axis=1)
            ok[has] += d <= cfg["series_step_units"]
            n_nb += has
        t_series[sel] = np.where(n_nb > 0, cfg["series_weight"] * ok / np.maximum(n_nb, 1), 0.0)
        log_score = log_score + t_series

    exchanges = _exchange_vectors(bm, float(cfg["isobar_window_da"]), int(cfg["isobar_max_units"]))
    ex_vec = np.asarray([v for v, _ in exchanges], dtype=np.int64).reshape(-1, len(blk))
    ex_dm = np.asarray([dm for _, dm in exchanges], dtype=float)
    ex_vec = np.concatenate([ex_vec, -ex_vec])
    ex_dm = np.concatenate([ex_dm, -ex_dm])
    shared = _Shared(
        blocks=blk, tables=tuple(tables), adduct_names=tuple(add_names), hits=hits, err=err, mz_theo=mz_theo,
        add_i=add_i, z_i=z_i, fq=fq, log_score=log_score,
        terms=(("mass", t_mass), ("stoichiometry", t_stoich), ("charge", t_charge), ("envelope", t_env), ("series", t_series)),
        bmass_mat=np.stack([bmass[t] for t in tables], axis=1),
        add_mass={(ai, z): np.asarray([_adduct_mass(known[a], z, t) for t in tables]) for ai, a in enumerate(add_names) for z in zs},
        add_copies={(ai, z): (z if known[a]["per_charge"] else 1) for ai, a in enumerate(add_names) for z in zs},
        e_mass=e_mass, ex_vec=ex_vec, ex_dm=ex_dm, cmin=cmin_a, cmax=cmax_a,
        isobar_top=int(cfg["isobar_top"]),
    )
    peaks: list[PeakAssignment] = []
    for i in range(mz_obs.size):
        keep = ranked(i, max_candidates)
        n_i = int(bounds[i + 1] - bounds[i])
        if n_i:
            ls = log_score[bounds[i]:bounds[i + 1]]
            lse = float(ls.max() + np.log(np.sum(np.exp(ls - ls.max()))))
        else:
            lse = 0.0
        peaks.append(PeakAssignment(float(mz_obs[i]), float(tol[i]), n_i,
                                    _source=(shared, keep, float(mz_obs[i]), float(tol[i]), lse)))
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
