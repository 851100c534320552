"""Readers and writers: Bruker flex (fid + acqus), mzML, text; damaged files give FormatError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError, InputError, QdlabError
from qdlab.data.types import MassSpectrum
from qdlab.ms.flex import (
    cubic_tof_to_mass,
    mass_to_quadratic_tof,
    parse_acqus,
    quadratic_tof_to_mass,
    read_flex,
    write_flex,
)
from qdlab.ms.io import read_mass_spectrum, write_mzml, write_text

# realistic linear-mode constants (t in ns, ~58 us for 5.6 kDa)
ML1, ML2, ML3 = 2.0e6, 12.5, 1.0e-3


def _spectrum(lo=4000.0, hi=6000.0, n=4000):
    mz = np.linspace(lo, hi, n)
    y = 1000 * np.exp(-0.5 * ((mz - 5623.9) / 10.5) ** 2) + 50
    return MassSpectrum(mz, y)


def test_quadratic_calibration_round_trip_and_linear_case():
    m = np.array([500.0, 5623.9, 140000.0])
    for ml3 in (0.0, ML3, -2e-4):
        t = mass_to_quadratic_tof(m, ML1, ML2, ml3)
        assert np.allclose(quadratic_tof_to_mass(t, ML1, ML2, ml3), m, rtol=1e-12)
    # pure linear TOF: m = ((t - ML2)/B)^2
    t = 1.0e5
    assert quadratic_tof_to_mass(t, ML1, ML2, 0.0) == pytest.approx(((t - ML2) / np.sqrt(1e12 / ML1)) ** 2)


@pytest.mark.parametrize("byte_order", ["little", "big"])
@pytest.mark.parametrize("mode", ["linear", "reflectron"])
def test_flex_round_trip(tmp_path, byte_order, mode):
    s = _spectrum()
    fid = write_flex(tmp_path / "0_A1" / "1" / ("1SLin" if mode == "linear" else "1SRef"), s, ml1=ML1, ml2=ML2, ml3=ML3,
                     dw_ns=1.0, mode=mode, byte_order=byte_order)
    params = parse_acqus(fid.parent / "acqus")
    assert params["BYTORDA"] == ("0" if byte_order == "little" else "1")
    ms = read_mass_spectrum(tmp_path)  # finds the only fid below the folder
    assert ms.mode == mode
    td = int(params["TD"])
    t = float(params["DELAY"]) + float(params["DW"]) * np.arange(td)
    # the axis is exactly the calibration of the written constants
    assert np.allclose(ms.mz, quadratic_tof_to_mass(t, ML1, ML2, ML3), rtol=0, atol=1e-9)
    # intensities: the written model, rounded to integers
    expected = np.rint(np.interp(ms.mz, s.mz, s.intensity, left=0, right=0))
    assert np.array_equal(ms.intensity, expected)
    top = ms.intensity > 550
    centroid = np.sum(ms.mz[top] * (ms.intensity[top] - 50)) / np.sum(ms.intensity[top] - 50)
    assert centroid == pytest.approx(5623.9, abs=0.05)
    assert ms.calibration["model"] == "quadratic" and ms.calibration["ML1"] == ML1
    assert len(ms.meta["sha256"]) == 64


def test_acqu_fallback_and_fid_path(tmp_path):
    fid = write_flex(tmp_path / "1SLin", _spectrum(), ml1=ML1, ml2=ML2, ml3=ML3)
    (fid.parent / "acqus").rename(fid.parent / "acqu")
    ms = read_flex(fid)
    assert ms.mz.size == int(parse_acqus(fid.parent / "acqu")["TD"])


def _ntbcal(consts):
    body = " ".join(repr(float(c)) for c in consts)
    return (f"<V3.0CCalibrator 12 1 0 0 -2147483648 2147483647  V1.0CHPCData  Order 0 vCoeff V1.0VectorDouble 0  c2 0 c0 0 "
            f"minMass 0 maxMass 0 bUse 0 endCHPCData V1.0CTOF2CalibrationConstants {body} 2 "
            f"V1.0CTOF2CalibrationConstants 0 0 0 0 0 0 0 -1  >")


def test_cubic_calibration_refused_then_applied(tmp_path):
    s = _spectrum()
    a3, e = 1.0e-6, 0.25
    fid = write_flex(tmp_path / "1SRef", s, ml1=ML1, ml2=ML2, ml3=ML3, mode="reflectron",
                     extra={"NTBCal": _ntbcal([0, 1, ML2, ML1, ML3, a3, e])})
    with pytest.raises(FormatError, match="cubic"):
        read_flex(fid)
    ms = read_flex(fid, calibration="cubic")
    assert ms.calibration["model"] == "cubic"
    # ground truth: x = sqrt(m + E) solves a3 x^3 + ML3 x^2 + B x + ML2 - t = 0
    x = np.sqrt(ms.mz + e)
    t = ms.calibration["DELAY_ns"] + ms.calibration["DW_ns"] * np.arange(ms.mz.size)
    resid = a3 * x**3 + ML3 * x**2 + np.sqrt(1e12 / ML1) * x + ML2 - t
    assert np.max(np.abs(resid)) < 1e-6
    q = read_flex(fid, calibration="quadratic")
    assert q.calibration["ignored"]["kind"] == "cubic"
    assert not np.allclose(q.mz, ms.mz)  # the correction is not negligible: never applied silently
    assert cubic_tof_to_mass([ML2 - 1.0], [0, 1, ML2, ML1, ML3, a3, e])[0] != cubic_tof_to_mass([ML2 - 1.0], [0, 1, ML2, ML1, ML3, a3, e])[0]


def test_hpc_applied_and_never_plain_quadratic(tmp_path):
    coeffs = [0.1, 2e-4, -1e-8, 1e-12]
    fid = write_flex(tmp_path / "1SRef", _spectrum(), ml1=ML1, ml2=ML2, ml3=ML3,
                     extra={"HPClUse": "yes", "HPClOrd": "3", "HPClBLo": "1000", "HPClBHi": "6000",
                            "HPCStr": "<V1.0CHPCData Order 3 vCoeff V1.0VectorDouble 4 " + " ".join(map(repr, coeffs))
                                      + " c2 0 c0 0 minMass 1000 maxMass 6000 bUse 1 endCHPCData>"})
    ms = read_flex(fid)
    assert ms.calibration["model"] == "hpc"
    t = ms.calibration["DELAY_ns"] + ms.calibration["DW_ns"] * np.arange(ms.mz.size)
    m = quadratic_tof_to_mass(t, ML1, ML2, ML3)
    inside = (m >= 1000) & (m <= 6000)
    expected = np.where(inside, m - (coeffs[0] + coeffs[1] * m + coeffs[2] * m**2 + coeffs[3] * m**3), m)
    assert np.allclose(ms.mz, expected, rtol=0, atol=1e-9)
    with pytest.raises(FormatError, match="High Precision Calibration"):
        read_flex(fid, calibration="quadratic")
    bad = write_flex(tmp_path / "bad" / "1SRef", _spectrum(), ml1=ML1, ml2=ML2, ml3=ML3,
                     extra={"HPClUse": "yes", "HPClOrd": "3", "HPClBLo": "1000", "HPClBHi": "6000",
                            "HPCStr": "<V1.0CHPCData Order 3 vCoeff V1.0VectorDouble 4 0.1 0.2 0.3 0.4 c2 0 c0 0>"})
    with pytest.raises(FormatError, match="HPCStr"):
        read_flex(bad)


def test_mzml_round_trip(tmp_path):
    s = MassSpectrum(np.linspace(1000, 2000, 501), np.random.default_rng(0).random(501), mode="reflectron")
    p = write_mzml(tmp_path / "a.mzML", s)
    ms = read_mass_spectrum(p)
    assert np.array_equal(ms.mz, s.mz) and np.array_equal(ms.intensity, s.intensity)
    assert ms.mode == "reflectron" and ms.meta["format"] == "mzml"


@pytest.mark.parametrize("sep", ["\t", " ", ",", ";"])
def test_text_separators(tmp_path, sep):
    s = _spectrum(n=50)
    p = write_text(tmp_path / "a.txt", s, sep=sep)
    ms = read_mass_spectrum(p)
    assert np.allclose(ms.mz, s.mz, atol=1e-6) and np.allclose(ms.intensity, s.intensity, rtol=1e-5)


def test_text_decimal_comma(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Mass;Intensity\n1000,5;10,25\n1001,5;11\n1002,5;12\n")
    ms = read_mass_spectrum(p)
    assert ms.mz.tolist() == [1000.5, 1001.5, 1002.5] and ms.intensity[0] == 10.25


@pytest.mark.parametrize("content, match", [
    ("", "no numeric"),
    ("m/z intensity\nfoo bar\n", "no numeric"),
    ("1000 5\n999 6\n", "not strictly increasing"),
    ("1000 5\n1001 x\n", "bad.txt:2"),
    ("1000 5\n1001 nan\n", "bad.txt:2"),
    ("1000 5\n", "fewer than 2"),
])
def test_text_damaged(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(FormatError, match=match):
        read_mass_spectrum(p)


def test_flex_damaged_files(tmp_path):
    fid = write_flex(tmp_path / "1SLin", _spectrum(), ml1=ML1, ml2=ML2, ml3=ML3)
    acq = fid.parent / "acqus"
    good = acq.read_text()
    raw = fid.read_bytes()
    fid.write_bytes(raw[:-3])
    with pytest.raises(FormatError, match="int32"):
        read_flex(fid)
    fid.write_bytes(raw[:-400])
    with pytest.raises(FormatError, match="truncated"):
        read_flex(fid)
    fid.write_bytes(raw)
    for key, bad, match in [("BYTORDA", "2", "BYTORDA"), ("TD", "abc", "TD"), ("DW", "0", "DW"), ("ML1", "-1", "ML1"),
                            ("ML2", "1e12", "invalid mass axis")]:
        text = "".join(f"##${key}= {bad}\n" if line.startswith(f"##${key}=") else line + "\n" for line in good.splitlines())
        acq.write_text(text)
        with pytest.raises(FormatError, match=match):
            read_flex(fid)
    acq.write_text("".join(line + "\n" for line in good.splitlines() if not line.startswith("##$ML1=")))
    with pytest.raises(FormatError, match="ML1"):
        read_flex(fid)
    acq.unlink()
    with pytest.raises(FormatError, match="acqus"):
        read_flex(fid)
    with pytest.raises(InputError):
        read_mass_spectrum(tmp_path / "missing")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_flex_acqus_and_fid(tmp_path, data):
    """Random damage to acqus or fid: a FormatError or a valid, increasing, finite axis — never a crash."""
    folder = tmp_path / "fz"
    fid = write_flex(folder, _spectrum(n=300), ml1=ML1, ml2=ML2, ml3=ML3, dw_ns=4.0)
    acq = folder / "acqus"
    target = data.draw(st.sampled_from(["acqus", "fid"]))
    path = acq if target == "acqus" else fid
    raw = bytearray(path.read_bytes())
    action = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
    if action == "truncate":
        raw = raw[:pos]
    elif action == "flip":
        raw[pos] = data.draw(st.integers(0, 255))
    else:
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    path.write_bytes(bytes(raw))
    try:
        ms = read_flex(fid)
    except QdlabError:
        return
    assert np.all(np.isfinite(ms.mz)) and np.all(np.diff(ms.mz) > 0)
    assert ms.mz.size == ms.intensity.size


@settings(max_examples=60)
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode()))
def test_fuzz_text_and_mzml(tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("fz")
    for name in ("x.txt", "x.mzML"):
        p = d / name
        p.write_bytes(blob)
        try:
            ms = read_mass_spectrum(p)
        except QdlabError:
            continue
        assert np.all(np.isfinite(ms.mz)) and np.all(np.diff(ms.mz) > 0)


def test_fuzz_damaged_mzml(tmp_path):
    s = MassSpectrum(np.linspace(1000, 2000, 101), np.ones(101))
    text = write_mzml(tmp_path / "a.mzML", s).read_text()
    rng = np.random.default_rng(1)
    for _ in range(40):
        cut = int(rng.integers(0, len(text)))
        p = tmp_path / "b.mzML"
        p.write_text(text[:cut] + text[cut + int(rng.integers(1, 50)):])
        try:
            ms = read_mass_spectrum(p)
        except QdlabError:
            continue
        assert np.all(np.diff(ms.mz) > 0)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ml1=st.floats(5e5, 2e7), ml2=st.floats(-50, 50), ml3=st.floats(-1e-3, 5e-3), dw=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
       order=st.sampled_from(["little", "big"]))
def test_flex_round_trip_property(tmp_path, ml1, ml2, ml3, dw, order):
    """For any plausible calibration the axis read back is exactly the calibration of the written constants."""
    s = _spectrum(2000, 3000, 300)
    fid = write_flex(tmp_path / "p" / "1SLin", s, ml1=ml1, ml2=ml2, ml3=ml3, dw_ns=dw, byte_order=order)
    ms = read_flex(fid)
    p = parse_acqus(fid.parent / "acqus")
    t = float(p["DELAY"]) + float(p["DW"]) * np.arange(int(p["TD"]))
    assert np.allclose(ms.mz, quadratic_tof_to_mass(t, ml1, ml2, ml3), rtol=1e-12, atol=0)
    assert ms.mz[0] >= 2000 - 1e-6 and ms.mz[-1] <= 3000 + 1e-6
    assert np.all(np.diff(ms.mz) > 0)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0.1, 1e6), st.floats(-1e6, 1e9)), min_size=2, max_size=40, unique_by=lambda p: round(p[0], 4)),
       st.sampled_from(["\t", " ", ",", ";"]))
def test_text_round_trip_property(tmp_path, rows, sep):
    rows = sorted(rows)
    mz = np.array([r[0] for r in rows])
    if np.any(np.diff(np.round(mz, 6)) <= 0):
        return
    s = MassSpectrum(mz, np.array([r[1] for r in rows]))
    ms = read_mass_spectrum(write_text(tmp_path / "r.txt", s, sep=sep))
    assert np.allclose(ms.mz, s.mz, rtol=0, atol=1e-6)
    assert np.allclose(ms.intensity, s.intensity, rtol=1e-5, atol=1e-30)


def test_write_flex_refuses_normalised_intensities(tmp_path):
    """A fid holds integer counts: a spectrum normalised to 1 would be rounded to 0/1 silently."""
    import numpy as np

    from qdlab.data import InputError
    from qdlab.ms import write_flex

    mz = np.linspace(10_000, 200_000, 2000)
    y = np.exp(-0.5 * ((mz - 40_000) / 6_000) ** 2)
    with pytest.raises(InputError, match="integer detector counts"):
        write_flex(tmp_path / "acq", mz=mz, intensity=y)
    assert write_flex(tmp_path / "acq", mz=mz, intensity=1000 * y).exists()
