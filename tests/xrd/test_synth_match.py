import functools
import json

import numpy as np
import pytest

from qdlab.xrd.io import read_diffractogram
from qdlab.xrd.match import fit_crystallite_size, match_phases
from qdlab.xrd.synth import gaussian_broaden, simulate_measurement


@functools.cache
def _sim(d_nm: float, seed: int):
    """Shared simulated measurement (sigma_rel 0.08): simulations dominate this module's run time."""
    return simulate_measurement(d_nm, sigma_rel=0.08, seed=seed)


@functools.cache
def _match(d_nm: float, seed: int):
    return match_phases(_sim(d_nm, seed).diffractogram, sigma_rel=0.08)


def test_noise_free_is_signal_plus_background():
    s = simulate_measurement(3.0, noise=False)
    assert s.diffractogram.intensity == pytest.approx(s.signal + s.background)
    assert np.max(s.signal) == pytest.approx(2000.0)


def test_gaussian_broadening_keeps_area():
    tt = np.arange(10, 80, 0.02)
    y = np.exp(-0.5 * ((tt - 40) / 0.3) ** 2)
    b = gaussian_broaden(tt, y, 0.5)
    assert b.sum() == pytest.approx(y.sum(), rel=1e-6)
    assert b.max() < y.max()


def test_write_with_truth_and_read_back(tmp_path):
    s = _sim(3.4, 4)
    for name in ("p.xy", "p.xrdml"):
        path = s.write(tmp_path / name)
        back = read_diffractogram(path)
        assert back.intensity == pytest.approx(s.diffractogram.intensity)
        truth = json.loads((tmp_path / "p.truth.json").read_text())
        assert truth["diameter_nm"] == 3.4 and truth["phase"] == "Cd3P2"


@pytest.mark.parametrize("d_nm", [2.7, 5.0])
def test_size_fit_recovers_diameter_within_5_percent(d_nm):
    s = _sim(d_nm, 11)
    fit = fit_crystallite_size(s.diffractogram, sigma_rel=0.08, instrument_fwhm_deg=0.05)
    assert fit.diameter_nm == pytest.approx(d_nm, rel=0.05)
    assert 0 < fit.diameter_std_nm < 0.1 * d_nm
    assert fit.reduced_chi2 < 2.0 and not fit.at_bound


def test_phase_check_tells_cd3p2_from_cdo():
    m = _match(3.4, 4)
    assert m.best_phase == "Cd3P2" and m.scores[0].weight > 0.99
    assert m.size_fit is not None and m.size_fit.diameter_nm == pytest.approx(3.4, rel=0.05)
    assert m.scherrer is not None and m.scherrer["diameter_nm"] == pytest.approx(3.4, rel=0.15)
    m2 = match_phases(simulate_measurement(4.0, phase="CdO", seed=4).diffractogram, phases=("Cd3P2", "CdO"))
    assert m2.best_phase == "CdO"
    d = m.to_dict()
    assert "observed" not in d["size_fit"] and json.dumps(d, allow_nan=False)


def test_strain_is_fitted_and_does_not_bias_size():
    s = simulate_measurement(5.0, sigma_rel=0.08, seed=3, lattice_scale=1.015)
    fit = fit_crystallite_size(s.diffractogram, sigma_rel=0.08)
    assert fit.lattice_scale == pytest.approx(1.015, abs=1e-3)
    assert fit.lattice_a_angstrom == pytest.approx(8.76 * 1.015, abs=0.01)
    assert fit.diameter_nm == pytest.approx(5.0, rel=0.05)
    fixed = fit_crystallite_size(s.diffractogram, sigma_rel=0.08, fit_lattice=False)
    assert fixed.reduced_chi2 > 5 * fit.reduced_chi2  # bulk cell cannot explain the shifted humps


def test_kalpha_doublet_roundtrip_and_fit(tmp_path):
    s = simulate_measurement(4.4, sigma_rel=0.08, seed=9, kalpha2=True)
    back = read_diffractogram(s.write(tmp_path / "d.xrdml"))
    assert back.meta["doublet"] and back.meta["kalpha2_ratio"] == pytest.approx(0.5)
    assert back.wavelength_angstrom == pytest.approx((1.540598 + 0.5 * 1.544426) / 1.5, abs=1e-6)
    fit = fit_crystallite_size(back, sigma_rel=0.08)
    assert fit.diameter_nm == pytest.approx(4.4, rel=0.05)
    assert fit.lattice_scale == pytest.approx(1.0, abs=1e-3)
    assert fit.reduced_chi2 < 2.0


def test_volume_weighted_diameter_from_lognormal_moments():
    fit = fit_crystallite_size(_sim(3.4, 4).diffractogram, sigma_rel=0.1)
    assert fit.volume_weighted_diameter_nm == pytest.approx(fit.diameter_nm * 1.01**3, rel=1e-9)


@functools.cache
def _debye(d_nm, phase, sigma_rel):
    from qdlab.xrd.debye import debye_pattern

    return debye_pattern(d_nm, np.arange(15, 80.0001, 0.02), sigma_rel=sigma_rel, phase=phase)


def _mixture(fraction, phase, d_imp_nm, seed=1):
    from qdlab.data.types import Diffractogram
    from qdlab.xrd.structure import phase_structure

    p1 = _debye(4.0, "Cd3P2", 0.08)
    p2 = _debye(d_imp_nm, phase, 0.0)  # one size: cheaper, and the check must not depend on the spread
    tt = p1.two_theta_deg

    def mass(p, ph):
        comp = phase_structure(ph).composition
        return p.n_atoms_mean * float(comp.weight) / comp.num_atoms

    ratio = fraction / (1 - fraction) * mass(p1, "Cd3P2") / mass(p2, phase)  # particles of 2 per particle of 1
    sig = p1.intensity + ratio * p2.intensity
    sig = (sig - sig.min()) * 2000 / (sig - sig.min()).max()
    y = np.random.default_rng(seed).poisson(sig + 300).astype(float)
    return Diffractogram(tt, y, p1.wavelength_angstrom)


@pytest.mark.parametrize(
    "fraction, phase, d_nm", [(0.10, "CdO", 4.0), pytest.param(0.05, "Cd", 4.5, marks=pytest.mark.slow)]
)
def test_minor_phase_detected_with_its_weight_fraction(fraction, phase, d_nm):
    m = match_phases(_mixture(fraction, phase, d_nm))
    assert m.best_phase == "Cd3P2"
    found = {i.phase: i for i in m.impurities}
    assert found[phase].significant and found[phase].weight_fraction == pytest.approx(fraction, abs=0.02)
    other = "Cd" if phase == "CdO" else "CdO"
    assert not found[other].significant and found[other].weight_fraction < 0.01


def test_no_false_impurity_on_pure_cd3p2():
    m = _match(3.4, 4)
    assert all(not i.significant and i.weight_fraction < 0.02 for i in m.impurities)
