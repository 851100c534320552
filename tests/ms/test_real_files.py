"""Conformance of the MS readers on real instrument files (tests/data/real/ms, see SOURCES.md).

Expected values come from outside qdlab (tools/make_real_fixtures.py): Bruker's own CompassXport export of the
HPC fid, pymzml's reading of the mzML, and the acqu header solved independently with numpy.roots.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qdlab.data.errors import FormatError
from qdlab.ms.flex import parse_acqus, read_flex
from qdlab.ms.io import read_mass_spectrum, read_mzxml

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "ms"
FLEX = REAL / "readBrukerFlexData"
HPC_FID = FLEX / "hpc" / "fid" / "0_A20" / "1" / "1SRef" / "fid"
HPC_MZXML = FLEX / "hpc" / "mzXML" / "hpc.mzXML"
LINEAR = [FLEX / "2010_05_19_Gibb_C8_A1" / a / "1" / "1SLin" / "fid" for a in ("0_A1", "0_A2")]
MZML = REAL / "pymzml" / "example.mzML"
ALL_FIDS = [HPC_FID, *LINEAR]


def _expected(path: Path) -> dict:
    name = path.name + ".expected.json" if path.name == "fid" else path.stem + ".expected.json"
    return json.loads((path.parent / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("fid", ALL_FIDS, ids=lambda p: p.parts[-4])
def test_flex_header_axis_and_counts(fid):
    exp = _expected(fid)
    ms = read_mass_spectrum(fid.parent)
    assert ms.mz.size == exp["TD"] == exp["fid_values"]
    cal = ms.calibration
    assert (cal["ML1"], cal["ML2"], cal["ML3"], cal["DELAY_ns"], cal["DW_ns"]) == (
        exp["ML1"], exp["ML2"], exp["ML3"], exp["DELAY_ns"], exp["DW_ns"])
    idx = np.asarray(exp["sample_index"])
    assert np.array_equal(ms.intensity[idx], exp["counts"])
    assert ms.mode == ("reflectron" if exp["AQOP_m"] == "1" else "linear")
    if exp["HPClUse"] == "yes":
        assert cal["model"] == "hpc"
    else:
        assert cal["model"] == "quadratic"
        # the published quadratic, solved independently: 1e-9 relative is float rounding only
        np.testing.assert_allclose(ms.mz[idx], exp["quadratic_mz"], rtol=1e-9)


def test_hpc_flex_matches_bruker_export_over_the_whole_range():
    """Every point of Bruker's own HPC-calibrated export is reproduced within 0.01 % (measured: 0.004 %)."""
    exp = _expected(HPC_MZXML)
    vendor = read_mzxml(HPC_MZXML)
    assert vendor.mz.size == exp["points"]
    idx = np.asarray(exp["sample_index"])
    np.testing.assert_array_equal(vendor.mz[idx], exp["mz"])  # pyteomics' float32 values, exactly
    np.testing.assert_array_equal(vendor.intensity[idx], exp["intensity"])
    ms = read_flex(HPC_FID)
    # CompassXport drops zero-count samples and the ends outside its 700-4000 window
    keep = (ms.intensity != 0) & (ms.mz >= exp["first_mz"] - 0.05) & (ms.mz <= exp["last_mz"] + 0.05)
    assert int(keep.sum()) == exp["points"]
    np.testing.assert_array_equal(ms.intensity[keep], vendor.intensity)
    rel = np.abs(ms.mz[keep] - vendor.mz) / vendor.mz
    assert rel.max() < 1e-4
    assert np.abs(ms.mz[keep] - vendor.mz).max() < 0.035
    apex = int(np.argmax(ms.intensity))
    assert ms.intensity[apex] == exp["base_peak_intensity"]
    assert abs(ms.mz[apex] - exp["base_peak_mz"]) < 1e-3


def test_hpc_flex_is_never_read_with_the_plain_quadratic_axis(tmp_path):
    with pytest.raises(FormatError, match="HPC"):
        read_flex(HPC_FID, calibration="quadratic")
    # the correction is real: inside the HPC range the plain axis is off by more than float32 rounding
    exp = _expected(HPC_FID)
    params = parse_acqus(HPC_FID.parent / "acqu")
    lo, hi = float(params["HPClBLo"]), float(params["HPClBHi"])
    ms = read_flex(HPC_FID)
    t = exp["DELAY_ns"] + exp["DW_ns"] * np.arange(exp["TD"])
    from qdlab.ms.flex import quadratic_tof_to_mass

    plain = quadratic_tof_to_mass(t, exp["ML1"], exp["ML2"], exp["ML3"])
    inside = (plain > lo) & (plain < hi)
    assert np.abs(plain[inside] - ms.mz[inside]).max() > 0.01
    # a damaged HPC string is refused naming the field, not silently skipped
    bad = tmp_path / "1SRef"
    bad.mkdir()
    (bad / "fid").write_bytes(HPC_FID.read_bytes())
    text = (HPC_FID.parent / "acqu").read_text(encoding="latin-1").replace("V1.0VectorDouble 11", "V1.0VectorDouble 7")
    (bad / "acqu").write_text(text, encoding="latin-1")
    with pytest.raises(FormatError, match="HPCStr"):
        read_flex(bad)


def test_mzml_matches_pymzml():
    exp = _expected(MZML)
    ms = read_mass_spectrum(MZML)
    assert ms.meta["format"] == "mzml" and ms.mz.size == exp["points"]
    idx = np.asarray(exp["sample_index"])
    np.testing.assert_allclose(ms.mz[idx], exp["mz"], rtol=1e-12)
    np.testing.assert_allclose(ms.intensity[idx], exp["intensity"], rtol=1e-12)
    assert ms.meta["spectrum_type"] == "centroid" and "centroided" in ms.meta["warning"]


def test_cli_refuses_plain_axis_for_hpc_in_one_line():
    r = subprocess.run([sys.executable, "-m", "qdlab.cli.main", "ms", "analyze", str(HPC_FID.parent), "--calibration",
                        "quadratic"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    assert len(lines) == 1 and "HPC" in lines[0] and "acqu" in lines[0]


def test_damaged_ml1_is_refused_not_turned_into_huge_masses(tmp_path):
    """Issue 19: a damaged ML1 gave absurd masses (1e308 -> "diameters" of 1e101 nm); refuse it naming the field."""
    bad = tmp_path / "1SLin"
    bad.mkdir()
    src = LINEAR[0]
    (bad / "fid").write_bytes(src.read_bytes())
    text = (src.parent / "acqu").read_text(encoding="latin-1")
    text = text.replace("##$ML1= 2322804.10760584", "##$ML1= 1e12").replace("##$ML3= -0.00129879810255285", "##$ML3= 0")
    (bad / "acqu").write_text(text, encoding="latin-1")
    with pytest.raises(FormatError, match="ML1") as err:
        read_flex(bad)
    assert "beyond what a MALDI-TOF measures" in str(err.value)
    with pytest.raises(FormatError, match="no usable HPC"):
        read_flex(src, calibration="hpc")
