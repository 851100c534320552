import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError, InputError, QdlabError
from qdlab.data.types import Diffractogram
from qdlab.xrd.io import parse_xy_text, read_diffractogram, write_xrdml, write_xy


def _pattern(n=200, wl=1.5406):
    tt = np.linspace(10, 80, n)
    return Diffractogram(tt, 100 + 50 * np.sin(tt / 3) ** 2, wl)


def test_xy_roundtrip_keeps_wavelength(tmp_path):
    d = _pattern(wl=1.78897)
    p = write_xy(d, tmp_path / "a.xy")
    r = read_diffractogram(p)
    assert r.wavelength_angstrom == pytest.approx(1.78897)
    assert r.two_theta_deg == pytest.approx(d.two_theta_deg, abs=1e-5)
    assert r.intensity == pytest.approx(d.intensity, rel=1e-5)
    assert r.meta["format"] == "xy" and len(r.meta["sha256"]) == 64


def test_xrdml_roundtrip(tmp_path):
    d = _pattern()
    r = read_diffractogram(write_xrdml(d, tmp_path / "a.xrdml"))
    assert r.two_theta_deg == pytest.approx(d.two_theta_deg, abs=1e-5)
    assert r.intensity == pytest.approx(d.intensity, rel=1e-5)
    assert r.wavelength_angstrom == pytest.approx(1.5406)


XRDML_DOUBLET = """<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.0" status="Completed">
 <xrdMeasurement measurementType="Scan" status="Completed">
  <usedWavelength intended="K-Alpha">
   <kAlpha1 unit="Angstrom">1.5405980</kAlpha1>
   <kAlpha2 unit="Angstrom">1.5444260</kAlpha2>
   <kBeta unit="Angstrom">1.3922500</kBeta>
   <ratioKAlpha2KAlpha1>0.5000</ratioKAlpha2KAlpha1>
  </usedWavelength>
  <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">
   <dataPoints>
    <positions axis="2Theta" unit="deg"><listPositions>30 20 10</listPositions></positions>
    <positions axis="Omega" unit="deg"><startPosition>5</startPosition><endPosition>15</endPosition></positions>
    <commonCountingTime unit="seconds">2.0</commonCountingTime>
    <counts unit="counts">7 8 9</counts>
   </dataPoints>
  </scan>
 </xrdMeasurement>
</xrdMeasurements>
"""


def test_xrdml_doublet_list_positions_and_counts(tmp_path):
    p = tmp_path / "b.xrdml"
    p.write_text(XRDML_DOUBLET)
    r = read_diffractogram(p)
    assert r.two_theta_deg.tolist() == [10, 20, 30] and r.intensity.tolist() == [9, 8, 7]
    assert r.wavelength_angstrom == pytest.approx((1.540598 + 0.5 * 1.544426) / 1.5)
    assert r.meta["counting_time_s"] == 2.0


def test_csv_with_header(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("Angle,Intensity\n10,5\n10.5,6\n11,7\n11.5,8\n")
    r = read_diffractogram(p, wavelength_angstrom=0.7093)
    assert r.intensity.tolist() == [5, 6, 7, 8] and r.wavelength_angstrom == 0.7093


@pytest.mark.parametrize(
    "text, match",
    [
        ("10 1\n11 2\n", "at least 3"),
        ("10 1\n12 2\n11 3\n", "strictly increasing"),
        ("10 1\n11 2\nfoo bar\n", "expected numbers"),
        ("10\n11\n12\n", "2-theta and intensity"),
        ("# nothing here\n", "no numeric"),
        ("200 1\n201 2\n202 3\n", "inside"),
    ],
)
def test_bad_xy(text, match):
    with pytest.raises(FormatError, match=match):
        parse_xy_text(text)


def test_bad_xrdml(tmp_path):
    p = tmp_path / "d.xrdml"
    p.write_text("<xrdMeasurements><xrdMeasurement><scan><dataPoints></dataPoints></scan></xrdMeasurement></xrdMeasurements>")
    with pytest.raises(FormatError, match="intensities"):
        read_diffractogram(p)
    p.write_text("<xrdMeasurements><broken>")
    with pytest.raises(FormatError, match="XML"):
        read_diffractogram(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError):
        read_diffractogram(tmp_path / "nope.xy")


@settings(max_examples=150)
@given(st.binary(max_size=400), st.sampled_from([".xy", ".csv", ".xrdml", ".dat"]))
def test_fuzz_never_crashes(tmp_path_factory, data, suffix):
    p = tmp_path_factory.mktemp("fz") / f"f{suffix}"
    p.write_bytes(data)
    try:
        d = read_diffractogram(p)
    except QdlabError:
        return
    assert np.all(np.diff(d.two_theta_deg) > 0) and np.all(np.isfinite(d.intensity))


@settings(max_examples=60)
@given(
    st.lists(st.floats(0, 1e7, allow_nan=False), min_size=3, max_size=60),
    st.floats(1, 60),
    st.floats(0.001, 1),
)
def test_fuzz_roundtrip(tmp_path_factory, ys, start, step):
    tt = start + step * np.arange(len(ys))
    d = Diffractogram(tt, np.array(ys), 1.5406)
    base = tmp_path_factory.mktemp("rt")
    for writer, name in ((write_xy, "a.xy"), (write_xrdml, "a.xrdml")):
        r = read_diffractogram(writer(d, base / name))
        assert r.intensity == pytest.approx(np.array(ys), rel=1e-5, abs=1e-9)
        assert r.two_theta_deg == pytest.approx(tt, abs=2e-5)


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.floats(0.5, 170), st.floats(-1e6, 1e6, allow_nan=False)), min_size=3, max_size=40, unique_by=lambda t: round(t[0], 6)),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from([None, ("2theta", "counts"), ("Intensity", "Angle"), ("pos", "cps")]),
)
def test_fuzz_csv_tables(tmp_path_factory, rows, delim, header):
    rows = sorted(rows)
    if header == ("Intensity", "Angle"):
        lines = [delim.join(header)] + [f"{y!r}{delim}{x!r}" for x, y in rows]
    else:
        lines = ([delim.join(header)] if header else []) + [f"{x!r}{delim}{y!r}" for x, y in rows]
    p = tmp_path_factory.mktemp("csv") / "t.csv"
    p.write_text("\n".join(lines) + "\n")
    d = read_diffractogram(p)
    assert d.two_theta_deg == pytest.approx([x for x, _ in rows])
    assert d.intensity == pytest.approx([y for _, y in rows])
