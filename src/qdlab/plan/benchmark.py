"""Offline benchmark of the planner: the twin with hidden, perturbed parameters plays the lab.

For each of ``n`` random targets (uniform in 1150-1400 nm by default) a "true" lab is drawn: the
planner's forward model with its uncertain kinetic parameters multiplied by log-normal factors
(``[benchmark] perturbation_rel``), plus Gaussian PL-peak noise. The planner never sees them. Each
strategy (``twin``, ``tpe``, ``random``; :mod:`qdlab.plan.campaign`) then runs a campaign of ``budget``
experiments against that lab; a case succeeds when a measured peak lands within ``tolerance_nm`` of
the target without bimodal PL. The campaigns run through :func:`qdlab.compute.map_progress`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import QdlabError
from qdlab.data.types import Result
from qdlab.plan.forward import ForwardModel
from qdlab.plan.objective import Outcome
from qdlab.plan.space import value


@dataclass(frozen=True)
class BenchCase:
    """One target with its hidden truth."""

    index: int
    target_nm: float
    truth_parameters: dict[str, float]
    seed: int


def make_cases(model: Any, n: int | None = None, *, rng_seed: int = 2025, low_nm: float | None = None, high_nm: float | None = None) -> list[BenchCase]:
    """Random targets and hidden parameter perturbations (reproducible from ``rng_seed``)."""
    n = int(value("benchmark", "targets")) if n is None else n
    lo = value("benchmark", "target_low_nm") if low_nm is None else low_nm
    hi = value("benchmark", "target_high_nm") if high_nm is None else high_nm
    sigma = value("benchmark", "perturbation_rel")
    rng = np.random.default_rng(rng_seed)
    nominal = model.nominal_parameters()
    cases = []
    for i in range(n):
        target = float(rng.uniform(lo, hi))
        truth = {k: float(v * math.exp(sigma * rng.standard_normal())) for k, v in nominal.items()}
        cases.append(BenchCase(i, target, truth, int(rng.integers(2**31 - 1))))
    return cases


@dataclass(frozen=True)
class CaseResult(Result):
    """History of one campaign against one hidden truth."""

    strategy: str
    index: int
    target_nm: float
    errors_nm: list[float]
    bimodal: list[bool]
    first_hit: int | None
    failed_runs: int = 0
    note: str = ""


def run_case(job: tuple[str, BenchCase, ForwardModel, int, float, float]) -> CaseResult:
    """Run one campaign (``strategy``) against the hidden truth of ``case``; picklable for workers."""
    import optuna

    from qdlab.plan.campaign import Campaign, CampaignSpec

    strategy, case, model, budget, tol, noise = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    truth = model.with_parameters(case.truth_parameters)
    rng = np.random.default_rng(case.seed)
    spec = CampaignSpec(name=f"bench-{strategy}-{case.index}", target_nm=case.target_nm, seed_nm=model.seed_nm, seed_mg=model.seed_mg, material=model.material, strategy=strategy)
    errors: list[float] = []
    bimodal: list[bool] = []
    failed = 0
    try:
        camp = Campaign.create(spec, db=optuna.storages.InMemoryStorage(), model_factory=lambda *_: model, seed=case.seed)
    except QdlabError as exc:
        return CaseResult(strategy, case.index, case.target_nm, [], [], None, 0, f"planner refused: {exc}")
    for _ in range(budget):
        (s,) = camp.ask()
        try:
            out = truth.predict(s.params, s.ramp_factor)
        except QdlabError:
            failed += 1
            camp.study.tell(s.trial, state=optuna.trial.TrialState.FAIL)
            errors.append(float("inf"))
            bimodal.append(False)
            continue
        measured = Outcome(pl_peak_nm=out.pl_peak_nm + noise * float(rng.standard_normal()), fwhm_mev=out.fwhm_mev, bimodal=out.bimodal)
        camp.tell(s.trial, measured)
        # success is judged on the true (noise-free) peak
        errors.append(abs(out.pl_peak_nm - case.target_nm))
        bimodal.append(out.bimodal)
    hits = [i for i, (e, b) in enumerate(zip(errors, bimodal, strict=True)) if e <= tol and not b]
    return CaseResult(strategy, case.index, case.target_nm, errors, bimodal, hits[0] + 1 if hits else None, failed)


@dataclass(frozen=True)
class BenchmarkResult(Result):
    """All campaigns and a per-strategy summary."""

    budget: int
    tolerance_nm: float
    cases: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


def summarise(results: Sequence[CaseResult], budget: int) -> dict[str, dict[str, Any]]:
    """Success rate, experiments to success, best-error curves per strategy."""
    out: dict[str, dict[str, Any]] = {}
    for strategy in dict.fromkeys(r.strategy for r in results):
        rs = [r for r in results if r.strategy == strategy]
        curves = []
        for r in rs:
            e = np.array(r.errors_nm + [np.inf] * (budget - len(r.errors_nm)), dtype=float)
            e = np.where(np.array(r.bimodal + [False] * (budget - len(r.bimodal))), np.inf, e)
            curves.append(np.minimum.accumulate(e))
        c = np.array(curves) if curves else np.zeros((0, budget))
        hits = [r.first_hit for r in rs if r.first_hit is not None]
        out[strategy] = {
            "n": len(rs),
            "success_rate": len(hits) / len(rs) if rs else 0.0,
            "mean_experiments_to_hit": float(np.mean(hits)) if hits else None,
            "median_best_error_nm": np.median(c, axis=0).tolist() if len(c) else [],
            "success_curve": [float(np.mean(c[:, k] <= value("benchmark", "tolerance_nm"))) for k in range(budget)] if len(c) else [],
        }
    return out


def run_benchmark(
    model: ForwardModel,
    *,
    strategies: Sequence[str] = ("twin", "tpe", "random"),
    n_targets: int | None = None,
    budget: int | None = None,
    scheduler: Any = "local",
    rng_seed: int = 2025,
    show: bool | None = None,
) -> BenchmarkResult:
    """Run every strategy on the same hidden-truth cases; see the module docstring."""
    from qdlab.compute import map_progress

    budget = int(value("benchmark", "budget")) if budget is None else budget
    tol = value("benchmark", "tolerance_nm")
    noise = value("benchmark", "noise_nm")
    cases = make_cases(model, n_targets, rng_seed=rng_seed)
    jobs = [(s, c, model, budget, tol, noise) for c in cases for s in strategies]
    results = map_progress(run_case, jobs, scheduler=scheduler, description="planner campaigns", show=show)
    return BenchmarkResult(budget=budget, tolerance_nm=tol, cases=[r.to_dict() for r in results], summary=summarise(results, budget))


def plot_benchmark(result: BenchmarkResult, path_prefix: str) -> list[str]:
    """Write ``<prefix>_convergence.png`` (median best |error| vs experiments) and ``<prefix>_success.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    k = np.arange(1, result.budget + 1)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, s in result.summary.items():
        y = np.array(s["median_best_error_nm"], dtype=float)
        ax.semilogy(k, np.where(np.isfinite(y), np.maximum(y, 0.1), np.nan), marker="o", label=name)
    ax.axhline(result.tolerance_nm, color="k", ls="--", lw=1, label=f"{result.tolerance_nm:g} nm")
    ax.set_xlabel("experiments")
    ax.set_ylabel("median best |peak - target| (nm)")
    ax.legend()
    fig.tight_layout()
    p = f"{path_prefix}_convergence.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, s in result.summary.items():
        ax.plot(k, s["success_curve"], marker="o", label=name)
    ax.axhline(0.8, color="k", ls="--", lw=1, label="80 %")
    ax.set_xlabel("experiments")
    ax.set_ylabel(f"fraction of targets within {result.tolerance_nm:g} nm")
    ax.set_ylim(0, 1.02)
    ax.legend()
    fig.tight_layout()
    p = f"{path_prefix}_success.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    return paths


__all__ = ["BenchCase", "BenchmarkResult", "CaseResult", "make_cases", "plot_benchmark", "run_benchmark", "run_case", "summarise"]
