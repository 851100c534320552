"""Calibrate twin parameters against a measured aliquot series (multi-start least squares).

The measured series is a table with ``aliquot_id, time_min, pl_peak_nm, fwhm_mev`` and optionally
``diameter_nm`` (CSV or JSON). The scenario's aliquot schedule is replaced by the measured times, the
chosen parameters are fitted in log10 space with :func:`scipy.optimize.least_squares` (trust-region
reflective, bounds) from several starting points run through the caller's ``map_fn`` (in parallel when
the workflow or the CLI passes :func:`qdlab.compute.mapper`), and the best fit gets a covariance from the
Jacobian scaled by the reduced chi-square (the lmfit convention). We use SciPy directly rather than lmfit
because the residual is a black-box simulation whose starts run on an executor.

Parameters are named like scenario overrides: ``params.cluster_dissolution_per_s`` (or a bare
kinetic name), ``seeds.surface.etch_factor``, ``protocol.injection_rate_ml_per_h``...
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError, ModelError
from qdlab.data.types import Result
from qdlab.twin.parameters import KineticParameters
from qdlab.twin.protocol import PARAM_ALIASES, Scenario, load_scenario, scenario_from_dict

#: default measurement uncertainties used to weight the residuals
SIGMA_PL_NM = 10.0
SIGMA_FWHM_MEV = 15.0
SIGMA_DIAMETER_NM = 0.2
_JAC_STEP = 1e-3  # log10 step of the finite-difference Jacobian
#: least-squares step tolerance in log10 units: a step below ~1e-6 relative in the parameters stops the fit.
#: Standard errors on measured series are 1e-3 and more; scipy's 1e-8 default cost 1-3 more iterations
#: (3 twin runs each) per start for digits nobody can use
_XTOL = 1e-6
_COLUMNS = ("aliquot_id", "time_min", "pl_peak_nm", "fwhm_mev", "diameter_nm")


def _num(v: Any, path: Path | None, line: int | None, col: str, required: bool) -> float:
    if v is None or (isinstance(v, str) and v.strip() in ("", "nan", "NaN", "NA")):
        if required:
            raise FormatError(f"missing value in column {col!r}", path=path, line=line, field=col)
        return float("nan")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise FormatError(f"expected a number in column {col!r}, got {v!r}", path=path, line=line, field=col) from None
    if not math.isfinite(x):
        if required:
            raise FormatError(f"non-finite value in column {col!r}", path=path, line=line, field=col)
    return x


def _rows_to_series(rows: list[dict[str, Any]], path: Path | None, first_line: int) -> list[dict[str, Any]]:
    if not rows:
        raise FormatError("the series has no aliquots", path=path)
    out = []
    for k, row in enumerate(rows):
        line = first_line + k if first_line else None
        missing = [c for c in ("time_min", "pl_peak_nm") if c not in row]
        if missing:
            raise FormatError(f"missing column(s) {missing}; expected {list(_COLUMNS)}", path=path, line=line)
        t = _num(row["time_min"], path, line, "time_min", True)
        pl = _num(row["pl_peak_nm"], path, line, "pl_peak_nm", True)
        if t < 0:
            raise FormatError("time_min must be >= 0", path=path, line=line, field="time_min")
        if not 200 < pl < 5000:
            raise FormatError(f"pl_peak_nm {pl} is not a QD emission wavelength (200-5000 nm)", path=path, line=line,
                              field="pl_peak_nm")
        out.append({"aliquot_id": str(row.get("aliquot_id") or f"A{k}"), "time_min": t, "pl_peak_nm": pl,
                    "fwhm_mev": _num(row.get("fwhm_mev"), path, line, "fwhm_mev", False),
                    "diameter_nm": _num(row.get("diameter_nm"), path, line, "diameter_nm", False)})
    times = [r["time_min"] for r in out]
    if any(b < a for a, b in itertools.pairwise(times)):
        raise FormatError("time_min must be non-decreasing", path=path, field="time_min")
    return out


def _from_spectra_series(table: Any, path: Path) -> list[dict[str, Any]]:
    """Rows of ``qdlab spectra series --json`` (``peak_wavelength_nm``) as calibration rows (``pl_peak_nm``)."""
    if not isinstance(table, list) or not all(isinstance(r, dict) for r in table):
        raise FormatError("'table' must be a list of aliquot rows", path=path, field="table")
    rows = []
    for r in table:
        if r.get("time_min") is None:
            raise FormatError(f"aliquot {r.get('aliquot_id')!r} has no time: give the aliquot times to "
                              "'qdlab spectra series ... --times 0,6,12,...'", path=path, field="time_min")
        rows.append({"aliquot_id": r.get("aliquot_id"), "time_min": r["time_min"],
                     "pl_peak_nm": r.get("peak_wavelength_nm"), "fwhm_mev": r.get("fwhm_mev")})
    return rows


def read_series(path: str | Path) -> list[dict[str, Any]]:
    """Read a measured aliquot series from CSV or JSON (list of rows, ``{"aliquots": [...]}`` or the output of
    ``qdlab spectra series --json`` with times)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from None
        if isinstance(data, dict) and "table" in data and "aliquots" not in data:
            rows = _from_spectra_series(data.get("table"), p)  # the output of `qdlab spectra series --json`
        else:
            rows = data.get("aliquots") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise FormatError("expected a list of aliquot objects, {\"aliquots\": [...]} or the JSON of "
                              "'qdlab spectra series --json'", path=p)
        return _rows_to_series(rows, p, 0)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FormatError("empty series file", path=p)
    reader = csv.DictReader(lines)
    if reader.fieldnames is None:
        raise FormatError("no header line", path=p, line=1)
    rows = [{(k or "").strip(): v for k, v in r.items()} for r in reader]
    return _rows_to_series(rows, p, 2)


