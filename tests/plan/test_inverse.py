from __future__ import annotations

import pytest

from qdlab.data.errors import InputError
from qdlab.plan.inverse import plan_recipe


def test_hits_target_on_standin(standin):
    res = plan_recipe(standin, 1300.0, n_samples=8)
    assert abs(res.predicted["pl_peak_nm"] - 1300.0) < 1.0
    # the recipe re-run on the model gives the same peak (no hidden state)
    again = standin.predict(res.params, res.ramp_factor)
    assert again.pl_peak_nm == pytest.approx(res.predicted["pl_peak_nm"])
    assert res.predicted["pl_peak_nm_std"] > 0
    assert res.recipe["cluster_solution"]["volume_ml"] == pytest.approx(res.params["cluster_volume_ml"])
    assert res.recipe["aliquot_times_min"][0] == 0.0
    assert res.twin_runs < 100


def test_volume_matches_mass_balance(standin):
    """The stand-in's efficiency equals the design default, so Brent must land on the mass-balance volume."""
    from qdlab.plan import design

    res = plan_recipe(standin, 1250.0, n_samples=0)
    v = design.volume_for_target_ml(20.0, 1010.0, 1250.0, res.params["p_conc_mol_per_l"])
    sec = res.predicted["secondary_fraction"]
    assert res.params["cluster_volume_ml"] * (1 - sec) == pytest.approx(v, rel=5e-3)


def test_rate_halved_until_safe(standin_cls):
    from qdlab.plan.space import SearchSpace

    ref = SearchSpace.default()["injection_rate_ml_per_h"].default  # the twin's reference rate
    m = standin_cls(safe_rate_ml_per_h=0.75 * ref)  # one halving is needed (and enough)
    res = plan_recipe(m, 1250.0, n_samples=0)
    assert res.params["injection_rate_ml_per_h"] == pytest.approx(0.5 * ref)
    assert not res.predicted["bimodal"]
    assert any("rate halved" in n for n in res.notes)


def test_too_blue_is_refused(standin):
    with pytest.raises(InputError, match="etching"):
        plan_recipe(standin, 800.0)


def test_out_of_reach_red(standin):
    with pytest.raises(InputError, match="out of reach"):
        plan_recipe(standin, 2400.0)


def test_reason_when_only_a_risky_recipe_exists(standin_cls):
    """Renucleation at any rate: the plan is returned, flagged with a reason (not silently 'safe')."""
    m = standin_cls(safe_rate_ml_per_h=0.01)
    res = plan_recipe(m, 1250.0, n_samples=0)
    assert res.predicted["bimodal"]
    assert res.reason and "bimodal" in res.reason
    ok = plan_recipe(standin_cls(), 1250.0, n_samples=0)
    assert ok.reason is None


def _limit(monkeypatch, limit: float) -> None:
    """Set ``[design] max_secondary_mass_fraction`` for one test."""
    import qdlab.plan.inverse as inv

    real = inv.value
    monkeypatch.setattr(inv, "value", lambda s, k: limit if k == "max_secondary_mass_fraction" else real(s, k))


def test_secondary_limit_acts_on_the_mass_fraction(standin_cls, monkeypatch):
    """The risk limit reads the secondary *mass* fraction, not the number fraction (small nuclei)."""
    from qdlab.plan.space import SearchSpace

    ref = SearchSpace.default()["injection_rate_ml_per_h"].default
    # at the reference rate: number fraction 0.25 (bimodal threshold of the stand-in raised out of the way)
    _limit(monkeypatch, 0.2)
    few_heavy = standin_cls(safe_rate_ml_per_h=ref, mass_share=0.4)  # mass fraction 0.10 < 0.2: safe
    res = plan_recipe(dataclass_replace_bimodal(few_heavy), 1250.0, n_samples=0)
    assert res.predicted["secondary_fraction"] > 0.2 > res.predicted["secondary_mass_fraction"]
    assert res.reason is None and not any("secondary mass fraction" in n for n in res.notes)
    heavy = standin_cls(safe_rate_ml_per_h=ref, mass_share=2.0)  # mass fraction 0.5 > 0.2: moves applied
    res2 = plan_recipe(dataclass_replace_bimodal(heavy), 1250.0, n_samples=0)
    assert any("secondary mass fraction 0.50" in n for n in res2.notes)
    assert res2.predicted["secondary_mass_fraction"] <= 0.2  # the rate halving fixed it


