"""Gatan DM3/DM4 reading through ncempy, on files written here from the documented tag-tree layout.

No DM writer exists in the open tools (ncempy and RosettaSciIO only read), so the fixture builds the tag tree
byte by byte: header, ``ImageList`` with a thumbnail (RGB, DataType 23) first and the real image second,
``ImageData.Calibrations.Dimension.{1,2}.{Origin,Scale,Units}``, ``Data``, ``DataType`` and ``Dimensions``.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError
from qdlab.tem.io import read_micrograph


class _DM:
    def __init__(self, version: int) -> None:
        self.v = version
        self.q = ">Q" if version == 4 else ">I"

    def label(self, name: str) -> bytes:
        b = name.encode("latin-1")
        return struct.pack(">H", len(b)) + b

    def group(self, name: str, entries: list[bytes]) -> bytes:
        body = b"\x00\x00" + struct.pack(self.q, len(entries)) + b"".join(entries)
        size = struct.pack(">Q", len(body)) if self.v == 4 else b""
        return b"\x14" + self.label(name) + size + body

    def _data(self, name: str, payload: bytes) -> bytes:
        body = b"%%%%" + payload
        size = struct.pack(">Q", len(body)) if self.v == 4 else b""
        return b"\x15" + self.label(name) + size + body

    def value(self, name: str, code: int, fmt: str, value: float) -> bytes:
        return self._data(name, struct.pack(self.q, 1) + struct.pack(self.q, code) + struct.pack("<" + fmt, value))

    def array(self, name: str, code: int, data: bytes, n: int) -> bytes:
        head = struct.pack(self.q, 3) + struct.pack(self.q, 20) + struct.pack(self.q, code) + struct.pack(self.q, n)
        return self._data(name, head + data)

    def units(self, text: str) -> bytes:
        return self.array("Units", 4, np.array([ord(ch) for ch in text], "<u2").tobytes(), len(text))

    def image(self, data: np.ndarray, dm_type: int, elem_code: int, scales: tuple, units: tuple) -> bytes:
        ny, nx = data.shape[:2]
        dims = [self.group("", [self.value("Origin", 6, "f", 0.0), self.value("Scale", 6, "f", s), self.units(u)])
                for s, u in zip(scales, units, strict=True)]  # Dimension 1 = x, 2 = y
        raw = np.ascontiguousarray(data).tobytes()
        n = int(data.size)
        return self.group("", [self.group("ImageData", [
            self.group("Calibrations", [self.group("Dimension", dims)]),
            self.array("Data", elem_code, raw, n),
            self.value("DataType", 5, "I", dm_type),
            self.group("Dimensions", [self.value("", 5, "I", nx), self.value("", 5, "I", ny)]),
        ])])

    def file(self, images: list[bytes]) -> bytes:
        root = b"\x00\x00" + struct.pack(self.q, 1) + self.group("ImageList", images)
        head = struct.pack(">I", self.v) + struct.pack(self.q, 0) + struct.pack(">I", 1)
        return head + root + b"\x00" * 8


@pytest.mark.parametrize("version", [3, 4])
def test_dm_with_thumbnail_micrometre_units_and_non_square_pixels(tmp_path, version):
    dm = _DM(version)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, size=(40, 56)).astype("<u2")
    thumb = np.zeros((8, 8), "<u4")
    blob = dm.file([
        dm.image(thumb, 23, 5, (1.0, 1.0), ("", "")),
        dm.image(img, 10, 4, (0.00012, 0.0001), ("µm", "µm")),  # x: 0.12 nm, y: 0.10 nm
    ])
    p = tmp_path / f"img.dm{version}"
    p.write_bytes(blob)
    m = read_micrograph(p)
    np.testing.assert_array_equal(m.image, img)
    assert m.nm_per_px == pytest.approx((0.1, 0.12), rel=1e-6)
    assert m.meta["calibration_source"] == "dm" and m.meta["file_units"] == ["µm", "µm"]


def test_dm_without_units_is_uncalibrated(tmp_path):
    dm = _DM(4)
    img = np.ones((16, 16), "<f4")
    p = tmp_path / "nocal.dm4"
    p.write_bytes(dm.file([dm.image(img, 2, 6, (1.0, 1.0), ("", ""))]))
    with pytest.raises(FormatError, match="uncalibrated"):
        read_micrograph(p)
    assert read_micrograph(p, nm_per_px=0.2).nm_per_px == (0.2, 0.2)


def test_dm_diffraction_units_are_refused(tmp_path):
    dm = _DM(4)
    p = tmp_path / "dp.dm4"
    p.write_bytes(dm.file([dm.image(np.ones((16, 16), "<f4"), 2, 6, (0.01, 0.01), ("1/nm", "1/nm"))]))
    with pytest.raises(FormatError, match="diffraction"):
        read_micrograph(p)


def test_truncated_dm_is_a_format_error(tmp_path):
    dm = _DM(4)
    blob = dm.file([dm.image(np.ones((32, 32), "<u2"), 10, 4, (0.1, 0.1), ("nm", "nm"))])
    p = tmp_path / "cut.dm4"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError):
        read_micrograph(p)


def test_berkeley_emd_written_by_ncempy(tmp_path):
    """EMD 0.2 (HDF5) files written by ncempy's own writer read back with their calibration (metres -> nm)."""
    from ncempy.io import emd

    img = np.arange(24 * 32, dtype=np.float32).reshape(24, 32)
    p = tmp_path / "img.emd"
    emd.emdWriter(p, img, pixel_size=(0.2e-9, 0.25e-9), pixel_unit=("m", "m"))
    m = read_micrograph(p)
    np.testing.assert_array_equal(m.image, img)
    assert m.nm_per_px == pytest.approx((0.2, 0.25))
    assert m.meta["calibration_source"] == "emd"


