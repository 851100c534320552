"""Write the expected values of the real-file corpus (tests/data/real/**/*.expected.json).

Every number here comes from a source other than qdlab: the peer library of the field (pymzml, pyteomics'
mzXML reader for Bruker's own CompassXport export, jcamp, WrightTools, ncempy, RosettaSciIO, tifffile) or the
file's header decoded by the few lines below. Run once, by hand, when the corpus changes; the tests only read
the JSON it writes and never import the peer libraries that are not qdlab dependencies.

    PYTHONPATH=/path/to/peer-libs python tools/make_real_fixtures.py [ms|spectra|tem|xrd ...]

Peer libraries used (install into a scratch --target folder, not the project venv): pymzml, WrightTools,
rosettasciio, xrayutilities (ms/spectra need the first two; tem rosettasciio; xrd xrayutilities). pyteomics, jcamp, ncempy and tifffile are project dependencies.
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


# --------------------------------------------------------------------------------------------------- spectra
def _spectrum_entry(label: str, x, y, x_unit: str) -> dict:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    idx = _sample_idx(x.size)
    return {"label": label, "x_unit": x_unit, "points": int(x.size), "x_min": float(x[0]), "x_max": float(x[-1]),
            "sample_index": idx, "x": [float(x[i]) for i in idx], "y": [float(y[i]) for i in idx]}


def _jcamp_header(path: Path) -> list[dict]:
    """##NPOINTS/FIRSTX/LASTX/XUNITS/YUNITS of every data block, decoded by hand."""
    blocks, cur = [], {}
    for line in path.read_text(encoding="latin-1").splitlines():
        m = re.match(r"##([^=]+)=\s*(.*)", line)
        if not m:
            continue
        key, val = m.group(1).strip().upper(), m.group(2).strip()
        if key in ("NPOINTS", "FIRSTX", "LASTX", "XUNITS", "YUNITS", "XFACTOR", "YFACTOR", "DATA TYPE"):
            cur[key] = val
        if key == "END" and "NPOINTS" in cur:
            blocks.append(cur)
            cur = {}
    return blocks


def spectra() -> None:
    import warnings

    import jcamp
    import WrightTools as wt

    warnings.simplefilter("ignore")
    base = ROOT / "spectra"
    src_wt = f"WrightTools {wt.__version__}"
    for f in sorted((base / "WrightTools" / "Cary").glob("*.csv")):
        col = wt.collection.from_Cary(str(f))
        entries = [_spectrum_entry(name, col[name].axes[0][:], col[name].channels[0][:], "nm") for name in col.item_names]
        for name, e in zip(col.item_names, entries, strict=True):
            e["y_quantity"] = col[name].channels[0].natural_name
        _write(f.with_suffix(".expected.json"), {"source": f"{src_wt} collection.from_Cary", "spectra": entries})
    f = base / "WrightTools" / "ocean_optics" / "tsunami.scope"
    d = wt.data.from_ocean_optics(str(f))
    _write(f.with_suffix(".expected.json"), {"source": f"{src_wt} data.from_ocean_optics",
                                              "spectra": [_spectrum_entry("tsunami", d.axes[0][:], d.channels[0][:], "nm")]})
    for f in sorted((base / "WrightTools" / "JASCO").glob("*.txt")):
        d = wt.data.from_JASCO(str(f))
        _write(f.with_suffix(".expected.json"), {
            "source": f"{src_wt} data.from_JASCO (x axis; header XUNITS NANOMETERS, YUNITS ABSORBANCE)",
            "spectra": [_spectrum_entry(f.stem, d.axes[0][:], d.channels[0][:], "nm")]})
    # WrightTools.from_shimadzu skips two header rows this header-less file does not have: use numpy instead
    f = base / "WrightTools" / "Shimadzu" / "MoS2_fromCzech2015.txt"
    arr = np.loadtxt(f, delimiter=",")
    _write(f.with_suffix(".expected.json"), {
        "source": "numpy.loadtxt (header-less x,y; unit not stated in the file, nm per WrightTools' Shimadzu reader)",
        "spectra": [_spectrum_entry(f.stem, arr[:, 0], arr[:, 1], "nm")]})
    for f in sorted((base / "jcamp").glob("*.jdx")):
        d = jcamp.readfile(str(f))
        blocks = d.get("children") or [d]
        entries = []
        for b, h in zip(blocks, _jcamp_header(f), strict=True):
            x = np.asarray(b["x"], float)
            unit = "cm-1" if h["XUNITS"].upper() in ("1/CM",) else "nm"
            e = _spectrum_entry(str(b.get("title", f.stem)), x, b["y"], unit)
            e["header"] = h
            e["distinct_x"] = int(np.unique(x).size)
            entries.append(e)
        _write(f.with_suffix(".expected.json"), {"source": "jcamp 1.3.2 readfile + header "
                                                           "NPOINTS/FIRSTX/LASTX", "spectra": entries})