def dataclass_replace_bimodal(model):
    """Wrap the stand-in so that it never reports bimodal PL (only the secondary limit can act)."""
    import dataclasses

    class NoBimodal:
        seed_nm, seed_mg, material = model.seed_nm, model.seed_mg, model.material

        def predict(self, params, ramp_factor=1.0):
            return dataclasses.replace(model.predict(params, ramp_factor), bimodal=False)

        def parameter_samples(self, n, rng):
            return model.parameter_samples(n, rng)

        def nominal_parameters(self):
            return model.nominal_parameters()

        def with_parameters(self, values):
            return dataclass_replace_bimodal(model.with_parameters(values))

    return NoBimodal()


def _answer(res) -> dict:
    """Everything a plan answers, without its wall-clock duration (a measurement, not part of the answer)."""
    d = res.to_dict()
    d.pop("elapsed_s")
    return d


def test_same_call_twice_gives_the_same_answer(standin):
    """No wall-clock budget: the sample count is fixed and the draws are seeded (issue 21 item 7)."""
    a = plan_recipe(standin, 1300.0)
    b = plan_recipe(standin, 1300.0)
    assert _answer(a) == _answer(b)
    assert a.predicted["samples"] == 24  # package data [design] uncertainty_samples, not what a time budget allowed
    c = plan_recipe(standin, 1300.0, rng_seed=1)
    assert c.predicted["pl_peak_nm_std"] != a.predicted["pl_peak_nm_std"]  # the seed is what fixes the draws


def test_reachable_range_is_the_models_whole_range(standin):
    """reachable_nm comes from the model over the whole feed and rate range, not from the search's scan."""
    from qdlab.plan.space import SearchSpace

    space = SearchSpace.default()
    vol, rate = space["cluster_volume_ml"], space["injection_rate_ml_per_h"]
    a = plan_recipe(standin, 1300.0, n_samples=0)
    # independent of where the search starts: another starting rate, another target (another scan)
    b = plan_recipe(standin, 1300.0, n_samples=0, params={"injection_rate_ml_per_h": 2.0})
    c = plan_recipe(standin, 1100.0, n_samples=0)
    assert a.reachable_nm == b.reachable_nm == c.reachable_nm
    # the stand-in's peak rises with the feed and (above its safe rate) falls with the rate: the extremes
    # are the model's own predictions at the corners of the feed x rate box
    import numpy as np

    from qdlab.plan.space import value

    fixed = {k: a.params[k] for k in ("p_conc_mol_per_l", "temperature_c", "oleic_acid_mmol")}
    lo = standin.predict({**fixed, "cluster_volume_ml": vol.low, "injection_rate_ml_per_h": rate.low})
    # the reddest end: the largest feed that each rate injects within [design] max_injection_h (12 h: a
    # 40 mL feed at 0.25 mL/h, 160 h, is not a recipe), over the grid's rates
    hours = value("design", "max_injection_h")
    vols = np.geomspace(vol.low, vol.high, int(value("design", "reach_volume_points")))
    rates = np.geomspace(rate.low, rate.high, int(value("design", "reach_rate_points")))
    allowed = [(float(v), float(r)) for v in vols for r in rates if v <= r * hours * (1 + 1e-9)]
    assert len(allowed) < vols.size * rates.size and all(v / r <= hours * (1 + 1e-9) for v, r in allowed)
    outs = [standin.predict({**fixed, "cluster_volume_ml": v, "injection_rate_ml_per_h": r}) for v, r in allowed]
    hi = max(o.pl_peak_nm for o in outs if not o.bimodal)  # single-peaked predictions
    assert a.reachable_nm[1] == pytest.approx(hi)
    # the bluest single-peaked end: the smallest feed at some rate (a faster one loses a little feed to nuclei)
    dense = [standin.predict({**fixed, "cluster_volume_ml": vol.low, "injection_rate_ml_per_h": float(r)})
             for r in np.geomspace(rate.low, rate.high, 200)]
    assert min(o.pl_peak_nm for o in dense if not o.bimodal) - 1e-9 <= a.reachable_nm[0] <= lo.pl_peak_nm
    # wider than what the search scanned for a nearby target (it stops at the first crossing)
    assert c.reachable_nm[1] > c.predicted["pl_peak_nm"] + 150.0


