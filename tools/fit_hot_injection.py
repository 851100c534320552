"""Refit the temperature dependence of the twin's shared kinetic set to the paper's hot-injection seeds.

The reference paper (Tiwari, Liang, Fedin, Nanoscale 2025, Experimental, "Synthesis of Cd3P2 QDs") makes
its seed QDs by injecting TMSP into cadmium oleate: 965 nm (215 C, 40 s), 1010 nm (215 C, 55 s),
1102 nm (210 C, 90 s) and 1145 nm (200 C, 45 s). The shared kinetic set is referenced at 180 C, where every
Arrhenius factor and the surface-energy slope are exactly inert; the four hot-injection runs are the only
data on its temperature dependence. This tool fits ONLY the temperature-dependence entries listed in
:data:`FIT_PARAMETERS` (bounded, physically sensible ranges) to the four PL peaks, keeping every 180 C
reference value as it is in ``parameters.toml``. It therefore changes no 180 C run (checked at the end on
``overgrowth-1010nm``) and can be rerun whenever the 180 C values are refitted.

Method: scipy differential evolution (fixed seed, deterministic for a given TOML), objective
``sum(((pl - paper) / 50 nm)^2)`` plus a penalty when neighbouring batches are less than 20 nm apart
in the paper's order. One evaluation runs the four scenarios with the error-controlled solver at a looser
search tolerance (``--search-rtol``, about 0.4 s per scenario); the result is reported and stored at the
solver's default tolerance. The search stops at ``--max-seconds`` (checked after each generation).

Usage (from the repository root)::

    PYTHONPATH=src python tools/fit_hot_injection.py            # fit and print
    PYTHONPATH=src python tools/fit_hot_injection.py --write    # ... and store the values in parameters.toml

``--write`` replaces only the value and source of the fitted entries (unit kept; entries missing from the
file are added at the end of ``[params]``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import multiprocessing as mp
import re
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import differential_evolution

from qdlab.twin.parameters import KineticParameters
from qdlab.twin.protocol import Scenario, load_scenario
from qdlab.twin.solver import SolverSettings, simulate

#: default parameter file (the package data in this checkout)
DEFAULT_TOML = Path(__file__).resolve().parents[1] / "src" / "qdlab" / "resources" / "twin" / "parameters.toml"

#: the four seed syntheses, in the paper's emission order
SCENARIOS = ("hot-injection-965nm", "hot-injection-1010nm", "hot-injection-1102nm", "hot-injection-1145nm")

#: fitted entries: (lower bound, upper bound, unit, physics of the bound) -- all inert at the reference temperature
FIT_PARAMETERS: dict[str, tuple[float, float, str, str]] = {
    "surface_energy_slope_j_per_m2_k": (
        -3e-4, 0.0, "J/(m^2 K)",
        "gamma(T) = gamma_ref + dgamma/dT (T - T_ref); surface energies fall with T (Eotvos rule for liquids "
        "with V_m = 70.7 cm^3/mol: about -1.2e-4), 0 = constant gamma"),
    "precursor_activation_kj_per_mol": (
        40.0, 200.0, "kJ/mol",
        "TMSP/Cd-oleate precursor -> MSC; a steep activation = fast conversion above 200 C (Owen et al. JACS "
        "2010: faster conversion, more nuclei, smaller dots)"),
    "cluster_dissolution_activation_kj_per_mol": (
        0.0, 250.0, "kJ/mol",
        "acid-assisted MSC opening (times 1 + kappa_C [OA] at every T), an event of a whole 10-unit cluster (50 "
        "atoms: 250 kJ/mol is 5 kJ/mol per atom); the faster the MSCs open to monomer, the fewer meet another "
        "MSC and coalesce into a nucleus"),
    "solubility_enthalpy_kj_per_mol": (
        20.0, 200.0, "kJ/mol",
        "van 't Hoff enthalpy of [M]_inf per Cd3P2 formula unit (5 atoms, about 4-40 kJ/mol per atom)"),
    "growth_activation_kj_per_mol": (
        20.0, 200.0, "kJ/mol",
        "surface-reaction activation of k_g per Cd3P2 formula unit (5 atoms)"),
    "fusion_activation_kj_per_mol": (
        0.0, 300.0, "kJ/mol",
        "MSC fusion onto a QD (sticking probability p_fuse x (1 + kappa_C [OA])): ligand desorption and lattice "
        "merging of a whole 10-unit cluster (50 atoms: 300 kJ/mol is 6 kJ/mol per atom); even at 300 kJ/mol the "
        "sticking probability of the hot-injection recipe stays near 1e-3 at 215 C (must stay below 1); "
        "0 = temperature dependence of the Smoluchowski kernel only"),
    "coalescence_activation_kj_per_mol": (
        0.0, 150.0, "kJ/mol",
        "MSC + MSC -> QD nucleus (k_cc); the MSC-to-crystal transformation of a fused cluster pair"),
}

#: PL margin (nm) below which neighbouring batches count as out of order; error scale (nm)
ORDER_MARGIN_NM = 20.0
ERROR_SCALE_NM = 50.0
#: weight of the ordering penalty against the squared errors (the order is the paper's main finding)
ORDER_WEIGHT = 40.0

_LINE = re.compile(r'^(?P<key>[A-Za-z0-9_]+)\s*=\s*\{\s*value\s*=\s*(?P<value>[^,]+?)\s*,\s*unit\s*=\s*"(?P<unit>[^"]*)"'
                   r'\s*,\s*source\s*=\s*"(?P<source>(?:[^"\\]|\\.)*)"\s*\}\s*$')

# worker state (set by _init in every process)
_STATE: dict[str, Any] = {}


def read_params(path: Path) -> dict[str, float]:
    """The ``[params]`` values of a parameter file (only the fields :class:`KineticParameters` knows)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    known = KineticParameters.model_fields
    return {k: float(v["value"]) for k, v in data["params"].items() if k in known}


