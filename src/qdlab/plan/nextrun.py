"""Close the loop: the next recipe, planned on the twin just calibrated to a run (``qdlab run``).

When ``experiment.toml`` names a ``[target]``, :func:`plan_next_experiment` takes the twin scenario the
run was calibrated to (``[recipe] scenario`` with the fitted values), binds the planner's
:class:`~qdlab.plan.twin_model.TwinModel` to the same seed batch, and plans one overgrowth to the target
with :func:`qdlab.plan.inverse.plan_recipe`. The uncertainty is propagated from the calibration's own
covariance (the fitted parameters), with a fixed, seeded number of draws (package data
``[next_experiment] uncertainty_samples``).

Twin runs: the volume search (typically 10-20, at most ``[design] max_search_runs``), the reachable
range (``reach_volume_points`` x ``reach_rate_points`` = 15) and the uncertainty samples (12): about
40-50 runs, bounded, the same every time for the same inputs.

The answer is a JSON-safe dict (``summary["next_recipe"]``) with the recipe, the prediction and its
68 % interval, whether the target lies inside it (else a reason), the exact scenario (template name and
overrides, so anyone can re-run it through :func:`qdlab.twin.simulate`) and the ``qdlab campaign``
commands that tell this run to a campaign and ask for the next experiment. A planning failure
(:class:`~qdlab.data.errors.QdlabError`) becomes ``{"status": "error", "error": message}``.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from typing import Any

from qdlab.data.errors import InputError, QdlabError
from qdlab.plan.space import config


def _samples() -> int:
    return int(config()["next_experiment"]["uncertainty_samples"]["value"])


def _commands(target: Mapping[str, Any], seeds: Mapping[str, float], experiment_key: str) -> dict[str, Any]:
    """``qdlab campaign`` commands for this run (shell-quoted)."""
    name = target.get("campaign") or f"{experiment_key}-to-{target['wavelength_nm']:g}nm"
    q = shlex.quote
    out: dict[str, Any] = {"campaign": name}
    if target.get("campaign") is None:
        new = ["qdlab", "campaign", "new", name, "--target-nm", f"{target['wavelength_nm']:g}",
               "--seed-nm", f"{seeds['pl_peak_nm']:.6g}", "--seed-mg", f"{seeds['mass_mg']:.6g}"]
        if target.get("max_fwhm_mev") is not None:
            new += ["--max-fwhm-mev", f"{target['max_fwhm_mev']:g}"]
        out["new"] = " ".join(q(x) for x in new)
    if target.get("trial") is not None:
        out["tell"] = " ".join(q(x) for x in ["qdlab", "campaign", "tell", name, "--trial", str(target["trial"]),
                                              "--from-run", experiment_key])
    out["ask"] = f"qdlab campaign ask {q(name)}"
    out["note"] = ("add --db URL to each command when the record or the campaigns are not in the default database"
                   + ("" if target.get("trial") is not None else
                      "; a run that was not asked from a campaign is told with the trial number `ask` gives for it"))
    return out


def plan_next_experiment(
    target: Mapping[str, Any],
    calibration: Mapping[str, Any],
    experiment_key: str,
    *,
    scheduler: Any = "serial",
    n_samples: int | None = None,
) -> dict[str, Any]:
    """Plan the next recipe for ``target`` on the twin calibrated to this run.

    Parameters
    ----------
    target
        The manifest's ``[target]`` (``wavelength_nm``, optional ``max_fwhm_mev``, ``min_qy_percent``,
        ``campaign``, ``trial``).
    calibration
        The run's twin calibration (``summary["twin"]`` with its ``result``: ``values`` and ``covariance``).
    experiment_key
        The experiment's id (for the ``--from-run`` command).
    scheduler
        Where the reachable-range grid and the uncertainty samples run (``qdlab.compute``).
    n_samples
        Uncertainty draws (default: package data ``[next_experiment] uncertainty_samples``).

    Returns
    -------
    dict
        ``status`` ``"ok"``, ``"skipped"`` (no calibrated twin) or ``"error"`` (the planner's message).
    """
    tgt = {k: v for k, v in dict(target).items() if v is not None}
    out: dict[str, Any] = {"target": tgt}
    if calibration.get("status") != "ok":
        why = calibration.get("error") or "no twin calibration"
        return {**out, "status": "skipped", "error": f"no twin calibrated to this run to plan on ({why})"}
    try:
        return {**out, **_plan(tgt, calibration, experiment_key, scheduler,
                               _samples() if n_samples is None else int(n_samples))}
    except QdlabError as exc:
        return {**out, "status": "error", "error": str(exc)}


def _plan(target: Mapping[str, Any], calibration: Mapping[str, Any], experiment_key: str, scheduler: Any,
          n_samples: int) -> dict[str, Any]:
    from qdlab.plan.inverse import plan_recipe
    from qdlab.plan.twin_model import Calibration, TwinModel, _twin

    res = calibration.get("result") or {}
    values = res.get("values") or {}
    name = calibration.get("scenario") or res.get("scenario")
    if not name or not values:
        raise InputError("the twin calibration names no scenario or fitted values", field="twin")
    sc = _twin().load_scenario(name)
    if sc.seeds is None or sc.seeds.emission_nm is None:
        raise InputError(f"scenario {name!r} has no seeds with a PL peak: nothing to overgrow", field="recipe.scenario")
    notes: list[str] = []
    try:
        cal: Calibration | None = Calibration.from_mapping(values, res.get("covariance"))
    except InputError as exc:
        cal = None
        notes.append(f"uncertainty from the planner's default parameter spread: {exc}")
    model = TwinModel(seed_nm=float(sc.seeds.emission_nm), seed_mg=float(sc.seeds.mass_mg),
                      seed_fwhm_mev=None if sc.seeds.fwhm_mev is None else float(sc.seeds.fwhm_mev), template=name)
    model = model.with_parameters({k: float(v) for k, v in values.items()})
    if cal is not None:
        from dataclasses import replace

        model = replace(model, calibration=cal)
    plan = plan_recipe(model, float(target["wavelength_nm"]), max_fwhm_mev=target.get("max_fwhm_mev"),
                       n_samples=n_samples, scheduler=scheduler, rng_seed=0)
    d = plan.to_dict()
    pred = d["predicted"]
    reasons = [plan.reason] if plan.reason else []
    interval = pred.get("pl_peak_nm_interval_68")
    tol = float(config()["objective"]["wavelength_scale_nm"]["value"])
    if interval is not None:
        inside = interval[0] <= plan.target_nm <= interval[1]
        if not inside:
            reasons.append(
                f"the target {plan.target_nm:g} nm lies outside the prediction's 68 % interval "
                f"{interval[0]:.0f}-{interval[1]:.0f} nm (the calibrated parameters' spread moves the peak "
                f"asymmetrically; P(|peak - target| <= {tol:g} nm) = {pred.get('p_within_tolerance', math.nan):.2f})")
    else:
        inside = None
        reasons.append("no uncertainty interval (fewer than 2 usable parameter samples)")
    if target.get("min_qy_percent") is not None:
        notes.append(f"PLQY >= {target['min_qy_percent']:g} % cannot be planned for: the twin does not predict the "
                     "PLQY; check it on the measured product")
    seeds = {"pl_peak_nm": model.seed_nm, "mass_mg": model.seed_mg, "fwhm_mev": model.seed_fwhm_mev, "batch_of": name}
    return {
        "status": "ok",
        "planned_on": {"scenario": name, "calibrated": {k: float(v) for k, v in values.items()},
                       "uncertainty_from": "calibration covariance" if cal is not None else "default spread"},
        "seeds": seeds,
        "recipe": d["recipe"],
        "params": d["params"],
        "ramp_factor": d["ramp_factor"],
        "predicted": pred,
        "target_in_interval": inside,
        "reachable_nm": list(d["reachable_nm"]),
        "twin_runs": d["twin_runs"],
        "elapsed_s": round(d["elapsed_s"], 3),
        "notes": [*d["notes"], *notes],
        "reason": "; ".join(reasons) or None,
        "scenario": {"name": model.template_name(), "overrides": model.scenario_overrides(plan.params, plan.ramp_factor)},
        "commands": _commands(target, seeds, experiment_key),
    }


__all__ = ["plan_next_experiment"]
