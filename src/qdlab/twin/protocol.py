"""Scenarios: reactor, seeds, feed and protocol of one experiment, as validated pydantic models.

A scenario is what a chemist writes down before an experiment: what is in the flask (volume, free
oleic acid, seed QDs described by their PL peak and linewidth), what is in the syringe (Cd oleate,
TMSP, volume), and what happens (temperature, injection rate or profile, aliquot schedule). Built-in
scenarios reproduce the reference paper's experiments (``resources/twin/scenarios/*.toml``).

All models forbid unknown keys; :func:`load_scenario` turns pydantic's errors into
:class:`~qdlab.data.errors.InputError` naming the dotted field (``protocol.injection_rate_ml_per_h``).

Examples
--------
>>> s = load_scenario("overgrowth-1010nm")
>>> s.seeds.emission_nm
1010.0
>>> s.with_overrides({"protocol.injection_rate_ml_per_h": 6.0}).protocol.injection_rate_ml_per_h
6.0
"""

from __future__ import annotations

import copy
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qdlab.data.errors import FormatError, InputError
from qdlab.resources import resource_path
from qdlab.twin.parameters import KineticParameters, OpticalParameters, default_optics, default_parameters

_SCEN_DIR = "twin/scenarios"

#: Short aliases accepted in ``params.*`` overrides.
PARAM_ALIASES = {
    "k_diss_per_s": "cluster_dissolution_per_s",
    "k_form_per_s": "precursor_conversion_per_s",
    "k_growth_m_per_s": "growth_rate_m_per_s",
    "gamma_j_per_m2": "surface_energy_j_per_m2",
    "k_etch_nm_per_s_per_m": "etch_rate_nm_per_s_per_m",
    "k_coalescence_l_per_mol_s": "coalescence_l_per_mol_s",
    "p_fuse": "fusion_probability",
    "acid_cluster_dissolution_l_per_mol": "acid_cluster_activation_l_per_mol",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedSurface(_Model):
    """The (at most two) seed-surface parameters that may differ between seed batches."""

    etch_factor: float = Field(1.0, ge=0, description="multiplies the acid-etch rate on seed surfaces")
    reactivity_factor: float = Field(1.0, ge=0, description="multiplies k_growth and the MSC fusion probability on seeds")


class Seeds(_Model):
    """Seed QDs: amount and a Gaussian size distribution from their PL peak and linewidth (or TEM)."""

    mass_mg: float = Field(20.0, gt=0, description="mass of the QD powder (with ligands)")
    inorganic_fraction: float = Field(0.6, gt=0, le=1, description="Cd3P2 mass fraction of the powder")
    emission_nm: float | None = Field(None, gt=200, lt=5000)
    fwhm_mev: float | None = Field(None, gt=0, lt=2000, description="PL FWHM of the seeds")
    diameter_nm: float | None = Field(None, gt=0.5, lt=100)
    diameter_rsd: float | None = Field(None, ge=0, lt=0.5, description="relative std of the diameter")
    n_classes: int = Field(200, ge=1, le=5000)
    surface: SeedSurface = SeedSurface()

    @model_validator(mode="after")
    def _one_size(self) -> Seeds:
        if (self.emission_nm is None) == (self.diameter_nm is None):
            raise ValueError("give exactly one of emission_nm or diameter_nm")
        if self.fwhm_mev is None and self.diameter_rsd is None:
            raise ValueError("give fwhm_mev or diameter_rsd")
        return self


class Reactor(_Model):
    """Flask contents at the start (after heating; toluene of the seed dispersion has boiled off)."""

    volume_ml: float = Field(gt=0)
    oleic_acid_mmol: float = Field(0.0, ge=0, description="free oleic acid")
    precursor_mmol: float = Field(0.0, ge=0, description="unreacted Cd/P precursor, in Cd3P2 units")
    cluster_mmol: float = Field(0.0, ge=0, description="MSCs, in Cd3P2 units")
    monomer_mmol: float = Field(0.0, ge=0, description="dissolved Cd3P2 monomer (e.g. TMSP fully converted on injection)")


class Feed(_Model):
    """The syringe: Cd oleate + TMSP (+ ODE), converted to Cd3P2 units = min(Cd/3, P/2)."""

    volume_ml: float = Field(ge=0)
    cd_mmol: float = Field(ge=0)
    p_mmol: float = Field(ge=0)
    oleic_acid_mmol: float = Field(0.0, ge=0)
    cluster_fraction: float = Field(0.0, ge=0, le=1, description="fraction already present as MSCs")

    @property
    def units_mmol(self) -> float:
        """Cd3P2 formula units the feed can make (limited by P here)."""
        return min(self.cd_mmol / 3.0, self.p_mmol / 2.0)


class Protocol(_Model):
    """Temperature, injection and aliquot schedule (times from the start of injection, in min)."""

    temperature_c: float = Field(gt=0, lt=400)
    temperature_profile: list[tuple[float, float]] | None = Field(
        None, description="piecewise-linear (time_min, temperature_c) points; overrides temperature_c")
    injection_rate_ml_per_h: float = Field(0.0, ge=0, le=10000)
    injection_profile: list[tuple[float, float]] | None = Field(
        None, description="piecewise-constant (start_time_min, rate_ml_per_h) steps; overrides the constant rate")
    injection_start_min: float = Field(0.0, ge=0)
    duration_min: float = Field(gt=0, le=10000)
    aliquot_times_min: list[float] = Field(default_factory=list)
    aliquot_volume_ml: float = Field(0.1, ge=0)
    aliquot_ids: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Protocol:
        t = self.aliquot_times_min
        if any(x < 0 or x > self.duration_min for x in t):
            raise ValueError(f"aliquot times must lie in [0, duration_min={self.duration_min}]")
        if any(b < a for a, b in itertools.pairwise(t)):
            raise ValueError("aliquot_times_min must be increasing")
        if self.aliquot_ids is not None and len(self.aliquot_ids) != len(t):
            raise ValueError("aliquot_ids must have one id per aliquot time")
        for name, prof in (("temperature_profile", self.temperature_profile), ("injection_profile", self.injection_profile)):
            if prof is not None:
                if not prof:
                    raise ValueError(f"{name} is empty")
                times = [p[0] for p in prof]
                if any(b <= a for a, b in itertools.pairwise(times)) or times[0] < 0:
                    raise ValueError(f"{name} times must be increasing and >= 0")
                if any(p[1] < 0 for p in prof):
                    raise ValueError(f"{name} values must be >= 0")
        return self

    def ids(self) -> list[str]:
        """Aliquot labels (``A0``, ``A1``... by default)."""
        return list(self.aliquot_ids) if self.aliquot_ids is not None else [f"A{i}" for i in range(len(self.aliquot_times_min))]

    def rate_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise-constant injection rate: step start times (s) and rates (mL/s)."""
        if self.injection_profile is not None:
            t = np.array([p[0] for p in self.injection_profile], float) * 60.0
            q = np.array([p[1] for p in self.injection_profile], float) / 3600.0
            if t[0] > 0:
                t, q = np.concatenate([[0.0], t]), np.concatenate([[0.0], q])
            return t, q
        if self.injection_start_min > 0:
            return np.array([0.0, self.injection_start_min * 60.0]), np.array([0.0, self.injection_rate_ml_per_h / 3600.0])
        return np.array([0.0]), np.array([self.injection_rate_ml_per_h / 3600.0])

    def temperature_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise-linear temperature: times (s) and temperatures (K)."""
        if self.temperature_profile is not None:
            t = np.array([p[0] for p in self.temperature_profile], float) * 60.0
            temp = np.array([p[1] for p in self.temperature_profile], float) + 273.15
            return t, temp
        return np.array([0.0]), np.array([self.temperature_c + 273.15])

    def steps(self) -> list[dict[str, Any]]:
        """The protocol as an ordered list of steps (heat/hold, inject, withdraw aliquot), for display."""
        out: list[dict[str, Any]] = []
        tt, temp = self.temperature_table()
        for i in range(1, len(tt)):
            out.append({"step": "heat" if temp[i] != temp[i - 1] else "hold", "time_min": float(tt[i - 1] / 60),
                        "to_temperature_c": float(temp[i] - 273.15), "duration_min": float((tt[i] - tt[i - 1]) / 60)})
        rt, rq = self.rate_table()
        for i in range(len(rt)):
            out.append({"step": "inject", "time_min": float(rt[i] / 60), "rate_ml_per_h": float(rq[i] * 3600)})
        for a, t in zip(self.ids(), self.aliquot_times_min, strict=True):
            out.append({"step": "aliquot", "time_min": t, "aliquot_id": a, "volume_ml": self.aliquot_volume_ml})
        return sorted(out, key=lambda s: s["time_min"])


class Observation(_Model):
    """How the aliquots are measured: the spectral window the PL summary is read in.

    ``pl_window_nm`` limits the per-aliquot peak, FWHM and bimodality to what the spectrometer sees
    (e.g. ``[800, 1700]`` for an InGaAs SWIR detector); ``None`` reads the whole computed range
    (400-1770 nm). The PL and absorbance spectra themselves always cover the whole range.
    """

    pl_window_nm: tuple[float, float] | None = Field(None, description="detector window of the PL summary (nm)")

    @model_validator(mode="after")
    def _check(self) -> Observation:
        if self.pl_window_nm is not None:
            lo, hi = self.pl_window_nm
            if not 0 < lo < hi:
                raise ValueError(f"pl_window_nm must be [low, high] with 0 < low < high (got {list(self.pl_window_nm)})")
        return self


class Scenario(_Model):
    """One experiment for the twin: reactor, optional seeds and feed, protocol, parameter overrides."""

    name: str
    description: str = ""
    kind: Literal["overgrowth", "cluster-heating", "hot-injection", "custom"] = "custom"
    source: str = ""
    reactor: Reactor
    seeds: Seeds | None = None
    feed: Feed | None = None
    protocol: Protocol
    params: dict[str, float] = Field(default_factory=dict, description="overrides of the shared kinetic set")
    optics: dict[str, float] = Field(default_factory=dict, description="overrides of the optical parameters")
    observation: Observation = Field(default_factory=Observation, description="how the aliquots are measured")
    solver: dict[str, float] = Field(
        default_factory=dict,
        description="numerical settings of this scenario (SolverSettings fields, e.g. rtol, nucleation_window_s); "
                    "docs/convergence.md shows them converged")
    paper: dict[str, Any] = Field(default_factory=dict, description="the paper's observations, for comparison only")

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        known = set(KineticParameters.model_fields)
        bad = [k for k in self.params if k not in known]
        if bad:
            raise ValueError(f"unknown kinetic parameter(s) {bad}; known: {sorted(known)}")
        bad = [k for k in self.optics if k not in OpticalParameters.model_fields]
        if bad:
            raise ValueError(f"unknown optical parameter(s) {bad}")
        solver_fields = ("rtol", "atol", "atol_radius_nm", "dt_max_s", "dt_init_s", "nucleus_class_dr_nm",
                         "nucleation_window_s", "max_cohorts", "seed_class_factor", "split_rtol")
        bad = [k for k in self.solver if k not in solver_fields]
        if bad:
            raise ValueError(f"unknown solver setting(s) {bad}; known: {list(solver_fields)}")
        # volumes must stay possible: every aliquot must find liquid in the flask
        p = self.protocol
        rt, rq = p.rate_table()
        feed_ml = self.feed.volume_ml if self.feed else 0.0
        injected = min(feed_ml, _delivered_ml(rt, rq, p.duration_min * 60.0))
        withdrawn = p.aliquot_volume_ml * len(p.aliquot_times_min)
        if withdrawn >= self.reactor.volume_ml + injected:
            raise ValueError(
                f"aliquots withdraw {withdrawn:g} mL but the flask never holds more than "
                f"{self.reactor.volume_ml + injected:g} mL (reactor.volume_ml + injected feed)")
        if (rq > 0).any() and self.feed is None:
            raise ValueError("an injection rate is set but the scenario has no feed")
        return self

    def kinetic_parameters(self) -> KineticParameters:
        """The shared parameter set with this scenario's overrides applied (validated)."""
        base = default_parameters().model_dump()
        try:
            return KineticParameters(**{**base, **self.params})
        except ValidationError as exc:
            raise _input_error(exc, prefix="params") from None

    def optical_parameters(self) -> OpticalParameters:
        """The optical parameters with overrides applied."""
        base = default_optics().model_dump()
        try:
            return OpticalParameters(**{**base, **self.optics})
        except ValidationError as exc:
            raise _input_error(exc, prefix="optics") from None

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A validated copy with dotted-path overrides, e.g. ``{"protocol.injection_rate_ml_per_h": 3.0}``.

        ``params.NAME`` and ``optics.NAME`` set kinetic/optical parameters (aliases such as
        ``params.k_diss_per_s`` are accepted, see :data:`PARAM_ALIASES`). Changing
        ``protocol.duration_min`` without giving ``protocol.aliquot_times_min`` scales the aliquot
        schedule with the duration (same number of aliquots, same relative times).
        """
        data = copy.deepcopy(self.model_dump())
        for key, value in overrides.items():
            parts = key.split(".")
            if parts[0] == "params" and len(parts) == 2:
                parts[1] = PARAM_ALIASES.get(parts[1], parts[1])
                if parts[1] not in KineticParameters.model_fields:
                    raise InputError(f"unknown kinetic parameter {parts[1]!r}", field=key)
            node = data
            for part in parts[:-1]:
                if not isinstance(node, dict):
                    raise InputError("cannot set a field inside a non-table value", field=key)
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            if not isinstance(node, dict):
                raise InputError("cannot set a field inside a non-table value", field=key)
            node[".".join(parts[-1:])] = value
        if "protocol.duration_min" in overrides and "protocol.aliquot_times_min" not in overrides:
            # a longer/shorter run keeps its sampling plan: the aliquot times scale with the duration
            scale = float(data["protocol"]["duration_min"]) / self.protocol.duration_min
            data["protocol"]["aliquot_times_min"] = [t * scale for t in self.protocol.aliquot_times_min]
        # unknown keys are rejected by the models (extra="forbid"), naming the field
        return scenario_from_dict(data)


def _delivered_ml(rt: np.ndarray, rq: np.ndarray, t_end_s: float) -> float:
    edges = np.append(rt, max(t_end_s, rt[-1]))
    dur = np.clip(np.minimum(edges[1:], t_end_s) - edges[:-1], 0, None)
    return float(np.sum(dur * rq))


def _input_error(exc: ValidationError, prefix: str = "") -> InputError:
    errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    err = errors[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    field = ".".join(p for p in (prefix, loc) if p) or None
    msg = err.get("msg", str(exc)).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key (not a scenario field)"
    elif err.get("type") not in ("value_error", "missing"):
        msg = f"{msg} (got {err.get('input')!r})"
    return InputError(msg, field=field)


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    """Validate a scenario given as a plain mapping (TOML/JSON content)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _input_error(exc) from None


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    folder = resource_path(_SCEN_DIR)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path | Scenario) -> Scenario:
    """Load a built-in scenario by name, or a scenario file (``.toml`` or ``.json``)."""
    if isinstance(name_or_path, Scenario):
        return name_or_path
    text_name = str(name_or_path)
    path = Path(text_name)
    if text_name in list_scenarios() and not path.exists():
        raw = resource_path(f"{_SCEN_DIR}/{text_name}.toml").read_text(encoding="utf-8")
        return scenario_from_dict(tomllib.loads(raw))
    if not path.exists():
        raise InputError(f"no built-in scenario or file named {text_name!r}; built-in: {', '.join(list_scenarios())}",
                         field="scenario")
    if path.is_dir():
        raise InputError(f"expected a scenario file, got a directory: {path}", field="scenario")
    raw = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"not a valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'} scenario: {exc}",
                          path=path) from None
    if not isinstance(data, dict):
        raise FormatError("a scenario must be a table/object", path=path)
    data.setdefault("name", path.stem)
    return scenario_from_dict(data)


__all__ = ["Feed", "Observation", "PARAM_ALIASES", "Protocol", "Reactor", "Scenario", "SeedSurface", "Seeds", "list_scenarios",
           "load_scenario", "scenario_from_dict"]
