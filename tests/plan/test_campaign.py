from __future__ import annotations

import dataclasses
import json
import math

import optuna
import pytest

from qdlab.data.errors import InputError
from qdlab.plan.campaign import Campaign, CampaignSpec, storage_url
from qdlab.plan.objective import Outcome

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _factory(model):
    return lambda seed_nm, seed_mg, material: dataclasses.replace(model, seed_nm=seed_nm, seed_mg=seed_mg)


def test_twin_campaign_converges_on_biased_lab(tmp_path, standin, standin_cls):
    """The lab keeps 40 % more feed on the seeds than the planner's model thinks: the residual model finds it."""
    lab = standin_cls(efficiency=0.21)
    db = f"sqlite:///{tmp_path / 'c.campaigns.sqlite3'}"
    spec = CampaignSpec(name="t1", target_nm=1320.0, seed_nm=1010.0, seed_mg=20.0)
    Campaign.create(spec, db=db, model_factory=_factory(standin), seed=1)
    errors = []
    for _ in range(4):
        camp = Campaign.load("t1", db=db, model_factory=_factory(standin), seed=1)  # a fresh process each time
        (s,) = camp.ask()
        out = lab.predict(s.params, s.ramp_factor)
        res = camp.tell(s.trial, out)
        errors.append(res["wavelength_error_nm"])
    assert errors[0] > 15.0  # the warm start is off: the model is biased
    assert min(errors[1:]) < 5.0  # one measurement fixes the volume scale
    st = Campaign.load("t1", db=db, model_factory=_factory(standin)).status()
    assert st["n_measured"] == 4 and st["hits_within_tolerance"]
    assert st["best"]["wavelength_error_nm"] == pytest.approx(min(errors))


def test_batch_ask_is_diverse_and_tell_validates(standin):
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="b", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=3)
    first = camp.ask(n=1)[0]
    camp.tell(first.trial, Outcome(pl_peak_nm=1230.0, fwhm_mev=150.0))
    batch = camp.ask(n=3)
    vols = {round(s.params["cluster_volume_ml"], 3) for s in batch}
    assert len(batch) == 3 and len(vols) == 3
    with pytest.raises(InputError, match="not waiting"):
        camp.tell(first.trial, Outcome(pl_peak_nm=1230.0))
    with pytest.raises(InputError, match="no trial"):
        camp.tell(99, Outcome(pl_peak_nm=1230.0))


def test_tpe_and_random_campaigns(standin):
    for strategy in ("tpe", "random"):
        storage = optuna.storages.InMemoryStorage()
        spec = CampaignSpec(name=strategy, target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0, strategy=strategy)
        camp = Campaign.create(spec, db=storage, seed=0)
        for _ in range(5):
            (s,) = camp.ask()
            camp.tell(s.trial, standin.predict(s.params, s.ramp_factor))
        st = camp.status()
        assert st["n_measured"] == 5
        assert all(r["source"] == ("random" if strategy == "random" else "tpe") for r in st["trials"])


def test_bimodal_is_infeasible_and_duplicate_names(standin):
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="d", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin))
    (s,) = camp.ask()
    camp.tell(s.trial, Outcome(pl_peak_nm=1250.0, bimodal=True))
    assert camp.best() is None
    with pytest.raises(InputError, match="already exists"):
        Campaign.create(spec, db=storage, model_factory=_factory(standin))
    with pytest.raises(InputError, match="no campaign"):
        Campaign.load("nope", db=storage)


def test_storage_url_keeps_record_db_apart(tmp_path):
    assert storage_url(f"sqlite:///{tmp_path}/qdlab.db").endswith("qdlab.campaigns.sqlite3")
    assert storage_url(f"sqlite:///{tmp_path}/x.campaigns.sqlite3").endswith("x.campaigns.sqlite3")
    with pytest.raises(InputError):
        storage_url("mysql://u@h/db")
    with pytest.raises(InputError):
        storage_url("not a url")