def _canonical(name: str, scenario: Scenario) -> str:
    if "." not in name:
        name = f"params.{name}"
    head, _, tail = name.partition(".")
    if head == "params":
        tail = PARAM_ALIASES.get(tail, tail)
        if tail not in KineticParameters.model_fields:
            raise InputError(f"unknown kinetic parameter {tail!r}", field=name)
        return f"params.{tail}"
    return name


def _current(scenario: Scenario, name: str) -> float:
    if name.startswith("params."):
        return float(getattr(scenario.kinetic_parameters(), name.split(".", 1)[1]))
    node: Any = scenario.model_dump()
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError("no such scenario field", field=name)
        node = node[part]
    if not isinstance(node, (int, float)):
        raise InputError(f"not a number: {node!r}", field=name)
    return float(node)


def _simulate_series(scenario: Scenario, names: list[str], log_values: np.ndarray) -> list[Any]:
    from qdlab.twin.solver import simulate

    sc = scenario.with_overrides({n: float(10.0**v) for n, v in zip(names, log_values, strict=True)})
    return list(simulate(sc).aliquots)


def _residuals(log_values: np.ndarray, scenario: Scenario, names: list[str], measured: list[dict[str, Any]],
               sig: tuple[float, float, float]) -> np.ndarray:
    try:
        sim = _simulate_series(scenario, names, log_values)
    except ModelError:  # the solver cannot run this parameter set: a large residual steers the fit away
        sim = None
    res = []
    for k, m in enumerate(measured):
        a = sim[k] if sim is not None else None
        for key, s in (("pl_peak_nm", sig[0]), ("fwhm_mev", sig[1]), ("diameter_nm", sig[2])):
            if not math.isfinite(m[key]):
                continue
            v = float("nan") if a is None else (a.mean_diameter_nm if key == "diameter_nm" else getattr(a, key))
            res.append((v - m[key]) / s if math.isfinite(v) else 100.0)
    return np.asarray(res)


def _screen(task: tuple[dict[str, Any], list[str], list[float], list[dict[str, Any]], tuple[float, float, float]]) -> float:
    """Half the sum of squared residuals (the least-squares cost) at one candidate start: one simulation."""
    sc_dict, names, x0, measured, sig = task
    r = _residuals(np.asarray(x0, float), scenario_from_dict(sc_dict), names, measured, sig)
    return float(0.5 * (r**2).sum())


