"""Parameters, models, the least-squares backend and the shared :class:`FitResult`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Result

#: quality flags a :class:`FitResult` can carry, with what each means
FLAGS: dict[str, str] = {
    "at_bound": "the parameter ended at one of its bounds: the optimum may lie outside the allowed range and its "
    "standard error is not meaningful",
    "not_converged": "the optimiser stopped before its convergence criteria were met",
    "undetermined": "the data do not determine the parameter (infinite or undefined standard error)",
    "below_noise": "the fitted quantity does not rise above the measured noise",
}


@dataclass
class Parameter:
    """A fit parameter: starting ``value``, bounds ``min``/``max`` (inclusive), ``vary``, unit.

    Examples
    --------
    >>> Parameter("center_ev", 1.2, min=1.0, max=1.4)
    Parameter(name='center_ev', value=1.2, min=1.0, max=1.4, vary=True, unit='')
    """

    name: str
    value: float
    min: float = -math.inf
    max: float = math.inf
    vary: bool = True
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.min <= self.max:
            raise InputError(f"parameter {self.name!r}: min {self.min} > max {self.max}", field=self.name)
        if not math.isfinite(float(self.value)):
            raise InputError(f"parameter {self.name!r}: starting value {self.value} is not finite", field=self.name)


@dataclass(frozen=True)
class Model:
    """A model ``func(x, p) -> y`` of a parameter vector ``p`` ordered as ``names``.

    Parameters
    ----------
    func
        ``func(x, p)`` with ``p`` a float array in the order of ``names``.
    names
        Parameter names.
    jac
        Optional analytic Jacobian ``jac(x, p) -> (len(x), len(names))``; default: finite differences.
    name
        Shown in reports.

    Examples
    --------
    >>> line = Model(lambda x, p: p[0] + p[1] * x, ("a", "b"), name="line")
    >>> line.eval(np.array([0.0, 1.0]), [1.0, 2.0]).tolist()
    [1.0, 3.0]
    """

    func: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]
    names: tuple[str, ...]
    jac: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]] | None = None
    name: str = "model"

    def eval(self, x: ArrayLike, values: ArrayLike) -> NDArray[np.float64]:
        """The model at ``x`` for the full parameter vector ``values``."""
        return np.asarray(self.func(np.asarray(x, dtype=float), np.asarray(values, dtype=float)), dtype=float)


@dataclass(frozen=True)
class FitResult(Result):
    """Outcome of :func:`fit`: values, standard errors, covariance and quality flags.

    Attributes
    ----------
    model
        The model's name.
    names, values, stderr
        Parameters in model order; ``stderr`` is NaN for fixed parameters.
    covariance
        Covariance of all parameters (rows/columns of fixed ones are zero).
    lower, upper
        The bounds the fit ran under.
    flags
        ``{name: (flag, ...)}`` per parameter plus ``"_fit"`` for the fit as a whole (see :data:`FLAGS`).
    notes
        ``{name: reason}`` for flags whose reason is more specific than :data:`FLAGS`.
    rss, n_points, n_free, bic, aic, r_squared, nfev, status, message
        Weighted residual sum of squares, points, free parameters, information criteria
        (``N ln(RSS/N) + k ln N``, ``+ 2k``), coefficient of determination, evaluations, optimiser status.
    """

    model: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    stderr: tuple[float, ...]
    covariance: NDArray[np.float64] = field(repr=False)
    lower: tuple[float, ...] = field(repr=False)
    upper: tuple[float, ...] = field(repr=False)
    vary: tuple[bool, ...] = field(repr=False)
    flags: dict[str, tuple[str, ...]]
    notes: dict[str, str]
    rss: float
    n_points: int
    n_free: int
    bic: float
    aic: float
    r_squared: float
    nfev: int
    status: int
    message: str
    method: str
    residual: NDArray[np.float64] = field(repr=False)

    # ---------------------------------------------------------------- access
    def __getitem__(self, name: str) -> float:
        return self.values[self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"{self.model}: no parameter {name!r}; have {', '.join(self.names)}", field=name) from None

    def err(self, name: str) -> float:
        """Standard error of ``name``."""
        return self.stderr[self._index(name)]

    @property
    def p(self) -> NDArray[np.float64]:
        """All values as an array (model order)."""
        return np.asarray(self.values, dtype=float)

    @property
    def success(self) -> bool:
        """No flag on the fit as a whole and none on any parameter."""
        return not any(self.flags.values())

    def has(self, flag: str, name: str | None = None) -> bool:
        """Whether ``name`` (default: any parameter or the fit) carries ``flag``."""
        if name is not None:
            return flag in self.flags.get(name, ())
        return any(flag in v for v in self.flags.values())

    def flagged(self, flag: str) -> list[str]:
        """Names carrying ``flag``."""
        return [k for k, v in self.flags.items() if flag in v]

    def correlation(self) -> NDArray[np.float64]:
        """Correlation matrix of the parameters (NaN where a standard error is 0 or undefined)."""
        s = np.asarray(self.stderr, dtype=float)
        with np.errstate(all="ignore"):
            return np.asarray(self.covariance / np.outer(s, s), dtype=float)

    def with_flag(self, name: str, flag: str, reason: str | None = None) -> FitResult:
        """A copy with ``flag`` added to ``name`` (``"_fit"``: the whole fit) and its reason."""
        if flag not in FLAGS:
            raise InputError(f"unknown flag {flag!r}; expected one of {', '.join(FLAGS)}", field="flag")
        if name != "_fit":
            self._index(name)
        flags = {k: tuple(v) for k, v in self.flags.items()}
        flags[name] = tuple(dict.fromkeys((*flags.get(name, ()), flag)))
        notes = dict(self.notes)
        if reason:
            notes[f"{name}:{flag}"] = reason
        return replace(self, flags=flags, notes=notes)

    def warnings(self) -> list[str]:
        """One readable sentence per flag."""
        out = []
        for name, fl in self.flags.items():
            for f in fl:
                why = self.notes.get(f"{name}:{f}")
                if why is None and f == "at_bound" and name != "_fit":
                    i = self._index(name)
                    side = "lower" if abs(self.values[i] - self.lower[i]) <= abs(self.values[i] - self.upper[i]) else "upper"
                    b = self.lower[i] if side == "lower" else self.upper[i]
                    why = f"{name} = {self.values[i]:.6g} is at its {side} bound {b:.6g}"
                who = f"{self.model}" if name == "_fit" else f"{self.model}: {name}"
                out.append(f"{who}: {f} ({why or FLAGS[f]})")
        return out

    def report(self) -> str:
        """A readable report: fit statistics, then each parameter with its error, bounds and flags.

        Examples
        --------
        >>> x = np.linspace(0, 1, 11)
        >>> r = fit(Model(lambda x, p: p[0] + p[1] * x, ("a", "b"), name="line"), x, 1 + 2 * x,
        ...         [Parameter("a", 0.0), Parameter("b", 1.0)])
        >>> print(r.report().splitlines()[0])
        [[Fit: line]] method lm, 11 points, 2 free parameters, 0 flags
        """
        nflags = sum(len(v) for v in self.flags.values())
        lines = [
            f"[[Fit: {self.model}]] method {self.method}, {self.n_points} points, {self.n_free} free parameters, {nflags} flags",
            f"    rss = {self.rss:.6g}, reduced chi-square = {self.rss / max(self.n_points - self.n_free, 1):.6g}, "
            f"R^2 = {self.r_squared:.6g}, BIC = {self.bic:.6g}, AIC = {self.aic:.6g}, evaluations = {self.nfev}",
            "[[Variables]]",
        ]
        for i, n in enumerate(self.names):
            v, s = self.values[i], self.stderr[i]
            rel = f" ({100 * s / abs(v):.2f} %)" if self.vary[i] and math.isfinite(s) and v != 0 else ""
            err = f" +/- {s:.6g}{rel}" if self.vary[i] else " (fixed)"
            bnd = ""
            if math.isfinite(self.lower[i]) or math.isfinite(self.upper[i]):
                bnd = f"  bounds [{self.lower[i]:.6g}, {self.upper[i]:.6g}]"
            fl = f"  FLAGS: {', '.join(self.flags[n])}" if self.flags.get(n) else ""
            lines.append(f"    {n}: {v:.6g}{err}{bnd}{fl}")
        warn = self.warnings()
        if warn:
            lines.append("[[Warnings]]")
            lines.extend(f"    {w}" for w in warn)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Values, errors, flags and statistics (no arrays)."""
        return {
            "model": self.model,
            "parameters": {
                n: {"value": self.values[i], "stderr": self.stderr[i], "min": self.lower[i], "max": self.upper[i],
                    "vary": self.vary[i], "flags": list(self.flags.get(n, ()))}
                for i, n in enumerate(self.names)
            },
            "flags": {k: list(v) for k, v in self.flags.items() if v},
            "warnings": self.warnings(),
            "rss": self.rss, "n_points": self.n_points, "n_free": self.n_free, "bic": self.bic, "aic": self.aic,
            "r_squared": self.r_squared, "nfev": self.nfev, "status": self.status, "message": self.message,
            "method": self.method,
        }