@pytest.mark.slow
def test_batch_ask_through_dask(standin):
    """Batched twin pre-screening runs through qdlab.compute on a real (in-process) Dask cluster."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        storage = optuna.storages.InMemoryStorage()
        spec = CampaignSpec(name="dask", target_nm=1280.0, seed_nm=1010.0, seed_mg=20.0)
        camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=5, scheduler=client)
        first = camp.ask(scheduler=client)[0]
        camp.tell(first.trial, Outcome(pl_peak_nm=1250.0, fwhm_mev=140.0))
        batch = camp.ask(n=2, scheduler=client)
        assert len(batch) == 2
        assert batch[0].predicted["pl_peak_nm"] == pytest.approx(1280.0, abs=3.0)


def test_measured_bimodal_moves_the_line(standin):
    """A bimodal measurement applies the next safety move (package data) to the twin line."""
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="m", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=2)
    (s0,) = camp.ask()
    camp.tell(s0.trial, Outcome(pl_peak_nm=1240.0, bimodal=True))
    (s1,) = camp.ask()
    before = {**s0.params, "ramp_factor": s0.ramp_factor}
    after = {**s1.params, "ramp_factor": s1.ramp_factor}
    changed = {k for k in before if k != "cluster_volume_ml" and before[k] != after[k]}
    assert changed  # ramp dropped first (the stand-in's warm start is ramped)
    assert s1.ramp_factor == 1.0


def test_never_repeats_a_bimodal_recipe(standin, standin_cls):
    """A lab that nucleates at any rate: the twin line runs dry and TPE takes over, without repeats."""
    lab = standin_cls(safe_rate_ml_per_h=1e-3)
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="r", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=4)
    seen = []
    for _ in range(8):
        (s,) = camp.ask()
        key = (tuple(round(v, 6) for v in s.params.values()), round(s.ramp_factor, 6))
        assert key not in seen
        seen.append(key)
        out = lab.predict(s.params, s.ramp_factor)
        assert out.bimodal
        camp.tell(s.trial, out)
    assert any(r["source"] == "tpe" for r in camp.status()["trials"])


# ------------------------------------------------------------------- failures, pending trials, seeds
def _key(s) -> tuple:
    return (tuple(sorted((k, round(v, 6)) for k, v in s.params.items())), round(s.ramp_factor, 6))


def test_no_emission_failure_is_data_the_planner_avoids(standin):
    """'no-emission' is a complete, infeasible trial: never best, never proposed again, the twin line moves."""
    from optuna.samplers._tpe.sampler import _split_trials

    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="f", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=2)
    (s0,) = camp.ask()
    res = camp.tell_failure(s0.trial, "no-emission", note="clear solution, no PL")
    assert res["learnt"] and res["best"] is None
    frozen = camp.study.trials[s0.trial]
    assert frozen.state == optuna.trial.TrialState.COMPLETE and frozen.value == float("inf")
    st = camp.status()
    assert st["n_failed"] == 1 and st["n_measured"] == 0
    assert st["trials"][0]["state"] == "failed" and st["trials"][0]["failure"]["reason"] == "no-emission"
    assert st["trials"][0]["loss"] is None
    (s1,) = camp.ask()
    assert _key(s1) != _key(s0)
    # like bimodal PL: the next safety move changes the line (the stand-in's warm start is ramped)
    assert s1.ramp_factor == 1.0 and s0.ramp_factor != 1.0
    # Optuna's own TPE split ranks it below a measured (even poor, bimodal) experiment: a violated constraint
    camp.tell(s1.trial, Outcome(pl_peak_nm=1400.0, bimodal=True))
    below, above = _split_trials(camp.study, camp.study.get_trials(deepcopy=False), n_below=1)
    assert [t.number for t in below] == [s1.trial] and [t.number for t in above] == [s0.trial]
    with pytest.raises(InputError, match="not waiting"):
        camp.tell_failure(s0.trial, "aborted")
    (s2,) = camp.ask()
    with pytest.raises(InputError, match="no-emission, aborted"):
        camp.tell_failure(s2.trial, "exploded")


def test_aborted_is_not_data_and_may_be_asked_again(standin):
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="a", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=2)
    (s0,) = camp.ask()
    res = camp.tell_failure(s0.trial, "aborted", note="syringe clogged")
    assert not res["learnt"]
    assert camp.study.trials[s0.trial].state == optuna.trial.TrialState.FAIL
    (s1,) = camp.ask()
    # nothing was learnt about the recipe: the twin still wants it (its grid solution of the warm start's volume)
    assert {k: v for k, v in s1.params.items() if k != "cluster_volume_ml"} == {
        k: v for k, v in s0.params.items() if k != "cluster_volume_ml"}
    assert s1.params["cluster_volume_ml"] == pytest.approx(s0.params["cluster_volume_ml"], rel=2e-3)
    assert s1.ramp_factor == s0.ramp_factor
    assert camp.status()["trials"][0]["failure"] == {"reason": "aborted", "note": "syringe clogged"}


@pytest.mark.parametrize("strategy", ["twin", "tpe", "random"])
def test_pending_trials_are_never_proposed_again(standin, strategy):
    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="p", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0, strategy=strategy)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=0)
    first = camp.ask()[0]
    camp.tell(first.trial, standin.predict(first.params, first.ramp_factor))
    seen = []
    for _ in range(5):  # asked, never told
        (s,) = Campaign.load("p", db=storage, model_factory=_factory(standin)).ask()
        seen.append(_key(s))
    assert len(set(seen)) == 5, seen
    assert camp.status()["n_pending"] == 5


@pytest.mark.parametrize("strategy", ["twin", "tpe", "random"])
def test_seeded_campaigns_are_reproducible(standin, strategy):
    def drive(seed: int) -> list[tuple]:
        storage = optuna.storages.InMemoryStorage()
        spec = CampaignSpec(name="s", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0, strategy=strategy)
        camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=seed)
        keys = []
        for n in (1, 1, 2, 1, 1):
            batch = Campaign.load("s", db=storage, model_factory=_factory(standin)).ask(n=n)  # seed from the study
            keys += [_key(s) for s in batch]
            for s in batch:
                camp.tell(s.trial, standin.predict(s.params, s.ramp_factor))
        return keys

    a, b = drive(7), drive(7)
    assert a == b
    if strategy != "twin":  # the twin's MAP proposals do not depend on the seed; random draws do
        assert drive(8) != a


ASKER = """
import sys, json
from qdlab.plan.campaign import Campaign
camp = Campaign.load(sys.argv[2], db=sys.argv[1])
print(json.dumps([s.params for s in camp.ask()]))
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("strategy", ["random", pytest.param("tpe", marks=pytest.mark.slow)])
def test_six_concurrent_asks_propose_six_recipes(tmp_path, request, backend, strategy):
    """Six processes ask at once on one campaign (no tells): six different recipes."""
    import subprocess
    import sys

    db = f"sqlite:///{tmp_path / 'c.campaigns.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    spec = CampaignSpec(name="six", target_nm=1250.0, seed_nm=1010.0, seed_mg=20.0, strategy=strategy)
    Campaign.create(spec, db=db, seed=1)
    procs = [subprocess.Popen([sys.executable, "-c", ASKER, db, "six"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-1500:] for _, e in outs]
    proposals = [tuple(sorted(json.loads(o)[0].items())) for o, _ in outs]
    assert len(set(proposals)) == 6
    st = Campaign.load("six", db=db).status()
    assert st["n_trials"] == 6 and st["n_pending"] == 6


def test_twin_lines_never_ask_for_a_day_long_injection(standin):
    """A slowed line (0.5 mL/h, as after 'slower' safety moves) explores and proposes only feeds it injects
    within [design] max_injection_h (12 h: 6 mL), not the 40 mL (80 h) the variable's bound allows."""
    from qdlab.plan.campaign import _GRID_PREFIX, _LINE_KEY
    from qdlab.plan.space import value

    storage = optuna.storages.InMemoryStorage()
    spec = CampaignSpec(name="slow", target_nm=1150.0, seed_nm=1010.0, seed_mg=20.0)
    camp = Campaign.create(spec, db=storage, model_factory=_factory(standin), seed=3)
    (warm,) = camp.ask()  # the queued warm start (the planner's recipe at its own rate)
    camp.tell(warm.trial, Outcome(pl_peak_nm=1120.0, fwhm_mev=120.0))
    raw = camp.study.user_attrs[_LINE_KEY]
    camp.study.set_user_attr(_LINE_KEY, {**raw, "params": {**raw["params"], "injection_rate_ml_per_h": 0.5}})
    hours = value("design", "max_injection_h")
    twin = [s for s in camp.ask(n=2) if s.source.startswith("twin")]
    assert twin
    for s in twin:
        assert s.params["injection_rate_ml_per_h"] == 0.5
        assert s.params["cluster_volume_ml"] <= 0.5 * hours * (1 + 1e-9)
    tops = [math.exp(v["log_volume"][-1]) for k, v in camp.study.user_attrs.items() if k.startswith(_GRID_PREFIX)]
    assert any(t == pytest.approx(0.5 * hours) for t in tops)  # the slow line's twin grid stops at 6 mL
