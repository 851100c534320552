"""One fit layer: models with bounded parameters -> :class:`FitResult` (values, standard errors, covariance,
quality flags, a readable report).

* :class:`Parameter` — a named value with bounds (``min``/``max``) and ``vary``;
* :class:`Model` — ``f(x, *values)`` with optional analytic Jacobian;
* :func:`fit` — Levenberg–Marquardt (:func:`scipy.optimize.least_squares`); bounds by lmfit's (MINUIT's)
  transformations of the parameters, covariance ``(J^T J)^+ RSS / (N - k)``;
* :class:`FitResult` — the shared result with flags ``at_bound``, ``not_converged``, ``below_noise``,
  ``undetermined`` (infinite or NaN standard error) and ``report()``.

lmfit is the independent reference in the tests (same data, same model: same values and standard errors);
qdlab's analyses run many small fits per spectrum (model selection over 1-3 components, several starting
points), where lmfit's per-fit parameter machinery costs about 10x more (``benchmarks/bench_spectra.py``).
Core layer: numpy and scipy only.
"""

from qdlab.fit.core import FLAGS, FitResult, Model, Parameter, fit

__all__ = ["FLAGS", "FitResult", "Model", "Parameter", "fit"]
