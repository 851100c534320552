"""Protocol steps: injection profiles, heat/hold temperature profiles, aliquot withdrawal, dilution."""

from __future__ import annotations

import numpy as np
import pytest

from qdlab.twin import load_scenario, simulate


def test_constant_profile_equals_constant_rate():
    sc = load_scenario("overgrowth-1010nm")
    a = simulate(sc)
    b = simulate(sc.with_overrides({"protocol.injection_profile": [[0.0, sc.protocol.injection_rate_ml_per_h]]}))
    assert [x.pl_peak_nm for x in a.aliquots] == pytest.approx([x.pl_peak_nm for x in b.aliquots], rel=1e-12)


def test_ramped_profile_delivers_the_stated_volume():
    sc = load_scenario("overgrowth-1010nm").with_overrides(
        {"protocol.injection_profile": [[0.0, 1.0], [20.0, 3.0], [40.0, 5.0]], "protocol.aliquot_volume_ml": 0.0})
    res = simulate(sc)
    expected_ml = (1.0 + 3.0 + 5.0) * 20 / 60
    assert res.aliquots[-1].volume_ml == pytest.approx(6.0 + expected_ml, rel=1e-9)
    fed_mmol = res.budget_mmol()["fed"]
    assert fed_mmol == pytest.approx(expected_ml / 12.29 * 0.5, rel=1e-9)


def test_pump_stops_when_the_syringe_is_empty():
    sc = load_scenario("overgrowth-1010nm").with_overrides(
        {"protocol.injection_rate_ml_per_h": 60.0, "protocol.aliquot_volume_ml": 0.0})
    res = simulate(sc)
    assert res.aliquots[-1].volume_ml == pytest.approx(6.0 + 12.29, rel=1e-9)


def test_aliquots_remove_volume_and_material():
    sc = load_scenario("overgrowth-1010nm").with_overrides({"protocol.injection_rate_ml_per_h": 0.0,
                                                            "protocol.aliquot_volume_ml": 0.5})
    res = simulate(sc)
    v = np.array([a.volume_ml for a in res.aliquots])
    assert v[0] == pytest.approx(6.0) and np.allclose(np.diff(v), -0.5)
    assert res.mass_balance_error < 1e-8


def test_heat_and_hold_profile():
    sc = load_scenario("cluster-heating-180c")
    cold = sc.with_overrides({"protocol.temperature_profile": [[0.0, 120.0], [30.0, 180.0], [90.0, 180.0]]})
    res = simulate(cold)
    temps = [a.temperature_c for a in res.aliquots]
    assert temps[0] == pytest.approx(120 + 60 * 1 / 30)  # ramp 2 C/min, first aliquot at 1 min
    assert temps[-1] == pytest.approx(180.0)
    # slower chemistry while heating: MSCs peak later than at a constant 180 C
    def peak_time(r):
        msc = r.records[:, 4] / r.records[:, 2]
        return r.aliquots[int(np.argmax(msc))].time_min
    assert peak_time(res) > peak_time(simulate(sc))
    steps = [s["step"] for s in cold.protocol.steps()]
    assert steps[:3] == ["heat", "inject", "aliquot"] and "hold" in steps