def _scenarios(base: dict[str, float]) -> list[Scenario]:
    over = {f"params.{k}": v for k, v in base.items()}
    return [load_scenario(n).with_overrides(over) for n in SCENARIOS]


def _init(base: dict[str, float], search_rtol: float | None = None) -> None:
    _STATE["scenarios"] = _scenarios(base)
    _STATE["settings"] = SolverSettings(rtol=search_rtol) if search_rtol else SolverSettings()
    _STATE["targets"] = np.array([load_scenario(n).paper["emission_nm"] for n in SCENARIOS], float)


def emissions(x: np.ndarray, scenarios: list[Scenario] | None = None,
              settings: SolverSettings | None = None) -> np.ndarray:
    """Final PL peaks (nm) of the four scenarios with the fitted entries set to ``x``.

    ``settings`` default to the search settings of the worker (``--search-rtol``) during the search and to
    the solver defaults otherwise.
    """
    over = {f"params.{k}": float(v) for k, v in zip(FIT_PARAMETERS, x, strict=True)}
    st = settings or (_STATE.get("settings") if scenarios is None else None) or SolverSettings()
    out = []
    for sc in scenarios if scenarios is not None else _STATE["scenarios"]:
        out.append(simulate(sc.with_overrides(over), settings=st).aliquots[-1].pl_peak_nm)
    return np.array(out, float)


def objective(x: np.ndarray) -> float:
    """Squared PL errors in units of 50 nm plus the ordering penalty; 1e6 if a run fails."""
    try:
        w = emissions(x)
    except Exception:  # a diverged or invalid run is just a bad point for the search
        return 1e6
    if not np.all(np.isfinite(w)):
        return 1e6
    err = float(np.sum(((w - _STATE["targets"]) / ERROR_SCALE_NM) ** 2))
    gaps = w[:-1] - w[1:] + ORDER_MARGIN_NM
    return err + float(np.sum(np.maximum(gaps, 0.0) ** 2)) / ERROR_SCALE_NM**2 * ORDER_WEIGHT


