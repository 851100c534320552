"""Write the expected values of the real-file corpus (tests/data/real/**/*.expected.json).

Every number here comes from a source other than qdlab: the peer library of the field (pymzml, pyteomics'
mzXML reader for Bruker's own CompassXport export, jcamp, WrightTools, ncempy, RosettaSciIO, tifffile) or the
file's header decoded by the few lines below. Run once, by hand, when the corpus changes; the tests only read
the JSON it writes and never import the peer libraries that are not qdlab dependencies.

    PYTHONPATH=/path/to/peer-libs python tools/make_real_fixtures.py [ms|spectra|tem|xrd ...]

Peer libraries used (install into a scratch --target folder, not the project venv): pymzml, WrightTools,
rosettasciio, xylib-py if available. pyteomics, jcamp, ncempy and tifffile are project dependencies.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("wrote", path.relative_to(ROOT))


def _sample_idx(n: int, k: int = 9) -> list[int]:
    return sorted({int(v) for v in np.rint(np.linspace(0, n - 1, k))})


# --------------------------------------------------------------------------------------------------- MS
def _acqu_header(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        m = re.match(r"##\$(\w+)= ?(.*)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _flex_header_fixture(fid: Path) -> dict:
    """Header values and the Titulaer quadratic masses at a few samples, solved with numpy.roots."""
    h = _acqu_header(fid.parent / "acqu")
    td, delay, dw = int(h["TD"]), float(h["DELAY"]), float(h["DW"])
    ml1, ml2, ml3 = float(h["ML1"]), float(h["ML2"]), float(h["ML3"])
    counts = np.fromfile(fid, dtype="<i4" if h["BYTORDA"] == "0" else ">i4")
    idx = _sample_idx(td)
    masses = []
    for i in idx:
        t = delay + i * dw
        roots = np.roots([ml3, np.sqrt(1e12 / ml1), ml2 - t])  # ML3 x^2 + sqrt(1e12/ML1) x + ML2 - t = 0, x = sqrt(m)
        x = min(r.real for r in roots if abs(r.imag) < 1e-12 and r.real > 0)
        masses.append(float(x * x))
    return {
        "source": "header (acqu) + Titulaer et al. 2006 quadratic, solved per sample with numpy.roots",
        "TD": td, "DELAY_ns": delay, "DW_ns": dw, "ML1": ml1, "ML2": ml2, "ML3": ml3,
        "AQOP_m": h.get("AQOP_m"), "HPClUse": h.get("HPClUse"), "fid_values": int(counts.size),
        "sample_index": idx, "quadratic_mz": masses, "counts": [int(counts[i]) for i in idx],
    }


def ms() -> None:
    base = ROOT / "ms"
    for fid in sorted(f for f in base.glob("readBrukerFlexData/**/fid") if f.is_file()):
        _write(fid.parent / "fid.expected.json", _flex_header_fixture(fid))
    # Bruker's own export (CompassXport 1.3.5, HPC applied) of the HPC fid, read with pyteomics
    from pyteomics import mzxml

    mzx = base / "readBrukerFlexData" / "hpc" / "mzXML" / "hpc.mzXML"
    scan = next(iter(mzxml.MzXML(str(mzx), use_index=False)))
    mz, inten = scan["m/z array"], scan["intensity array"]
    idx = _sample_idx(mz.size, 25)
    _write(mzx.with_suffix(".expected.json"), {
        "source": "pyteomics.mzxml reading of Bruker CompassXport 1.3.5 export (HPC-calibrated masses, float32)",
        "points": int(mz.size), "first_mz": float(mz[0]), "last_mz": float(mz[-1]),
        "base_peak_mz": float(scan["basePeakMz"]), "base_peak_intensity": float(scan["basePeakIntensity"]),
        "sample_index": idx, "mz": [float(mz[i]) for i in idx], "intensity": [float(inten[i]) for i in idx],
    })
    import pymzml

    mzml = base / "pymzml" / "example.mzML"
    run = pymzml.run.Reader(str(mzml))
    spec = next(iter(run))
    mz, inten = np.asarray(spec.mz), np.asarray(spec.i)
    idx = _sample_idx(mz.size)
    _write(mzml.with_suffix(".expected.json"), {
        "source": f"pymzml {pymzml.__version__} reading of spectrum index 0",
        "id": str(spec.ID), "ms_level": int(spec.ms_level), "points": int(mz.size), "centroided": True,
        "first_mz": float(mz[0]), "last_mz": float(mz[-1]),
        "sample_index": idx, "mz": [float(mz[i]) for i in idx], "intensity": [float(inten[i]) for i in idx],
    })


DOMAINS = {"ms": ms}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(DOMAINS):
        DOMAINS[name]()
