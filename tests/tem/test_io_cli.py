"""Readers (calibration, units, damaged files) and the ``qdlab tem`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.cli.main import main
from qdlab.data.errors import FormatError, InputError
from qdlab.data.types import Micrograph
from qdlab.tem.io import read_micrograph, unit_to_nm, write_tiff
from qdlab.tem.synth import synth_micrograph


@pytest.fixture(scope="module")
def small_tif(tmp_path_factory):
    p = tmp_path_factory.mktemp("tem") / "small.tif"
    res = synth_micrograph(count=20, size_px=384, mean_diameter_nm=3.5, std_diameter_nm=0.3, seed=3)
    write_tiff(p, res.micrograph)
    return p


def test_round_trip_non_square(tmp_path):
    m = Micrograph(np.arange(64 * 80, dtype=np.uint16).reshape(64, 80), (0.1, 0.25))
    back = read_micrograph(write_tiff(tmp_path / "a.tif", m))
    assert back.nm_per_px == pytest.approx((0.1, 0.25))
    np.testing.assert_array_equal(back.image, m.image)
    assert back.meta["calibration_source"] == "imagej" and len(back.meta["sha256"]) == 64


@pytest.mark.parametrize(("unit", "res_per_unit", "nm"), [("micron", 4000.0, 0.25), ("\\u00B5m", 2000.0, 0.5),
                                                           ("nm", 10.0, 0.1), ("A", 1.0, 0.1)])
def test_imagej_units(tmp_path, unit, res_per_unit, nm):
    p = tmp_path / "u.tif"
    tifffile.imwrite(p, np.zeros((32, 32), np.uint16), imagej=True, resolution=(res_per_unit, res_per_unit),
                     metadata={"unit": unit})
    assert read_micrograph(p).nm_per_px == pytest.approx((nm, nm))


def test_resolution_tag_in_cm_is_a_calibration_but_72_dpi_is_not(tmp_path):
    p = tmp_path / "cm.tif"
    tifffile.imwrite(p, np.zeros((32, 32), np.uint16), resolution=(1e7 / 0.2, 1e7 / 0.2), resolutionunit="CENTIMETER")
    m = read_micrograph(p)
    assert m.nm_per_px == pytest.approx((0.2, 0.2)) and m.meta["calibration_source"] == "resolution_tag"
    q = tmp_path / "dpi.tif"
    tifffile.imwrite(q, np.zeros((32, 32), np.uint16), resolution=(72, 72), resolutionunit="INCH")
    with pytest.raises(FormatError, match="display default"):
        read_micrograph(q)


def test_uncalibrated_needs_explicit_pixel_size(tmp_path):
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, np.zeros((32, 32), np.uint16))
    with pytest.raises(FormatError, match="uncalibrated"):
        read_micrograph(p)
    m = read_micrograph(p, nm_per_px=0.15)
    assert m.nm_per_px == (0.15, 0.15) and m.meta["calibration_source"] == "user"
    with pytest.raises(InputError):
        read_micrograph(p, nm_per_px=-1)


def test_override_keeps_the_file_calibration(small_tif):
    m = read_micrograph(small_tif, nm_per_px=(0.2, 0.2))
    assert m.nm_per_px == (0.2, 0.2) and m.meta["file_nm_per_px"] == pytest.approx([0.1, 0.1])


def test_units():
    assert unit_to_nm("µm") == 1000.0 and unit_to_nm("pm") == 1e-3 and unit_to_nm("m") == 1e9
    assert unit_to_nm("pixel") is None
    with pytest.raises(FormatError, match="diffraction"):
        unit_to_nm("1/nm")
    with pytest.raises(FormatError, match="unknown"):
        unit_to_nm("furlong")


def test_rgb_tiff_becomes_luminance(tmp_path):
    p = tmp_path / "rgb.tif"
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 1] = 100
    tifffile.imwrite(p, rgb, photometric="rgb", resolution=(1e7 / 0.5, 1e7 / 0.5), resolutionunit="CENTIMETER")
    m = read_micrograph(p)
    assert m.image.shape == (32, 32) and m.image.max() == pytest.approx(71.52)


@pytest.mark.parametrize("suffix", [".dm3", ".dm4", ".ser", ".emd", ".tif"])
def test_garbage_in_every_format_is_a_format_error(tmp_path, suffix):
    p = tmp_path / f"junk{suffix}"
    p.write_bytes(b"\x00\x00\x00\x04" + bytes(range(256)) * 4)
    with pytest.raises(FormatError):
        read_micrograph(p)


@settings(max_examples=60)
@given(data=st.data())
def test_damaged_tiff_never_crashes(small_tif, tmp_path_factory, data):
    raw = bytearray(small_tif.read_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 8))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    p = tmp_path_factory.mktemp("fuzz") / "d.tif"
    p.write_bytes(bytes(raw))
    try:
        m = read_micrograph(p)
    except FormatError:
        return
    assert m.image.ndim == 2 and all(c > 0 for c in m.nm_per_px)


def test_cli_synth_then_size(tmp_path, capsys):
    out = tmp_path / "s.tif"
    rc = main(["tem", "synth", str(out), "--count", "40", "--size-px", "512", "--mean-diameter-nm", "4",
               "--seed", "2", "--json"])
    assert rc == 0
    syn = json.loads(capsys.readouterr().out)
    assert syn["count"] == 40 and (tmp_path / "s.truth.csv").exists() and (tmp_path / "s.truth.json").exists()
    ov, hist, csv = tmp_path / "ov.png", tmp_path / "h.png", tmp_path / "p.csv"
    rc = main(["tem", "size", str(out), "--overlay", str(ov), "--histogram", str(hist), "--particles-csv", str(csv),
               "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("count", "mean_diameter_nm", "std_diameter_nm", "sem_diameter_nm", "diameters_nm", "lognormal"):
        assert key in res
    assert res["count"] == len(res["diameters_nm"]) >= 20
    assert res["mean_diameter_nm"] == pytest.approx(syn["mean_diameter_nm"], rel=0.05)
    assert ov.stat().st_size > 10_000 and hist.stat().st_size > 5_000
    assert csv.read_text().startswith("image,label,")


def test_cli_bad_files_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    assert main(["tem", "size", str(bad), "--json"]) == 2
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((32, 32), np.uint16))
    assert main(["tem", "size", str(plain), "--json"]) == 2
    err = capsys.readouterr().err
    assert "uncalibrated" in err and "Traceback" not in err
    assert main(["tem", "size", str(tmp_path / "missing.tif")]) == 2
    assert main(["tem", "synth", str(tmp_path / "x.png")]) == 2


def test_cli_several_images_pool_their_particles(tmp_path, capsys, small_tif):
    other = tmp_path / "other.tif"
    assert main(["tem", "synth", str(other), "--count", "25", "--size-px", "384", "--mean-diameter-nm", "3.5",
                 "--seed", "9", "--json"]) == 0
    capsys.readouterr()
    assert main(["tem", "size", str(small_tif), str(other), "--expected-diameter-nm", "3.5", "--scheduler", "serial",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [im["path"] for im in res["images"]] == [str(small_tif), str(other)]
    assert res["count"] == sum(im["count"] for im in res["images"]) == len(res["diameters_nm"])
    # a damaged file among several still gives one line and exit 2
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    assert main(["tem", "size", str(small_tif), str(bad), "--scheduler", "serial"]) == 2
    assert "bad.tif" in capsys.readouterr().err
