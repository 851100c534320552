"""Optional: qdlab's Debye patterns vs DebyeCalculator (Johansen et al., torch; Apache-2.0) on the same atoms.

DebyeCalculator needs torch. Never install it into the project's .venv (a blind ``pip install torch``
pulls a multi-GB CUDA build). Use a throwaway venv with the CPU wheel:

    python3 -m venv /tmp/dcvenv
    /tmp/dcvenv/bin/pip install torch==2.13.0      # the CPU wheel; here: /opt/wheels/torch-2.13.0+cpu-*.whl
    /tmp/dcvenv/bin/pip install debyecalculator
    DEBYECALC_PYTHON=/tmp/dcvenv/bin/python .venv/bin/python benchmarks/bench_xrd_debyecalculator.py

The atoms (a sphere cut by qdlab) are handed to DebyeCalculator as (symbols, positions), so both codes
sum over identical pairs; the remaining differences are the form-factor tables (DebyeCalculator:
Waasmaier-Kirfel; qdlab: pymatgen's Mott-Bethe table) and float32 vs float64. Shapes are compared
after normalising both patterns to the same integral. Without torch the script says so and exits 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qdlab.xrd.debye import debye_intensity
from qdlab.xrd.structure import carve_sphere, cd3p2_structure

B_ISO = 0.8
Q_MIN, Q_MAX, Q_STEP = 1.0, 5.5, 0.005

_CHILD = r"""
import json, sys, time, numpy as np
from debyecalculator import DebyeCalculator
d = np.load(sys.argv[1])
calc = DebyeCalculator(qmin=float(d["qmin"]), qmax=float(d["qmax"]), qstep=float(d["qstep"]), biso=float(d["biso"]),
                       device="cpu", rmax=200.0)
sym = [str(s) for s in d["symbols"]]
pos = d["positions"].astype("float32")
calc.iq((sym, pos))  # warm-up
t0 = time.perf_counter(); q, i = calc.iq((sym, pos)); t = time.perf_counter() - t0
np.savez(sys.argv[2], q=q, i=i, t=t)
"""


def reference(python: str, symbols: list[str], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, symbols=np.array(symbols), positions=positions, qmin=Q_MIN, qmax=Q_MAX, qstep=Q_STEP, biso=B_ISO)
        subprocess.run([python, "-c", _CHILD, str(src), str(dst)], check=True, capture_output=True, text=True)
        out = np.load(dst)
        return out["q"], out["i"], float(out["t"])


def compare(python: str) -> list[dict[str, float]]:
    rows = []
    for d_nm in (2.7, 3.4, 5.0):
        pos, sym = carve_sphere(cd3p2_structure(), d_nm)
        q_ref, i_ref, t_ref = reference(python, sym, pos)
        debye_intensity(pos, sym, q_ref, b_iso_angstrom2=B_ISO)
        t0 = time.perf_counter()
        ours = debye_intensity(pos, sym, q_ref, b_iso_angstrom2=B_ISO)
        t_ours = time.perf_counter() - t0
        a, b = ours / ours.sum(), i_ref / i_ref.sum()
        rows.append({"diameter_nm": d_nm, "atoms": len(pos), "qdlab_s": t_ours, "debyecalculator_s": t_ref,
                     "max_rel_diff": float(np.max(np.abs(a / b - 1))), "rms_rel_diff": float(np.sqrt(np.mean((a / b - 1) ** 2)))})
    return rows


def main() -> None:
    python = os.environ.get("DEBYECALC_PYTHON")
    if python is None:
        try:
            import debyecalculator  # noqa: F401
        except ImportError:
            print("DebyeCalculator not available: set DEBYECALC_PYTHON (see the module docstring). Nothing to compare.")
            return
        python = sys.executable
    rows = compare(python)
    print(f"{'D (nm)':>6s} {'atoms':>6s} {'qdlab s':>8s} {'DebyeCalc s':>12s} {'ratio':>6s} {'max rel':>8s} {'rms rel':>8s}")
    for r in rows:
        print(f"{r['diameter_nm']:6.1f} {r['atoms']:6d} {r['qdlab_s']:8.3f} {r['debyecalculator_s']:12.3f} "
              f"{r['debyecalculator_s'] / r['qdlab_s']:5.1f}x {r['max_rel_diff']:8.1e} {r['rms_rel_diff']:8.1e}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
