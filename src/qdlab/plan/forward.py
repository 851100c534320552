"""Forward models the planner can invert: the digital twin (default) or anything with the same shape.

A forward model is bound to one batch of seeds (PL peak, amount, material) and maps a point of the
search space (plus a ramp factor of the injection rate) to the predicted final :class:`Outcome`.
It also knows its own parameter uncertainty: :meth:`ForwardModel.parameter_samples` draws parameter
sets from the calibrated covariance and :meth:`ForwardModel.with_parameters` returns the model with
one such set applied, which is how :mod:`qdlab.plan.inverse` propagates it to the prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from qdlab.plan.objective import Outcome


@runtime_checkable
class ForwardModel(Protocol):
    """What the planner needs from a model (the twin adapter implements it)."""

    seed_nm: float
    seed_mg: float
    material: str

    def predict(self, params: Mapping[str, float], ramp_factor: float = 1.0) -> Outcome:
        """Final-aliquot outcome of the recipe ``params`` (planner variables)."""
        ...

    def parameter_samples(self, n: int, rng: np.random.Generator) -> Sequence[Mapping[str, float]]:
        """``n`` model-parameter sets drawn from the calibrated uncertainty."""
        ...

    def with_parameters(self, values: Mapping[str, float]) -> ForwardModel:
        """A copy with model parameters replaced (for uncertainty propagation and hidden truths)."""
        ...


__all__ = ["ForwardModel"]
