"""PL fitting cost: the fit layer (qdlab.fit) vs lmfit on the same problems, and what a series costs.

1. A stack of synthetic PL spectra (1,000 points, two Gaussian components in energy, separation 1-2 mean
   FWHM, 1 % noise, constant background) is fitted one spectrum at a time by ``qdlab.fit.fit`` and by
   lmfit (``GaussianModel + GaussianModel + ConstantModel``) from the same data-driven starting values;
   per-spectrum wall and CPU time and the agreement of the parameters are printed.
2. ``qdlab.spectra.analyze_series`` (what ``qdlab spectra series`` and the pipeline run: 1-3 components,
   several starting points each, BIC selection, bimodality) on a synthetic 30-aliquot series.

The numba batch fitter that this benchmark used to time (``qdlab.spectra.batch``, removed) fitted a fixed
number of bands with no model selection; no analysis path called it. Its last measurement is kept in
``docs/spectra.md``.

Run: ``.venv/bin/python benchmarks/bench_spectra.py [--m 200]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _table import record

from qdlab.fit import Model, Parameter, fit
from qdlab.spectra.synth import gaussian_ev, synth_series
from qdlab.units import FWHM_PER_SIGMA

SQ2PI = math.sqrt(2 * math.pi)


def make_stack(m: int, n: int = 1000, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-band spectra on a uniform energy grid; returns (axis, Y, true centres sorted per row)."""
    rng = np.random.default_rng(seed)
    e = np.linspace(0.8, 1.6, n)
    f1, f2 = rng.uniform(0.08, 0.15, m), rng.uniform(0.08, 0.15, m)
    c1 = rng.uniform(1.1, 1.3, m)
    sep = rng.uniform(1.0, 2.0, m) * 0.5 * (f1 + f2)
    a1, a2 = rng.uniform(0.5, 1.0, m), rng.uniform(0.3, 1.0, m)
    Y = np.stack([gaussian_ev(e, c1[i], f1[i], a1[i]) + gaussian_ev(e, c1[i] - sep[i], f2[i], a2[i]) for i in range(m)])
    Y += 0.05 + rng.normal(0.0, 0.01 * Y.max(axis=1, keepdims=True), Y.shape)
    return e, Y, np.sort(np.stack([c1 - sep, c1], 1), 1)


def seeds(e: np.ndarray, y: np.ndarray) -> list[tuple[float, float, float]]:
    """Two starting bands: the maximum, then the largest residual after removing a first Gaussian guess."""
    b0 = float(np.percentile(y, 5))
    yy = y - b0
    out = []
    for _ in range(2):
        i = int(np.argmax(yy))
        h = float(yy[i])
        above = np.nonzero(yy >= 0.5 * h)[0]
        s = max((e[above[-1]] - e[above[0]]) / FWHM_PER_SIGMA / 2, 0.01)
        out.append((float(e[i]), s, h))
        yy = yy - h * np.exp(-0.5 * ((e - e[i]) / s) ** 2)
    return out


