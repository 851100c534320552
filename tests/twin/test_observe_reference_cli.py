"""Observation model, Eulerian reference cross-check, sweeps on Dask, and the CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qdlab.materials import curve_for
from qdlab.spectra.band import summarize_band
from qdlab.twin import load_scenario, simulate
from qdlab.twin.observe import ENERGY_GRID_EV, qd_pl_energy, wavelength_peak_nm
from qdlab.twin.parameters import default_optics
from qdlab.twin.reference import simulate_reference
from qdlab.units import HC_EV_NM


def test_monodisperse_pl_peak_and_homogeneous_width():
    opt = default_optics()
    y = qd_pl_energy(np.array([3.0]), np.array([1.0]), opt)
    e_pl = float(curve_for("Cd3P2").emission_energy_ev(3.0))
    k = int(np.argmax(y))
    assert ENERGY_GRID_EV[k] == pytest.approx(e_pl, abs=0.002)
    half = y > y[k] / 2
    width = ENERGY_GRID_EV[half][-1] - ENERGY_GRID_EV[half][0]
    assert width == pytest.approx(opt.homogeneous_fwhm_mev / 1000, abs=0.004)
    # on the wavelength axis the Jacobian hc/lambda^2 (= E^2/hc) favours high energy: a slight blue shift
    lam = wavelength_peak_nm(y)
    assert HC_EV_NM / e_pl - 5 < lam < HC_EV_NM / e_pl


def test_volume_weighting_and_bimodality():
    opt = default_optics()
    d = np.array([2.0, 4.0])
    y_eq = qd_pl_energy(d, np.array([1.0, 1.0]), opt)
    e = curve_for("Cd3P2").emission_energy_ev(d)
    i_small = y_eq[np.argmin(abs(ENERGY_GRID_EV - e[0]))]
    i_big = y_eq[np.argmin(abs(ENERGY_GRID_EV - e[1]))]
    assert i_big / i_small == pytest.approx(8.0, rel=0.05)  # sigma_exc ~ d^3
    def bimodal(y):
        return summarize_band(ENERGY_GRID_EV, y).bimodal

    # read on the wavelength axis (x E^2/hc) as displayed: the 2-nm dots' band is lifted by the Jacobian
    assert bimodal(y_eq)
    assert not bimodal(qd_pl_energy(d, np.array([0.5, 1.0]), opt))  # below the 15 % threshold there
    assert bimodal(qd_pl_energy(d, np.array([4.0, 1.0]), opt))
    assert not bimodal(qd_pl_energy(np.array([3.0]), np.array([1.0]), opt))


def test_spectra_are_canonical_and_seed_peak_matches():
    res = simulate("overgrowth-1010nm")
    assert len(res.pl) == len(res.aliquots) == len(res.absorbance)
    s0 = res.pl[0]
    assert s0.kind == "pl" and s0.x_unit == "nm" and s0.meta["aliquot_id"] == "A0"
    assert res.aliquots[0].pl_peak_nm == pytest.approx(1010, abs=1.0)
    assert res.aliquots[0].fwhm_mev == pytest.approx(150, abs=3.0)
    # the MSC line sits at 455 nm once clusters are present
    mid = res.pl[3]
    m = (mid.x > 430) & (mid.x < 480)
    assert mid.x[m][np.argmax(mid.y[m])] == pytest.approx(455, abs=2)
    json.dumps(res.to_dict(), allow_nan=False)


def test_eulerian_reference_agrees_with_lagrangian():
    sc = load_scenario("overgrowth-1010nm").with_overrides(
        {"seeds.surface.etch_factor": 1.0, "seeds.surface.reactivity_factor": 1.0})
    lag = simulate(sc)
    ref = simulate_reference(sc, n_bins=400)
    assert ref["mass_balance_error"] < 1e-8
    for k, a in enumerate(lag.aliquots):
        assert ref["mean_diameter_nm"][k] == pytest.approx(a.mean_diameter_nm, rel=0.01)
        assert ref["diameter_std_nm"][k] == pytest.approx(a.diameter_std_nm, rel=0.06)


def test_sweep_on_a_dask_localcluster():
    distributed = pytest.importorskip("distributed")
    from qdlab.compute import mapper
    from qdlab.twin.sweep import parse_axes, run_sweep

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        out = run_sweep("overgrowth-1010nm", parse_axes(["protocol.injection_rate_ml_per_h=1:5:3"]),
                        map_fn=mapper(cluster.scheduler_address))
    assert out["n_points"] == 3
    pls = [p["final_pl_nm"] for p in out["points"]]
    assert pls == sorted(pls)  # more feed, bigger dots
    assert all(p["mass_balance_error"] < 1e-8 for p in out["points"])


def _qdlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qdlab.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_cli_run_json_contract():
    r = _qdlab("twin", "run", "overgrowth-1010nm", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    keys = {"aliquot_id", "time_min", "pl_peak_nm", "fwhm_mev", "fwhm_nm", "mean_diameter_nm", "diameter_std_nm",
            "secondary_fraction", "bimodal", "cluster_fraction"}
    assert keys <= set(data["aliquots"][0])
    assert data["mass_balance_error"] <= 1e-8


def test_cli_bad_scenario_exits_2(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\n[reactor]\nvolume_ml = -1\n[protocol]\ntemperature_c = 180\nduration_min = 5\n')
    r = _qdlab("twin", "run", str(p), "--json")
    assert r.returncode == 2
    assert "reactor.volume_ml" in r.stderr and "Traceback" not in r.stderr


def test_secondary_number_and_mass_fractions_exact():
    from qdlab.twin.observe import summarize

    # 90 secondary nuclei of 1.5 nm next to 10 seeds of 3.0 nm: 90 % of the dots, 90*1.5^3/(90*1.5^3+10*27) of the Cd3P2
    d = np.array([3.0, 1.5])
    n = np.array([10.0, 90.0])
    sec = np.array([False, True])
    a = summarize("A1", 5.0, 180.0, 7.0, d, n, sec, np.zeros_like(ENERGY_GRID_EV), 0.0, 0.0, 1.0, 1.0)
    assert a.secondary_fraction == pytest.approx(0.9)
    assert a.secondary_mass_fraction == pytest.approx(90 * 1.5**3 / (90 * 1.5**3 + 10 * 27.0))
    assert a.secondary_mass_fraction < a.secondary_fraction
    none = summarize("A0", 0.0, 180.0, 7.0, d[:1], n[:1], sec[:1], np.zeros_like(ENERGY_GRID_EV), 0.0, 0.0, 1.0, 1.0)
    assert none.secondary_fraction == 0.0 and none.secondary_mass_fraction == 0.0


def test_summary_reads_only_the_detector_window():
    # seeds at 2.8 nm (~1040 nm PL) plus many small secondary QDs at 1.3 nm (~580 nm PL)
    from qdlab.twin.observe import summarize
    from qdlab.twin.parameters import default_optics

    d = np.array([1.3, 2.8])
    n = np.array([8.0, 1.0])
    sec = np.array([True, False])
    qd = qd_pl_energy(d, n, default_optics())
    full = summarize("A", 0.0, 180.0, 6.0, d, n, sec, qd, 0.0, 0.0, 1.0, 1.0)
    swir = summarize("A", 0.0, 180.0, 6.0, d, n, sec, qd, 0.0, 0.0, 1.0, 1.0, window_nm=(800.0, 1700.0))
    assert full.bimodal and not swir.bimodal
    assert swir.pl_peak_nm > 950 and full.secondary_fraction == swir.secondary_fraction
