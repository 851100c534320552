"""Debye-equation patterns of Cd3P2 spheres: qdlab (numba pair histogram + binned sinc sum) vs a plain
numpy reference (exact double sum over atom pairs, vectorised over q, one atom row at a time).

Also times the size-library build used by the fits (all concentric spheres at once) against computing
the same patterns one diameter at a time with qdlab's single-pattern path.
Run: ``.venv/bin/python benchmarks/bench_xrd.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _table import record

from qdlab.xrd.debye import SphereLibrary, debye_intensity, debye_intensity_exact, debye_pattern, q_from_two_theta
from qdlab.xrd.structure import carve_sphere, cd3p2_structure


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    tt = np.arange(10.0, 80.0 + 1e-9, 0.02)  # 3501 points, Cu K-alpha1
    q = q_from_two_theta(tt, 1.540598)
    debye_pattern(1.0, tt)  # compile the numba kernels (cached on disk afterwards)
    s = cd3p2_structure()
    print(f"{'D (nm)':>6s} {'atoms':>6s} {'qdlab s':>9s} {'numpy exact s':>14s} {'ratio':>7s} {'max rel diff':>13s}")
    for d in (2.7, 3.4, 5.0):
        pos, sym = carve_sphere(s, d)
        t_ours = timed(lambda p=pos, y=sym: debye_intensity(p, y, q))
        ref_q = q[::50]  # the reference is slow: time every 50th point and scale to the full grid
        t_ref = timed(lambda p=pos, y=sym, qq=ref_q: debye_intensity_exact(p, y, qq, b_iso_angstrom2=0.8), repeat=1)
        t_ref *= len(q) / len(ref_q)
        a = debye_intensity(pos, sym, ref_q)
        b = debye_intensity_exact(pos, sym, ref_q, b_iso_angstrom2=0.8)
        print(f"{d:6.1f} {len(pos):6d} {t_ours:9.3f} {t_ref:14.2f} {t_ref / t_ours:6.0f}x {np.max(np.abs(a / b - 1)):13.1e}")
        if d == 5.0:
            record("xrd", f"Debye intensity, {d:g} nm Cd3P2 sphere ({len(pos)} atoms), 3,501 points", t_ours, "s",
                   reference=t_ref, reference_name="numpy exact pair sum (timed on every 50th q)",
                   note=f"max rel diff {np.max(np.abs(a / b - 1)):.1e}")
    t_full = timed(lambda: debye_pattern(5.0, tt), repeat=3)
    print(f"debye_pattern(5 nm, 3501 points, incl. carving + polarisation): {t_full:.3f} s (acceptance: <= 1 s)")
    record("xrd", "debye_pattern, 5 nm sphere, 3,501 points (incl. carving)", t_full, "s", target=1.0)

    t_lib = timed(lambda: SphereLibrary("Cd3P2", float(q[0]), float(q[-1]), max_diameter_nm=7.0), repeat=1)
    lib_q = SphereLibrary("Cd3P2", float(q[0]), float(q[-1]), max_diameter_nm=1.0).q
    diams = np.arange(1, 71) * 0.1
    t0 = time.perf_counter()
    for d in diams[9::7]:
        debye_intensity(*carve_sphere(s, float(d)), lib_q, bin_width_angstrom=0.01)
    t_one = (time.perf_counter() - t0) / len(diams[9::7]) * len(diams)
    print(f"size library 0.1-7 nm (70 sizes): {t_lib:.2f} s vs one at a time {t_one:.2f} s (est.): {t_one / t_lib:.1f}x")

    from qdlab.xrd.match import fit_crystallite_size, match_phases
    from qdlab.xrd.synth import simulate_measurement

    meas = simulate_measurement(4.4, sigma_rel=0.08, seed=1).diffractogram
    t_first = timed(lambda: fit_crystallite_size(meas, sigma_rel=0.08), repeat=1)  # builds the library
    t_fit = timed(lambda: fit_crystallite_size(meas, sigma_rel=0.08))
    t_match = timed(lambda: match_phases(meas, sigma_rel=0.08), repeat=1)
    print(f"size + lattice fit, {len(meas)} points: first {t_first:.2f} s (library), then {t_fit:.2f} s; "
          f"phase check of 4 candidates: {t_match:.2f} s")
    record("xrd", "size + lattice fit of one pattern (library built)", t_fit, "s", note=f"first call {t_first:.2f} s")


if __name__ == "__main__":
    main()