def _two(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    a1, c1, s1, a2, c2, s2, b = p
    return (a1 / (s1 * SQ2PI) * np.exp(-0.5 * ((x - c1) / s1) ** 2)
            + a2 / (s2 * SQ2PI) * np.exp(-0.5 * ((x - c2) / s2) ** 2) + b)


def _two_jac(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    cols = []
    for a, c, s in (p[0:3], p[3:6]):
        z = (x - c) / s
        g = np.exp(-0.5 * z * z) / (s * SQ2PI)
        cols += [g, a * g * z / s, a * g * (z * z - 1) / s]
    return np.stack([*cols, np.ones_like(x)], 1)


TWO = Model(_two, ("g1_amplitude", "g1_center", "g1_sigma", "g2_amplitude", "g2_center", "g2_sigma", "c"), jac=_two_jac,
            name="2 Gaussians + constant")


def ours_one(e: np.ndarray, y: np.ndarray):
    (c1, s1, h1), (c2, s2, h2) = seeds(e, y)
    pars = [Parameter("g1_amplitude", h1 * s1 * SQ2PI), Parameter("g1_center", c1), Parameter("g1_sigma", s1, min=0.0),
            Parameter("g2_amplitude", h2 * s2 * SQ2PI), Parameter("g2_center", c2), Parameter("g2_sigma", s2, min=0.0),
            Parameter("c", float(np.percentile(y, 5)))]
    return fit(TWO, e, y, pars)


def lmfit_one(e: np.ndarray, y: np.ndarray):
    from lmfit.models import ConstantModel, GaussianModel

    (c1, s1, h1), (c2, s2, h2) = seeds(e, y)
    model = GaussianModel(prefix="g1_") + GaussianModel(prefix="g2_") + ConstantModel()
    params = model.make_params(c=float(np.percentile(y, 5)))
    for pre, (c, s, h) in (("g1_", (c1, s1, h1)), ("g2_", (c2, s2, h2))):
        params[f"{pre}center"].set(value=c)
        params[f"{pre}sigma"].set(value=s, min=0)
        params[f"{pre}amplitude"].set(value=h * s * SQ2PI)
    return model.fit(y, params, x=e)


def _timed(fn, e, Y):
    t0, c0 = time.perf_counter(), time.process_time()
    out = [fn(e, y) for y in Y]
    return out, (time.perf_counter() - t0) / len(Y), (time.process_time() - c0) / len(Y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=200, help="spectra in the stack")
    ap.add_argument("--aliquots", type=int, default=30, help="aliquots in the series of part 2")
    args = ap.parse_args()

    e, Y, truth = make_stack(args.m)
    ours_one(e, Y[0])
    lmfit_one(e, Y[0])  # imports and warm-up
    ours, t_o, c_o = _timed(ours_one, e, Y)
    ref, t_r, c_r = _timed(lmfit_one, e, Y)
    names = TWO.names
    P = np.array([r.values for r in ours])
    R = np.array([[r.params[k].value for k in names] for r in ref])
    rss_o = np.array([r.rss for r in ours])
    rss_r = np.array([r.chisqr for r in ref])
    same = np.abs(rss_o - rss_r) <= 1e-6 * rss_r
    dc = 1000 * np.abs(P[:, [1, 4]] - R[:, [1, 4]])
    cen = np.sort(P[:, [1, 4]], 1)
    terr = 1000 * np.abs(cen - truth)
    print(f"stack: {args.m} spectra x {Y.shape[1]} points, 2 Gaussians + constant, same starting values")
    print(f"qdlab.fit one by one  wall {t_o * 1e3:7.2f} ms/spectrum   cpu {c_o * 1e3:7.2f} ms/spectrum")
    print(f"lmfit one by one      wall {t_r * 1e3:7.2f} ms/spectrum   cpu {c_r * 1e3:7.2f} ms/spectrum")
    print(f"ratio lmfit/qdlab.fit: wall {t_r / t_o:5.1f}x  cpu {c_r / c_o:5.1f}x")
    print(f"same minimum on {int(same.sum())}/{args.m}; there centres differ by at most {dc[same].max():.2e} meV; "
          f"lower RSS: qdlab {int(np.sum(rss_o < rss_r * (1 - 1e-6)))}, lmfit {int(np.sum(rss_r < rss_o * (1 - 1e-6)))}")
    print(f"vs truth (qdlab.fit): centre median {np.median(terr):.3f} meV, flagged fits {sum(not r.success for r in ours)}")
    record("spectra", "2-Gaussian PL fit, one spectrum (wall)", 1e3 * t_o, "ms", reference=1e3 * t_r,
           reference_name="lmfit, same model and start", note=f"same minimum on {int(same.sum())}/{args.m}")

    from qdlab.spectra.series import analyze_series

    peaks = np.linspace(1000.0, 1300.0, args.aliquots)
    series, _ = synth_series(list(peaks), noise=0.01, apex=True)
    analyze_series(series)  # warm
    t0, c0 = time.perf_counter(), time.process_time()
    res = analyze_series(series)
    tw, tc = time.perf_counter() - t0, time.process_time() - c0
    err = np.abs(np.array([r["peak_wavelength_nm"] for r in res.table]) - peaks)
    print(f"analyze_series, {args.aliquots} aliquots (1-3 bands, BIC): wall {tw:.2f} s  cpu {tc:.2f} s "
          f"({tc / args.aliquots * 1e3:.0f} ms cpu/aliquot); band apex vs truth max {err.max():.2f} nm")
    record("spectra", f"analyze_series, {args.aliquots} aliquots (1-3 bands, BIC; wall)", tw, "s",
           note=f"apex vs truth max {err.max():.2f} nm")


if __name__ == "__main__":
    main()
