"""Parameter sweeps of a scenario (grid or random), run through a caller-given map (in parallel on an executor).

Axes are written ``NAME=LO:HI:N`` (linear) or ``NAME=LO:HI:N:log``; ``NAME`` is any scenario override
(``protocol.injection_rate_ml_per_h``, ``params.cluster_dissolution_per_s``, ``seeds.emission_nm``...).
A grid takes the Cartesian product of the axes; ``random=N`` draws N points uniformly (log-uniformly
for log axes) inside the same ranges instead.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qdlab.data.errors import InputError
from qdlab.twin.protocol import Scenario, load_scenario, scenario_from_dict


@dataclass(frozen=True)
class Axis:
    """One swept quantity."""

    name: str
    lo: float
    hi: float
    n: int
    log: bool = False

    def values(self) -> np.ndarray:
        if self.log:
            return np.logspace(math.log10(self.lo), math.log10(self.hi), self.n)
        return np.linspace(self.lo, self.hi, self.n)


def parse_axes(specs: list[str]) -> list[Axis]:
    """Parse ``NAME=LO:HI:N[:log]`` strings."""
    if not specs:
        raise InputError("give at least one --param NAME=LO:HI:N", field="--param")
    axes = []
    for spec in specs:
        name, eq, rng = spec.partition("=")
        parts = rng.split(":")
        if not eq or not name.strip() or len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
            raise InputError(f"expected NAME=LO:HI:N or NAME=LO:HI:N:log, got {spec!r}", field="--param")
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise InputError(f"LO and HI must be numbers and N an integer in {spec!r}", field="--param") from None
        log = len(parts) == 4
        if n < 1 or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or (log and lo <= 0):
            raise InputError(f"need N >= 1, LO <= HI (and LO > 0 for log axes) in {spec!r}", field="--param")
        axes.append(Axis(name.strip(), lo, hi, n, log))
    return axes


def _point(task: tuple[dict[str, Any], dict[str, float]]) -> dict[str, Any]:
    from qdlab.data.errors import QdlabError
    from qdlab.twin.solver import simulate

    sc_dict, values = task
    try:
        res = simulate(scenario_from_dict(sc_dict).with_overrides(values))
    except QdlabError as exc:
        return {"values": values, "error": str(exc)}
    last = res.aliquots[-1]
    return {"values": values, "final_pl_nm": last.pl_peak_nm, "final_fwhm_mev": last.fwhm_mev,
            "final_mean_diameter_nm": last.mean_diameter_nm, "final_secondary_fraction": last.secondary_fraction,
            "any_bimodal": any(a.bimodal for a in res.aliquots), "mass_balance_error": res.mass_balance_error}


def run_sweep(scenario: Scenario | str, axes: list[Axis], *, random: int | None = None,
              map_fn: Callable[..., Iterable[Any]] = map, seed: int = 0, max_points: int = 200_000) -> dict[str, Any]:
    """Simulate every point; returns ``{"scenario", "n_points", "wall_s", "points": [...]}`` in input order.

    ``map_fn`` runs the points: the built-in ``map`` (serial, default) or an executor's, e.g.
    :func:`qdlab.compute.mapper` (local processes or Dask).
    """
    sc = load_scenario(scenario)
    if random is not None:
        rng = np.random.default_rng(seed)
        cols = []
        for ax in axes:
            if ax.log:
                cols.append(10 ** rng.uniform(math.log10(ax.lo), math.log10(ax.hi), random))
            else:
                cols.append(rng.uniform(ax.lo, ax.hi, random))
        combos = list(zip(*cols, strict=True))
    else:
        total = math.prod(ax.n for ax in axes)
        if total > max_points:
            raise InputError(f"the grid has {total} points (limit {max_points}); use --random", field="--param")
        combos = list(itertools.product(*(ax.values() for ax in axes)))
    names = [ax.name for ax in axes]
    # validate the first point here so a bad name fails fast with its field
    sc.with_overrides({n: float(v) for n, v in zip(names, combos[0], strict=True)})
    tasks = [(sc.model_dump(), {n: float(v) for n, v in zip(names, c, strict=True)}) for c in combos]
    t0 = time.perf_counter()
    points = list(map_fn(_point, tasks))
    wall = time.perf_counter() - t0
    return {"scenario": sc.name, "axes": [ax.__dict__ for ax in axes], "n_points": len(points), "wall_s": wall,
            "points": points}


__all__ = ["Axis", "parse_axes", "run_sweep"]