def bounds_for(max_activation_kj_per_mol: float | None = None) -> list[tuple[float, float]]:
    """Search bounds; ``max_activation_kj_per_mol`` lowers the upper bound of every kJ/mol entry."""
    out = []
    for lo, hi, unit, _ in FIT_PARAMETERS.values():
        if max_activation_kj_per_mol is not None and unit == "kJ/mol":
            hi = max(min(hi, max_activation_kj_per_mol), lo)
        out.append((lo, hi))
    return out


def fit(base: dict[str, float], *, seed: int = 7, workers: int = 2, max_seconds: float = 150.0,
        maxiter: int = 120, popsize: int = 12, bounds: list[tuple[float, float]] | None = None,
        search_rtol: float | None = None) -> tuple[np.ndarray, float]:
    """Differential evolution over :data:`FIT_PARAMETERS`; returns (best x, objective)."""
    bounds = bounds or bounds_for()
    # start population includes the current values (clipped into the bounds)
    x0 = np.array([min(max(base.get(k, lo), lo), hi) for k, (lo, hi) in zip(FIT_PARAMETERS, bounds, strict=True)])
    t0 = time.monotonic()

    def stop(intermediate_result: Any) -> bool:
        return time.monotonic() - t0 > max_seconds

    _init(base, search_rtol)
    if workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers, initializer=_init, initargs=(base, search_rtol)) as pool:
            res = differential_evolution(objective, bounds, x0=x0, seed=seed, popsize=popsize, maxiter=maxiter,
                                         tol=1e-8, polish=False, updating="deferred", workers=pool.map,
                                         callback=stop)
    else:
        res = differential_evolution(objective, bounds, x0=x0, seed=seed, popsize=popsize, maxiter=maxiter,
                                     tol=1e-8, polish=False, callback=stop)
    return np.asarray(res.x, float), float(res.fun)


def _fmt(v: float) -> str:
    return repr(float(f"{v:.5g}"))


def write_toml(path: Path, values: dict[str, float], summary: str) -> None:
    """Store ``values`` in the ``[params]`` table of ``path`` (value and source; unit kept)."""
    lines = path.read_text().splitlines(keepends=True)
    stamp = _dt.date.today().isoformat()
    done = set()
    in_params = False
    last_param = -1
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("["):
            in_params = s == "[params]"
            continue
        m = _LINE.match(s)
        if not (in_params and m):
            continue
        last_param = i
        key = m["key"]
        if key in values:
            lo, hi, unit, note = FIT_PARAMETERS[key]
            src = (f"[fit] tools/fit_hot_injection.py ({stamp}), bounds [{lo:g}, {hi:g}]: {note}; {summary}")
            src = src.replace("\\", "\\\\").replace('"', '\\"')
            lines[i] = f'{key} = {{ value = {_fmt(values[key])}, unit = "{m["unit"]}", source = "{src}" }}\n'
            done.add(key)
    if last_param < 0:
        raise SystemExit(f"{path}: no [params] entries found")
    missing = [k for k in values if k not in done]
    for k in reversed(missing):
        lo, hi, unit, note = FIT_PARAMETERS[k]
        src = f"[fit] tools/fit_hot_injection.py ({stamp}), bounds [{lo:g}, {hi:g}]: {note}; {summary}".replace('"', "'")
        lines.insert(last_param + 1, f'{k} = {{ value = {_fmt(values[k])}, unit = "{unit}", source = "{src}" }}\n')
    path.write_text("".join(lines))
    check = read_params(path)  # the file must still parse and hold the new values
    for k, v in values.items():
        if abs(check[k] - float(_fmt(v))) > 1e-12 * max(1.0, abs(v)):
            raise SystemExit(f"{path}: {k} was not stored ({check[k]} != {v})")


