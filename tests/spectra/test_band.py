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


def test_prepared_grid_and_array_give_the_numpy_formulation_bit_for_bit():
    """summarize_band on a BandGrid and on the energy array are the original formulation (the signal helpers
    on the energy axis, on spectrum_to_wavelength's axis, band_modes there) to the last bit."""
    from qdlab.signal import half_max_width, parabolic_apex
    from qdlab.spectra.band import BandGrid, band_modes
    from qdlab.units import spectrum_to_wavelength

    def reference(e, y):
        i = int(np.argmax(y))
        lam, y_lam = spectrum_to_wavelength(e, y)
        j = int(np.argmax(y_lam))
        return (parabolic_apex(e, y, i)[0], parabolic_apex(lam, y_lam, j)[0], 1000.0 * half_max_width(e, y, i),
                half_max_width(lam, y_lam, j), tuple(band_modes(lam, y_lam)))

    rng = np.random.default_rng(3)
    for t in range(60):
        e = np.linspace(0.7, 3.1, 1201) if t % 2 else np.sort(rng.uniform(0.8, 2.0, 700))
        y = sum(rng.uniform(0.1, 1) * np.exp(-0.5 * ((e - rng.uniform(0.9, 1.9)) / rng.uniform(0.01, 0.2)) ** 2)
                for _ in range(1 + t % 3))
        if t % 4 == 0:
            y = np.round(y, 2)  # flat tops and equal maxima
        want = reference(e, y)
        for grid in (e, BandGrid.of(e)):
            s = summarize_band(grid, y)
            got = (s.peak_energy_ev, s.peak_wavelength_nm, s.fwhm_mev, s.fwhm_nm, s.modes_nm)
            assert repr(got) == repr(want), t
