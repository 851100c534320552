"""summarize_band: the one estimator of peak, FWHM and modes, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qdlab.spectra.band import summarize_band
from qdlab.units import HC_EV_NM


@pytest.mark.parametrize(("center_ev", "sigma_ev"), [(0.95, 0.03), (1.2, 0.04), (1.6, 0.08)])
def test_gaussian_band_closed_forms(center_ev, sigma_ev):
    e = np.linspace(0.6, 2.4, 36001)
    s = summarize_band(e, np.exp(-0.5 * ((e - center_ev) / sigma_ev) ** 2))
    assert s.peak_energy_ev == pytest.approx(center_ev, abs=1e-6)
    assert s.fwhm_mev == pytest.approx(1000 * 2 * math.sqrt(2 * math.log(2)) * sigma_ev, rel=1e-4)
    # per-nm density I(E) E^2/hc: its maximum solves E - c = 2 s^2 / E
    e_star = 0.5 * (center_ev + math.sqrt(center_ev**2 + 8 * sigma_ev**2))
    assert s.peak_wavelength_nm == pytest.approx(HC_EV_NM / e_star, abs=0.01)
    assert not s.bimodal and len(s.modes_nm) == 1


def test_two_resolved_bands_and_a_shoulder():
    e = np.linspace(0.6, 2.0, 14001)
    two = np.exp(-0.5 * ((e - 1.0) / 0.03) ** 2) + 0.5 * np.exp(-0.5 * ((e - 1.3) / 0.03) ** 2)
    s = summarize_band(e, two)
    assert s.bimodal and len(s.modes_nm) == 2
    e_star = 0.5 * (1.3 + math.sqrt(1.3**2 + 8 * 0.03**2))  # the per-nm maximum of the minor band
    assert min(abs(m - HC_EV_NM / e_star) for m in s.modes_nm) < 0.1
    shoulder = np.exp(-0.5 * ((e - 1.0) / 0.05) ** 2) + 0.5 * np.exp(-0.5 * ((e - 1.06) / 0.05) ** 2)
    assert not summarize_band(e, shoulder).bimodal


def test_empty_band_is_nan():
    s = summarize_band(np.linspace(1, 2, 10), np.zeros(10))
    assert math.isnan(s.peak_wavelength_nm) and not s.bimodal


def test_twin_and_measured_analysis_share_the_estimator():
    """The twin's aliquot summary is summarize_band of its windowed QD emission (the function analyze_pl uses)."""
    from qdlab.twin import load_scenario, simulate
    from qdlab.twin.observe import ENERGY_GRID_EV, qd_pl_energy

    sc = load_scenario("overgrowth-1010nm")
    r = simulate(sc)
    lo, hi = sc.observation.pl_window_nm
    lam = HC_EV_NM / ENERGY_GRID_EV
    for a, sd in zip(r.aliquots, r.size_distributions, strict=True):
        qd = qd_pl_energy(sd.diameter_nm, sd.number_mol, sc.optical_parameters())
        s = summarize_band(ENERGY_GRID_EV, np.where((lam >= lo) & (lam <= hi), qd, 0.0))
        assert (a.pl_peak_nm, a.fwhm_mev, a.bimodal) == (s.peak_wavelength_nm, s.fwhm_mev, s.bimodal)