def _same_180c_run(base: dict[str, float], new: dict[str, float]) -> bool:
    """``overgrowth-1010nm`` (isothermal at the reference temperature) is identical before and after."""
    sc = load_scenario("overgrowth-1010nm")
    a = simulate(sc.with_overrides({f"params.{k}": v for k, v in base.items()})).to_dict()
    b = simulate(sc.with_overrides({f"params.{k}": v for k, v in {**base, **new}.items()})).to_dict()
    return a == b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toml", type=Path, default=DEFAULT_TOML, help="parameter file to read (and write)")
    ap.add_argument("--write", action="store_true", help="store the fitted values in the parameter file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=150.0, help="stop the search after this long")
    ap.add_argument("--maxiter", type=int, default=120)
    ap.add_argument("--search-rtol", type=float, default=4e-3,
                    help="solver rtol during the search (the result is reported and stored at the solver defaults)")
    ap.add_argument("--max-activation-kj-per-mol", type=float, default=None,
                    help="tighter upper bound for every activation energy/enthalpy (default: the table's)")
    args = ap.parse_args(argv)
    bounds = bounds_for(args.max_activation_kj_per_mol)

    base = read_params(args.toml)
    missing = [k for k in KineticParameters.model_fields if k not in base and KineticParameters.model_fields[k].is_required()]
    if missing:
        raise SystemExit(f"{args.toml}: missing entries {missing}")
    scen = _scenarios(base)
    targets = np.array([load_scenario(n).paper["emission_nm"] for n in SCENARIOS], float)
    x_old = np.array([base.get(k, 0.0) for k in FIT_PARAMETERS])
    try:
        w_old = emissions(x_old, scen)
    except Exception as exc:  # report, then fit anyway
        print(f"current values do not run: {exc}")
        w_old = np.full(4, np.nan)

    t0 = time.monotonic()
    x, fun = fit(base, seed=args.seed, workers=args.workers, max_seconds=args.max_seconds, maxiter=args.maxiter,
                 bounds=bounds, search_rtol=args.search_rtol)
    new = dict(zip(FIT_PARAMETERS, (float(_fmt(v)) for v in x), strict=True))
    w = emissions(np.array(list(new.values())), scen)  # with the rounded values that will be stored
    ordered = bool(np.all(np.diff(w) > 0))

    print(f"fit of {len(FIT_PARAMETERS)} temperature parameters in {time.monotonic() - t0:.0f} s, objective {fun:.4g}")
    print(f"{'parameter':44s} {'old':>12s} {'new':>12s}  bounds")
    for (k, (_, _, unit, _)), (lo, hi), vo in zip(FIT_PARAMETERS.items(), bounds, x_old, strict=True):
        flag = "  (at a bound)" if min(new[k] - lo, hi - new[k]) <= 1e-3 * (hi - lo) else ""
        print(f"{k:44s} {vo:12.5g} {new[k]:12.5g}  [{lo:g}, {hi:g}] {unit}{flag}")
    print(f"{'scenario':24s} {'T/C':>5s} {'t/s':>5s} {'paper':>6s} {'old':>6s} {'new':>6s} {'delta':>6s}")
    for n, sc, tg, wo, wn in zip(SCENARIOS, scen, targets, w_old, w, strict=True):
        print(f"{n:24s} {sc.protocol.temperature_c:5.0f} {sc.protocol.duration_min * 60:5.0f} {tg:6.0f} {wo:6.0f} "
              f"{wn:6.0f} {wn - tg:+6.0f}")
    print(f"paper order 965 < 1010 < 1102 < 1145 nm reproduced: {ordered}; max |delta| {np.max(np.abs(w - targets)):.0f} nm")
    same = _same_180c_run(base, new)
    print(f"overgrowth-1010nm (180 C) unchanged by the new values: {same}")
    if not same:
        print("ERROR: a 180 C run changed; not writing", file=sys.stderr)
        return 2
    if args.write:
        summary = ("hot-injection PL (paper 965/1010/1102/1145 nm) -> twin "
                   + "/".join(f"{v:.0f}" for v in w) + " nm")
        write_toml(args.toml, new, summary)
        print(f"written to {args.toml}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
