"""Search space of the planner: the decision variables of an overgrowth recipe and the recipe they make.

The variables, their bounds, scales and reference values live in ``resources/plan/planner.toml``.
:class:`SearchSpace` turns them into Optuna distributions and back into a chemist's recipe
(:func:`build_recipe`): feed volume and composition (Cd(oleate)2 stock, ODE, TMSP), injection rate or
ramped profile, duration, temperature, oleic acid and an aliquot schedule.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qdlab.data.errors import InputError
from qdlab.resources import load_toml

_CONFIG = "plan/planner.toml"


def config() -> dict[str, Any]:
    """The planner's package data (``resources/plan/planner.toml``)."""
    return load_toml(_CONFIG)


def value(section: str, key: str) -> float:
    """A ``{value, unit, source}`` quantity of the planner data, as a float."""
    return float(config()[section][key]["value"])


def reference_scenario_name() -> str:
    """Name of the twin scenario whose recipe is the planner's reference (``[twin] reference_scenario``)."""
    return str(config()["twin"]["reference_scenario"]["value"])


@functools.lru_cache(maxsize=8)
def reference_value(path: str, scenario: str | None = None) -> float:
    """A field of the twin's reference scenario by dotted path (``protocol.injection_rate_ml_per_h``).

    The planner's reference recipe (injection rate, free oleic acid, feed volume, temperature) and the
    reference seeds of the rate scaling are read from the twin's built-in scenario, so that they follow
    the twin when it is refitted instead of being copied into the planner's data.

    Examples
    --------
    >>> reference_value("seeds.emission_nm")
    1010.0
    """
    from qdlab.data.errors import ModelError

    try:
        from qdlab import twin

        node: Any = twin.load_scenario(scenario or reference_scenario_name())
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"the digital twin (qdlab.twin) is not available: {exc}") from None
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            raise ModelError(f"the twin's reference scenario has no value at {path!r}")
    return float(node)


@dataclass(frozen=True)
class Variable:
    """One decision variable.

    Parameters
    ----------
    name
        Name with its unit (``cluster_volume_ml``).
    low, high
        Bounds.
    log
        Search on a log scale.
    default
        Reference value (the paper's recipe or qdlab's stated assumption; with ``default_from`` in
        the package data, the value of that field of the twin's reference scenario).
    unit, source
        Unit and where the bounds/default come from.
    """

    name: str
    low: float
    high: float
    log: bool
    default: float
    unit: str
    source: str

    def check(self, x: float) -> float:
        """Return ``x`` as float if inside the bounds, else raise :class:`InputError`."""
        x = float(x)
        if not (math.isfinite(x) and self.low <= x <= self.high):
            raise InputError(f"{x:g} {self.unit} is outside {self.low:g}-{self.high:g} {self.unit}", field=self.name)
        return x

    def clip(self, x: float) -> float:
        """``x`` clipped into the bounds."""
        return float(min(max(x, self.low), self.high))

    def distribution(self) -> Any:
        """The Optuna distribution of this variable."""
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log)


