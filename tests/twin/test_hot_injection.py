"""Hot-injection seed syntheses (200-215 C) and the temperature dependence of the shared kinetic set.

The paper makes its seeds by injecting TMSP into cadmium oleate: 965 nm (215 C, 40 s), 1010 nm (215 C,
55 s), 1102 nm (210 C, 90 s), 1145 nm (200 C, 45 s). The temperature entries of the shared set are fitted
to these four runs by ``tools/fit_hot_injection.py``; nothing of it may change a run at the 180 C
reference temperature.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from qdlab.resources import resource_path
from qdlab.twin.model import conditions, msc_acid_activation, msc_sink_temperature_factors, pack_parameters
from qdlab.twin.parameters import default_parameters
from qdlab.twin.protocol import load_scenario
from qdlab.twin.solver import simulate
from qdlab.units import GAS_CONSTANT_J_PER_MOL_K

HOT = ("hot-injection-965nm", "hot-injection-1010nm", "hot-injection-1102nm", "hot-injection-1145nm")
PAPER_NM = (965.0, 1010.0, 1102.0, 1145.0)
TOOL = Path(__file__).resolve().parents[2] / "tools" / "fit_hot_injection.py"


@pytest.fixture(scope="module")
def hot_runs():
    return [simulate(n) for n in HOT]


def test_paper_emission_order(hot_runs):
    pl = np.array([r.aliquots[-1].pl_peak_nm for r in hot_runs])
    assert np.all(np.diff(pl) > 0), f"order 965 < 1010 < 1102 < 1145 nm not reproduced: {pl.round()}"
    assert np.all(np.abs(pl - np.array(PAPER_NM)) < 50.0), pl.round()
    # the 200 C batch nucleates the fewest dots (higher surface energy, hence a higher CNT barrier than at
    # 210-215 C); on the converged solver the difference is 15 % (0.41 against 0.48-0.49 umol), no longer the
    # factor 2-4 of the old fixed-step fit, and its red PL comes mostly from a broad distribution (docs/science.md)
    assert hot_runs[3].aliquots[-1].temperature_c == pytest.approx(200.0)
    dots = [float(r.size_distributions[-1].number_mol.sum()) for r in hot_runs]
    assert dots[3] < min(dots[:3])


def test_hot_injection_mass_balance(hot_runs):
    for r in hot_runs:
        assert r.mass_balance_error <= 1e-8
        assert np.all(r.records[:, 1:] >= 0)
        # P-limited 0.25 mmol Cd3P2 units in the flask at t = 0, nothing fed
        b = r.budget_mmol()
        total = b["precursor"] + b["clusters"] + b["monomer"] + b["qds"] + b["etched_lost"] + b["withdrawn_before"]
        assert total == pytest.approx(0.25, rel=1e-8)


def test_surface_energy_slope_is_inert_at_180c():
    sc = load_scenario("overgrowth-1010nm")
    ref = simulate(sc.with_overrides({"params.surface_energy_slope_j_per_m2_k": 0.0})).to_dict()
    steep = simulate(sc.with_overrides({"params.surface_energy_slope_j_per_m2_k": -2.5e-4})).to_dict()
    assert steep == ref  # bit-identical, not just close
    # ... while it does act away from 180 C (so the invariance above is not vacuous)
    hot = load_scenario("hot-injection-1145nm")
    a = simulate(hot.with_overrides({"params.surface_energy_slope_j_per_m2_k": 0.0})).aliquots[-1].pl_peak_nm
    b = simulate(hot.with_overrides({"params.surface_energy_slope_j_per_m2_k": -2.5e-4})).aliquots[-1].pl_peak_nm
    assert abs(a - b) > 5.0


def test_activation_energies_are_inert_at_180c():
    sc = load_scenario("cluster-heating-180c")
    ref = simulate(sc).to_dict()
    other = simulate(sc.with_overrides({"params.precursor_activation_kj_per_mol": 60.0,
                                        "params.cluster_dissolution_activation_kj_per_mol": 120.0,
                                        "params.solubility_enthalpy_kj_per_mol": 40.0,
                                        "params.growth_activation_kj_per_mol": 70.0,
                                        "params.fusion_activation_kj_per_mol": 90.0,
                                        "params.coalescence_activation_kj_per_mol": 110.0})).to_dict()
    assert other == ref


def test_msc_sink_activation_energies_are_inert_at_180c():
    # the overgrowths run at 180 C with 0.067 M acid, where MSC fusion is the main growth path and
    # coalescence makes the secondary cohort: both new activation energies must leave them bit-identical
    sc = load_scenario("overgrowth-1010nm")
    ref = simulate(sc).to_dict()
    other = simulate(sc.with_overrides({"params.fusion_activation_kj_per_mol": 0.0,
                                        "params.coalescence_activation_kj_per_mol": 150.0})).to_dict()
    assert other == ref
    # ... while they act away from 180 C (so the invariance above is not vacuous)
    hot = load_scenario("hot-injection-1145nm")
    base = simulate(hot).aliquots[-1].pl_peak_nm
    # values far from the fitted ones (E_fuse 292, E_cc 112.5 kJ/mol)
    for key, value in (("fusion_activation_kj_per_mol", 120.0), ("coalescence_activation_kj_per_mol", 0.0)):
        changed = simulate(hot.with_overrides({f"params.{key}": value})).aliquots[-1].pl_peak_nm
        assert abs(changed - base) > 5.0, key


def test_msc_sink_temperature_factors_are_arrhenius():
    kp = default_parameters().model_copy(update={"fusion_activation_kj_per_mol": 100.0,
                                                 "coalescence_activation_kj_per_mol": 50.0})
    p = pack_parameters(kp)
    tref = kp.reference_temperature_c + 273.15
    assert msc_sink_temperature_factors(p, tref) == (1.0, 1.0)  # exactly, not approximately
    t = 215.0 + 273.15
    fus, cc = msc_sink_temperature_factors(p, t)
    inv = 1.0 / t - 1.0 / tref
    assert fus == pytest.approx(math.exp(-100e3 / GAS_CONSTANT_J_PER_MOL_K * inv), rel=1e-12)
    assert cc == pytest.approx(math.exp(-50e3 / GAS_CONSTANT_J_PER_MOL_K * inv), rel=1e-12)
    assert fus > cc > 1.0
    # the shipped fusion activation keeps the MSC sticking probability of the hot-injection recipe (0.11 M
    # free acid, 215 C) a probability, well below 1
    kp = default_parameters()
    p = pack_parameters(kp)
    oa = 2.5 / 22.65
    sticking = kp.fusion_probability * msc_acid_activation(p, oa) * msc_sink_temperature_factors(p, t)[0]
    assert 1e-4 < sticking < 1e-2


def test_capillary_length_follows_gamma_of_t():
    kp = default_parameters().model_copy(update={"surface_energy_slope_j_per_m2_k": -1e-4})
    p = pack_parameters(kp)
    tref = kp.reference_temperature_c + 273.15
    lc_ref = conditions(p, tref, 0.0)[0]
    assert lc_ref == kp.capillary_length_nm(tref)  # exactly the reference value
    t = tref + 30.0
    gamma_t = kp.surface_energy_j_per_m2 - 1e-4 * 30.0
    expected = kp.capillary_length_nm(tref) * tref / t * gamma_t / kp.surface_energy_j_per_m2
    assert conditions(p, t, 0.0)[0] == pytest.approx(expected, rel=1e-12)
    # gamma never turns negative: far above the Eotvos-like zero crossing l_c is 0
    assert conditions(p, tref + 1000.0, 0.0)[0] == 0.0


def test_shipped_temperature_entries_have_unit_and_fit_source():
    data = tomllib.loads(resource_path("twin/parameters.toml").read_text())["params"]
    e = data["surface_energy_slope_j_per_m2_k"]
    assert e["unit"] == "J/(m^2 K)" and e["source"].startswith("[fit] tools/fit_hot_injection.py")
    assert -3e-4 <= e["value"] <= 0.0
    for k in ("precursor_activation_kj_per_mol", "cluster_dissolution_activation_kj_per_mol",
              "solubility_enthalpy_kj_per_mol", "growth_activation_kj_per_mol", "fusion_activation_kj_per_mol",
              "coalescence_activation_kj_per_mol"):
        assert data[k]["unit"] == "kJ/mol"
        assert data[k]["source"].startswith("[fit] tools/fit_hot_injection.py")


def _tool():
    spec = importlib.util.spec_from_file_location("fit_hot_injection", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fit_tool_writes_only_its_entries(tmp_path):
    tool = _tool()
    path = tmp_path / "parameters.toml"
    shutil.copy(str(resource_path("twin/parameters.toml")), path)
    before = tomllib.loads(path.read_text())
    new = {"surface_energy_slope_j_per_m2_k": -1.234e-4, "growth_activation_kj_per_mol": 123.4}
    tool.write_toml(path, {**{k: before["params"][k]["value"] for k in tool.FIT_PARAMETERS}, **new}, "test run")
    after = tomllib.loads(path.read_text())
    assert after["params"]["surface_energy_slope_j_per_m2_k"]["value"] == -1.234e-4
    assert after["params"]["growth_activation_kj_per_mol"]["value"] == 123.4
    assert "test run" in after["params"]["growth_activation_kj_per_mol"]["source"]
    for k, v in before["params"].items():
        assert after["params"][k]["unit"] == v["unit"]
        if k not in tool.FIT_PARAMETERS:
            assert after["params"][k] == v  # 180 C reference values untouched
    assert after["optics"] == before["optics"]
    # and the objective of the shipped values is what the shipped file promises (all four within 50 nm)
    tool._init(tool.read_params(resource_path("twin/parameters.toml")))
    x = np.array([before["params"][k]["value"] for k in tool.FIT_PARAMETERS])
    assert tool.objective(x) < 4 * (50.0 / tool.ERROR_SCALE_NM) ** 2
    assert math.isfinite(tool.objective(x))


def test_capillary_length_method_matches_the_kernels_off_reference():
    from qdlab.twin.model import conditions, pack_parameters
    from qdlab.twin.parameters import default_parameters

    kp = default_parameters()
    p = pack_parameters(kp)
    for t_k in (433.15, 473.15, 488.15):
        assert kp.capillary_length_nm(t_k) == pytest.approx(conditions(p, t_k, 0.0)[0], rel=1e-12)
    assert kp.surface_energy_slope_j_per_m2_k != 0.0  # otherwise the check above would not test gamma(T)
