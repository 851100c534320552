"""The twin adapter: recipe -> scenario mapping, one real twin run (skipped where the twin is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from qdlab.plan.space import SearchSpace

twin = pytest.importorskip("qdlab.twin")
if not hasattr(twin, "simulate") or "overgrowth-1010nm" not in twin.list_scenarios():
    pytest.skip("the digital twin is not available", allow_module_level=True)

from qdlab.plan.twin_model import TwinModel  # noqa: E402


def test_scenario_mapping_reproduces_paper_feed():
    m = TwinModel(seed_nm=1010.0, seed_mg=20.0)
    p = SearchSpace.default().defaults()
    sc = m.scenario(p)
    assert sc.feed.volume_ml == pytest.approx(12.29)
    assert sc.feed.p_mmol == pytest.approx(0.999, abs=2e-3)  # 290 uL TMSP
    assert sc.feed.cd_mmol == pytest.approx(3.0, abs=5e-3)  # 6 mL of 0.50 M Cd(oleate)2
    assert sc.protocol.duration_min == pytest.approx(12.29 / p["injection_rate_ml_per_h"] * 60.0)
    assert sc.protocol.aliquot_times_min[0] == 0.0 and sc.protocol.aliquot_times_min[-1] == sc.protocol.duration_min
    ramped = m.scenario(p, ramp_factor=1.5)
    rates = [r for _, r in ramped.protocol.injection_profile]
    assert rates[0] < rates[-1] and np.all(np.diff(rates) > 0)


def test_reference_recipe_is_the_twins():
    """The planner's reference recipe and rate-scaling seeds are read from the twin's reference scenario."""
    from qdlab.plan import design
    from qdlab.plan.space import reference_scenario_name

    sc = twin.load_scenario(reference_scenario_name())
    d = SearchSpace.default().defaults()
    assert d["injection_rate_ml_per_h"] == sc.protocol.injection_rate_ml_per_h == 8.0  # twin refit 2026-12-04
    assert d["oleic_acid_mmol"] == sc.reactor.oleic_acid_mmol == 0.4
    assert d["cluster_volume_ml"] == sc.feed.volume_ml == pytest.approx(12.29)
    assert d["temperature_c"] == sc.protocol.temperature_c == 180.0
    # the reference seeds (20 mg at 1010 nm) scale by exactly 1; twice the mass doubles the rate
    assert design.rate_scale(sc.seeds.mass_mg, sc.seeds.emission_nm) == pytest.approx(1.0)
    assert design.rate_scale(2 * sc.seeds.mass_mg, sc.seeds.emission_nm) == pytest.approx(2.0)
    # the planner's default recipe on the reference seeds is the scenario itself (same feed, rate, acid)
    m = TwinModel(seed_nm=sc.seeds.emission_nm, seed_mg=sc.seeds.mass_mg)
    mine = m.scenario(d)
    assert mine.protocol.injection_rate_ml_per_h == sc.protocol.injection_rate_ml_per_h
    assert mine.reactor.oleic_acid_mmol == sc.reactor.oleic_acid_mmol
    assert mine.feed.volume_ml == sc.feed.volume_ml


def test_secondary_mass_fraction_is_reported():
    """Reference recipe: secondary QDs are most of the number but a smaller share of the material."""
    m = TwinModel(seed_nm=1010.0)
    out = m.predict(SearchSpace.default().defaults())
    assert out.secondary_mass_fraction is not None
    # twin as of 2026-12-04: number fraction 0.94, mass fraction 0.69 at the final aliquot (12.29 mL, 8 mL/h)
    assert out.secondary_fraction == pytest.approx(0.94, abs=0.03)
    assert out.secondary_mass_fraction == pytest.approx(0.69, abs=0.05)
    assert out.secondary_risk == out.secondary_mass_fraction < out.secondary_fraction
    # all 12.29 mL injected (the scenario stops at 60 min, after 8 mL: 1277 nm, the paper's final PL)
    assert not out.bimodal and out.pl_peak_nm == pytest.approx(1329.0, abs=10.0)


def test_predict_and_parameters():
    m = TwinModel(seed_nm=1010.0)
    p = SearchSpace.default().defaults()
    out = m.predict({**p, "cluster_volume_ml": 2.0})
    assert out.pl_peak_nm > 900.0 and 0.0 <= out.secondary_fraction <= 1.0
    nom = m.nominal_parameters()
    assert set(nom) >= {"fusion_probability", "cluster_dissolution_per_s"}
    draws = m.parameter_samples(3, np.random.default_rng(0))
    assert len(draws) == 3 and all(d.keys() == nom.keys() for d in draws)
    m2 = m.with_parameters({"fusion_probability": 2 * nom["fusion_probability"]})
    assert m2.nominal_parameters()["fusion_probability"] == pytest.approx(2 * nom["fusion_probability"])


def test_unknown_material_refused():
    from qdlab.data.errors import InputError

    with pytest.raises(InputError, match="Cd3P2"):
        TwinModel(seed_nm=1010.0, material="InP")


def test_calibration_file_drives_the_samples(tmp_path):
    import json

    from qdlab.data.errors import FormatError
    from qdlab.plan.twin_model import Calibration

    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"values": {"params.fusion_probability": 2e-6}, "covariance": [[1e-14]]}))
    cal = Calibration.from_file(f)
    assert cal.names == ("fusion_probability",)
    m = TwinModel(seed_nm=1010.0, calibration=cal)
    draws = [d["fusion_probability"] for d in m.parameter_samples(400, np.random.default_rng(1))]
    assert np.mean(draws) == pytest.approx(2e-6, rel=0.02)
    assert np.std(draws) == pytest.approx(1e-7, rel=0.1)
    f.write_text(json.dumps({"values": {"a": 1.0}, "covariance": [[1.0, 0.0]]}))
    with pytest.raises(FormatError, match="covariance"):
        Calibration.from_file(f)
