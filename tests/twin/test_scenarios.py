"""Scenario loading, validation and overrides."""

from __future__ import annotations

import pytest

from qdlab.data.errors import InputError
from qdlab.twin import list_scenarios, load_scenario

EXPECTED = {"cluster-heating-180c", "overgrowth-965nm", "overgrowth-1010nm", "overgrowth-1102nm", "overgrowth-1145nm",
            "hot-injection-965nm", "hot-injection-1010nm", "hot-injection-1102nm", "hot-injection-1145nm"}


def test_builtin_scenarios_listed_and_valid():
    names = set(list_scenarios())
    assert EXPECTED <= names
    for n in names:
        assert load_scenario(n).name == n


def test_feed_is_phosphorus_limited():
    s = load_scenario("overgrowth-1010nm")
    assert s.feed is not None
    assert s.feed.units_mmol == pytest.approx(0.5)  # 1.0 mmol P / 2


def test_one_shared_parameter_set_across_overgrowths():
    sc = [load_scenario(f"overgrowth-{w}nm") for w in (965, 1010, 1102, 1145)]
    # per batch only the seeds differ: no kinetic overrides, same reactor, feed and protocol
    for s in sc:
        assert s.params == {}
        assert s.reactor == sc[0].reactor and s.feed == sc[0].feed and s.protocol == sc[0].protocol
        assert s.seeds is not None
        assert len(s.seeds.surface.model_dump()) <= 2


def test_with_overrides_returns_modified_copy():
    s = load_scenario("overgrowth-1010nm")
    s2 = s.with_overrides({"protocol.injection_rate_ml_per_h": 7.5, "params.k_diss_per_s": 0.01,
                           "seeds.emission_nm": 1100.0})
    assert s2.protocol.injection_rate_ml_per_h == 7.5
    assert s2.kinetic_parameters().cluster_dissolution_per_s == 0.01
    assert s2.seeds.emission_nm == 1100.0
    assert s.protocol.injection_rate_ml_per_h == 8.0  # original untouched


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"protocol.injection_rate_ml_per_h": -1.0}, "protocol.injection_rate_ml_per_h"),
        ({"protocol.bogus": 1.0}, "protocol.bogus"),
        ({"params.nope": 1.0}, "params.nope"),
        ({"params.cluster_dissolution_per_s": -1.0}, "params.cluster_dissolution_per_s"),
        ({"protocol.aliquot_volume_ml": 5.0}, None),
    ],
)
def test_bad_overrides_name_the_field(override, field):
    s = load_scenario("overgrowth-1010nm")
    with pytest.raises(InputError) as exc:
        s.with_overrides(override).kinetic_parameters()
    if field:
        assert field in str(exc.value)


def test_bad_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nextra_key = 1\n[reactor]\nvolume_ml = 5\n[protocol]\ntemperature_c = 180\nduration_min = 5\n')
    with pytest.raises(InputError, match="extra_key"):
        load_scenario(p)
    with pytest.raises(InputError):
        load_scenario(tmp_path / "missing.toml")


def test_duration_override_scales_the_aliquot_schedule():
    s = load_scenario("overgrowth-1010nm")
    s2 = s.with_overrides({"protocol.duration_min": 30.0})
    assert s2.protocol.aliquot_times_min[-1] == 30.0 and len(s2.protocol.aliquot_times_min) == 11
    s3 = s.with_overrides({"protocol.duration_min": 90.0, "protocol.aliquot_times_min": [0.0, 90.0]})
    assert s3.protocol.aliquot_times_min == [0.0, 90.0]


def test_observation_window_is_validated():
    s = load_scenario("overgrowth-1010nm")
    assert s.with_overrides({"observation.pl_window_nm": [900.0, 1600.0]}).observation.pl_window_nm == (900.0, 1600.0)
    with pytest.raises(InputError, match="observation"):
        s.with_overrides({"observation.pl_window_nm": [1700.0, 800.0]})
    with pytest.raises(InputError, match="observation"):
        s.with_overrides({"observation.bogus": 1.0})