class _Transform:
    """lmfit's (MINUIT's) bound transformations: the optimiser moves an unbounded ``u``.

    Two-sided ``p = lo + (hi - lo) (sin u + 1) / 2``; lower only ``p = lo - 1 + sqrt(u^2 + 1)``; upper only
    ``p = hi + 1 - sqrt(u^2 + 1)``; none ``p = u``.
    """

    def __init__(self, lo: NDArray[np.float64], hi: NDArray[np.float64]) -> None:
        self.lo, self.hi = lo, hi
        self.both = np.isfinite(lo) & np.isfinite(hi)
        self.low = np.isfinite(lo) & ~np.isfinite(hi)
        self.up = ~np.isfinite(lo) & np.isfinite(hi)

    def forward(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        p = np.array(u, dtype=float)
        b, lw, up = self.both, self.low, self.up
        p[b] = self.lo[b] + (self.hi[b] - self.lo[b]) * (np.sin(u[b]) + 1) / 2
        p[lw] = self.lo[lw] - 1 + np.sqrt(u[lw] ** 2 + 1)
        p[up] = self.hi[up] + 1 - np.sqrt(u[up] ** 2 + 1)
        return np.clip(p, self.lo, self.hi)  # rounding must not step outside a bound

    def inverse(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        u = np.array(p, dtype=float)
        b, lw, up = self.both, self.low, self.up
        u[b] = np.arcsin(np.clip(2 * (p[b] - self.lo[b]) / (self.hi[b] - self.lo[b]) - 1, -1, 1))
        u[lw] = np.sqrt((p[lw] - self.lo[lw] + 1) ** 2 - 1)
        u[up] = np.sqrt((self.hi[up] - p[up] + 1) ** 2 - 1)
        return u

    def derivative(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        d = np.ones_like(u, dtype=float)
        b, lw, up = self.both, self.low, self.up
        d[b] = (self.hi[b] - self.lo[b]) / 2 * np.cos(u[b])
        d[lw] = u[lw] / np.sqrt(u[lw] ** 2 + 1)
        d[up] = -u[up] / np.sqrt(u[up] ** 2 + 1)
        return d


def _params(model: Model, params: Sequence[Parameter] | Mapping[str, Parameter]) -> list[Parameter]:
    plist = list(params.values()) if isinstance(params, Mapping) else list(params)
    by = {p.name: p for p in plist}
    missing = [n for n in model.names if n not in by]
    extra = [n for n in by if n not in model.names]
    if missing or extra:
        raise InputError(f"{model.name}: parameters do not match the model (missing {missing}, unknown {extra})", field="params")
    return [by[n] for n in model.names]


def fit(
    model: Model,
    x: ArrayLike,
    y: ArrayLike,
    params: Sequence[Parameter] | Mapping[str, Parameter],
    *,
    weights: ArrayLike | None = None,
    max_nfev: int | None = None,
    rss_floor: float = 0.0,
    bound_rtol: float = 1e-6,
) -> FitResult:
    """Least-squares fit of ``model`` to ``(x, y)`` from the starting values in ``params``.

    Parameters
    ----------
    model
        The model.
    x, y
        Data (finite).
    params
        One :class:`Parameter` per model parameter (any order).
    weights
        Residual weights (``(model - y) * weights``; ``1/sigma`` for known per-point errors).
    max_nfev
        Evaluation limit (default: scipy's).
    rss_floor
        Lower limit of the RSS inside the information criteria (noise-free data would give ``-inf``).
    bound_rtol
        A value within ``bound_rtol`` of the bound range (or of the bound's magnitude for a one-sided
        bound) counts as ``at_bound``.

    Returns
    -------
    FitResult
        Values, standard errors ``sqrt(diag((J^T J)^+ RSS / (N - k)))`` — the same recipe as lmfit's
        ``scale_covar=True`` — and flags.

    Raises
    ------
    ModelError
        The optimiser failed (non-finite model values, singular problem).

    Examples
    --------
    >>> x = np.linspace(-3, 3, 61)
    >>> g = Model(lambda x, p: p[0] * np.exp(-0.5 * ((x - p[1]) / p[2]) ** 2), ("h", "c", "s"), name="gauss")
    >>> r = fit(g, x, 2 * np.exp(-0.5 * ((x - 0.3) / 0.7) ** 2), [Parameter("h", 1.0, min=0), Parameter("c", 0.0),
    ...         Parameter("s", 1.0, min=0.01)])
    >>> [round(v, 6) for v in r.values], r.success
    ([2.0, 0.3, 0.7], True)
    """
    from scipy.optimize import least_squares

    xx = np.asarray(x, dtype=float)
    yy = np.asarray(y, dtype=float)
    if xx.shape != yy.shape:
        raise InputError(f"{model.name}: x has {xx.size} points but y has {yy.size}", field="y")
    if not (np.all(np.isfinite(xx)) and np.all(np.isfinite(yy))):
        raise InputError(f"{model.name}: the data have non-finite values; mask them before fitting", field="y")
    plist = _params(model, params)
    k_all = len(plist)
    full = np.array([float(p.value) for p in plist])
    lo_all = np.array([p.min for p in plist], dtype=float)
    hi_all = np.array([p.max for p in plist], dtype=float)
    free = np.array([p.vary for p in plist], dtype=bool)
    fi = np.flatnonzero(free)
    if fi.size == 0:
        raise InputError(f"{model.name}: no free parameter", field="params")
    if fi.size > xx.size:
        raise InputError(f"{model.name}: {fi.size} free parameters for {xx.size} points", field="params")
    w = None if weights is None else np.asarray(weights, dtype=float)
    lo, hi = lo_all[fi], hi_all[fi]
    bounded = bool(np.any(np.isfinite(lo)) or np.any(np.isfinite(hi)))
    tr = _Transform(lo, hi)
    u0 = tr.inverse(np.clip(full[fi], lo, hi))

    def _full(q: NDArray[np.float64]) -> NDArray[np.float64]:
        v = full.copy()
        v[fi] = q
        return v

    def resid(u: NDArray[np.float64]) -> NDArray[np.float64]:
        r = model.func(xx, _full(tr.forward(u))) - yy
        return r * w if w is not None else r

    def jac_p(q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Jacobian of the (weighted) residual with respect to the free parameters themselves."""
        if model.jac is not None:
            J = np.asarray(model.jac(xx, _full(q)), dtype=float)[:, fi]
        else:
            J = np.empty((xx.size, fi.size))
            f0 = model.func(xx, _full(q))
            for j in range(fi.size):
                h = 1e-7 * max(abs(q[j]), 1e-6)
                qq = q.copy()
                qq[j] += h
                J[:, j] = (model.func(xx, _full(qq)) - f0) / h
        return J * w[:, None] if w is not None else J

    kwargs: dict[str, Any] = {"x_scale": "jac", "method": "lm"}
    if model.jac is not None:
        kwargs["jac"] = lambda u: jac_p(tr.forward(u)) * tr.derivative(u)[None, :]
    if max_nfev is not None:
        kwargs["max_nfev"] = max_nfev
    method = "lm, bounds by transformation" if bounded else "lm"
    try:
        with np.errstate(all="ignore"):
            res = least_squares(resid, u0, **kwargs)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, OverflowError) as exc:
        raise ModelError(f"{model.name}: the fit failed ({exc})") from None
    q = tr.forward(res.x)
    r = res.fun
    if not np.all(np.isfinite(r)):
        raise ModelError(f"{model.name}: the model is not finite at the fitted parameters")
    n = xx.size
    kf = fi.size
    rss = float(r @ r)
    dof = max(n - kf, 1)
    cov_f = np.full((kf, kf), np.nan)
    try:
        with np.errstate(all="ignore"):
            J = jac_p(q) if bounded else np.asarray(res.jac, dtype=float)
        if np.all(np.isfinite(J)):
            cov_f = np.linalg.pinv(J.T @ J) * (rss / dof)
    except (np.linalg.LinAlgError, ValueError):
        pass
    cov = np.zeros((k_all, k_all))
    cov[np.ix_(fi, fi)] = cov_f
    var = np.diag(cov).copy()
    stderr = np.where(free, np.sqrt(np.clip(var, 0, None)), np.nan)
    stderr[free & ~np.isfinite(var)] = np.nan
    values = _full(q)
    flags: dict[str, list[str]] = {nm: [] for nm in model.names}
    flags["_fit"] = []
    if res.status <= 0:
        flags["_fit"].append("not_converged")
    for _j, i in enumerate(fi):
        nm = model.names[i]
        span = hi_all[i] - lo_all[i]
        scale = span if math.isfinite(span) and span > 0 else max(abs(values[i]), 1e-12)
        tol = bound_rtol * scale
        if values[i] - lo_all[i] <= tol or hi_all[i] - values[i] <= tol:
            flags[nm].append("at_bound")
        if not math.isfinite(stderr[i]) or (var[i] == 0 and rss > 0):
            flags[nm].append("undetermined")
    fl = {k: tuple(v) for k, v in flags.items() if v}
    yhat = model.func(xx, values)
    ss_tot = float(np.sum((yy - yy.mean()) ** 2))
    rr = yhat - yy
    rss_raw = float(rr @ rr)
    ll = n * math.log(max(rss, rss_floor, 1e-300) / n)
    return FitResult(
        model=model.name,
        names=tuple(model.names),
        values=tuple(float(v) for v in values),
        stderr=tuple(float(v) for v in stderr),
        covariance=cov,
        lower=tuple(float(v) for v in lo_all),
        upper=tuple(float(v) for v in hi_all),
        vary=tuple(bool(v) for v in free),
        flags=fl,
        notes={},
        rss=rss,
        n_points=int(n),
        n_free=int(kf),
        bic=ll + kf * math.log(n),
        aic=ll + 2 * kf,
        r_squared=1 - rss_raw / ss_tot if ss_tot > 0 else math.nan,
        nfev=int(res.nfev),
        status=int(res.status),
        message=str(res.message),
        method=method,
        residual=r,
    )


__all__ = ["FLAGS", "FitResult", "Model", "Parameter", "fit"]