@settings(max_examples=40)
@given(data=st.data())
def test_damaged_dm4_never_crashes(tmp_path_factory, data):
    dm = _DM(4)
    blob = bytearray(dm.file([dm.image(np.ones((16, 16), "<u2"), 10, 4, (0.1, 0.1), ("nm", "nm"))]))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    blob = blob[: data.draw(st.integers(16, len(blob)))]
    p = tmp_path_factory.mktemp("dmfuzz") / "d.dm4"
    p.write_bytes(bytes(blob))
    try:
        m = read_micrograph(p)
    except FormatError:
        return
    assert m.image.ndim == 2 and all(c > 0 for c in m.nm_per_px)


def _ser_bytes(img: np.ndarray, dx_m: float, dy_m: float) -> bytes:
    """A one-image TIA series file (version 0x0210, 2-D images, time-only tags) as documented by FEI/ncempy."""
    ny, nx = img.shape
    desc, units = b"Number", b""
    head = struct.pack("<hhh", 0x4949, 0x0197, 0x0210) + struct.pack("<iiii", 0x4122, 0x4152, 1, 1)
    dim = struct.pack("<i", 1) + struct.pack("<dd", 0.0, 1.0) + struct.pack("<ii", 0, len(desc)) + desc
    dim += struct.pack("<i", len(units)) + units
    offset_array_at = len(head) + 4 + 4 + len(dim)
    data_at = offset_array_at + 8
    element = struct.pack("<ddi", 0.0, dx_m, 0) + struct.pack("<ddi", 0.0, dy_m, 0) + struct.pack("<h", 2)
    element += struct.pack("<ii", nx, ny) + np.flipud(img).astype("<u2").tobytes()  # TIA stores rows bottom-up
    tag_at = data_at + len(element)
    return (head + struct.pack("<i", offset_array_at) + struct.pack("<i", 1) + dim
            + struct.pack("<ii", data_at, tag_at) + element + struct.pack("<hhi", 0x4152, 0, 0))


def test_ser_calibration_in_metres_and_axis_order(tmp_path):
    img = np.arange(20 * 28, dtype=np.uint16).reshape(20, 28)
    p = tmp_path / "image_1.ser"
    p.write_bytes(_ser_bytes(img, dx_m=0.15e-9, dy_m=0.1e-9))
    m = read_micrograph(p)
    np.testing.assert_array_equal(m.image, img)
    assert m.nm_per_px == pytest.approx((0.1, 0.15))
    assert m.meta["calibration_source"] == "ser"
