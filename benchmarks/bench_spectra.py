"""Batched PL fitting: qdlab.spectra.fit_batch (numba LM over the stack) vs lmfit one spectrum at a time.

1,000 synthetic PL spectra (1,000 points, two Gaussian components in energy, separation 1-2 mean FWHM,
1 % noise, constant background) are fitted by both in the same run. lmfit gets the same data-driven
starting values as our fitter (local maxima and half widths) and fits ``GaussianModel + GaussianModel
+ ConstantModel``; it is timed on ``--n-ref`` spectra (default 100) and its per-spectrum time is scaled
to the stack. Parameters are compared on those spectra. Wall time and process CPU time are both printed
(the CPU time is what the machine's other users cannot steal).

Run: ``.venv/bin/python benchmarks/bench_spectra.py [--n-ref 100] [--axis ev|nm]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from qdlab.spectra.batch import _background_level, _init_maxima, fit_batch
from qdlab.spectra.synth import gaussian_ev
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM


def make_stack(m: int = 1000, n: int = 1000, seed: int = 1, axis: str = "ev") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-band spectra; returns (axis, Y, true centres sorted per row)."""
    rng = np.random.default_rng(seed)
    e = np.linspace(0.8, 1.6, n) if axis == "ev" else np.sort(HC_EV_NM / np.linspace(HC_EV_NM / 1.6, HC_EV_NM / 0.8, n))
    f1 = rng.uniform(0.08, 0.15, m)
    f2 = rng.uniform(0.08, 0.15, m)
    c1 = rng.uniform(1.1, 1.3, m)
    sep = rng.uniform(1.0, 2.0, m) * 0.5 * (f1 + f2)
    a1 = rng.uniform(0.5, 1.0, m)
    a2 = rng.uniform(0.3, 1.0, m)
    Y = np.stack([gaussian_ev(e, c1[i], f1[i], a1[i]) + gaussian_ev(e, c1[i] - sep[i], f2[i], a2[i]) for i in range(m)])
    Y += 0.05 + rng.normal(0.0, 0.01 * Y.max(axis=1, keepdims=True), Y.shape)
    return e, Y, np.sort(np.stack([c1 - sep, c1], 1), 1)


def lmfit_one(e: np.ndarray, y: np.ndarray):
    from lmfit.models import ConstantModel, GaussianModel

    b0 = _background_level(y)
    seeds = np.zeros((2, 4))
    _init_maxima(e, y, 2, b0, seeds)
    model = GaussianModel(prefix="g1_") + GaussianModel(prefix="g2_") + ConstantModel()
    params = model.make_params(c=b0)
    for k, pre in enumerate(("g1_", "g2_")):
        c, s, h = seeds[k, :3]
        params[f"{pre}center"].set(value=c)
        params[f"{pre}sigma"].set(value=s, min=0)
        params[f"{pre}amplitude"].set(value=h * s * np.sqrt(2 * np.pi))
    return model.fit(y, params, x=e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ref", type=int, default=100, help="spectra fitted with lmfit (timing and agreement)")
    ap.add_argument("--axis", choices=("ev", "nm"), default="ev", help="uniform energy grid, or uniform wavelength grid (non-uniform in energy)")
    args = ap.parse_args()

    e, Y, truth = make_stack(axis=args.axis)
    fit_batch(e, Y[:4], 2)  # JIT compile / load the cache
    walls, cpus = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_batch(e, Y, 2)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t_ours, cpu_ours = statistics.median(walls), statistics.median(cpus)

    nref = min(args.n_ref, Y.shape[0])
    ref_c, ref_f, ref_rss = np.zeros((nref, 2)), np.zeros((nref, 2)), np.zeros(nref)
    lmfit_one(e, Y[0])  # import and warm lmfit
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(nref):
        r = lmfit_one(e, Y[i])
        c = np.array([r.params["g1_center"].value, r.params["g2_center"].value])
        f = FWHM_PER_SIGMA * np.array([r.params["g1_sigma"].value, r.params["g2_sigma"].value])
        o = np.argsort(c)
        ref_c[i], ref_f[i] = c[o], f[o]
        ref_rss[i] = float(np.sum(r.residual**2))
    t_ref = (time.perf_counter() - t0) / nref
    cpu_ref = (time.process_time() - c0) / nref

    dc = 1000 * np.abs(fit.centers_ev[:nref] - ref_c)
    dfw = 1000 * np.abs(fit.fwhm_ev[:nref] - ref_f)
    truth_err = 1000 * np.abs(fit.centers_ev - truth)
    m = Y.shape[0]
    print(f"stack: {m} spectra x {Y.shape[1]} points, 2 Gaussians + constant, axis uniform in {args.axis}")
    print(f"qdlab fit_batch      wall {t_ours * 1e3:8.1f} ms   cpu {cpu_ours * 1e3:8.1f} ms   ({t_ours / m * 1e6:.0f} us/spectrum wall)")
    print(f"lmfit one by one     wall {t_ref * 1e3:8.2f} ms/spectrum   cpu {cpu_ref * 1e3:8.2f} ms/spectrum   (n={nref}, scaled to {m}: {t_ref * m:.1f} s)")
    print(f"ratio (lmfit / qdlab, same run): wall {t_ref * m / t_ours:6.1f}x   cpu {cpu_ref * m / cpu_ours:6.1f}x")
    same = ref_rss <= fit.rss[:nref] * (1 + 1e-6)  # lmfit reached our minimum (or a lower one)
    worse = ~same
    agree = (dc.max(1) < 0.1) & (dfw.max(1) < 0.1)
    print(
        f"agreement with lmfit on {nref}: within 0.1 meV (centres and FWHM): {int(agree.sum())}/{nref}; "
        f"where lmfit reached the same minimum ({int(same.sum())}): centre max {dc[same].max() if same.any() else 0:.2e} meV, "
        f"FWHM max {dfw[same].max() if same.any() else 0:.2e} meV"
    )
    if worse.any():
        ratio = ref_rss[worse] / fit.rss[:nref][worse]
        print(
            f"  lmfit stopped in a worse local minimum on {int(worse.sum())} spectra "
            f"(its RSS {ratio.min():.2f}-{ratio.max():.2f}x ours, from the same starting values)"
        )
    print(
        f"vs ground truth (all {m}): centre median {np.median(truth_err):.3f} meV, max {truth_err.max():.3f} meV; "
        f"converged {int(fit.converged.sum())}/{m}; iterations median {int(np.median(fit.n_iter))}"
    )


if __name__ == "__main__":
    main()