@dataclass(frozen=True)
class SearchSpace:
    """The planner's decision variables (ordered)."""

    variables: tuple[Variable, ...]

    @classmethod
    def default(cls) -> SearchSpace:
        """All variables of ``planner.toml``."""
        out = []
        for name, spec in config()["variables"].items():
            if "default_from" in spec:
                default = reference_value(str(spec["default_from"]))
            else:
                default = float(spec["default"])
            out.append(
                Variable(
                    name=name,
                    low=float(spec["low"]),
                    high=float(spec["high"]),
                    log=bool(spec["log"]),
                    default=default,
                    unit=str(spec["unit"]),
                    source=str(spec["source"]),
                )
            )
        return cls(tuple(out))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def __getitem__(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise InputError(f"unknown planner variable {name!r}; known: {', '.join(self.names)}", field="variable")

    def defaults(self) -> dict[str, float]:
        """Reference values of every variable."""
        return {v.name: v.default for v in self.variables}

    def complete(self, params: Mapping[str, float]) -> dict[str, float]:
        """``params`` checked against the bounds, missing variables filled with their defaults."""
        unknown = set(params) - set(self.names)
        if unknown:
            raise InputError(f"unknown planner variable(s) {sorted(unknown)}; known: {', '.join(self.names)}")
        out = self.defaults()
        for k, x in params.items():
            out[k] = self[k].check(x)
        return out

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions keyed by variable name."""
        return {v.name: v.distribution() for v in self.variables}


def feed_composition(volume_ml: float, p_conc_mol_per_l: float) -> dict[str, float]:
    """Amounts of the cluster feed for ``volume_ml`` at phosphorus concentration ``p_conc_mol_per_l``.

    The composition keeps the paper's Cd:P ratio (3.0 mmol Cd(oleate)2 : 1.0 mmol TMSP) and its 1:1
    Cd(oleate)2-stock:ODE split; the concentration sets how much of the volume is stock.

    Examples
    --------
    >>> c = feed_composition(12.29, 0.0813)
    >>> round(c["tmsp_volume_ul"]), round(c["cd_oleate_stock_ml"], 1)
    (290, 6.0)
    """
    from qdlab.chem import parse_formula

    cfg = config()["paper"]
    rho_tmsp = cfg["tmsp_density_g_per_ml"]["value"]
    mm_tmsp = parse_formula("P(TMS)3").average_mass_da()
    p_mmol = volume_ml * p_conc_mol_per_l
    tmsp_ul = p_mmol * mm_tmsp / rho_tmsp
    p_ref_mmol = cfg["tmsp_volume_ul"]["value"] * 1e-3 * rho_tmsp / mm_tmsp * 1e3
    cd_ref_mmol = cfg["cd_oleate_stock_conc_mol_per_l"]["value"] * cfg["cd_oleate_stock_volume_ml"]["value"]
    cd_mmol = p_mmol * cd_ref_mmol / p_ref_mmol
    stock_ml = cd_mmol / cfg["cd_oleate_stock_conc_mol_per_l"]["value"]
    ode_ml = volume_ml - stock_ml - tmsp_ul * 1e-3
    if ode_ml < 0:
        raise InputError(
            f"a feed at {p_conc_mol_per_l:g} mol/L P does not fit: the 0.50 M Cd(oleate)2 stock alone needs "
            f"{stock_ml:.2f} of {volume_ml:.2f} mL", field="p_conc_mol_per_l"
        )
    return {
        "volume_ml": volume_ml,
        "p_conc_mol_per_l": p_conc_mol_per_l,
        "cd_conc_mol_per_l": cd_mmol / volume_ml,
        "cd_mmol": cd_mmol,
        "p_mmol": p_mmol,
        "cd_oleate_stock_ml": stock_ml,
        "cd_oleate_stock_conc_mol_per_l": cfg["cd_oleate_stock_conc_mol_per_l"]["value"],
        "ode_ml": ode_ml,
        "tmsp_volume_ul": tmsp_ul,
    }


def rate_profile(rate_ml_per_h: float, ramp_factor: float, volume_ml: float, n_steps: int = 5) -> list[dict[str, float]]:
    """Stepwise ramped injection: the rate grows linearly from ``rate`` to ``ramp_factor * rate``.

    The steps deliver equal volumes. ``ramp_factor = 1`` is a constant rate. Returns
    ``[{"start_min", "end_min", "rate_ml_per_h", "volume_ml"}, ...]``.

    Examples
    --------
    >>> p = rate_profile(6.0, 1.0, 12.0, n_steps=2)
    >>> [round(s["end_min"]) for s in p]
    [60, 120]
    """
    if rate_ml_per_h <= 0 or volume_ml <= 0 or ramp_factor <= 0:
        raise InputError("rate, volume and ramp factor must be positive")
    steps = []
    t = 0.0
    dv = volume_ml / n_steps
    for i in range(n_steps):
        frac = (i + 0.5) / n_steps
        r = rate_ml_per_h * (1.0 + (ramp_factor - 1.0) * frac)
        dt = dv / r * 60.0
        steps.append({"start_min": t, "end_min": t + dt, "rate_ml_per_h": r, "volume_ml": dv})
        t += dt
    return steps


def aliquot_schedule(duration_min: float, n_aliquots: int) -> list[float]:
    """Aliquot times (min): the seed solution at 0 (A1), then evenly spaced to the end.

    Examples
    --------
    >>> aliquot_schedule(100.0, 5)
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    if n_aliquots < 2:
        return [float(duration_min)]
    step = duration_min / (n_aliquots - 1)
    return [round(i * step, 6) for i in range(n_aliquots)]


def build_recipe(
    params: Mapping[str, float],
    *,
    seed_nm: float,
    seed_mg: float,
    material: str = "Cd3P2",
    ramp_factor: float = 1.0,
    hold_min: float = 0.0,
) -> dict[str, Any]:
    """The chemist's recipe for a point of the search space.

    Parameters
    ----------
    params
        Values of the decision variables (missing ones take their defaults).
    seed_nm, seed_mg
        Seed PL peak and amount.
    ramp_factor
        Final/initial injection rate (1: constant rate).
    hold_min
        Time at temperature after the injection ends.
    """
    space = SearchSpace.default()
    p = space.complete(params)
    cfg = config()
    vol = p["cluster_volume_ml"]
    rate = p["injection_rate_ml_per_h"]
    profile = rate_profile(rate, ramp_factor, vol)
    inj_min = profile[-1]["end_min"]
    duration = inj_min + hold_min
    n_aliq = int(value("design", "aliquots"))
    return {
        "material": material,
        "seeds": {
            "pl_peak_nm": seed_nm,
            "mass_mg": seed_mg,
            "toluene_ml": cfg["paper"]["seed_toluene_ml"]["value"],
            "ode_ml": cfg["paper"]["seed_ode_ml"]["value"],
        },
        "cluster_solution": feed_composition(vol, p["p_conc_mol_per_l"]),
        "injection": {
            "rate_ml_per_h": rate,
            "ramp_factor": ramp_factor,
            "final_rate_ml_per_h": rate * ramp_factor,
            "profile": profile,
            "injection_time_min": inj_min,
        },
        "temperature_c": p["temperature_c"],
        "oleic_acid_mmol": p["oleic_acid_mmol"],
        "hold_min": hold_min,
        "duration_min": duration,
        "aliquot_times_min": aliquot_schedule(duration, n_aliq),
        "params": p,
    }


__all__ = [
    "Variable",
    "SearchSpace",
    "config",
    "value",
    "reference_scenario_name",
    "reference_value",
    "feed_composition",
    "rate_profile",
    "aliquot_schedule",
    "build_recipe",
]
