"""Planner: inverse design of overgrowth recipes and closed-loop (ask/tell) campaigns.

* :func:`plan_recipe` — seeds at X nm, target Y nm -> one recipe with the twin's prediction and its
  uncertainty (bounded 1-D searches; a few seconds).
* :mod:`qdlab.plan.campaign` — Optuna-backed ask/tell campaigns (SQLite/PostgreSQL storage) with the
  twin as a prior (warm start and a regularised residual model).
* :mod:`qdlab.plan.benchmark` — the offline benchmark: the twin with hidden perturbed parameters as
  the lab, the planner vs random search vs plain TPE.
"""

from __future__ import annotations

from qdlab.plan.forward import ForwardModel
from qdlab.plan.inverse import PlanResult, plan_recipe
from qdlab.plan.objective import Objective, Outcome
from qdlab.plan.space import SearchSpace, build_recipe

__all__ = ["ForwardModel", "Objective", "Outcome", "PlanResult", "SearchSpace", "build_recipe", "plan_recipe"]
