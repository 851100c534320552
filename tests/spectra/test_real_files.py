"""Conformance of the optical-spectrum readers on real instrument files (tests/data/real/spectra, SOURCES.md).

Expected values come from outside qdlab (tools/make_real_fixtures.py): WrightTools' vendor readers (Cary,
Ocean Optics, JASCO), the jcamp package plus the JCAMP header (NPOINTS, FIRSTX, LASTX), numpy.loadtxt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qdlab.data.errors import FormatError
from qdlab.spectra.io import read_spectra

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "spectra"
WT = REAL / "WrightTools"

# file -> (format qdlab must sniff, kinds in order, x unit)
CASES = {
    WT / "Cary" / "CuPCtS_H2O_vis.csv": ("cary", ["absorbance"], "nm"),
    WT / "Cary" / "filters.csv": ("cary", ["absorbance"] + ["transmittance"] * 10, "nm"),
    WT / "ocean_optics" / "tsunami.scope": ("ocean", None, "nm"),
    WT / "JASCO" / "PbSe_batch_1.txt": ("delimited", ["absorbance"], "nm"),
    WT / "JASCO" / "PbSe_batch_4_2012-02-21.txt": ("delimited", ["absorbance"], "nm"),
    REAL / "jcamp" / "toluene.jdx": ("jcamp", ["absorbance"], "nm"),
    REAL / "jcamp" / "blckpac1.jdx": ("jcamp", ["absorbance"] * 5, "nm"),
    REAL / "jcamp" / "dupdec1.jdx": ("jcamp", ["transmittance"], "cm-1"),
    REAL / "jcamp" / "isopropanol_ASDF.jdx": ("jcamp", ["absorbance"], "cm-1"),
}


def _expected(path: Path) -> dict:
    return json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))


def _check(spectrum, exp: dict) -> None:
    n = exp.get("distinct_x", exp["points"])  # exact duplicate (x, y) rows are merged, nothing else
    assert spectrum.x.size == n
    assert spectrum.x_unit == exp["x_unit"]
    assert spectrum.x[0] == exp["x_min"] and spectrum.x[-1] == exp["x_max"]  # wavelength axis exact
    pos = np.searchsorted(spectrum.x, exp["x"])
    np.testing.assert_array_equal(spectrum.x[pos], exp["x"])
    np.testing.assert_allclose(spectrum.y[pos], exp["y"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("path", list(CASES), ids=lambda p: p.name)
def test_real_spectrum_matches_peer_reader(path):
    fmt, kinds, unit = CASES[path]
    exp = _expected(path)
    series = read_spectra(path)
    assert series.meta["format"] == fmt
    assert len(series) == len(exp["spectra"])
    for s, e in zip(series, exp["spectra"], strict=True):
        assert s.x_unit == unit
        _check(s, e)
    if kinds is not None:
        assert [s.kind for s in series] == kinds


def test_jcamp_header_counts_and_limits_agree():
    for path in (REAL / "jcamp").glob("*.jdx"):
        for e in _expected(path)["spectra"]:
            h = e["header"]
            assert int(h["NPOINTS"]) == e["points"]
            lo, hi = sorted((float(h["FIRSTX"]), float(h["LASTX"])))
            assert e["x_min"] == pytest.approx(lo, rel=1e-6) and e["x_max"] == pytest.approx(hi, rel=1e-6)


def test_toluene_duplicate_rows_are_merged_and_recorded():
    s = read_spectra(REAL / "jcamp" / "toluene.jdx")[0]
    assert s.meta["duplicate_points_dropped"] == 335 - 264
    assert np.all(np.diff(s.x) > 0)


def test_headerless_two_column_needs_the_unit_then_matches_numpy():
    path = WT / "Shimadzu" / "MoS2_fromCzech2015.txt"
    with pytest.raises(FormatError, match="x-axis unit") as err:
        read_spectra(path)
    assert path.name in str(err.value)
    s = read_spectra(path, x_unit="nm")
    _check(s[0], _expected(path)["spectra"][0])


def test_jasco_header_point_count_guards_against_truncation(tmp_path):
    src = WT / "JASCO" / "PbSe_batch_1.txt"
    lines = src.read_text(encoding="latin-1").splitlines()
    cut = tmp_path / "PbSe_truncated.txt"
    cut.write_text("\n".join(lines[:-100]) + "\n", encoding="latin-1")
    with pytest.raises(FormatError, match="NPOINTS 1801"):
        read_spectra(cut)
    shifted = tmp_path / "PbSe_shifted.txt"
    shifted.write_text("\n".join(ln.replace("FIRSTX\t2500.0000", "FIRSTX\t2510.0000") for ln in lines) + "\n",
                       encoding="latin-1")
    with pytest.raises(FormatError, match="FIRSTX"):
        read_spectra(shifted)


def test_cli_refusal_is_one_line():
    path = WT / "Shimadzu" / "MoS2_fromCzech2015.txt"
    r = subprocess.run([sys.executable, "-m", "qdlab.cli.main", "spectra", "analyze", str(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    assert len(lines) == 1 and "x-axis unit" in lines[0] and path.name in lines[0]


def test_emission_band_of_a_real_spectrometer_file_is_read_off_the_data() -> None:
    """A real USB2000 band (tsunami.scope: a dark level of 26 % of the peak, a dead first pixel) read like a
    chemist reads it. Independent truth: scipy.signal.peak_widths at half prominence on the raw counts. The
    model-only read-off gave 782.0 nm and a NaN FWHM on a 700-900 nm window (the fitted line ate the band)."""
    from scipy.signal import peak_widths

    from qdlab.spectra import analyze_pl

    s = read_spectra(WT / "ocean_optics" / "tsunami.scope")[0]
    i = int(np.argmax(s.y))
    width_px = peak_widths(s.y, [i], rel_height=0.5)[0][0]
    step_nm = float(np.median(np.diff(s.x)))
    for window in (None, (700.0, 900.0)):
        r = analyze_pl(s, window_nm=window)
        assert r.peak_wavelength_nm == pytest.approx(s.x[i], abs=0.5)
        assert r.fwhm_nm == pytest.approx(width_px * step_nm, abs=1.0)
        assert r.background_from.startswith("the level of")
        assert not r.warnings
    # a window that cuts the band's blue flank says so instead of passing a short FWHM as the band's
    cut = analyze_pl(s, window_nm=(760.0, 860.0))
    assert any("does not fall to its background at the blue end" in w for w in cut.warnings)
