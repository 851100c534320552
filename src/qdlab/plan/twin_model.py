"""The digital twin (:mod:`qdlab.twin`) as the planner's forward model.

:class:`TwinModel` binds the twin to one batch of seeds: it starts from the built-in overgrowth
scenario whose seeds emit closest to the user's (so per-batch seed-surface parameters carry over), sets
the seed PL peak and amount, and maps every planner variable to the scenario through
``Scenario.with_overrides`` (feed volume and Cd/P amounts, free oleic acid, temperature, injection
rate or ramped profile, duration, aliquot schedule). The final aliquot is the outcome.

Parameter uncertainty: with a calibration (``values`` and ``covariance`` over twin parameter names, as
``qdlab twin calibrate --json`` reports them) samples are drawn from that multivariate normal;
without one, each parameter listed in ``[twin] uncertain_parameters`` gets the documented default
log-normal spread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError, ModelError
from qdlab.plan.objective import Outcome
from qdlab.plan.space import config, feed_composition, rate_profile, value


def _twin() -> Any:
    """The twin's public API (``list_scenarios``, ``load_scenario``, ``simulate``)."""
    try:
        from qdlab import twin

        twin.list_scenarios, twin.load_scenario, twin.simulate  # noqa: B018 - check the API is there
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"the digital twin (qdlab.twin) is not available: {exc}") from None
    return twin


def _template_name(seed_nm: float) -> str:
    list_scenarios = _twin().list_scenarios
    prefix = config()["twin"]["template_prefix"]
    names = [n for n in list_scenarios() if n.startswith(prefix) and n[len(prefix):].removesuffix("nm").isdigit()]
    if not names:
        raise ModelError(f"the twin ships no {prefix}* scenario to plan from")
    return min(names, key=lambda n: abs(float(n[len(prefix):].removesuffix("nm")) - seed_nm))


@dataclass(frozen=True)
class Calibration:
    """Mean and covariance of twin kinetic parameters (``params.NAME``) for uncertainty propagation."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]

    @classmethod
    def from_file(cls, path: str | Path) -> Calibration:
        """Read a ``qdlab twin calibrate --json`` output (keys ``values``/``covariance`` or ``parameters``)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"not a readable calibration JSON: {exc}", path=p) from None
        vals = data.get("values")
        cov = data.get("covariance")
        if not isinstance(vals, dict) or cov is None:
            raise FormatError("expected 'values' (name -> value) and 'covariance' (matrix)", path=p, field="values")
        try:
            return cls.from_mapping(vals, cov)
        except InputError as exc:
            raise FormatError(str(exc), path=p, field="covariance") from None

    @classmethod
    def from_mapping(cls, values: Mapping[str, float], covariance: Any) -> Calibration:
        """From ``values`` (name -> value; ``params.`` prefixes allowed) and a covariance matrix.

        A :class:`qdlab.twin.CalibrationResult` gives both: ``Calibration.from_mapping(r.values, r.covariance)``.
        """
        names = tuple(n.removeprefix("params.") for n in values)
        c = np.asarray(covariance, dtype=float)
        if c.shape != (len(names), len(names)):
            raise InputError(f"covariance must be {len(names)}x{len(names)}, got {c.shape}")
        if not np.all(np.isfinite(c)):
            raise InputError("the calibration covariance has non-finite entries (the fit did not determine every parameter)")
        return cls(names, tuple(float(v) for v in values.values()), tuple(map(tuple, c.tolist())))