def _one_start(task: tuple[dict[str, Any], list[str], list[float], list[float], list[float],
                           list[dict[str, Any]], tuple[float, float, float], int]) -> dict[str, Any]:
    from scipy.optimize import least_squares

    sc_dict, names, x0, lo, hi, measured, sig, max_nfev = task
    sc = scenario_from_dict(sc_dict)
    cache: dict[bytes, np.ndarray] = {}

    def fun(x: np.ndarray) -> np.ndarray:
        key = np.asarray(x, float).tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _residuals(x, sc, names, measured, sig)
        return cache[key]

    def jac(x: np.ndarray) -> np.ndarray:
        # forward differences with an absolute log10 step (0.23 % in the parameter): scipy's relative
        # steps vanish when a log-parameter sits at 0, i.e. a value of exactly 1
        f0 = fun(x)
        out = np.empty((f0.size, x.size))
        for i in range(x.size):
            h = _JAC_STEP if x[i] + _JAC_STEP <= hi[i] else -_JAC_STEP
            xi = np.array(x, float)
            xi[i] += h
            out[:, i] = (_residuals(xi, sc, names, measured, sig) - f0) / h
        return out

    fit = least_squares(fun, np.asarray(x0), jac=jac, bounds=(np.asarray(lo), np.asarray(hi)), x_scale=1.0,
                        max_nfev=max_nfev, xtol=_XTOL)
    return {"x0": list(x0), "x": fit.x.tolist(), "cost": float(fit.cost), "jac": fit.jac.tolist(),
            "fun": fit.fun.tolist(), "nfev": int(fit.nfev), "success": bool(fit.success), "message": str(fit.message)}


@dataclass(frozen=True)
class CalibrationResult(Result):
    """Outcome of :func:`calibrate`: best values with standard errors, covariance and the fit report."""

    names: list[str]
    values: dict[str, float]
    std: dict[str, float]
    covariance: list[list[float]]
    residuals: list[float]
    chi2: float
    reduced_chi2: float
    n_points: int
    starts: list[dict[str, Any]]
    success: bool
    message: str
    scenario: Scenario = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in super().to_dict().items() if k != "scenario"}
        d["scenario"] = self.scenario.name
        d["calibrated_overrides"] = dict(self.values)
        return d

    def report(self) -> str:
        """A readable fit report (lmfit style)."""
        lines = [f"[[Twin calibration: {self.scenario.name}]]",
                 f"    points = {self.n_points}, variables = {len(self.names)}, starts = {len(self.starts)} "
                 f"({sum(1 for st in self.starts if st.get('refined', True))} refined)",
                 f"    chi-square = {self.chi2:.4g}, reduced chi-square = {self.reduced_chi2:.4g}",
                 "[[Variables]]"]
        for n in self.names:
            v, s = self.values[n], self.std[n]
            rel = f" ({100 * s / abs(v):.1f}%)" if v and math.isfinite(s) else ""
            lines.append(f"    {n:45s} = {v:.6g} +/- {s:.2g}{rel}")
        if len(self.names) > 1:
            cov = np.asarray(self.covariance)
            sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
            corr = cov / np.outer(sd, sd)
            lines.append("[[Correlations]]")
            for i in range(len(self.names)):
                for j in range(i + 1, len(self.names)):
                    lines.append(f"    C({self.names[i]}, {self.names[j]}) = {corr[i, j]:+.3f}")
        lines.append(f"    message: {self.message}")
        return "\n".join(lines)


