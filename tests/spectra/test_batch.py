"""Batched fitter: exact recovery, agreement with the single-spectrum fitter, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.spectra import analyze_pl, fit_batch
from qdlab.spectra.batch import fit_series_batch
from qdlab.spectra.synth import gaussian_ev, synth_pl, synth_series
from qdlab.units import HC_EV_NM


def _stack(m: int = 40, noise: float = 0.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = np.linspace(0.8, 1.6, 700)
    c1 = rng.uniform(1.1, 1.3, m)
    f1, f2 = rng.uniform(0.08, 0.14, m), rng.uniform(0.08, 0.14, m)
    sep = rng.uniform(1.0, 2.0, m) * 0.5 * (f1 + f2)
    Y = np.stack([gaussian_ev(e, c1[i], f1[i], 1.0) + gaussian_ev(e, c1[i] - sep[i], f2[i], 0.6) for i in range(m)]) + 0.02
    if noise:
        Y += rng.normal(0, noise * Y.max(axis=1, keepdims=True), Y.shape)
    centers = np.sort(np.stack([c1 - sep, c1], 1), 1)
    fwhm = np.where(np.stack([c1 - sep, c1], 1).argsort(1) == 0, np.stack([f2, f1], 1), np.stack([f2, f1], 1))
    return e, Y, centers, fwhm


def test_noise_free_stack_is_exact() -> None:
    e, Y, centers, _ = _stack()
    fit = fit_batch(e, Y, 2)
    assert fit.converged.all()
    np.testing.assert_allclose(fit.centers_ev, centers, atol=1e-9)
    np.testing.assert_allclose(fit.areas.sum(1), 1.6, rtol=1e-8)
    np.testing.assert_allclose(fit.background[:, 0], 0.02, atol=1e-9)


def test_noisy_stack_within_1_mev() -> None:
    e, Y, centers, _ = _stack(noise=0.01)
    fit = fit_batch(e, Y, 2)
    assert np.max(np.abs(fit.centers_ev - centers)) * 1000 < 1.0
    assert np.all(fit.centers_err_ev < 1e-3)


def test_nonuniform_wavelength_axis_matches_energy_axis() -> None:
    lam = np.linspace(700.0, 1500.0, 800)
    ys = [synth_pl([(950.0 + 20 * k, 100.0, 1.0), (1150.0 + 10 * k, 120.0, 0.5)], axis="nm", range_nm=(700, 1500), n_points=800)[0].y for k in range(5)]
    fit = fit_batch(lam, np.stack(ys), 2, x_unit="nm")
    want = np.array([[HC_EV_NM / (1150.0 + 10 * k), HC_EV_NM / (950.0 + 20 * k)] for k in range(5)])
    np.testing.assert_allclose(fit.centers_ev, want, atol=1e-8)
    np.testing.assert_allclose(fit.fwhm_mev[:, 1], 100.0, rtol=1e-6)


def test_agrees_with_single_spectrum_fitter() -> None:
    spec, _ = synth_pl([(1000.0, 110.0, 1.0), (1150.0, 90.0, 0.6)], axis="ev", noise=0.004)
    single = analyze_pl(spec, n_components=2)
    fit = fit_batch(spec.x, spec.y[None, :], 2, background="linear")
    got = fit.centers_ev[0]
    want = sorted(p.energy_ev for p in single.peaks)
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_series_batch_one_component() -> None:
    series, truths = synth_series([1000.0, 1100.0, 1200.0], noise=0.0)
    fit = fit_series_batch(series, 1)
    np.testing.assert_allclose(fit.centers_ev[:, 0], [t.components[0].energy_ev for t in truths], atol=1e-8)
    assert fit.to_dict()["n_spectra"] == 3


def test_three_components() -> None:
    e = np.linspace(0.9, 1.7, 900)
    y = gaussian_ev(e, 1.05, 0.08, 1.0) + gaussian_ev(e, 1.25, 0.08, 0.8) + gaussian_ev(e, 1.45, 0.08, 0.6)
    fit = fit_batch(e, y, 3)
    np.testing.assert_allclose(fit.centers_ev[0], [1.05, 1.25, 1.45], atol=1e-8)


def test_bad_input() -> None:
    with pytest.raises(InputError):
        fit_batch(np.arange(10.0), np.ones((2, 9)), 2)
    with pytest.raises(InputError):
        fit_batch(np.arange(10.0), np.ones((2, 10)), 4)
    with pytest.raises(InputError):
        fit_batch(np.arange(100.0), np.ones((2, 100)), 2, background="cubic")


def test_stack_order_does_not_matter() -> None:
    e, Y, _, _ = _stack(m=12, noise=0.01, seed=5)
    perm = np.random.default_rng(0).permutation(12)
    a, b = fit_batch(e, Y, 2), fit_batch(e, Y[perm], 2)
    np.testing.assert_array_equal(a.centers_ev[perm], b.centers_ev)
    np.testing.assert_array_equal(a.fwhm_ev[perm], b.fwhm_ev)
