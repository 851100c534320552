"""Readers and writers: round trips through every format, unit detection, clear errors, fuzzing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError, InputError
from qdlab.data.types import Spectrum
from qdlab.spectra.io import (
    detect_x_unit,
    parse_cary_csv,
    parse_delimited,
    parse_jcamp,
    parse_ocean_optics,
    read_series,
    read_spectra,
    sniff_format,
    write_cary_csv,
    write_delimited,
    write_jcamp,
    write_ocean_optics,
)
from qdlab.spectra.synth import synth_absorbance, synth_pl, synth_series


def _pl() -> Spectrum:
    return synth_pl([(1100.0, 120.0, 1.0)], n_points=300, noise=0.01)[0]


def test_delimited_round_trip_series(tmp_path: Path) -> None:
    series, _ = synth_series([1000.0, 1050.0, (980.0, 1120.0)], n_points=200)
    p = write_delimited(tmp_path / "s.csv", series)
    back = read_spectra(p)
    assert len(back) == 3
    assert back.aliquot_ids == ("A0", "A1", "A2")
    np.testing.assert_allclose(back.time_min, [0.0, 5.0, 10.0])
    for a, b in zip(series, back, strict=True):
        assert b.x_unit == "nm" and b.kind == "pl"
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)  # repr() keeps every bit
    assert back[0].meta["sha256"]


@pytest.mark.parametrize(("delimiter", "decimal"), [("\t", "."), (";", ","), (" ", "."), ("\t", ","), (" ", ",")])
def test_delimited_delimiters_and_decimal_comma(tmp_path: Path, delimiter: str, decimal: str) -> None:
    s = _pl()
    p = write_delimited(tmp_path / "s.txt", s, delimiter=delimiter, decimal=decimal)
    back = read_spectra(p)
    assert back.meta["decimal"] == decimal
    np.testing.assert_allclose(back[0].y, s.y, rtol=1e-15)


def test_energy_axis_and_wavenumber_detected(tmp_path: Path) -> None:
    s = synth_pl([(1100.0, 120.0, 1.0)], axis="ev", n_points=100)[0]
    back = read_spectra(write_delimited(tmp_path / "e.csv", s))
    assert back[0].x_unit == "ev"
    txt = "Raman shift (cm-1)\tcounts\n" + "\n".join(f"{8000 + i}\t{i}" for i in range(10))
    assert parse_delimited(txt)[0].x_unit == "cm-1"


def test_headerless_file_needs_x_unit(tmp_path: Path) -> None:
    s = _pl()
    p = write_delimited(tmp_path / "raw.dat", s, delimiter="\t", header=False)
    with pytest.raises(FormatError, match="--x-unit"):
        read_spectra(p)
    back = read_spectra(p, x_unit="nm")
    np.testing.assert_allclose(back[0].x, s.x)


def test_ambiguous_header_is_refused() -> None:
    with pytest.raises(InputError):
        detect_x_unit("wavelength (nm) / energy (eV)")
    with pytest.raises(FormatError, match="x-unit"):
        parse_delimited("wavelength nm energy ev,I\n1,2\n2,3\n3,4\n")


def test_damaged_row_named_with_its_line(tmp_path: Path) -> None:
    lines = ["wavelength_nm,PL"] + [f"{900 + i},{i}" for i in range(20)]
    lines[8] = "907,abc"
    p = tmp_path / "d.csv"
    p.write_text("\n".join(lines))
    with pytest.raises(FormatError) as err:
        read_spectra(p)
    assert err.value.line == 9 and "d.csv:9" in str(err.value)


def test_footer_after_data_is_ignored() -> None:
    txt = "wavelength_nm,PL\n900,1\n901,2\n902,3\n\nOperator: someone\n"
    assert len(parse_delimited(txt)[0]) == 3


def test_ocean_optics_round_trip(tmp_path: Path) -> None:
    s = _pl()
    for dec in (".", ","):
        p = write_ocean_optics(tmp_path / f"A3_12.5min_{dec == ','}.txt", s, decimal=dec)
        back = read_spectra(p)
        assert sniff_format(p.read_text()) == "ocean"
        assert back[0].x_unit == "nm"
        assert back.time_min[0] == 12.5
        np.testing.assert_allclose(back[0].y, s.y, rtol=1e-15)
        assert back[0].meta["integration_time_s"] == pytest.approx(0.1)


def test_ocean_without_end_marker_and_garbage() -> None:
    txt = "Spectrometer: X\n>>>>>Begin Spectral Data<<<<<\n900\t1\n901\t2\n902\t3\n"
    assert len(parse_ocean_optics(txt)[0]) == 3
    with pytest.raises(FormatError) as err:
        parse_ocean_optics(txt + "903\tfoo\n")
    assert err.value.line == 6


def test_cary_round_trip_absorbance(tmp_path: Path) -> None:
    a = synth_absorbance(447.0, n_points=200)[0]
    b = synth_absorbance(455.0, n_points=150)[0]  # unequal lengths leave empty cells
    from qdlab.data.types import SpectrumSeries

    series = SpectrumSeries.from_spectra([a, b], time_min=[0, 5], aliquot_ids=["A0", "A1"])
    p = write_cary_csv(tmp_path / "cary.csv", series)
    assert sniff_format(p.read_text()) == "cary"
    back = read_spectra(p)
    assert [s.kind for s in back] == ["absorbance", "absorbance"]
    assert [len(s) for s in back] == [200, 150]
    np.testing.assert_allclose(back[1].y, b.y)
    np.testing.assert_allclose(back.time_min, [0, 5])
    assert "Collection Time" in back.meta["footer"]


def test_jcamp_round_trip(tmp_path: Path) -> None:
    for s in (_pl(), synth_absorbance(447.0, n_points=100)[0]):
        p = write_jcamp(tmp_path / "s.jdx", s)
        back = read_spectra(p)
        assert back[0].kind == s.kind and back[0].x_unit == "nm"
        np.testing.assert_allclose(back[0].y, s.y, rtol=1e-12)


def test_jcamp_compressed_affn_x_plus_plus() -> None:
    txt = (
        "##TITLE=test\n##JCAMP-DX=4.24\n##DATA TYPE=UV/VIS SPECTRUM\n##XUNITS=NANOMETERS\n##YUNITS=ABSORBANCE\n"
        "##FIRSTX=400\n##LASTX=409\n##NPOINTS=10\n##XFACTOR=1\n##YFACTOR=0.001\n##XYDATA=(X++(Y..Y))\n"
        "400 100 200 300 400 500\n405 600 700 800 900 1000\n##END=\n"
    )
    s = parse_jcamp(txt)[0]
    assert s.kind == "absorbance"
    np.testing.assert_allclose(s.y, np.arange(1, 11) * 0.1)
    np.testing.assert_allclose(s.x, np.arange(400, 410))


def test_read_series_folder_natural_order(tmp_path: Path) -> None:
    series, _ = synth_series([1000.0 + 10 * i for i in range(11)], n_points=50)
    for i, s in enumerate(series):
        write_ocean_optics(tmp_path / f"A{i}_{5 * i}min.txt", s)
    back = read_series(tmp_path)
    assert back.aliquot_ids[:3] == ("A0", "A1", "A2") and back.aliquot_ids[-1] == "A10"
    np.testing.assert_allclose(back.time_min, 5 * np.arange(11))


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_spectra(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(FormatError, match="empty"):
        read_spectra(tmp_path / "empty.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02abc")
    with pytest.raises(FormatError, match="binary"):
        read_spectra(tmp_path / "bin.csv")
    (tmp_path / "neg.csv").write_text("wavelength_nm,PL\n-1,2\n0,3\n1,4\n")
    with pytest.raises(FormatError, match="positive"):
        read_spectra(tmp_path / "neg.csv")
    with pytest.raises(InputError):
        read_spectra(tmp_path / "neg.csv", x_unit="furlong")


# ---------------------------------------------------------------------------- fuzzing
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_or_format_error(path: Path, **kw: object) -> None:
    try:
        series = read_spectra(path, **kw)  # type: ignore[arg-type]
    except FormatError as exc:
        assert str(exc)
        return
    for s in series:
        assert len(s) >= 3 and np.all(np.isfinite(s.x)) and np.all(s.x > 0)


@_FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.csv"
    p.write_bytes(data or b" ")
    _read_or_format_error(p, x_unit="nm")


@_FUZZ
@given(st.text(alphabet="0123456789.,;\t -eE#:\nabnmV>", max_size=800))
def test_fuzz_numberish_text(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fuzz.txt"
    p.write_text(text or " ")
    _read_or_format_error(p, x_unit="nm")


def _damage(text: str, data: st.DataObject) -> str:
    n = len(text)
    i = data.draw(st.integers(0, n))
    j = data.draw(st.integers(i, min(n, i + 200)))
    junk = data.draw(st.text(max_size=30))
    return text[:i] + junk + text[j:]


@pytest.mark.parametrize("fmt", ["delimited", "ocean", "cary", "jcamp"])
@_FUZZ
@given(data=st.data())
def test_fuzz_damaged_files(tmp_path: Path, fmt: str, data: st.DataObject) -> None:
    s = synth_pl([(1100.0, 120.0, 1.0)], n_points=40)[0]
    p = tmp_path / f"good.{fmt}"
    {"delimited": lambda: write_delimited(p, s), "ocean": lambda: write_ocean_optics(p, s),
     "cary": lambda: write_cary_csv(p, s), "jcamp": lambda: write_jcamp(p, s)}[fmt]()
    p.write_text(_damage(p.read_text(), data))
    _read_or_format_error(p)


def test_parse_functions_accept_no_path() -> None:
    assert math.isnan(parse_cary_csv("A,,\nWavelength (nm),Abs,\n400,0.1,\n401,0.2,\n402,0.3,\n").time_min[0])


# ---------------------------------------------------------------------------- property: round trips
_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.floats(0.1, 5000.0),
    steps=st.lists(st.floats(1e-3, 50.0), min_size=2, max_size=60),
    ys=st.data(),
    layout=st.sampled_from([(",", "."), ("\t", "."), (";", ","), (" ", "."), ("\t", ",")]),
    unit=st.sampled_from(["nm", "ev", "cm-1"]),
    ncols=st.integers(1, 3),
)
def test_delimited_round_trip_property(tmp_path: Path, start: float, steps: list[float], ys: st.DataObject,
                                       layout: tuple[str, str], unit: str, ncols: int) -> None:
    x = start + np.concatenate([[0.0], np.cumsum(steps)])
    from qdlab.data.types import SpectrumSeries

    spectra = [Spectrum(x, np.array(ys.draw(st.lists(_finite, min_size=x.size, max_size=x.size))), unit, "pl")
               for _ in range(ncols)]
    if np.unique(x).size < x.size:
        return
    series = SpectrumSeries.from_spectra(spectra, time_min=[float(i) for i in range(ncols)])
    p = write_delimited(tmp_path / "p.txt", series, delimiter=layout[0], decimal=layout[1])
    back = read_spectra(p)
    assert len(back) == ncols and back[0].x_unit == unit
    for a, b in zip(series, back, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(back.time_min, np.arange(ncols))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 80), data=st.data())
def test_ocean_and_jcamp_round_trip_property(tmp_path: Path, n: int, data: st.DataObject) -> None:
    x = np.sort(np.array(data.draw(st.lists(st.floats(200.0, 3000.0), min_size=n, max_size=n, unique=True))))
    if np.unique(x).size < n:
        return
    y = np.array(data.draw(st.lists(_finite, min_size=n, max_size=n)))
    s = Spectrum(x, y, "nm", "pl", label="prop")
    for writer, name in ((write_ocean_optics, "o.txt"), (write_jcamp, "j.jdx")):
        back = read_spectra(writer(tmp_path / name, s))[0]
        np.testing.assert_array_equal(back.x, x)
        np.testing.assert_allclose(back.y, y, rtol=1e-15, atol=0)


def test_unequal_axes_whitespace_writes_nan(tmp_path: Path) -> None:
    a = Spectrum(np.linspace(900, 1000, 11), np.arange(11.0), "nm", "pl", {}, "A0")
    b = Spectrum(np.linspace(950, 1000, 6), np.arange(6.0), "nm", "pl", {}, "A1")
    back = read_spectra(write_delimited(tmp_path / "w.txt", [a, b], delimiter=" "))
    assert [len(s) for s in back] == [11, 6]
    np.testing.assert_allclose(back[1].y, np.arange(6.0))


def test_metadata_line_is_not_a_header() -> None:
    txt = "Excitation: 808 nm\n1.10\t1\n1.11\t2\n1.12\t3\n"
    with pytest.raises(FormatError, match="x-unit"):
        parse_delimited(txt)
    s = parse_delimited(txt, x_unit="ev")
    assert s[0].x_unit == "ev" and s.meta["Excitation"] == "808 nm"


def test_spectrasuite_processed_export_with_decimal_comma() -> None:
    head = (
        "SpectraSuite Data File\n++++++++++++++++++++++++++++++++++++\nDate: Mon Nov 24 10:11:12 CET 2026\n"
        "User: lab\nDark Spectrum Present: Yes\nSpectrometers: USB4C01234\n"
        "Integration Time (usec): 100000 (USB4C01234)\nSpectra Averaged: 10 (USB4C01234)\n"
        "Number of Pixels in Processed Spectrum: 4\n>>>>>Begin Processed Spectral Data<<<<<\n"
    )
    body = "900,50\t12,5\n901,25\t13,0\n902,00\t14,25\n902,75\t15,0\n>>>>>End Processed Spectral Data<<<<<\n"
    assert sniff_format(head + body) == "ocean"
    s = parse_ocean_optics(head + body)
    np.testing.assert_allclose(s[0].x, [900.5, 901.25, 902.0, 902.75])
    np.testing.assert_allclose(s[0].y, [12.5, 13.0, 14.25, 15.0])
    assert s[0].meta["integration_time_s"] == pytest.approx(0.1)
    assert s.meta["Spectrometers"] == "USB4C01234"


def test_cary_mixed_baseline_and_sample_columns() -> None:
    txt = (
        "Baseline 100%T,,A0 (0 min),,\nWavelength (nm),%T,Wavelength (nm),Abs,\n"
        "800.0,100.1,800.0,0.012,\n799.0,99.9,799.0,0.013,\n798.0,100.0,798.0,0.015,\n\n"
        "Baseline 100%T\nCollection Time: 11/24/2026 10:00:00 AM\n"
    )
    s = parse_cary_csv(txt)
    assert [sp.kind for sp in s] == ["transmittance", "absorbance"]
    np.testing.assert_allclose(s[1].x, [798.0, 799.0, 800.0])  # sorted ascending
    np.testing.assert_allclose(s[1].y, [0.015, 0.013, 0.012])
    assert s.aliquot_ids[1] == "A0" and s.time_min[1] == 0.0
