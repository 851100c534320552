"""qdlab.signal noise estimators (against the known sigma of generated noise) and saturation masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from qdlab.signal import derivative_sigma, describe_mask, estimate_baseline, mad_sigma, saturated


def test_mad_matches_scipy_and_is_robust_to_outliers():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 2.0, 20000)
    assert mad_sigma(y) == pytest.approx(median_abs_deviation(y, scale="normal"))
    y[:500] = 1e6
    assert mad_sigma(y) == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivative_sigma_on_smooth_signal_plus_white_noise(order):
    rng = np.random.default_rng(order)
    x = np.linspace(0, 10, 40000)
    smooth = 100 * np.exp(-0.5 * ((x - 4) / 0.8) ** 2) + 5 * x
    y = smooth + rng.normal(0, 0.7, x.size)
    assert derivative_sigma(y, order) == pytest.approx(0.7, rel=0.05)
    # plain MAD sees the signal, not the noise
    assert mad_sigma(y) > 5


def test_derivative_sigma_poisson_counts():
    rng = np.random.default_rng(5)
    lam = np.full(50000, 400.0)
    assert derivative_sigma(rng.poisson(lam).astype(float), 1) == pytest.approx(20.0, rel=0.05)


def test_saturation_flat_top_and_ceiling():
    x = np.linspace(400, 500, 101)
    a = np.minimum(3.0 * np.exp(-0.5 * ((x - 450) / 10) ** 2), 2.5)
    m = saturated(a)
    assert m.sum() >= 3 and np.all(a[m] == 2.5)
    assert not saturated(np.exp(-0.5 * ((x - 450) / 10) ** 2)).any()
    spikes = np.where(np.abs(x - 470) < 0.5, 10.0, 0.3)
    assert saturated(spikes, ceiling=10.0, min_run=0).tolist() == (spikes >= 10).tolist()
    assert describe_mask(x, m, "nm").startswith(f"{int(m.sum())} points: ")


def test_baseline_recovers_linear_background():
    x = np.linspace(0, 100, 2001)
    y = 3 + 0.02 * x + 5 * np.exp(-0.5 * ((x - 50) / 2) ** 2)
    for method in ("modpoly", "imodpoly", "linear"):
        b = estimate_baseline(y, x, method)
        far = np.abs(x - 50) > 10
        assert np.max(np.abs(b[far] - (3 + 0.02 * x[far]))) < 0.05, method


def test_local_sigma_follows_shot_noise() -> None:
    """Poisson counts: the running estimate is sqrt(mean) at the top and in the wings (closed form), where
    the global derivative_sigma is set by the wings alone."""
    from qdlab.signal import derivative_sigma, local_sigma

    rng = np.random.default_rng(7)
    mean = 2e4 * np.exp(-0.5 * ((np.arange(6000) - 3000) / 400.0) ** 2) + 50.0
    y = rng.poisson(mean).astype(float)
    s = local_sigma(y, 4, 401)
    for i in (5, 1500, 3000, 5994):
        assert s[i] == pytest.approx(np.sqrt(mean[i]), rel=0.2), i
    assert derivative_sigma(y, 4) < 0.5 * np.sqrt(mean[3000])