# --------------------------------------------------------------------------------------------------- TEM
_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "m": 1e9, "Å": 0.1, "pm": 1e-3}


def tem() -> None:
    """RosettaSciIO (HyperSpy's reader library) reading of every micrograph: shape, dtype, scale, pixels."""
    import warnings

    import rsciio
    from rsciio import digitalmicrograph, emd, tia, tiff

    warnings.simplefilter("ignore")
    readers = {".dm3": digitalmicrograph, ".dm4": digitalmicrograph, ".ser": tia, ".emd": emd, ".tif": tiff}
    for f in sorted((ROOT / "tem").rglob("*")):
        if f.suffix.lower() not in readers:
            continue
        out = readers[f.suffix.lower()].file_reader(str(f))[0]
        data = np.asarray(out["data"])
        axes = out["axes"][-2:]
        scale = [float(a.get("scale", 1.0)) for a in axes]
        units = [str(a.get("units") or "") for a in axes]
        nm = [s * _NM[u] if u in _NM else None for s, u in zip(scale, units, strict=True)]
        img = data if data.ndim == 2 else data.reshape(-1, *data.shape[-2:])[0]
        ys = _sample_idx(img.shape[0], 5)
        xs = _sample_idx(img.shape[1], 5)
        _write(f.with_name(f.name + ".expected.json"), {
            "source": f"rsciio {rsciio.__version__} {readers[f.suffix.lower()].__name__.split('.')[-1]}.file_reader",
            "shape": list(img.shape), "dtype": str(img.dtype), "scale_yx": scale, "units_yx": units,
            "nm_per_px_yx": nm, "sample_y": ys, "sample_x": xs,
            "pixels": [[float(img[y, x]) for x in xs] for y in ys],
        })


# --------------------------------------------------------------------------------------------------- XRD
def _pattern_entry(tt, y, source: str, wavelength, extra: dict | None = None) -> dict:
    tt = np.asarray(tt, float)
    y = np.asarray(y, float)
    idx = _sample_idx(tt.size, 15)
    return {"source": source, "points": int(tt.size), "two_theta_first_deg": float(tt[0]),
            "two_theta_last_deg": float(tt[-1]), "wavelength_angstrom": wavelength, "sample_index": idx,
            "two_theta_deg": [float(tt[i]) for i in idx], "intensity": [float(y[i]) for i in idx], **(extra or {})}


def xrd() -> None:
    """xrayutilities' readers for XRDML and RAS, numpy.loadtxt for the column files, wavelengths from headers."""
    import xrayutilities as xu

    base = ROOT / "xrd"
    for f in sorted(base.rglob("*")):
        suffix = f.suffix.lower()
        if suffix in (".dat", ".xye", ".xy"):
            arr = np.loadtxt(f)
            entry = _pattern_entry(arr[:, 0], arr[:, 1], "numpy.loadtxt (no wavelength in the file)", None)
        elif suffix == ".xrdml":
            scan = xu.io.XRDMLFile(str(f)).scans[0]
            text = f.read_text(encoding="utf-8-sig")
            k1 = float(re.search(r"<kAlpha1[^>]*>([^<]+)<", text).group(1))
            counts = np.asarray(scan["counts"]) if np.size(scan["counts"]) else None
            det = np.asarray(scan["detector"])
            ct = float(np.atleast_1d(scan["countTime"])[0])
            raw = counts if counts is not None else det * ct  # xrayutilities' detector = counts / counting time
            entry = _pattern_entry(scan["2Theta"], raw, f"xrayutilities {xu.__version__} XRDMLFile (counts = "
                                   "detector x countTime) + <kAlpha1>", k1, {"counting_time_s": ct})
        elif suffix == ".ras":
            ras = xu.io.RASFile(str(f))
            scan = ras.scans[0]
            head = "".join(scan.header)
            k1 = float(re.search(r'HW_XG_WAVE_LENGTH_ALPHA1 "([^"]+)"', head).group(1))
            entry = _pattern_entry(scan.data[scan.scan_axis], scan.data["int"] * scan.data["att"],
                                   f"xrayutilities {xu.__version__} RASFile (int x att) + HW_XG_WAVE_LENGTH_ALPHA1",
                                   k1, {"n_scans": len(ras.scans)})
        else:
            continue
        _write(f.with_name(f.name + ".expected.json"), entry)


DOMAINS = {"ms": ms, "spectra": spectra, "tem": tem, "xrd": xrd}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(DOMAINS):
        DOMAINS[name]()