def test_reachable_range_on_the_twin_is_reproducible():
    from qdlab.plan.inverse import reachable_range_nm
    from qdlab.plan.twin_model import TwinModel

    m = TwinModel(seed_nm=1010.0, seed_mg=20.0)
    (lo, hi), runs = reachable_range_nm(m, {"injection_rate_ml_per_h": 8.0})
    (lo2, hi2), _ = reachable_range_nm(m, {"injection_rate_ml_per_h": 1.0, "cluster_volume_ml": 3.0})
    assert (lo, hi) == (lo2, hi2)
    assert runs == 11  # 5 volumes x 3 rates less the 4 corners that inject for longer than 12 h
    # the smallest feed barely grows the seeds; the largest grows them far to the red
    assert lo < 1100.0 < 1400.0 < hi


def test_threads_give_the_serial_answer_on_the_twin_also_after_a_safety_move():
    # "threads" starts the reachable-range grid on the first recipe line while the search runs; the answer
    # must be the serial one, both when the final recipe stays on that line and when a safety move changes
    # it (then the grid is rerun on the new line, not taken from the speculative run)
    from qdlab.plan.twin_model import TwinModel

    m = TwinModel(seed_nm=1010.0, seed_mg=20.0)
    for target in (1150.0, 1300.0):
        a = plan_recipe(m, target, n_samples=4, scheduler="serial")
        b = plan_recipe(m, target, n_samples=4, scheduler="threads")
        assert _answer(a) == _answer(b), target


def test_speculative_grid_is_used_only_on_its_own_line(standin, monkeypatch):
    from qdlab.plan import inverse

    calls: list[dict[str, float]] = []
    real = inverse.reachable_range_nm

    def counting(model, params, **kw):
        calls.append(dict(params))
        return real(model, params, **kw)

    monkeypatch.setattr(inverse, "reachable_range_nm", counting)
    from qdlab.plan.space import SearchSpace

    space = SearchSpace.default()
    base = space.defaults()
    with inverse._SpeculativeReach(standin, base, space, "threads") as grid:
        same = grid.get({**base, "cluster_volume_ml": 7.0, "injection_rate_ml_per_h": 1.0})
        assert len(calls) == 1  # the background run only: volume and rate do not define the line
        other = grid.get({**base, "oleic_acid_mmol": base["oleic_acid_mmol"] + 0.5})
        assert len(calls) == 2  # another line: computed afresh
    assert same == real(standin, base, space=space)
    assert other == real(standin, {**base, "oleic_acid_mmol": base["oleic_acid_mmol"] + 0.5}, space=space)


def test_the_reported_prediction_is_the_converged_twins_not_the_screenings():
    # the search runs on the twin's screening form (Strang splitting); the prediction reported for the recipe it
    # finds is the default (converged) twin's, and it lands within the planner's tolerance of the target
    from qdlab.plan.twin_model import TwinModel

    m = TwinModel(seed_nm=1010.0, seed_mg=20.0)
    assert m.screening().splitting == "strang" and m.splitting == "default"
    with pytest.raises(InputError, match="splitting"):
        TwinModel(seed_nm=1010.0, splitting="rk4")
    res = plan_recipe(m, 1150.0, n_samples=4)
    again = m.predict(res.params, res.ramp_factor)
    assert res.predicted["pl_peak_nm"] == again.pl_peak_nm
    assert res.predicted["fwhm_mev"] == again.fwhm_mev
    screened = m.screening().predict(res.params, res.ramp_factor)
    # the screening form agrees with the converged twin within a nanometre here (docs/splitting.md)
    assert abs(screened.pl_peak_nm - again.pl_peak_nm) < 1.0
    assert abs(res.predicted["pl_peak_nm"] - 1150.0) < 15.0


def test_a_screening_form_that_disagrees_is_overruled_and_said(standin_cls):
    # a screening form whose growth efficiency is 30 % off: the search lands on its recipe, the reported
    # prediction is the model's own for that recipe (off target), and the plan says both
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Screened(standin_cls):
        def screening(self):
            return dataclasses.replace(self, efficiency=self.efficiency * 1.3)

    m = Screened()
    res = plan_recipe(m, 1200.0, n_samples=0)
    truth = m.predict(res.params, res.ramp_factor)
    assert res.predicted["pl_peak_nm"] == truth.pl_peak_nm
    assert abs(m.screening().predict(res.params, res.ramp_factor).pl_peak_nm - 1200.0) < 1.0  # found on the screen
    assert truth.pl_peak_nm < 1200.0 - 15.0  # the model grows the seeds less: off target
    assert any("screening search and the converged twin disagree" in n for n in res.notes)
    assert res.reason and "more than 15 nm from the target" in res.reason
