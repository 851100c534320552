"""Conformance of the micrograph reader on real instrument files (tests/data/real/tem, see SOURCES.md).

Expected values come from RosettaSciIO (HyperSpy's readers), stored once by tools/make_real_fixtures.py:
image shape, pixel values and the pixel size, which must match exactly (float rounding only).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from qdlab.data.errors import FormatError
from qdlab.tem.io import read_micrograph

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "tem" / "hyperspy"

READ = {
    "test_dm_image_um_unit.dm3": "dm",
    "test_STEM_image.dm3": "dm",
    "test_loading_image_saved_with_imageJ.tif": "imagej",
    "FEI-Helios-Ebeam-8bits.tif": "fei",
    "test_loading_image_saved_with_DM.tif": "dm_tiff_tags",
    "test_tiff_Zeiss_SEM_512pix.tif": "zeiss",
    "64x64_TEM_images_acquire_1.ser": "ser",
    "128x128-TEM_search_1.ser": "ser",
    "fei_emd_image.emd": "emd",
    "1532_Camera_Ceta.emd": "emd",
}
REFUSED = {
    "test_diffraction_pattern.dm3": "reciprocal",  # 1/nm: a diffraction pattern
    "Fei_HAADF-UK_location.dm3": "at least 8 x 8",  # a 4 x 16 pixel HAADF strip
    "test_loading_image_saved_with_imageJ_no_scale.tif": "uncalibrated",
    "64x64_diffraction_acquire_1.ser": "implausible pixel size",  # TIA stores 1/m without a unit
}


def _expected(name: str) -> dict:
    return json.loads((REAL / f"{name}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(READ))
def test_real_micrograph_matches_rosettasciio(name):
    exp = _expected(name)
    m = read_micrograph(REAL / name)
    assert m.meta["calibration_source"] == READ[name]
    assert list(m.image.shape) == exp["shape"]
    assert all(v is not None for v in exp["nm_per_px_yx"])
    np.testing.assert_allclose(m.nm_per_px, exp["nm_per_px_yx"], rtol=1e-12, atol=0)  # pixel size exact
    ys, xs = np.asarray(exp["sample_y"]), np.asarray(exp["sample_x"])
    np.testing.assert_array_equal(np.asarray(m.image, float)[np.ix_(ys, xs)], exp["pixels"])


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_real_file_refused_with_reason(name):
    with pytest.raises(FormatError, match=REFUSED[name]) as err:
        read_micrograph(REAL / name)
    assert name in str(err.value)


def test_refused_files_really_lack_a_usable_calibration():
    """The peer reader sees the same reasons (1/nm units, 4 x 16 pixels, no scale, 1e17 'nm' pixels)."""
    assert _expected("test_diffraction_pattern.dm3")["units_yx"] == ["1/nm", "1/nm"]
    assert _expected("Fei_HAADF-UK_location.dm3")["shape"] == [4, 16]
    assert _expected("test_loading_image_saved_with_imageJ_no_scale.tif")["units_yx"] == ["", ""]
    assert _expected("64x64_diffraction_acquire_1.ser")["nm_per_px_yx"][0] > 1e15


def test_dm_tiff_export_matches_the_dm3_of_the_same_image():
    tif = read_micrograph(REAL / "test_loading_image_saved_with_DM.tif")
    dm3 = read_micrograph(REAL / "test_dm_image_um_unit.dm3")  # the same image, saved by DM as .dm3
    assert np.array_equal(np.asarray(tif.image), np.asarray(dm3.image))
    np.testing.assert_allclose(tif.nm_per_px, dm3.nm_per_px, rtol=1e-12)


def test_given_pixel_size_overrides_the_file_and_is_recorded():
    m = read_micrograph(REAL / "test_loading_image_saved_with_imageJ_no_scale.tif", nm_per_px=0.5)
    assert m.meta["calibration_source"] == "user" and m.nm_per_px == (0.5, 0.5)


def _patch_rational(src: Path, dst: Path, tag: str, num: int, den: int) -> Path:
    shutil.copy(src, dst)
    with tifffile.TiffFile(dst) as t:
        entry = t.pages[0].tags[tag]
        offset, order = entry.valueoffset, t.byteorder
    with dst.open("r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack(order + "II", num, den))
    return dst


@pytest.mark.parametrize(("tag", "num", "den"), [("XResolution", 5, 0), ("YResolution", 5, 0), ("XResolution", 0, 1)])
def test_broken_resolution_tag_is_refused(tmp_path, tag, num, den):
    """Issue 19: tifffile reads 5/0 as 5 px/unit; qdlab must not turn that into a pixel size."""
    bad = _patch_rational(REAL / "test_loading_image_saved_with_imageJ.tif", tmp_path / "broken.tif", tag, num, den)
    with tifffile.TiffFile(bad) as t:  # the silent value the peer library would use
        assert t.pages[0].resolution[0 if tag == "XResolution" else 1] == float(num)
    with pytest.raises(FormatError, match=f"{tag} = {num}/{den} is broken"):
        read_micrograph(bad)


def test_cli_refusal_is_one_line(tmp_path):
    bad = _patch_rational(REAL / "test_loading_image_saved_with_imageJ.tif", tmp_path / "broken.tif", "XResolution", 5, 0)
    r = subprocess.run([sys.executable, "-m", "qdlab.cli.main", "tem", "size", str(bad)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    assert len(lines) == 1 and "XResolution" in lines[0] and "broken.tif" in lines[0]