@dataclass(frozen=True)
class TwinModel:
    """Forward model: final-aliquot outcome of an overgrowth recipe on these seeds, by the twin."""

    seed_nm: float
    seed_mg: float = 20.0
    material: str = "Cd3P2"
    seed_fwhm_mev: float | None = None
    template: str | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    #: "default": the twin's default integrator (ROS2); "strang": the split stepper in the Strang order (screening)
    splitting: str = "default"
    _base: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.material != "Cd3P2":
            raise InputError(f"the twin models Cd3P2 overgrowth only, got material {self.material!r}", field="--material")
        if not (200 < self.seed_nm < 5000):
            raise InputError(f"seed PL peak must be 200-5000 nm, got {self.seed_nm}", field="--seed-nm")
        if not (0 < self.seed_mg <= 10000):
            raise InputError(f"seed amount must be 0-10000 mg, got {self.seed_mg}", field="--seed-mg")
        if self.splitting not in ("default", "strang"):
            raise InputError(f"splitting must be 'default' or 'strang', got {self.splitting!r}", field="splitting")
        if self._base is None:
            name = self.template or _template_name(self.seed_nm)
            base = _twin().load_scenario(name)
            ov: dict[str, Any] = {"seeds.emission_nm": float(self.seed_nm), "seeds.mass_mg": float(self.seed_mg)}
            if self.seed_fwhm_mev is not None:
                ov["seeds.fwhm_mev"] = float(self.seed_fwhm_mev)
            if base.seeds is not None and base.seeds.diameter_nm is not None:
                ov["seeds.diameter_nm"] = None
            ov.update({f"params.{k}": float(v) for k, v in self.parameters.items()})
            object.__setattr__(self, "_base", base.with_overrides(ov))

    def template_name(self) -> str:
        """The built-in scenario this model starts from."""
        return self.template or _template_name(self.seed_nm)

    def scenario_overrides(self, params: Mapping[str, float], ramp_factor: float = 1.0) -> dict[str, Any]:
        """Every override that turns :meth:`template_name`'s scenario into the one of this recipe.

        ``load_scenario(model.template_name()).with_overrides(model.scenario_overrides(p, r))`` is the
        scenario :meth:`predict` runs (seeds, kinetic parameters, then the recipe); JSON-safe values.
        """
        ov: dict[str, Any] = {"seeds.emission_nm": float(self.seed_nm), "seeds.mass_mg": float(self.seed_mg)}
        if self.seed_fwhm_mev is not None:
            ov["seeds.fwhm_mev"] = float(self.seed_fwhm_mev)
        if self._base.seeds is not None:
            ov["seeds.diameter_nm"] = None  # the seeds are given by their PL peak (as in __post_init__)
        ov.update({(k if "." in k else f"params.{k}"): float(v) for k, v in self.parameters.items()})
        rec = self._recipe_overrides(params, ramp_factor)
        if rec.get("protocol.injection_profile") is not None:
            rec["protocol.injection_profile"] = [list(s) for s in rec["protocol.injection_profile"]]
        return {**ov, **rec}

    def scenario(self, params: Mapping[str, float], ramp_factor: float = 1.0) -> Any:
        """The twin scenario of one recipe."""
        return self._base.with_overrides(self._recipe_overrides(params, ramp_factor))

    def _recipe_overrides(self, params: Mapping[str, float], ramp_factor: float) -> dict[str, Any]:
        vol = float(params["cluster_volume_ml"])
        rate = float(params["injection_rate_ml_per_h"])
        feed = feed_composition(vol, float(params["p_conc_mol_per_l"]))
        hold = value("twin", "hold_min")
        ov: dict[str, Any] = {
            "feed.volume_ml": vol,
            "feed.cd_mmol": feed["cd_mmol"],
            "feed.p_mmol": feed["p_mmol"],
            "reactor.oleic_acid_mmol": float(params["oleic_acid_mmol"]),
            "protocol.temperature_c": float(params["temperature_c"]),
            "protocol.temperature_profile": None,
            "protocol.injection_start_min": 0.0,
        }
        if abs(ramp_factor - 1.0) > 1e-9:
            prof = rate_profile(rate, ramp_factor, vol)
            ov["protocol.injection_profile"] = [(s["start_min"], s["rate_ml_per_h"]) for s in prof]
            ov["protocol.injection_rate_ml_per_h"] = rate
            inj_min = prof[-1]["end_min"]
        else:
            ov["protocol.injection_profile"] = None
            ov["protocol.injection_rate_ml_per_h"] = rate
            inj_min = vol / rate * 60.0
        duration = round(inj_min + hold, 6)
        n = int(value("design", "aliquots"))
        ov["protocol.duration_min"] = duration
        ov["protocol.aliquot_times_min"] = [min(round(duration * i / (n - 1), 6), duration) for i in range(n)]
        ov["protocol.aliquot_ids"] = None
        return ov

    def screening(self) -> TwinModel:
        """This model on the split stepper in the Strang order (``dt_max_s`` 120 s): what the planner searches with.

        The Strang order reaches the product's PL of the paper's overgrowths in 64-137 steps, within 0.3-1.6 nm
        of the converged solution (``docs/splitting.md``), against 600-900 for the default ROS2 integrator, whose
        steps the recorded supersaturation sets; the planner searches and samples the uncertainty with it and
        reports the default integrator's prediction of the recipe it found (``docs/plan.md``).
        """
        return replace(self, splitting="strang")

    def predict(self, params: Mapping[str, float], ramp_factor: float = 1.0) -> Outcome:
        """Run the twin; the last aliquot is the product (the only one whose PL is summarized)."""
        sc = self.scenario(params, ramp_factor)
        if self.splitting == "default":
            res = _twin().simulate(sc, spectra="last")
        else:
            from qdlab.twin.solver import SolverSettings

            res = _twin().simulate(sc, settings=SolverSettings.for_scenario(sc).strang(), spectra="last")
        last = res.aliquots[-1]
        peak = float(last.pl_peak_nm)
        if not math.isfinite(peak):
            raise ModelError("the twin predicts no QD emission for this recipe")
        fw = getattr(last, "fwhm_mev", None)
        sec_mass = getattr(last, "secondary_mass_fraction", None)
        if sec_mass is not None and not math.isfinite(sec_mass):
            sec_mass = None
        return Outcome(
            pl_peak_nm=peak,
            fwhm_mev=None if fw is None or not math.isfinite(fw) else float(fw),
            bimodal=bool(last.bimodal),
            secondary_fraction=float(min(max(last.secondary_fraction, 0.0), 1.0)),
            secondary_mass_fraction=None if sec_mass is None else float(min(max(sec_mass, 0.0), 1.0)),
        )

    def nominal_parameters(self) -> dict[str, float]:
        """Current values of the uncertain kinetic parameters."""
        kp = self._base.kinetic_parameters()
        if self.calibration is not None:
            return dict(zip(self.calibration.names, self.calibration.values, strict=True))
        return {n: float(getattr(kp, n)) for n in config()["twin"]["uncertain_parameters"]}

    def parameter_samples(self, n: int, rng: np.random.Generator) -> Sequence[Mapping[str, float]]:
        """Parameter sets from the calibration covariance, or the default log-normal spread."""
        if n <= 0:
            return []
        if self.calibration is not None:
            c = self.calibration
            draws = rng.multivariate_normal(np.array(c.values), np.array(c.covariance), size=n, method="eigh")
            draws = np.maximum(draws, 0.0)
            return [dict(zip(c.names, map(float, d), strict=True)) for d in draws]
        sigma = value("design", "default_rel_uncertainty")
        nom = self.nominal_parameters()
        return [{k: v * math.exp(sigma * rng.standard_normal()) for k, v in nom.items()} for _ in range(n)]

    def with_parameters(self, values: Mapping[str, float]) -> TwinModel:
        """A copy with kinetic parameters replaced (``params.NAME`` of the scenario)."""
        new = {**dict(self.parameters), **{k: float(v) for k, v in values.items()}}
        base = self._base.with_overrides({(k if "." in k else f"params.{k}"): float(v) for k, v in values.items()})
        return replace(self, parameters=new, _base=base)


__all__ = ["Calibration", "TwinModel"]
