"""Conformance of the powder-pattern reader on real instrument files (tests/data/real/xrd, see SOURCES.md).

Expected values come from xrayutilities' XRDML and RAS readers and numpy.loadtxt (tools/make_real_fixtures.py),
and from closed forms: Bragg's law for the NaCl and LaB6 (NIST SRM 660, a = 4.15692 A) reflections.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from qdlab.data.errors import FormatError
from qdlab.xrd.io import read_diffractogram

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "xrd"
FILES = {
    "fityk/nacl01.dat": "xy",
    "fityk/SiC_Zn.dat": "xy",
    "xrayutilities/LaB6_d500_si_psd.xye": "xy",
    "xrayutilities/simpack_xrd_AlGaAs.xrdml": "xrdml",
    "xrayutilities/inas_layer_radial_002_004.ras": "ras",
    "pynxtools-xrd/XRD-918-16_10.xrdml": "xrdml",
}


def _expected(rel: str) -> dict:
    return json.loads((REAL / f"{rel}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("rel", sorted(FILES))
def test_real_pattern_matches_peer_reader(rel):
    exp = _expected(rel)
    d = read_diffractogram(REAL / rel)
    assert d.meta["format"] == FILES[rel]
    assert d.two_theta_deg.size == exp["points"]
    assert d.two_theta_deg[0] == pytest.approx(exp["two_theta_first_deg"], abs=1e-9)
    assert d.two_theta_deg[-1] == pytest.approx(exp["two_theta_last_deg"], abs=1e-9)
    idx = np.asarray(exp["sample_index"])
    np.testing.assert_allclose(d.two_theta_deg[idx], exp["two_theta_deg"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(d.intensity[idx], exp["intensity"], rtol=1e-12)
    if exp["wavelength_angstrom"] is None:
        assert d.meta["wavelength_from"].startswith("default")  # never silently: the assumption is recorded
    else:
        assert d.wavelength_angstrom == exp["wavelength_angstrom"] and d.meta["wavelength_from"] == "file"
    if "counting_time_s" in exp:
        assert d.meta["counting_time_s"] == pytest.approx(exp["counting_time_s"])


def _two_theta(d_angstrom: float, wavelength: float = 1.540598) -> float:
    return 2 * math.degrees(math.asin(wavelength / (2 * d_angstrom)))


def test_lab6_strongest_reflection_where_bragg_puts_it():
    d = read_diffractogram(REAL / "xrayutilities/LaB6_d500_si_psd.xye")  # Cu tube (xrayutilities' example)
    apex = float(d.two_theta_deg[int(np.argmax(d.intensity))])
    assert apex == pytest.approx(_two_theta(4.15692 / math.sqrt(2)), abs=0.05)  # LaB6 (110), NIST SRM 660


@pytest.mark.parametrize("rel", ["fityk/nacl01.dat", "fityk/SiC_Zn.dat", "xrayutilities/LaB6_d500_si_psd.xye"])
def test_column_files_without_wavelength_are_flagged(rel):
    """fityk's NaCl pattern puts its strongest line at 24.7 deg, 7 deg from NaCl (200) with Cu K-alpha1:
    a column file does not say its source, so the assumed Cu K-alpha1 must be flagged, not silently used."""
    d = read_diffractogram(REAL / rel)
    assert d.meta["wavelength_from"] == "default Cu K-alpha1"
    assert "no wavelength" in d.meta["warning"]
    assert "warning" not in read_diffractogram(REAL / rel, wavelength_angstrom=1.540598).meta


def test_multi_scan_ras_says_it_read_only_the_first():
    d = read_diffractogram(REAL / "xrayutilities/inas_layer_radial_002_004.ras")
    assert d.meta["n_scans"] == _expected("xrayutilities/inas_layer_radial_002_004.ras")["n_scans"] == 2
    assert "only the first" in d.meta["warning"]


def test_xrdml_attenuator_and_variable_counting_time(tmp_path):
    """Counts behind an attenuator are scaled by its factor; varying per-step times give counts per second."""
    src = (REAL / "xrayutilities/simpack_xrd_AlGaAs.xrdml").read_text(encoding="utf-8-sig")
    base = read_diffractogram(REAL / "xrayutilities/simpack_xrd_AlGaAs.xrdml")
    n = base.intensity.size
    att = np.ones(n)
    att[n // 2:] = 10.0
    start = src.index("<beamAttenuationFactors>") + len("<beamAttenuationFactors>")
    end = src.index("</beamAttenuationFactors>")
    p = tmp_path / "att.xrdml"
    p.write_text(src[:start] + " ".join(f"{a:.2f}" for a in att) + src[end:], encoding="utf-8")
    d = read_diffractogram(p)
    np.testing.assert_allclose(d.intensity, base.intensity * att)
    assert d.meta["attenuation_corrected"]
    times = np.where(np.arange(n) % 2, 0.5, 1.0)
    q = tmp_path / "times.xrdml"
    text = src.replace('<commonCountingTime unit="seconds">0.50</commonCountingTime>',
                       '<countingTimes unit="seconds">' + " ".join(f"{t:g}" for t in times) + "</countingTimes>")
    assert text != src
    q.write_text(text, encoding="utf-8")
    d = read_diffractogram(q)
    np.testing.assert_allclose(d.intensity, base.intensity / times)
    assert d.meta["intensity_unit"].endswith("per second")


def test_truncated_ras_is_refused(tmp_path):
    lines = (REAL / "xrayutilities/inas_layer_radial_002_004.ras").read_text(encoding="latin-1").splitlines()
    first_end = next(i for i, ln in enumerate(lines) if ln.startswith("*RAS_INT_END"))
    cut = tmp_path / "cut.ras"
    cut.write_text("\n".join(lines[:first_end - 10] + lines[first_end:]) + "\n", encoding="latin-1")
    with pytest.raises(FormatError, match="MEAS_DATA_COUNT"):
        read_diffractogram(cut)


def test_binary_vendor_formats_are_refused_not_parsed(tmp_path):
    raw = tmp_path / "scan.raw"
    raw.write_bytes(b"RAW1.01" + bytes(range(200)))
    with pytest.raises(FormatError, match=r"\.raw files are not supported"):
        read_diffractogram(raw)
