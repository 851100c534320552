"""analyze_pl against lmfit on a skewed band (a model it does not assume) and its errors against a
Monte-Carlo of the noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from qdlab.data.types import Spectrum
from qdlab.spectra import analyze_pl
from qdlab.units import FWHM_PER_SIGMA

E = np.linspace(0.85, 1.45, 600)


def skewed(e: np.ndarray, gamma: float = 2.0) -> np.ndarray:
    """lmfit's skewed Gaussian (centre 1.15 eV, sigma 40 meV) on a sloping background."""
    c, s = 1.15, 0.04
    g = np.exp(-0.5 * ((e - c) / s) ** 2) * (1 + erf(gamma * (e - c) / (s * math.sqrt(2))))
    return 100 * g + 2.0 + 3.0 * (e - 1.15)


def test_one_gaussian_on_a_skewed_band_equals_lmfit() -> None:
    from lmfit.models import GaussianModel, LinearModel

    rng = np.random.default_rng(0)
    y = skewed(E) + rng.normal(0, 1.0, E.size)
    r = analyze_pl(Spectrum(E, y, "ev", "pl"), n_components=1)
    m = GaussianModel() + LinearModel()
    p = m.make_params(amplitude=10.0, center=1.18, sigma=0.05, slope=0.0, intercept=0.0)
    p["sigma"].set(min=0)
    ref = m.fit(y, p, x=E)
    pk = r.peaks[0]
    assert pk.energy_ev == pytest.approx(ref.params["center"].value, abs=1e-6)
    assert pk.fwhm_mev == pytest.approx(1000 * FWHM_PER_SIGMA * ref.params["sigma"].value, rel=1e-5)
    assert pk.area == pytest.approx(ref.params["amplitude"].value, rel=1e-5)
    assert pk.energy_ev_err == pytest.approx(ref.params["center"].stderr, rel=0.02)
    assert pk.area_err == pytest.approx(ref.params["amplitude"].stderr, rel=0.02)
    # the skewed band is not one Gaussian: BIC keeps more than one component when it may choose
    assert analyze_pl(Spectrum(E, y, "ev", "pl")).n_components >= 2


def test_centre_error_matches_a_monte_carlo_of_the_noise() -> None:
    """Reported sigma of the centre vs the spread of the fitted centres over 150 noise draws (within 20 %)."""
    rng = np.random.default_rng(5)
    c0, s0 = 1.2, 0.05
    clean = 50 * np.exp(-0.5 * ((E - c0) / s0) ** 2) + 1.0
    centres, errs = [], []
    for _ in range(150):
        r = analyze_pl(Spectrum(E, clean + rng.normal(0, 1.0, E.size), "ev", "pl"), n_components=1)
        centres.append(r.peaks[0].energy_ev)
        errs.append(r.peaks[0].energy_ev_err)
    assert np.median(errs) == pytest.approx(np.std(centres, ddof=1), rel=0.2)
    assert abs(np.mean(centres) - c0) < 4 * np.std(centres) / math.sqrt(150)
