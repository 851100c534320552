"""Closed-loop campaigns: ask for the next overgrowth(s), tell what the lab measured, repeat.

Trials live in an Optuna study (:mod:`optuna` ask/tell API with its RDB storage), so a campaign can be
driven from several shells or machines: an SQLite file in the user data dir by default, or a
PostgreSQL URL (``--db`` / ``QDLAB_DATABASE_URL``; the Optuna tables then go to their own schema,
``qdlab_plan``, so they never mix with :mod:`qdlab.store`'s tables).

Strategies
----------
``twin`` (default)
    The twin as a prior. ``new`` enqueues the twin-optimal recipe (:func:`qdlab.plan.plan_recipe`) as a
    warm start. Every later ``ask`` fits a two-parameter residual model to the measured peaks,
    ``peak_measured(x) = peak_twin(x with V -> a V) + b`` (``a``: how much more or less of the feed ends on
    the seeds than the twin thinks, ``b``: an offset of the sizing curve), regularised by priors on
    ``ln a`` and ``b`` (package data), and proposes the volume where the corrected twin hits the target.
    A batch of ``K`` draws ``(a, b)`` from the posterior (Thompson sampling) for diverse proposals.
    Measured bimodal PL applies the next safety move to the twin line (constant rate, more oleic
    acid, slower, more dilute, hotter: :func:`qdlab.plan.design.safety_moves`).
``tpe``
    Plain Optuna TPE over all decision variables (data only, no twin), bimodality as a constraint.
``random``
    Uniform random search (Optuna ``RandomSampler``).

Failures, pending trials, reproducibility
-----------------------------------------
* ``tell_failure`` records an experiment that gave no result. ``no-emission`` (the chemistry failed:
  no PL from the product) is data: the trial is complete with an infinite loss and a violated
  ``failed`` constraint, so TPE ranks its region below every feasible one, the twin line takes its
  next safety move as after bimodal PL, and the recipe is never proposed again. ``aborted`` (the run
  did not finish for reasons outside the recipe: a clogged line, a power cut) is Optuna's ``FAIL``: no
  data, nothing learnt, and the recipe may be proposed again.
* Asked but not told (pending) trials count when asking again: the twin strategy never proposes a
  recipe that is pending, and TPE treats pending trials with its constant liar. Asks on one campaign
  are serialised by a lock (a file lock beside an SQLite file, an advisory lock on PostgreSQL), so
  concurrent ``ask`` calls see each other's pending trials and never propose the same recipe.
* Every sampler draw is seeded by (campaign, seed, trial number), so a campaign driven by the same
  asks and tells proposes the same recipes, whichever process asks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import InputError
from qdlab.data.types import Result
from qdlab.plan.forward import ForwardModel
from qdlab.plan.objective import Objective, Outcome
from qdlab.plan.space import SearchSpace, build_recipe, value

STRATEGIES = ("twin", "tpe", "random")
#: Why an experiment gave no result: ``no-emission`` is data (infeasible), ``aborted`` is not (Optuna FAIL).
FAILURE_REASONS = ("no-emission", "aborted")
#: Constraint violation of a ``no-emission`` trial: worse than any measured one (bimodal PL is 1, a FWHM
#: above the cap adds excess/100 meV), so TPE ranks a recipe that gave nothing below one that gave bimodal PL.
FAILED_CONSTRAINT = 10.0
_SPEC_KEY = "qdlab_campaign"
_LINE_KEY = "qdlab_line"
_GRID_PREFIX = "qdlab_grid_"
_PLAN_SCHEMA = "qdlab_plan"

ModelFactory = Callable[[float, float, str], ForwardModel]


# --------------------------------------------------------------------------------------- storage
def default_storage_url() -> str:
    """SQLite file ``campaigns.sqlite3`` in the user data dir (created on first use)."""
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("qdlab", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'campaigns.sqlite3'}"


def storage_url(db: str | None = None) -> str:
    """Resolve the campaign database: ``db``, else ``QDLAB_DATABASE_URL``, else the default SQLite file.

    An SQLite URL shared with the experiment record is redirected to a sibling file
    (``<name>.campaigns.sqlite3``) so Optuna's tables never collide with the record's.
    """
    url = db or os.environ.get("QDLAB_DATABASE_URL") or default_storage_url()
    if "://" not in url:
        raise InputError(f"expected a database URL like sqlite:///path.db or postgresql://..., got {url!r}", field="--db")
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith("sqlite"):
        path = url.split(":///", 1)[-1] if ":///" in url else ""
        if path and path != ":memory:" and "campaign" not in Path(path).name:
            p = Path(path)
            url = f"{scheme}:///{p.with_name(p.stem + '.campaigns.sqlite3')}"
    elif not scheme.startswith("postgresql"):
        raise InputError(f"unsupported database {scheme!r}: use sqlite:/// or postgresql://", field="--db")
    return url


def open_storage(db: Any = None) -> Any:
    """An Optuna storage: pass-through for storage objects, an ``RDBStorage`` for URLs."""
    import optuna

    if db is not None and not isinstance(db, str):
        return db
    from qdlab.store.engine import CONNECT_TIMEOUT_S, mask_secrets, mask_url

    url = storage_url(db)
    kwargs: dict[str, Any] = {}
    try:
        if url.startswith("postgresql"):
            import sqlalchemy

            args = {"connect_timeout": CONNECT_TIMEOUT_S}
            eng = sqlalchemy.create_engine(url, connect_args=args)
            try:
                with eng.begin() as conn:
                    conn.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {_PLAN_SCHEMA}"))
            finally:
                eng.dispose()
            kwargs["engine_kwargs"] = {"connect_args": {**args, "options": f"-csearch_path={_PLAN_SCHEMA}"}}
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # SQLAlchemy/driver errors: a bad URL, not a database, unreachable server
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise InputError(f"cannot open campaign database {mask_url(url)}: {mask_secrets(detail, url)}",
                         field="--db") from exc


_LOCAL_ASK_LOCK = threading.RLock()


@contextlib.contextmanager
def _campaign_lock(storage: Any, name: str) -> Iterator[None]:
    """Serialise the asks of one campaign across processes (file lock for SQLite, advisory lock for PostgreSQL).

    In-memory storages live in one process: a process-wide lock is enough.
    """
    url = str(getattr(getattr(storage, "engine", None), "url", "") or "")
    if url.startswith("sqlite") and ":///" in url and not url.endswith(":memory:"):
        import fcntl

        lock = Path(url.split(":///", 1)[1] + f".ask-{name}.lock")
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    if url.startswith("postgresql"):
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha256(f"qdlab-campaign:{name}".encode()).digest()[:8], "big", signed=True)
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    with _LOCAL_ASK_LOCK:
        yield


# --------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class CampaignSpec(Result):
    """What a campaign aims at (stored with the study)."""

    name: str
    target_nm: float
    seed_nm: float
    seed_mg: float
    material: str = "Cd3P2"
    max_fwhm_mev: float | None = None
    strategy: str = "twin"
    seed: int | None = None

    def objective(self) -> Objective:
        return Objective(target_nm=self.target_nm, max_fwhm_mev=self.max_fwhm_mev)


@dataclass(frozen=True)
class Suggestion(Result):
    """One proposed experiment."""

    trial: int
    params: dict[str, float]
    ramp_factor: float
    recipe: dict[str, Any]
    source: str
    predicted: dict[str, Any] | None = None


def _trial_seed(spec: CampaignSpec, seed: int | None, number: int | str) -> int:
    """A seed from the campaign, its seed and a trial number (reproducible, distinct per trial)."""
    return int(hashlib.sha256(f"{spec.name}:{seed}:{number}".encode()).hexdigest()[:8], 16)


class _PerTrialSampler:
    """An Optuna sampler whose draws for trial ``k`` depend only on (campaign, seed, k).

    A sampler seeded once per process gives two processes that load the campaign at the same moment the
    same random stream, hence the same proposals; trial numbers are unique in the storage, so seeding
    by the trial number makes concurrent asks differ and seeded campaigns reproducible.
    """

    def __init__(self, spec: CampaignSpec, seed: int | None) -> None:
        self._spec = spec
        self._seed = seed
        self._inner: dict[int, Any] = {}

    def _for(self, trial: Any) -> Any:
        import optuna

        k = int(trial.number)
        if k not in self._inner:
            s = _trial_seed(self._spec, self._seed, k)
            self._inner = {k: optuna.samplers.RandomSampler(seed=s) if self._spec.strategy == "random"
                           else optuna.samplers.TPESampler(seed=s, n_startup_trials=3, multivariate=True)}
        return self._inner[k]

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # seeds come from the trial numbers
        return None


def _sampler(spec: CampaignSpec, seed: int | None) -> Any:
    import optuna

    cls = type("QdlabPerTrialSampler", (_PerTrialSampler, optuna.samplers.BaseSampler), {})
    return cls(spec, seed)


def _default_model_factory(seed_nm: float, seed_mg: float, material: str) -> ForwardModel:
    from qdlab.plan.twin_model import TwinModel

    return TwinModel(seed_nm=seed_nm, seed_mg=seed_mg, material=material)


def _line_key(params: Mapping[str, float], ramp: float) -> str:
    items = {k: round(float(v), 9) for k, v in sorted(params.items()) if k != "cluster_volume_ml"}
    items["ramp_factor"] = round(float(ramp), 9)
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]


def _params_key(params: Mapping[str, float], ramp: float) -> str:
    items = {k: round(float(v), 6) for k, v in sorted(params.items())}
    items["ramp_factor"] = round(float(ramp), 6)
    return json.dumps(items, sort_keys=True)


def _grid_job(job: tuple[ForwardModel, dict[str, float], float]) -> dict[str, Any]:
    model, params, ramp = job
    return model.predict(params, ramp).to_dict()


class Campaign:
    """An ask/tell campaign on an Optuna study. Create with :meth:`create`, reopen with :meth:`load`."""

    def __init__(
        self, study: Any, spec: CampaignSpec, model_factory: ModelFactory | None = None, seed: int | None = None, storage: Any = None
    ) -> None:
        self.study = study
        self.storage = storage
        self.spec = spec
        self._factory = model_factory or _default_model_factory
        self._model: ForwardModel | None = None
        self._seed = seed if seed is not None else spec.seed
        self.space = SearchSpace.default()

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        spec: CampaignSpec,
        *,
        db: Any = None,
        model_factory: ModelFactory | None = None,
        seed: int | None = None,
        scheduler: Any = "serial",
    ) -> Campaign:
        """Create the study; for the ``twin`` strategy enqueue the twin-optimal recipe as the warm start."""
        import optuna

        if spec.strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {spec.strategy!r}; choose one of {', '.join(STRATEGIES)}", field="--strategy")
        if not spec.name or not all(c.isalnum() or c in "-_." for c in spec.name):
            raise InputError(f"campaign names use letters, digits, '-', '_' and '.', got {spec.name!r}", field="name")
        spec.objective()  # validates the target
        if seed is not None:
            spec = dataclasses.replace(spec, seed=int(seed))
        storage = open_storage(db)
        try:
            study = optuna.create_study(study_name=spec.name, storage=storage, direction="minimize", load_if_exists=False)
        except optuna.exceptions.DuplicatedStudyError as exc:
            raise InputError(f"a campaign named {spec.name!r} already exists (see: qdlab campaign status {spec.name})", field="name") from exc
        study.set_user_attr(_SPEC_KEY, spec.to_dict())
        camp = cls(study, spec, model_factory, seed, storage)
        if spec.strategy == "twin":
            from qdlab.plan.inverse import plan_recipe

            try:
                plan = plan_recipe(camp.model, spec.target_nm, max_fwhm_mev=spec.max_fwhm_mev, n_samples=0, scheduler=scheduler)
            except InputError:
                optuna.delete_study(study_name=spec.name, storage=storage)
                raise
            line = dict(plan.params)
            study.set_user_attr(_LINE_KEY, {"params": line, "ramp_factor": plan.ramp_factor})
            study.enqueue_trial(line, user_attrs={"source": "twin warm start", "ramp_factor": plan.ramp_factor, "predicted": plan.predicted})
        return camp

    @classmethod
    def load(cls, name: str, *, db: Any = None, model_factory: ModelFactory | None = None, seed: int | None = None) -> Campaign:
        """Reopen a campaign by name."""
        import optuna

        storage = open_storage(db)
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError as exc:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
            raise InputError(f"no campaign named {name!r}; known: {', '.join(names) or 'none'}", field="name") from exc
        raw = study.user_attrs.get(_SPEC_KEY)
        if raw is None:
            raise InputError(f"study {name!r} was not created by qdlab campaign new", field="name")
        return cls(study, CampaignSpec(**raw), model_factory, seed, storage)

    @property
    def model(self) -> ForwardModel:
        if self._model is None:
            self._model = self._factory(self.spec.seed_nm, self.spec.seed_mg, self.spec.material)
        return self._model

    def _fresh_study(self) -> Any:
        import optuna

        return optuna.load_study(study_name=self.spec.name, storage=self.storage, sampler=_sampler(self.spec, self._seed))

    # ----------------------------------------------------------------- observations
    def observations(self) -> list[tuple[Any, Outcome]]:
        """Completed trials with their measured outcomes."""
        from optuna.trial import TrialState

        out = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            m = t.user_attrs.get("measured")
            if m:
                out.append((t, Outcome.from_mapping(m)))
        return out

    def failures(self) -> list[tuple[Any, str]]:
        """Trials told as failed with ``no-emission`` (data: infeasible), with their reason."""
        from optuna.trial import TrialState

        return [(t, str(t.user_attrs["failed"]["reason"])) for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if isinstance(t.user_attrs.get("failed"), dict)]

    def pending(self) -> list[Any]:
        """Trials asked but not told yet (running), and queued ones not yet asked (waiting)."""
        from optuna.trial import TrialState

        return list(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)))

    # ----------------------------------------------------------------- twin residual model
    def _grid(self, params: Mapping[str, float], ramp: float, scheduler: Any) -> dict[str, Any]:
        """Twin predictions along the feed-volume line through ``params`` (cached in the study)."""
        from qdlab.compute import map_progress

        key = _GRID_PREFIX + _line_key(params, ramp)
        cached = self.study.user_attrs.get(key)
        if cached:
            return cached
        var = self._volume_var(params)
        n = int(value("residual", "grid_points"))
        log_v = np.linspace(math.log(var.low), math.log(var.high), n)
        jobs = [(self.model, {**params, "cluster_volume_ml": float(math.exp(x))}, ramp) for x in log_v]
        outs = map_progress(_grid_job, jobs, scheduler=scheduler, description="twin line")
        grid = {
            "log_volume": log_v.tolist(),
            "pl_peak_nm": [o["pl_peak_nm"] for o in outs],
            "fwhm_mev": [o.get("fwhm_mev") for o in outs],
            "secondary_fraction": [o.get("secondary_fraction") for o in outs],
            "secondary_mass_fraction": [o.get("secondary_mass_fraction") for o in outs],
            "bimodal": [bool(o.get("bimodal")) for o in outs],
        }
        self.study.set_user_attr(key, grid)
        return grid

    def _posterior(self, scheduler: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid posterior over ln(a) with b profiled: returns (ln a grid, b(ln a), weights)."""
        ln_a = np.linspace(-3.0, 3.0, 601)
        s_a = value("residual", "log_volume_scale_sigma")
        s_b = value("residual", "offset_sigma_nm")
        s_y = value("residual", "measurement_sigma_nm")
        resid, sig = [], []
        target = self.spec.target_nm
        # the peak of a bimodal PL is not the seeds' peak (it can be the secondary population's):
        # only single-peaked experiments inform the residual model; with none, the prior (the twin) rules
        obs = [(t, o) for t, o in self.observations() if not o.bimodal]
        # local fit: the residual model corrects scale and offset, not shape, so the experiments closest
        # to the target count most (the nearest few, with a sigma growing with their distance)
        k = int(value("residual", "local_points"))
        scale = value("residual", "local_scale_nm")
        obs = sorted(obs, key=lambda to: abs(to[1].pl_peak_nm - target))[:k]
        for t, o in obs:
            sig.append(s_y * math.sqrt(1.0 + ((o.pl_peak_nm - target) / scale) ** 2))
            ramp = float(t.user_attrs.get("ramp_factor", 1.0))
            g = self._grid(self.space.complete(t.params), ramp, scheduler)
            x = np.clip(ln_a + math.log(t.params["cluster_volume_ml"]), g["log_volume"][0], g["log_volume"][-1])
            resid.append(o.pl_peak_nm - np.interp(x, g["log_volume"], g["pl_peak_nm"]))
        if not resid:
            b = np.zeros_like(ln_a)
            j = ln_a**2 / s_a**2
        else:
            r = np.array(resid)  # (n_obs, n_a)
            wi = 1.0 / np.array(sig)[:, None] ** 2
            b = (wi * r).sum(axis=0) / (wi.sum(axis=0) + 1.0 / s_b**2)
            j = (wi * (r - b) ** 2).sum(axis=0) + ln_a**2 / s_a**2 + b**2 / s_b**2
        w = np.exp(-0.5 * (j - j.min()))
        return ln_a, b, w / w.sum()

    def _volume_var(self, params: Mapping[str, float]) -> Any:
        """The feed-volume variable, its top limited to what the line's rate injects in ``[design] max_injection_h``."""
        import dataclasses

        from qdlab.plan.inverse import max_volume_ml

        var = self.space["cluster_volume_ml"]
        rate = float(self.space.complete(dict(params))["injection_rate_ml_per_h"])
        return dataclasses.replace(var, high=max(max_volume_ml(rate, self.space), var.low * 1.01))

    def _line(self) -> tuple[dict[str, float], float]:
        raw = self.study.user_attrs.get(_LINE_KEY)
        if raw is None:
            raise InputError("this campaign has no twin line (created without the twin strategy)")
        return dict(raw["params"]), float(raw["ramp_factor"])

    def _reachable(self, line: Mapping[str, float], ramp: float, scheduler: Any) -> bool:
        """Does the twin's line (single-peaked points) come within the tolerance of the target?"""
        g = self._grid(line, ramp, scheduler)
        tol = self.spec.objective().wavelength_scale_nm
        return any(
            abs(pk - self.spec.target_nm) <= 2 * tol and not bim
            for pk, bim in zip(g["pl_peak_nm"], g["bimodal"], strict=True)
        ) or any(
            (a - self.spec.target_nm) * (c - self.spec.target_nm) <= 0 and not (ba or bc)
            for a, c, ba, bc in zip(g["pl_peak_nm"], g["pl_peak_nm"][1:], g["bimodal"], g["bimodal"][1:], strict=False)
        )

    def _anchor_log_volume(self, line: Mapping[str, float]) -> float:
        """ln V of the best measured experiment (lowest loss), else of the line's warm start."""
        obj = self.spec.objective()
        obs = self.observations()
        if obs:
            t, _ = min(obs, key=lambda to: obj.loss(to[1]) + (10.0 if to[1].bimodal else 0.0))
            return math.log(t.params["cluster_volume_ml"])
        return math.log(line["cluster_volume_ml"])

    def _propose_twin(self, n: int, scheduler: Any) -> list[tuple[dict[str, float], float, str, dict[str, Any]]]:
        from qdlab.plan import design

        line, ramp = self._line()
        # measured bimodal PL on the current line: apply the next safety move (more oleic acid, slower,
        # more dilute, hotter: package data [[safety_moves]]) and continue on the new line
        raw = self.study.user_attrs.get(_LINE_KEY) or {}
        done = int(raw.get("moves_done", 0))
        moves = design.safety_moves()
        best = self.best()
        hit = best is not None and best["wavelength_error_nm"] <= self.spec.objective().wavelength_scale_nm
        # a recipe that gave no emission is as unsafe as bimodal PL: the line moves on the same way
        unsafe = [t for t, o in self.observations() if o.bimodal] + [t for t, _ in self.failures()]
        for t in unsafe:
            if _line_key(self.space.complete(t.params), float(t.user_attrs.get("ramp_factor", 1.0))) == _line_key(line, ramp):
                if hit:
                    # a single-peaked hit exists: go back to its line rather than move further away
                    bt = self.study.trials[best["trial"]]
                    line = self.space.complete(bt.params)
                    ramp = float(bt.user_attrs.get("ramp_factor", 1.0))
                    self.study.set_user_attr(_LINE_KEY, {"params": line, "ramp_factor": ramp, "moves_done": done})
                    break
                # next move that changes the recipe and keeps the target within the twin's reach on
                # the new line (a move that makes it unreachable is skipped, not applied)
                while done < len(moves):
                    trial_line = dict(line)
                    new_ramp, changed = design.apply_move(moves[done], trial_line, ramp, self.space)
                    done += 1
                    if changed and self._reachable(trial_line, new_ramp, scheduler):
                        line, ramp = trial_line, new_ramp
                        break
                self.study.set_user_attr(_LINE_KEY, {"params": line, "ramp_factor": ramp, "moves_done": done})
                break
        ln_a, b, w = self._posterior(scheduler)
        var = self._volume_var(line)
        log_v = np.linspace(math.log(var.low), math.log(var.high), 2001)
        target = self.spec.target_nm
        i_map = int(np.argmax(w))

        anchor = self._anchor_log_volume(line)

        def best_volume(la: float, bb: float) -> float:
            # among volumes where the corrected twin hits the target (it need not be monotonic), prefer
            # single-peaked predictions, then the one nearest the best experiment so far (trust region)
            x = np.clip(log_v + la, g["log_volume"][0], g["log_volume"][-1])
            err = np.abs(np.interp(x, g["log_volume"], g["pl_peak_nm"]) + bb - target)
            bim = np.interp(x, g["log_volume"], np.asarray(g["bimodal"], dtype=float)) > 0.5
            ok = err <= err.min() + 2.0
            if np.any(ok & ~bim) and np.any(~bim & (err <= max(err.min(), 1.0) + 5.0)):
                ok = ~bim & (err <= err[~bim].min() + 2.0)
            idx = np.flatnonzero(ok)
            j = idx[np.argmin(np.abs(log_v[idx] - anchor))]
            step = value("residual", "max_log_volume_step")
            return float(math.exp(min(max(log_v[j], anchor - step), anchor + step)))

        g = self._grid(line, ramp, scheduler)
        conc = self.space["p_conc_mol_per_l"]
        if best_volume(float(ln_a[i_map]), float(b[i_map])) >= 0.98 * var.high and line["p_conc_mol_per_l"] < conc.high:
            # the corrected twin wants more feed than the syringe holds: concentrate the feed (new line)
            line["p_conc_mol_per_l"] = conc.high
            raw = self.study.user_attrs.get(_LINE_KEY) or {}
            self.study.set_user_attr(_LINE_KEY, {**raw, "params": line, "ramp_factor": ramp})
            g = self._grid(line, ramp, scheduler)
        # pending trials (asked, not told) on this line: their volumes are taken, propose others
        lk = _line_key(line, ramp)
        taken = {
            round(math.log(t.params["cluster_volume_ml"]), 2) for t in self.pending()
            if "cluster_volume_ml" in t.params
            and _line_key(self.space.complete(t.params), float(t.user_attrs.get("ramp_factor", 1.0))) == lk
        }
        picks = [(float(ln_a[i_map]), float(b[i_map]), "twin + residual (MAP)")]
        rng = np.random.default_rng(_trial_seed(self.spec, self._seed, f"draws-{len(self.study.trials)}"))
        for i in rng.choice(len(ln_a), size=4 * (n - 1 + len(taken)) + (8 if taken else 0), p=w):
            picks.append((float(ln_a[i]), float(b[i]), "twin + residual (posterior draw)"))
        out: list[tuple[dict[str, float], float, str, dict[str, Any]]] = []
        seen: set[float] = set(taken)
        for la, bb, src in picks:
            v = best_volume(la, bb)
            key = round(math.log(v), 2)
            if key in seen:
                continue
            seen.add(key)
            x = min(max(math.log(v) + la, g["log_volume"][0]), g["log_volume"][-1])
            pred = {
                "pl_peak_nm": float(np.interp(x, g["log_volume"], g["pl_peak_nm"]) + bb),
                "volume_scale": math.exp(la),
                "offset_nm": bb,
            }
            out.append(({**line, "cluster_volume_ml": var.clip(v)}, ramp, src, pred))
            if len(out) == n:
                break
        return out

    # ----------------------------------------------------------------- ask / tell
    def ask(self, n: int = 1, *, scheduler: Any = "serial") -> list[Suggestion]:
        """Propose ``n`` experiments (queued warm-start trials first)."""

        if n < 1 or n > 50:
            raise InputError(f"ask for 1-50 experiments, got {n}", field="--n")
        with _campaign_lock(self.storage, self.spec.name):
            return self._ask_locked(n, scheduler)

    def _ask_locked(self, n: int, scheduler: Any) -> list[Suggestion]:
        from optuna.trial import TrialState

        study = self._fresh_study()
        self.study = study  # see every trial told or asked so far (other processes included)
        dists = self.space.distributions()
        waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        if self.spec.strategy == "twin" and n > waiting:
            tried_bimodal = {
                _params_key(t.params, float(t.user_attrs.get("ramp_factor", 1.0))) for t, o in self.observations() if o.bimodal
            } | {_params_key(t.params, float(t.user_attrs.get("ramp_factor", 1.0))) for t, _ in self.failures()}
            tried_bimodal |= {_params_key(t.params, float(t.user_attrs.get("ramp_factor", 1.0)))
                              for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
            for params, ramp, src, pred in self._propose_twin(n - waiting, scheduler):
                if _params_key(params, ramp) in tried_bimodal:
                    # the twin line is exhausted (it proposes a recipe already measured bimodal): leave
                    # this slot to TPE, which sees every experiment so far (twin-seeded TPE)
                    continue
                study.enqueue_trial(params, user_attrs={"source": src, "ramp_factor": ramp, "predicted": pred}, skip_if_exists=False)
        out: list[Suggestion] = []
        for _ in range(n):
            trial = study.ask(fixed_distributions=dists)
            params = {k: float(v) for k, v in trial.params.items()}
            ramp = float(trial.user_attrs.get("ramp_factor", 1.0))
            if "ramp_factor" not in trial.user_attrs:
                trial.set_user_attr("ramp_factor", ramp)
            src = str(trial.user_attrs.get("source", "tpe" if self.spec.strategy != "random" else "random"))
            if "source" not in trial.user_attrs:
                trial.set_user_attr("source", src)
            recipe = build_recipe(params, seed_nm=self.spec.seed_nm, seed_mg=self.spec.seed_mg, material=self.spec.material, ramp_factor=ramp)
            out.append(Suggestion(trial.number, params, ramp, recipe, src, trial.user_attrs.get("predicted")))
        return out

    def tell(self, trial: int, outcome: Outcome) -> dict[str, Any]:
        """Record the measured outcome of trial number ``trial``; returns its loss and the campaign's best."""
        from optuna.trial import TrialState

        study = self._fresh_study()
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        if trial not in trials:
            raise InputError(f"campaign {self.spec.name!r} has no trial {trial} (trials: 0-{len(trials) - 1})", field="--trial")
        t = trials[trial]
        if t.state != TrialState.RUNNING:
            raise InputError(f"trial {trial} is {t.state.name.lower()}, not waiting for a result", field="--trial")
        obj = self.spec.objective()
        loss = obj.loss(outcome)
        import optuna

        # a RUNNING trial re-opened in this process (ask and tell may run in different processes)
        live = optuna.trial.Trial(study, t._trial_id)
        live.set_user_attr("measured", outcome.to_dict())
        live.set_user_attr("wavelength_error_nm", obj.wavelength_error_nm(outcome))
        live.set_constraint("bimodal_or_broad", obj.constraint(outcome))
        study.tell(live, loss)
        self.study = study
        return {"trial": trial, "loss": loss, "wavelength_error_nm": obj.wavelength_error_nm(outcome), "feasible": obj.feasible(outcome), "best": self.best()}

    def tell_failure(self, trial: int, reason: str, note: str | None = None) -> dict[str, Any]:
        """Record that trial ``trial`` gave no result, and why (see the module docstring).

        ``reason`` is ``no-emission`` (the product does not emit: the recipe is infeasible, the planner
        avoids it) or ``aborted`` (the run did not finish for reasons outside the recipe: no data).
        """
        import optuna
        from optuna.trial import TrialState

        if reason not in FAILURE_REASONS:
            raise InputError(f"expected one of {', '.join(FAILURE_REASONS)}, got {reason!r}", field="--failed")
        study = self._fresh_study()
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        if trial not in trials:
            raise InputError(f"campaign {self.spec.name!r} has no trial {trial} (trials: 0-{len(trials) - 1})", field="--trial")
        t = trials[trial]
        if t.state != TrialState.RUNNING:
            raise InputError(f"trial {trial} is {t.state.name.lower()}, not waiting for a result", field="--trial")
        live = optuna.trial.Trial(study, t._trial_id)
        live.set_user_attr("failed", {"reason": reason, "note": note})
        if reason == "no-emission":
            # data: complete, infinitely bad, and infeasible (TPE ranks infeasible trials by violation)
            live.set_constraint("failed", FAILED_CONSTRAINT)
            study.tell(live, math.inf)
        else:
            study.tell(live, state=TrialState.FAIL)
        self.study = study
        return {"trial": trial, "failed": reason, "note": note, "learnt": reason == "no-emission", "best": self.best()}

    def best(self) -> dict[str, Any] | None:
        """The best feasible completed trial (lowest loss), or ``None``."""
        obj = self.spec.objective()
        cands = [(obj.loss(o), t, o) for t, o in self.observations() if obj.feasible(o)]
        if not cands:
            return None
        loss, t, o = min(cands, key=lambda c: c[0])
        return {"trial": t.number, "loss": loss, "params": dict(t.params), "measured": o.to_dict(), "wavelength_error_nm": obj.wavelength_error_nm(o)}

    def status(self) -> dict[str, Any]:
        """Everything about the campaign: spec, trials (params, measured, loss), best, hits."""
        obj = self.spec.objective()
        rows = []
        for t in self.study.get_trials(deepcopy=False):
            failed = t.user_attrs.get("failed") if isinstance(t.user_attrs.get("failed"), dict) else None
            rows.append(
                {
                    "trial": t.number,
                    "state": "failed" if failed else t.state.name.lower(),
                    "failure": failed,
                    "source": t.user_attrs.get("source"),
                    "params": dict(t.params),
                    "ramp_factor": t.user_attrs.get("ramp_factor"),
                    "predicted": t.user_attrs.get("predicted"),
                    "measured": t.user_attrs.get("measured"),
                    "loss": None if failed or t.value is None or not math.isfinite(t.value) else t.value,
                    "wavelength_error_nm": t.user_attrs.get("wavelength_error_nm"),
                }
            )
        done = [r for r in rows if r["measured"]]
        tol = obj.wavelength_scale_nm
        hits = [r["trial"] for r in done if (r["wavelength_error_nm"] or 1e9) <= tol and not r["measured"].get("bimodal")]
        out = {
            "campaign": self.spec.to_dict(),
            "n_trials": len(rows),
            "n_measured": len(done),
            "n_failed": sum(1 for r in rows if r["failure"]),
            "n_pending": sum(1 for r in rows if r["state"] in ("running", "waiting")),
            "hits_within_tolerance": hits,
            "tolerance_nm": tol,
            "best": self.best(),
            "trials": rows,
        }
        out["reachable_nm"] = self.reachable_nm()
        return out

    def reachable_nm(self, scheduler: Any = None) -> list[float] | None:
        """Final PL peaks the model predicts on the campaign's current twin line over the whole feed-volume
        range (single-peaked predictions only), as ``[low, high]``; ``None`` without a twin line.

        Computed from the model's grid along the line (cached in the study; computed here when
        ``scheduler`` is given), not from the volumes that happened to be tried.
        """
        raw = self.study.user_attrs.get(_LINE_KEY)
        if raw is None:
            return None
        line, ramp = dict(raw["params"]), float(raw["ramp_factor"])
        g = self.study.user_attrs.get(_GRID_PREFIX + _line_key(line, ramp))
        if g is None:
            if scheduler is None:
                return None
            g = self._grid(line, ramp, scheduler)
        peaks = [pk for pk, bim in zip(g["pl_peak_nm"], g["bimodal"], strict=True) if not bim]
        return [float(min(peaks)), float(max(peaks))] if peaks else None


def list_campaigns(db: Any = None) -> list[dict[str, Any]]:
    """Campaigns in the database with their target and number of trials."""
    import optuna

    out = []
    for s in optuna.get_all_study_summaries(open_storage(db), include_best_trial=False):
        spec = s.user_attrs.get(_SPEC_KEY)
        if spec:
            out.append({"name": s.study_name, "target_nm": spec["target_nm"], "seed_nm": spec["seed_nm"], "strategy": spec["strategy"], "n_trials": s.n_trials})
    return out


__all__ = ["STRATEGIES", "Campaign", "CampaignSpec", "Suggestion", "list_campaigns", "open_storage", "storage_url", "default_storage_url"]
