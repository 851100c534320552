"""Preprocessing: Jacobian conservation, response correction, baselines, smoothing, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import InputError
from qdlab.data.types import Spectrum
from qdlab.spectra import preprocess as pp
from qdlab.spectra.synth import synth_pl


@settings(max_examples=30, deadline=None)
@given(st.floats(500, 1600), st.floats(30, 200), st.floats(0.1, 10))
def test_jacobian_conserves_photons(center_nm: float, fwhm_mev: float, area: float) -> None:
    s, _ = synth_pl([(center_nm, fwhm_mev, area)], axis="nm", n_points=6000)
    e = pp.to_energy(s)
    assert e.x_unit == "ev" and np.all(np.diff(e.x) > 0)
    assert np.trapezoid(e.y, e.x) == pytest.approx(area, rel=1e-3)
    assert pp.integrate_photons(s) == pytest.approx(area, rel=1e-3)


def test_absorbance_has_no_jacobian() -> None:
    s = Spectrum(np.array([400.0, 500.0, 600.0]), np.array([1.0, 2.0, 3.0]), "nm", "absorbance")
    e = pp.to_energy(s)
    np.testing.assert_array_equal(e.y, [3.0, 2.0, 1.0])
    f = pp.to_energy(s, emission=True)
    assert not np.array_equal(f.y, e.y)


def test_response_correction() -> None:
    s, _ = synth_pl([(1100.0, 100.0, 1.0)], range_nm=(900, 1300))
    lam = np.linspace(800, 1400, 50)
    r = 0.5 + lam / 2800
    measured = Spectrum(s.x, s.y * np.interp(s.x, lam, r), "nm", "pl")
    fixed = pp.correct_response(measured, (lam, r))
    np.testing.assert_allclose(fixed.y, s.y, rtol=1e-12)
    assert fixed.meta["response_corrected"]
    with pytest.raises(InputError, match="covers"):
        pp.correct_response(measured, (lam[10:], r[10:]))
    with pytest.raises(InputError):
        pp.correct_response(measured, lambda x: -np.ones_like(x))


@pytest.mark.parametrize("method", ["linear", "modpoly", "asls", "arpls", "snip"])
def test_baselines_remove_a_slope(method: str) -> None:
    s, _ = synth_pl([(1100.0, 100.0, 1.0)], axis="ev", baseline_offset=2.0, baseline_slope_per_ev=1.0, n_points=800)
    corrected, base = pp.subtract_baseline(s, method)
    edge = np.r_[corrected.y[:40], corrected.y[-40:]]
    assert np.max(np.abs(edge)) < 0.1 * np.max(corrected.y)
    assert base.shape == s.y.shape


def test_smooth_normalize_crop() -> None:
    s, _ = synth_pl([(1100.0, 100.0, 1.0)], noise=0.05, seed=1)
    sm = pp.smooth(s, 21)
    assert np.std(np.diff(sm.y)) < np.std(np.diff(s.y))
    assert np.max(pp.normalize(s).y) == pytest.approx(1.0)
    assert np.trapezoid(pp.normalize(s, "area").y, s.x) == pytest.approx(1.0)
    assert pp.crop(s, 1000, 1200).x.min() >= 1000
    with pytest.raises(InputError):
        pp.crop(s, 5000, 6000)
    with pytest.raises(InputError):
        pp.normalize(s, "median")
    with pytest.raises(InputError):
        pp.estimate_baseline(s, "magic")
