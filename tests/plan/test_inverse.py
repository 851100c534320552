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
    m = standin_cls(safe_rate_ml_per_h=2.0)
    res = plan_recipe(m, 1250.0, n_samples=0)
    assert res.params["injection_rate_ml_per_h"] <= 2.0
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