def calibrate(scenario: Scenario | str | Path, measured: list[dict[str, Any]] | str | Path,
              params: list[str] | None = None, *, map_fn: Callable[..., Iterable[Any]] = map, starts: int = 8,
              refine: int = 2,
              bounds_decades: float = 1.0, bounds: dict[str, tuple[float, float]] | None = None,
              sigma_pl_nm: float = SIGMA_PL_NM, sigma_fwhm_mev: float = SIGMA_FWHM_MEV,
              sigma_diameter_nm: float = SIGMA_DIAMETER_NM, max_nfev: int = 60, seed: int = 0) -> CalibrationResult:
    """Fit ``params`` of ``scenario`` to a measured aliquot series.

    Parameters
    ----------
    scenario
        Scenario object, built-in name or file.
    measured
        Rows with ``time_min``, ``pl_peak_nm`` and optionally ``fwhm_mev``, ``diameter_nm``,
        ``aliquot_id`` (or a CSV/JSON file, see :func:`read_series`).
    params
        Parameters to fit (override names). Default: the two seed-surface factors when the scenario
        has seeds, else the MSC dissolution and conversion rate constants.
    map_fn
        A ``map``-like callable that runs the screening and the starts: the built-in ``map`` (serial,
        default) or an executor's, e.g. :func:`qdlab.compute.mapper` with ``"threads"`` (what the CLI and
        ``qdlab run`` use: the twin's kernel releases the GIL), local processes or Dask.
    starts
        Number of candidate starting points: the current values plus ``starts - 1`` random points in the
        bounds. Each costs one simulation (the screening); least squares then starts from the ``refine``
        candidates of lowest cost. A start in a poor basin costs 2-3x the simulations of a good one and
        ends at a local minimum, so screening many and refining few finds the same fit at a fraction of
        the cost (overgrowth-1010nm: the 2 best of 8 give the fit the 4 refined starts gave).
    refine
        Number of least-squares runs (from the best screened candidates); ``refine >= starts`` refines
        every candidate without screening.
    bounds_decades, bounds
        Search range: ``bounds`` (linear, per name) or the current value times 10^(+/-bounds_decades).
    """
    sc = load_scenario(scenario)
    rows = read_series(measured) if isinstance(measured, (str, Path)) else _rows_to_series(list(measured), None, 0)
    if params is None:
        params = (["seeds.surface.etch_factor", "seeds.surface.reactivity_factor"] if sc.seeds is not None
                  else ["params.cluster_dissolution_per_s", "params.coalescence_l_per_mol_s"])
    if not params:
        raise InputError("give at least one parameter to fit", field="params")
    names = [_canonical(n, sc) for n in params]
    if len(set(names)) != len(names):
        raise InputError("a parameter is listed twice", field="params")
    times = [r["time_min"] for r in rows]
    if times[-1] > sc.protocol.duration_min:
        raise InputError(f"measured times reach {times[-1]} min but the scenario lasts {sc.protocol.duration_min} min",
                         field="time_min")
    sc = sc.with_overrides({"protocol.aliquot_times_min": times, "protocol.aliquot_ids": [r["aliquot_id"] for r in rows]})
    x_now, lo, hi = [], [], []
    for n in names:
        v = _current(sc, n)
        if bounds and n in bounds:
            b_lo, b_hi = bounds[n]
            if not 0 < b_lo < b_hi:
                raise InputError("bounds must satisfy 0 < lo < hi", field=n)
        else:
            base = v if v > 0 else 1e-3
            b_lo, b_hi = base * 10**-bounds_decades, base * 10**bounds_decades
        lo.append(math.log10(b_lo))
        hi.append(math.log10(b_hi))
        x_now.append(min(max(math.log10(v) if v > 0 else lo[-1], lo[-1]), hi[-1]))
    rng = np.random.default_rng(seed)
    x0s = [x_now] + [list(rng.uniform(lo, hi)) for _ in range(max(starts, 1) - 1)]
    sig = (sigma_pl_nm, sigma_fwhm_mev, sigma_diameter_nm)
    sc_dict = sc.model_dump()
    n_refine = max(1, min(refine, len(x0s)))
    screened: list[dict[str, Any]] = []
    if n_refine < len(x0s):
        costs = list(map_fn(_screen, [(sc_dict, names, x0, rows, sig) for x0 in x0s]))
        order = sorted(range(len(x0s)), key=lambda i: (not math.isfinite(costs[i]), costs[i]))
        screened = [{"x0": x0s[i], "cost": costs[i], "nfev": 1, "refined": False} for i in order[n_refine:]]
        x0s = [x0s[i] for i in order[:n_refine]]
    tasks = [(sc_dict, names, x0, lo, hi, rows, sig, max_nfev) for x0 in x0s]
    outs = list(map_fn(_one_start, tasks))
    best = min(outs, key=lambda o: o["cost"])
    jac = np.asarray(best["jac"])
    fun = np.asarray(best["fun"])
    m, k = fun.size, len(names)
    chi2 = float((fun**2).sum())
    red = chi2 / (m - k) if m > k else float("nan")
    vals = np.power(10.0, best["x"])
    try:
        cov_log = np.linalg.pinv(jac.T @ jac) * (red if math.isfinite(red) and red > 0 else 1.0)
    except np.linalg.LinAlgError:
        cov_log = np.full((k, k), np.nan)
    jl = np.diag(vals * math.log(10.0))
    cov = jl @ cov_log @ jl
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    values = {n: float(v) for n, v in zip(names, vals, strict=True)}
    return CalibrationResult(
        names=names, values=values, std={n: float(s) for n, s in zip(names, std, strict=True)},
        covariance=cov.tolist(), residuals=fun.tolist(), chi2=chi2, reduced_chi2=red, n_points=m,
        starts=[{"x0": [10**v for v in o["x0"]], "cost": o["cost"], "nfev": o["nfev"], "refined": o.get("refined", True)}
                for o in [*outs, *screened]],
        success=bool(best["success"]), message=best["message"], scenario=sc.with_overrides(values),
    )


__all__ = ["CalibrationResult", "calibrate", "read_series"]
