"""Inverse design: from "seeds at X nm, I want Y nm" to one overgrowth recipe, in a few seconds.

The search is deliberately small (the twin costs ~20 ms a run):

1. **Sanity**. A target bluer than the seeds can only be reached by etching, which the paper shows
   to be transient and at most ~170 meV; anything bluer is refused outright.
2. **Safe rate**. The no-renucleation rule (:mod:`qdlab.plan.design`) scales the reference rate with
   the number and radius of the seeds and ramps it by ``d_target/d_seed`` as they grow.
3. **Volume**. The final PL peak grows monotonically with the injected feed volume, so a bracketed
   Brent root search on ``ln V`` (:func:`scipy.optimize.brentq`) hits the target; the mass balance
   gives the first guess. If the target lies beyond the reachable range the answer says so.
4. **Refinement**. If the twin predicts secondary nucleation (bimodal PL, or a secondary mass
   fraction, the share of the QD material in secondary QDs, above the limit ``[design]
   max_secondary_mass_fraction``) or a line broader than ``max_fwhm_mev``, the next safety move (package data
   ``[[safety_moves]]``: constant rate, more oleic acid, slower, more dilute, hotter) is applied and
   step 3 repeated, once per move (the moves are finite, so is the search).
5. **Reachable range**. The final peaks the model predicts on a fixed grid over the whole feed-volume
   and injection-rate ranges (package data ``[design] reach_volume_points`` x ``reach_rate_points``,
   constant rate, the recipe's concentration, temperature and oleic acid; single-peaked predictions
   only), so the range is the model's, not the part of it the search happened to scan.
6. **Uncertainty**. The recipe is re-run with a fixed number of parameter sets (package data ``[design]
   uncertainty_samples``) drawn with a seeded generator from the twin's calibrated covariance (through
   :func:`qdlab.compute.map_progress`) and the spread is reported.

Nothing depends on the wall clock: the same inputs give the same answer (only ``elapsed_s`` differs).
Twin runs of one plan: the volume search (``scan_points`` + up to 3 + Brent, typically 10-20) per line
tried (at most 2 + the number of safety moves), the reachable-range grid (15 by default), and the
uncertainty samples (24 by default); ``[design] max_search_runs`` caps the search part.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import InputError, QdlabError
from qdlab.data.types import Result
from qdlab.plan import design
from qdlab.plan.forward import ForwardModel
from qdlab.plan.objective import Objective, Outcome
from qdlab.plan.space import SearchSpace, build_recipe, reference_scenario_name, value
from qdlab.units import HC_EV_NM


@dataclass(frozen=True)
class PlanResult(Result):
    """A planned recipe, what the twin predicts for it, and how sure it is."""

    target_nm: float
    recipe: dict[str, Any]
    predicted: dict[str, Any]
    reachable_nm: tuple[float, float]
    params: dict[str, float]
    ramp_factor: float
    twin_runs: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)
    reason: str | None = None


class _Counter:
    def __init__(self, model: ForwardModel) -> None:
        self.model = model
        self.runs = 0

    def __call__(self, params: Mapping[str, float], ramp: float) -> Outcome:
        self.runs += 1
        return self.model.predict(params, ramp)



def _solve_volume(
    run: _Counter,
    base: dict[str, float],
    ramp: float,
    target_nm: float,
    guess_ml: float,
    space: SearchSpace,
    near_ml: float | None = None,
) -> tuple[float, Outcome, tuple[float, float]]:
    """Hit ``target_nm`` by the feed volume; returns (V, outcome, peak range seen at this rate).

    A log-spaced scan, ascending from the smallest feed (package data ``[design] scan_points`` up to
    ``scan_span_factor`` times the mass-balance volume, then on to the bound), stops at the first
    single-peaked crossing of the target (the response need not be monotonic: secondary nucleation
    can take feed away from the seeds, and a bimodal end can be a jump between populations). Brent's
    method then solves inside that bracket. With ``near_ml`` (a previous solution) a bracket of
    ``near_ml * exp(+-0.4)`` is tried first.
    """
    import dataclasses

    from scipy.optimize import brentq

    var = space["cluster_volume_ml"]
    # no feed that takes longer than [design] max_injection_h at the starting rate (a ramp only shortens it)
    longest = max_volume_ml(base["injection_rate_ml_per_h"], space)
    var = dataclasses.replace(var, high=max(longest, var.low))
    cache: dict[float, Outcome] = {}

    def out(log_v: float) -> Outcome:
        if log_v not in cache:
            cache[log_v] = run({**base, "cluster_volume_ml": var.clip(math.exp(log_v))}, ramp)
        return cache[log_v]

    if near_ml is not None:
        c = math.log(near_ml)
        lo_, hi_ = max(c - 0.4, math.log(var.low)), min(c + 0.4, math.log(var.high))
        o_lo, o_hi = out(lo_), out(hi_)
        if (o_lo.pl_peak_nm - target_nm) * (o_hi.pl_peak_nm - target_nm) <= 0 and not (o_lo.bimodal or o_hi.bimodal):
            log_v = brentq(lambda x: out(x).pl_peak_nm - target_nm, lo_, hi_, xtol=5e-3, rtol=1e-6, maxiter=30)
            if abs(out(log_v).pl_peak_nm - target_nm) <= 2.0:
                peaks_seen = [o.pl_peak_nm for o in cache.values()]
                return math.exp(log_v), out(log_v), (min(peaks_seen), max(peaks_seen))
    n_scan = int(value("design", "scan_points"))
    # scan up to a few times the mass-balance volume first (long, slow injections cost the most twin time)
    top = min(math.log(var.high), math.log(max(guess_ml * value("design", "scan_span_factor"), var.low * 4)))
    full = np.linspace(math.log(var.low), top, n_scan)
    if top < math.log(var.high):
        full = np.concatenate([full, np.linspace(top, math.log(var.high), 4)[1:]])
    # ascending scan that stops at the first single-peaked crossing (large feeds are the slow runs)
    vals: list[float] = []
    for x in full:
        o = out(float(x))
        vals.append(float(x))
        if len(vals) > 1:
            prev = out(vals[-2])
            crossed = (prev.pl_peak_nm - target_nm) * (o.pl_peak_nm - target_nm) <= 0
            if crossed and not (prev.bimodal or o.bimodal):
                break
    grid = np.array(vals)
    peaks = np.array([out(x).pl_peak_nm for x in vals])
    reach = (float(peaks.min()), float(peaks.max()))
    diff = peaks - target_nm
    bim = [out(float(x)).bimodal for x in grid]
    brackets = [i for i in range(len(grid) - 1) if diff[i] == 0 or diff[i] * diff[i + 1] < 0]
    # single-peaked brackets first (a bimodal end can be a jump between populations, not a crossing),
    # then the least feed: the first crossing is the seeds' growth branch
    brackets.sort(key=lambda k: (bim[k] or bim[k + 1], k))
    best: tuple[float, float] | None = None
    for i in brackets:
        if diff[i] == 0:
            return math.exp(grid[i]), out(float(grid[i])), reach
        log_v = brentq(lambda x: out(x).pl_peak_nm - target_nm, float(grid[i]), float(grid[i + 1]), xtol=5e-3, rtol=1e-6, maxiter=30)
        err = abs(out(log_v).pl_peak_nm - target_nm)
        if best is None or err < best[1]:
            best = (log_v, err)
        if err <= 2.0:  # a true crossing, not a discontinuity
            break
    if best is None:
        i = int(np.argmin(np.abs(diff)))
        return math.exp(grid[i]), out(float(grid[i])), reach
    return math.exp(best[0]), out(best[0]), reach


def max_volume_ml(rate_ml_per_h: float, space: SearchSpace | None = None) -> float:
    """Largest feed volume (mL) injected at ``rate_ml_per_h`` within ``[design] max_injection_h``.

    Examples
    --------
    >>> round(max_volume_ml(0.25), 2), max_volume_ml(8.0)
    (3.0, 40.0)
    """
    space = space or SearchSpace.default()
    return float(min(space["cluster_volume_ml"].high, rate_ml_per_h * value("design", "max_injection_h")))


def _reach_job(job: tuple[ForwardModel, dict[str, float]]) -> Outcome | None:
    model, params = job
    try:
        return model.predict(params, 1.0)
    except QdlabError:  # no emission at this corner: not part of the reachable range
        return None


def reachable_range_nm(
    model: ForwardModel, params: Mapping[str, float], *, space: SearchSpace | None = None, scheduler: Any = "serial"
) -> tuple[tuple[float, float], int]:
    """Final PL peaks ``model`` predicts over the whole feed-volume and injection-rate ranges.

    A fixed grid: ``[design] reach_volume_points`` log-spaced feed volumes x ``reach_rate_points``
    log-spaced rates, both from bound to bound (less the corners that inject for longer than ``[design]
    max_injection_h``), at constant rate, with the other variables of
    ``params`` (feed concentration, temperature, oleic acid). Single-peaked predictions only (all of
    them when every point is bimodal). The volume and rate in ``params`` are ignored, so the range does
    not depend on where a search started.

    Returns
    -------
    ((low_nm, high_nm), twin_runs)

    Raises
    ------
    ModelError
        The model predicts no emission anywhere on the grid.
    """
    from qdlab.compute import map_progress
    from qdlab.data.errors import ModelError

    space = space or SearchSpace.default()
    vol, rate = space["cluster_volume_ml"], space["injection_rate_ml_per_h"]
    n_v, n_r = int(value("design", "reach_volume_points")), int(value("design", "reach_rate_points"))
    vols = np.exp(np.linspace(math.log(vol.low), math.log(vol.high), n_v))
    rates = np.exp(np.linspace(math.log(rate.low), math.log(rate.high), n_r))
    base = space.complete(dict(params))
    # a corner whose injection takes longer than [design] max_injection_h is not a recipe: skipped
    jobs = [(model, {**base, "cluster_volume_ml": float(v), "injection_rate_ml_per_h": float(r)})
            for v in vols for r in rates if v <= max_volume_ml(float(r), space) * (1 + 1e-9)]
    outs = [o for o in map_progress(_reach_job, jobs, scheduler=scheduler, description="reachable range") if o is not None]
    if not outs:
        raise ModelError("the model predicts no emission anywhere on the feed-volume x rate grid")
    peaks = [o.pl_peak_nm for o in outs if not o.bimodal] or [o.pl_peak_nm for o in outs]
    return (float(min(peaks)), float(max(peaks))), len(jobs)


def plan_recipe(
    model: ForwardModel,
    target_nm: float,
    *,
    max_fwhm_mev: float | None = None,
    params: Mapping[str, float] | None = None,
    n_samples: int | None = None,
    scheduler: Any = "serial",
    rng_seed: int = 0,
) -> PlanResult:
    """Plan one overgrowth that brings ``model``'s seeds to ``target_nm``.

    Parameters
    ----------
    model
        A forward model bound to the seeds (:class:`qdlab.plan.twin_model.TwinModel` in practice).
    target_nm
        Wanted final PL peak.
    max_fwhm_mev
        Optional cap on the predicted final FWHM.
    params
        Fixed values for other decision variables (temperature, oleic acid, feed concentration,
        starting rate); the rest take their reference values.
    n_samples
        Parameter samples for the predicted uncertainty (default: package data ``[design]
        uncertainty_samples``, a fixed number; 0 disables).
    scheduler
        Where the uncertainty samples and the reachable-range grid run (``qdlab.compute``; ``"serial"``
        by default). With ``"threads"`` (what ``qdlab plan`` uses) the reachable-range grid also starts in a
        background thread at once, on the starting recipe line, while the volume search runs: the twin's
        kernel releases the GIL, so the two share the cores. Its answer is used when the final recipe is on
        the same line (only feed volume and rate differ, which the grid ignores), else the grid is rerun;
        the result is the same as serial.
    rng_seed
        Seed of the parameter draws: the same inputs and seed give the same answer.

    Raises
    ------
    InputError
        Inconsistent inputs or a target out of reach, with the reason.
    """
    t0 = time.perf_counter()
    space = SearchSpace.default()
    objective = Objective(target_nm=target_nm, max_fwhm_mev=max_fwhm_mev)
    seed_nm = model.seed_nm
    notes: list[str] = []
    bluest = design.max_blue_shift_nm(seed_nm)
    if target_nm < bluest:
        raise InputError(
            f"target {target_nm:g} nm is bluer than the seeds ({seed_nm:g} nm) by more than etching gives "
            f"(at most {value('paper', 'max_etch_blue_shift_mev'):g} meV, i.e. down to {bluest:.0f} nm, and only "
            "transiently); overgrowth only red-shifts the final product: start from smaller seeds",
            field="target_nm",
        )
    material = getattr(model, "material", "Cd3P2")
    from qdlab.materials import curve_for

    curve = curve_for(material)
    reddest = HC_EV_NM / (curve.eg_ev - curve.stokes_shift_ev)
    if target_nm >= reddest:
        raise InputError(
            f"target {target_nm:g} nm is beyond what any {material} QD can emit: the bulk band gap "
            f"({curve.eg_ev:g} eV) less the Stokes shift puts the limit at {reddest:.0f} nm",
            field="target_nm",
        )
    base = space.complete(params or {})
    user_fixed = set(params or {})
    if "injection_rate_ml_per_h" not in user_fixed:
        scale = design.rate_scale(model.seed_mg, seed_nm, model.material)
        base["injection_rate_ml_per_h"] = space["injection_rate_ml_per_h"].clip(base["injection_rate_ml_per_h"] * scale)
        ref = reference_scenario_name()
        notes.append(f"starting rate: {ref}'s {space['injection_rate_ml_per_h'].default:g} mL/h scaled by N_s*r relative to its seeds: x{scale:.2f}")
    ramp = design.ramp_factor(seed_nm, max(target_nm, seed_nm), model.material)
    # search and sample with the model's screening form where it has one (the twin: Strang splitting, a quarter of
    # the steps); the recipe found is then predicted once more by the model itself (the converged default)
    screening = getattr(model, "screening", None)
    search = screening() if callable(screening) else model
    run = _Counter(search)
    with _SpeculativeReach(search, base, space, scheduler) as reach_grid:
        return _plan(model, search, target_nm, objective, space, base, user_fixed, ramp, run, notes, scheduler,
                     n_samples, rng_seed, reach_grid, t0)


class _SpeculativeReach:
    """The reachable-range grid of :func:`plan_recipe`, started early in a background thread (``"threads"``).

    ``get(params)`` returns the grid's answer for the recipe line of ``params``: the background result
    when that line is the one it was started on, else a fresh computation on ``scheduler``.
    """

    def __init__(self, model: ForwardModel, params: Mapping[str, float], space: SearchSpace, scheduler: Any) -> None:
        self.model, self.space, self.scheduler = model, space, scheduler
        self.key = self._key(params)
        self.pool: Any = None
        self.future: Any = None
        if scheduler == "threads":
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdlab-reach")
            self.future = self.pool.submit(reachable_range_nm, model, dict(params), space=space, scheduler="serial")

    def _key(self, params: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
        # the grid ignores the feed volume and the rate: every other variable defines the line
        full = self.space.complete(dict(params))
        return tuple(sorted((k, float(v)) for k, v in full.items()
                            if k not in ("cluster_volume_ml", "injection_rate_ml_per_h")))

    def get(self, params: Mapping[str, float]) -> tuple[tuple[float, float], int]:
        if self.future is not None and self._key(params) == self.key:
            return self.future.result()
        return reachable_range_nm(self.model, params, space=self.space, scheduler=self.scheduler)

    def __enter__(self) -> _SpeculativeReach:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            # an unused grid (the search failed or moved the line) finishes in the background, unwaited
            self.pool.shutdown(wait=False, cancel_futures=True)


def _plan(model: ForwardModel, search: ForwardModel, target_nm: float, objective: Objective, space: SearchSpace,
          base: dict[str, float], user_fixed: set[str], ramp: float, run: _Counter, notes: list[str], scheduler: Any,
          n_samples: int | None, rng_seed: int, reach_grid: _SpeculativeReach, t0: float) -> PlanResult:
    """The search, the reachable range and the uncertainty of :func:`plan_recipe` (its steps 3-6).

    ``search`` (``model`` or its screening form) runs the search, the reachable range and the uncertainty
    samples; ``model`` predicts the recipe found, and that is the reported prediction.
    """
    seed_nm = model.seed_nm
    guess = design.volume_for_target_ml(model.seed_mg, seed_nm, target_nm, base["p_conc_mol_per_l"], material=model.material)

    max_sec = value("design", "max_secondary_mass_fraction")
    candidates: list[tuple[float, dict[str, float], Outcome, float]] = []
    near: float | None = None
    reach_all = (float("inf"), float("-inf"))
    moves = [m for m in design.safety_moves() if m["variable"] not in user_fixed]
    concentrated = moved = False
    while True:
        vol, out, reach = _solve_volume(run, base, ramp, target_nm, guess, space, near_ml=near)
        reach_all = (min(reach_all[0], reach[0]), max(reach_all[1], reach[1]))
        point = {**base, "cluster_volume_ml": vol}
        candidates.append((vol, point, out, ramp))
        if not (reach[0] - objective.wavelength_scale_nm <= target_nm <= reach[1] + objective.wavelength_scale_nm):
            if not concentrated and "p_conc_mol_per_l" not in user_fixed and target_nm > reach[1]:
                concentrated = True
                base["p_conc_mol_per_l"] = space["p_conc_mol_per_l"].high
                notes.append("target beyond the reference feed: concentrated feed used")
                guess = design.volume_for_target_ml(model.seed_mg, seed_nm, target_nm, base["p_conc_mol_per_l"], material=model.material)
                near = None
                continue
            if moved:  # a safety move pushed the target out of reach: keep what we had
                candidates.pop()
                break
            model_reach, n_reach = reach_grid.get(base)
            run.runs += n_reach
            lo_nm, hi_nm = min(model_reach[0], reach_all[0]), max(model_reach[1], reach_all[1])
            if lo_nm - objective.wavelength_scale_nm <= target_nm <= hi_nm + objective.wavelength_scale_nm:
                where = "within the range but not on the searched line (bimodal or non-monotonic there)"
            else:
                where = "redder" if target_nm > hi_nm else "bluer"
            raise InputError(
                f"target {target_nm:g} nm is out of reach: from {seed_nm:g} nm seeds ({model.seed_mg:g} mg) the twin's "
                f"final peak spans {lo_nm:.0f}-{hi_nm:.0f} nm for {space['cluster_volume_ml'].low:g}-"
                f"{space['cluster_volume_ml'].high:g} mL of feed at {space['injection_rate_ml_per_h'].low:g}-"
                f"{space['injection_rate_ml_per_h'].high:g} mL/h (injections up to {value('design', 'max_injection_h'):g} h) "
                f"and {base['p_conc_mol_per_l']:.3g} M P; the target is {where}. "
                + {"redder": "Use fewer seeds (--seed-mg) or larger seeds.", "bluer": "Use smaller seeds."}.get(
                    where, "Fix another starting rate or feed concentration."),
                field="target_nm",
            )
        sec = out.secondary_risk
        if (not out.bimodal) and sec <= max_sec and objective.feasible(out):
            break
        if run.runs >= value("design", "max_search_runs"):
            notes.append(f"safety search stopped after {run.runs} twin runs ([design] max_search_runs)")
            break
        # the twin predicts secondary nucleation: apply the next safety move (package data, in order)
        while moves:
            move = moves.pop(0)
            new_ramp, changed = design.apply_move(move, base, ramp, space)
            if changed:
                break
        else:
            break
        notes.append(
            f"twin predicts {'bimodal PL' if out.bimodal else f'secondary mass fraction {sec:.2f}'} at "
            f"{vol:.2f} mL: {move['note']}"
        )
        ramp = new_ramp
        moved = True
        near = vol
        guess = vol
    # keep the feasible candidate closest to the target, else the one with least secondary nucleation
    def rank(c: tuple[float, dict[str, float], Outcome, float]) -> tuple[int, int, float]:
        # safe before risky; on target before off target; then closest (safe) or least secondary (risky)
        o = c[2]
        bad = int(o.bimodal or o.secondary_risk > max_sec or not objective.feasible(o))
        off = int(objective.wavelength_error_nm(o) > objective.wavelength_scale_nm)
        return (bad, off, objective.wavelength_error_nm(o) if not bad else o.secondary_risk)

    best = min(candidates, key=rank)
    vol, point, out, ramp = best
    if search is not model:
        out = model.predict(point, ramp)
        run.runs += 1
        confirmed = (vol, point, out, ramp)
        if rank(confirmed)[:2] != rank(best)[:2]:
            notes.append(
                "the screening search and the converged twin disagree on this recipe's "
                + ("safety" if rank(confirmed)[0] != rank(best)[0] else "distance to the target")
                + f" (screening: {best[2].pl_peak_nm:.1f} nm{', bimodal' if best[2].bimodal else ''}; converged: "
                f"{out.pl_peak_nm:.1f} nm{', bimodal' if out.bimodal else ''}); the converged prediction is reported")
        best = confirmed
    reasons = []
    if rank(best)[0]:
        reasons.append("no recipe within the safety search avoids bimodal PL (secondary nucleation) in the twin")
    if objective.wavelength_error_nm(out) > objective.wavelength_scale_nm:
        reasons.append(f"closest reachable peak {out.pl_peak_nm:.0f} nm is more than {objective.wavelength_scale_nm:g} nm from the target")
    notes.extend(reasons)
    reach_model, n_reach = reach_grid.get(point)
    run.runs += n_reach
    predicted = _predict_with_uncertainty(search, point, ramp, out, objective, n_samples, scheduler, rng_seed)
    run.runs += int(predicted.get("samples", 0))
    recipe = build_recipe(point, seed_nm=seed_nm, seed_mg=model.seed_mg, material=model.material, ramp_factor=ramp)
    recipe["seeds"]["diameter_nm"] = design.seed_diameter_nm(seed_nm, model.material)
    return PlanResult(
        target_nm=target_nm,
        recipe=recipe,
        predicted=predicted,
        reachable_nm=reach_model,
        params=point,
        ramp_factor=ramp,
        twin_runs=run.runs,
        elapsed_s=time.perf_counter() - t0,
        notes=notes,
        reason="; ".join(reasons) or None,
    )


def _sample_predict(job: tuple[ForwardModel, Mapping[str, float], dict[str, float], float]) -> Outcome | None:
    model, pars, point, ramp = job
    try:
        return model.with_parameters(pars).predict(point, ramp)
    except (QdlabError, ArithmeticError):  # a parameter draw the model rejects is dropped from the statistics
        return None


def _predict_with_uncertainty(
    model: ForwardModel,
    point: dict[str, float],
    ramp: float,
    nominal: Outcome,
    objective: Objective,
    n_samples: int | None,
    scheduler: Any,
    rng_seed: int,
) -> dict[str, Any]:
    from qdlab.compute import map_progress

    n = int(value("design", "uncertainty_samples")) if n_samples is None else int(n_samples)
    pred: dict[str, Any] = {
        "pl_peak_nm": nominal.pl_peak_nm,
        "pl_peak_ev": HC_EV_NM / nominal.pl_peak_nm,
        "fwhm_mev": nominal.fwhm_mev,
        "secondary_fraction": nominal.secondary_fraction,
        "secondary_mass_fraction": nominal.secondary_mass_fraction,
        "bimodal": nominal.bimodal,
        "loss": objective.loss(nominal),
        "samples": 0,
    }
    if n <= 0:
        return pred
    rng = np.random.default_rng(rng_seed)
    jobs = [(model, pars, point, ramp) for pars in model.parameter_samples(n, rng)]
    outs = [o for o in map_progress(_sample_predict, jobs, scheduler=scheduler, description="uncertainty") if o is not None]
    pred["samples"] = len(jobs)
    if len(outs) < 2:
        return pred
    peaks = np.array([o.pl_peak_nm for o in outs])
    fw = np.array([o.fwhm_mev for o in outs if o.fwhm_mev is not None])
    sec = np.array([o.secondary_fraction for o in outs if o.secondary_fraction is not None])
    sec_mass = np.array([o.secondary_mass_fraction for o in outs if o.secondary_mass_fraction is not None])
    p16, p50, p84 = (float(x) for x in np.percentile(peaks, [16, 50, 84]))
    # robust sigma: a draw that tips the product into secondary-dominated PL must not swamp the spread
    pred["pl_peak_nm_std"] = 0.5 * (p84 - p16)
    pred["pl_peak_nm_median"] = p50
    pred["pl_peak_nm_interval_68"] = [p16, p84]
    pred["p_within_tolerance"] = float(np.mean(np.abs(peaks - objective.target_nm) <= objective.wavelength_scale_nm))
    if fw.size > 1:
        pred["fwhm_mev_std"] = float(fw.std(ddof=1))
    if sec.size > 1:
        pred["secondary_fraction_std"] = float(sec.std(ddof=1))
    if sec_mass.size > 1:
        pred["secondary_mass_fraction_std"] = float(sec_mass.std(ddof=1))
    pred["p_bimodal"] = float(np.mean([o.bimodal for o in outs]))
    return pred


__all__ = ["PlanResult", "max_volume_ml", "plan_recipe", "reachable_range_nm"]
