"""Agreement with DebyeCalculator (torch), only where it is installed.

It is never a dependency of qdlab: point DEBYECALC_PYTHON at a throwaway venv that has it (see
benchmarks/bench_xrd_debyecalculator.py), or install it where the tests run. Otherwise skipped.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from qdlab.xrd.debye import debye_intensity
from qdlab.xrd.structure import carve_sphere, cd3p2_structure

PYTHON = os.environ.get("DEBYECALC_PYTHON") or (sys.executable if importlib.util.find_spec("debyecalculator") else None)

CHILD = r"""
import sys, numpy as np
from debyecalculator import DebyeCalculator
d = np.load(sys.argv[1])
calc = DebyeCalculator(qmin=1.0, qmax=5.5, qstep=0.01, biso=0.8, device="cpu", rmax=200.0)
q, i = calc.iq(([str(s) for s in d["symbols"]], d["positions"].astype("float32")))
np.savez(sys.argv[2], q=q, i=i)
"""


@pytest.mark.skipif(PYTHON is None, reason="DebyeCalculator not installed (optional; never in .venv)")
def test_agrees_with_debyecalculator(tmp_path):
    pos, sym = carve_sphere(cd3p2_structure(), 2.7)
    np.savez(tmp_path / "in.npz", symbols=np.array(sym), positions=pos)
    subprocess.run([PYTHON, "-c", CHILD, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True, capture_output=True)
    ref = np.load(tmp_path / "out.npz")
    ours = debye_intensity(pos, sym, ref["q"], b_iso_angstrom2=0.8)
    a, b = ours / ours.sum(), ref["i"] / ref["i"].sum()
    # identical atoms; the residual is the form-factor tables (Waasmaier-Kirfel vs pymatgen), ~0.6 %
    assert np.max(np.abs(a / b - 1)) < 0.02
