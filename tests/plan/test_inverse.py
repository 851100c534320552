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
