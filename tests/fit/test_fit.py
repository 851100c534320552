"""The fit layer against lmfit (same data, same model), a Monte-Carlo of the noise, and its flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import InputError, ModelError
from qdlab.fit import FitResult, Model, Parameter, fit
from qdlab.fit.core import _Transform

SQ2PI = math.sqrt(2 * math.pi)


def _gauss_const(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, c, s, b = p
    return a / (s * SQ2PI) * np.exp(-0.5 * ((x - c) / s) ** 2) + b


GAUSS = Model(_gauss_const, ("amplitude", "center", "sigma", "c"), name="gaussian + constant")


def _skewed(x: np.ndarray, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """A band the Gaussian model does not describe: lmfit's skewed Gaussian (gamma = 3) plus white noise."""
    from scipy.special import erf

    a, c, s, gam = 1.0, 1.1, 0.05, 3.0
    g = a / (s * SQ2PI) * np.exp(-0.5 * ((x - c) / s) ** 2) * (1 + erf(gam * (x - c) / (s * math.sqrt(2))))
    return g + 0.2 + np.random.default_rng(seed).normal(0, noise * g.max(), x.size)


def _lmfit(x: np.ndarray, y: np.ndarray, p0: dict[str, float], sigma_min: float = 0.0):
    from lmfit.models import ConstantModel, GaussianModel

    m = GaussianModel() + ConstantModel()
    pars = m.make_params(amplitude=p0["amplitude"], center=p0["center"], sigma=p0["sigma"], c=p0["c"])
    pars["sigma"].set(min=sigma_min)
    return m.fit(y, pars, x=x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skewed_band_matches_lmfit(seed: int) -> None:
    """Values and standard errors equal lmfit's for a skewed band fitted with a Gaussian (model mismatch)."""
    x = np.linspace(0.8, 1.5, 700)
    y = _skewed(x, seed)
    p0 = {"amplitude": 1.5, "center": 1.15, "sigma": 0.08, "c": 0.1}
    ours = fit(GAUSS, x, y, [Parameter("amplitude", p0["amplitude"]), Parameter("center", p0["center"]),
                             Parameter("sigma", p0["sigma"], min=0.0), Parameter("c", p0["c"])])
    ref = _lmfit(x, y, p0)
    assert ours.success
    for n in GAUSS.names:
        assert ours[n] == pytest.approx(ref.params[n].value, rel=1e-5, abs=1e-9)
        assert ours.err(n) == pytest.approx(ref.params[n].stderr, rel=0.02)
    assert ours.rss == pytest.approx(ref.chisqr, rel=1e-6)
    assert ours.bic == pytest.approx(ref.bic, rel=1e-6)
    # the centre of a Gaussian fitted to a right-skewed band lies above the skewed band's location
    assert ours["center"] > 1.1


def test_standard_errors_match_a_monte_carlo_of_the_noise() -> None:
    """sqrt(diag(cov)) equals the spread of the estimates over 300 noise realisations (within 12 %)."""
    rng = np.random.default_rng(7)
    x = np.linspace(-1, 1, 200)
    truth = np.array([0.3, 0.1, 0.15, 0.05])
    clean = _gauss_const(x, truth)
    est, errs = [], []
    pars = [Parameter("amplitude", 0.25), Parameter("center", 0.0), Parameter("sigma", 0.2, min=0.0), Parameter("c", 0.0)]
    for _ in range(300):
        r = fit(GAUSS, x, clean + rng.normal(0, 0.02, x.size), pars)
        est.append(r.values)
        errs.append(r.stderr)
    est_a, errs_a = np.array(est), np.array(errs)
    assert np.all(np.abs(est_a.mean(0) - truth) < 4 * est_a.std(0) / math.sqrt(300))
    np.testing.assert_allclose(np.median(errs_a, 0), est_a.std(0, ddof=1), rtol=0.12)


def test_analytic_jacobian_gives_the_same_fit_as_finite_differences() -> None:
    def jac(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        a, c, s, _b = p
        g = np.exp(-0.5 * ((x - c) / s) ** 2) / (s * SQ2PI)
        z = (x - c) / s
        return np.stack([g, a * g * z / s, a * g * (z * z - 1) / s, np.ones_like(x)], 1)

    x = np.linspace(0.8, 1.5, 400)
    y = _skewed(x, 5)
    pars = [Parameter("amplitude", 1.0), Parameter("center", 1.2), Parameter("sigma", 0.1, min=0.0), Parameter("c", 0.0)]
    a = fit(GAUSS, x, y, pars)
    b = fit(Model(_gauss_const, GAUSS.names, jac=jac, name="analytic"), x, y, pars)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)
    np.testing.assert_allclose(a.stderr, b.stderr, rtol=1e-3)


def test_at_bound_is_flagged_and_reported() -> None:
    x = np.linspace(-1, 1, 200)
    y = _gauss_const(x, np.array([0.3, 0.1, 0.15, 0.05]))
    r = fit(GAUSS, x, y, [Parameter("amplitude", 0.2), Parameter("center", 0.0), Parameter("sigma", 0.3, min=0.2, max=1.0),
                          Parameter("c", 0.0)])
    assert r.has("at_bound", "sigma") and r["sigma"] == pytest.approx(0.2, abs=1e-6)
    assert not r.success and r.flagged("at_bound") == ["sigma"]
    assert any("sigma" in w and "lower bound 0.2" in w for w in r.warnings())
    rep = r.report()
    assert "FLAGS: at_bound" in rep and "[[Warnings]]" in rep
    d = r.to_dict()
    assert d["parameters"]["sigma"]["flags"] == ["at_bound"] and d["warnings"]


def test_not_converged_and_fixed_parameters() -> None:
    x = np.linspace(-1, 1, 200)
    y = _gauss_const(x, np.array([0.3, 0.1, 0.15, 0.05]))
    pars = [Parameter("amplitude", 0.01), Parameter("center", 0.7), Parameter("sigma", 0.5, min=0.0), Parameter("c", 0.05, vary=False)]
    r = fit(GAUSS, x, y, pars, max_nfev=3)
    assert r.has("not_converged", "_fit")
    full = fit(GAUSS, x, y, pars)
    assert full["c"] == 0.05 and math.isnan(full.err("c")) and full.n_free == 3
    assert full["center"] == pytest.approx(0.1, abs=1e-7)
    assert "(fixed)" in full.report()


def test_flag_below_noise_and_bad_input() -> None:
    x = np.linspace(0, 1, 20)
    line = Model(lambda x, p: p[0] + p[1] * x, ("a", "b"), name="line")
    r = fit(line, x, 1 + 2 * x, [Parameter("a", 0.0), Parameter("b", 0.0)])
    r2 = r.with_flag("b", "below_noise", "slope 2 is below 5 noise sigmas")
    assert isinstance(r2, FitResult) and r2.has("below_noise", "b") and not r.has("below_noise")
    assert "slope 2 is below 5 noise sigmas" in r2.warnings()[0]
    with pytest.raises(InputError):
        r.with_flag("b", "nonsense")
    with pytest.raises(InputError):
        fit(line, x, np.where(x > 0.5, np.nan, x), [Parameter("a", 0.0), Parameter("b", 0.0)])
    with pytest.raises(InputError):
        fit(line, x, x, [Parameter("a", 0.0)])
    with pytest.raises(InputError):
        Parameter("a", 0.0, min=1.0, max=0.0)
    with pytest.raises(ModelError):
        fit(Model(lambda x, p: np.full_like(x, np.nan), ("a",), name="nan"), x, x, [Parameter("a", 1.0)])


@settings(max_examples=200, deadline=None)
@given(
    lo=st.one_of(st.none(), st.floats(-1e3, 1e3)),
    width=st.floats(1e-3, 1e3),
    frac=st.floats(0, 1),
    upper=st.booleans(),
)
def test_bound_transform_round_trips(lo: float | None, width: float, frac: float, upper: bool) -> None:
    """forward(inverse(p)) == p for every bound kind, and forward() never leaves the bounds."""
    if lo is None:
        lo_a, hi_a = np.array([-np.inf]), np.array([np.inf])
        p = np.array([frac * width])
    elif upper:
        lo_a, hi_a = np.array([-np.inf]), np.array([lo])
        p = np.array([lo - frac * width])
    else:
        lo_a, hi_a = np.array([lo]), np.array([lo + width])
        p = np.array([lo + frac * width])
    t = _Transform(lo_a, hi_a)
    assert t.forward(t.inverse(p))[0] == pytest.approx(p[0], rel=1e-6, abs=1e-6 * width)
    for u in (-1e3, -3.0, 0.0, 2.0, 1e3):
        v = t.forward(np.array([u]))[0]
        assert lo_a[0] <= v <= hi_a[0]
