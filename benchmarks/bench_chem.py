"""Isotope envelope of heavy Cd-rich ions: qdlab (FFT over nominal-mass bins) vs molmass and IsoSpecPy.

Prints per-formula times, speed-up ratios and the L1 distance between the binned distributions.
Run: ``.venv/bin/python benchmarks/bench_chem.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _table import record

from qdlab.chem import isotope_envelope

FORMULAS = [
    ("Cd32P20(OA)5", "Cd32P20(C17H33CO2)5", "Cd32P20C90H165O10"),
    ("Cd53P33(OA)9", "Cd53P33(C17H33CO2)9", "Cd53P33C162H297O18"),
    ("Cd10P6(OA)2", "Cd10P6(C17H33CO2)2", "Cd10P6C36H66O4"),
]


def best_of(fn, repeat: int = 7, number: int = 5) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls (s)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def binned(masses, probs) -> dict[int, float]:
    out: dict[int, float] = {}
    for m, p in zip(masses, probs, strict=True):
        out[round(m)] = out.get(round(m), 0.0) + p
    return out


def l1(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def main() -> None:
    import molmass

    print(f"{'formula':16s} {'qdlab ms':>9s} {'molmass ms':>11s} {'ratio':>7s} {'L1 vs molmass':>14s}")
    for ours, mm_text, _ in FORMULAS:
        isotope_envelope(ours)  # warm caches (parsing, isotope tables)
        t_ours = best_of(lambda o=ours: isotope_envelope(o))
        t_mm = best_of(lambda t=mm_text: molmass.Formula(t).spectrum(), repeat=5, number=2)
        env = isotope_envelope(ours)
        spec = molmass.Formula(mm_text).spectrum()
        m = np.array([e.mass for e in spec.values()])
        p = np.array([e.fraction for e in spec.values()])
        dist = l1(binned(env.mass_da, env.probability), binned(m, p / p.sum()))
        print(f"{ours:16s} {1e3 * t_ours:9.3f} {1e3 * t_mm:11.2f} {t_mm / t_ours:6.1f}x {dist:14.2e}")
        record("chem", f"isotope envelope {ours}", 1e3 * t_ours, "ms", reference=1e3 * t_mm,
               reference_name="molmass spectrum()", target=50.0, target_on="ratio", better="higher",
               note=f"L1 vs molmass {dist:.1e}")

    try:
        import IsoSpecPy
    except ImportError:  # pragma: no cover
        return
    ours, _, iso_text = FORMULAS[0]
    t0 = time.perf_counter()
    dist = IsoSpecPy.IsoTotalProb(formula=iso_text, prob_to_cover=0.999)
    m = np.array(list(dist.masses))
    p = np.array(list(dist.probs))
    t_iso = time.perf_counter() - t0
    env = isotope_envelope(ours)
    print(
        f"IsoSpecPy fine structure (99.9 % coverage) {ours}: {t_iso:.2f} s, {m.size} configurations; "
        f"L1 vs qdlab {l1(binned(env.mass_da, env.probability), binned(m, p / p.sum())):.1e}"
    )


if __name__ == "__main__":
    main()
