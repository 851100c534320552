"""Read electron micrographs with their pixel calibration; write calibrated TIFF.

Formats (chosen by suffix, then by magic bytes):

* **TIFF** (``.tif``/``.tiff``), read with tifffile. Calibration, in order: ImageJ (``unit`` in the ImageJ
  description + X/YResolution in pixels per unit), ThermoFisher/FEI ``PixelWidth``/``PixelHeight`` (metres),
  Zeiss SmartSEM ``CZ_SEM`` field width/height over the stored pixels, DigitalMicrograph's private tags
  (65009/65010 scale, 65003/65004 unit; square pixels only), the baseline ``ResolutionUnit``
  centimetre/inch tags. A resolution in inch that gives a pixel larger than 1 mm (72 or 96 dpi are display
  defaults written by every image editor) is *not* a calibration. Resolution rationals are read raw: a zero
  denominator or numerator (which tifffile silently turns into a number) is refused as a broken calibration.
* **DM3/DM4** (Gatan), **SER** (FEI TIA), **EMD** (Berkeley), read with ncempy (its ``io`` folder is
  dual GPLv3/MIT). DM thumbnails are skipped by ncempy; stacks give their first frame. **Velox EMD**
  (ThermoFisher) is read with h5py here (first image, first frame, ``BinaryResult`` pixel size), because
  ncempy's Velox reader fails on real Ceta files.
* **PNG/JPEG**, read with matplotlib; these carry no calibration.

Units are converted to nm (nm, um/µm/micron, Å, pm, mm, cm, m); reciprocal units (``1/nm``) mean a diffraction
pattern and are refused. Non-square pixels are kept as ``(y, x)``. Without a calibration, :class:`FormatError`
is raised unless ``nm_per_px`` is given; a given ``nm_per_px`` overrides the file (both are recorded in
``meta``). qdlab never guesses a calibration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import FormatError, InputError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import Micrograph

NM_PER_UNIT: dict[str, float] = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "μm": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3, "micrometre": 1e3,
    "a": 0.1, "å": 0.1, "angstrom": 0.1, "ang": 0.1, "pm": 1e-3, "mm": 1e6, "cm": 1e7, "m": 1e9,
}
"""Length units accepted in file calibrations (lower case), in nm per unit."""

TIFF_SUFFIXES = (".tif", ".tiff")
NCEM_SUFFIXES = (".dm3", ".dm4", ".ser", ".emd")
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_NM_PER_PX = 1e5
"""Pixels larger than 0.1 mm are not TEM calibrations (72 dpi is 3.5e5 nm/px)."""


def unit_to_nm(unit: str | bytes | None) -> float | None:
    """nm per ``unit``; ``None`` for pixel/empty units.

    Raises
    ------
    FormatError
        For reciprocal (diffraction) units or unknown units.

    Examples
    --------
    >>> unit_to_nm("µm"), unit_to_nm("nm"), unit_to_nm("\\\\u00B5m"), unit_to_nm("pixel") is None
    (1000.0, 1.0, 1000.0, True)
    """
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    u = str(unit).strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ").replace("\u03bc", "µ").lower()
    if u in ("", "pixel", "pixels", "px", "none", "unknown"):
        return None
    if u.startswith("1/") or u.endswith("^-1") or u.endswith("-1"):
        raise FormatError(f"calibration unit {unit!r} is reciprocal: this is a diffraction pattern, not an image")
    if u in NM_PER_UNIT:
        return NM_PER_UNIT[u]
    raise FormatError(f"unknown length unit {unit!r} in the calibration (expected nm, µm, Å, pm, mm, m)")


def _sniff(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in (".dm3", ".dm4"):
        return "dm"
    if suffix in (".ser", ".emd"):
        return suffix[1:]
    if suffix in PLAIN_SUFFIXES:
        return "plain"
    with path.open("rb") as fh:
        head = fh.read(8)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "emd"
    if head[:4] in (b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"):
        return "dm"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "plain"
    raise FormatError("unknown image format (expected TIFF, DM3/DM4, SER, EMD, PNG or JPEG)", path=path)


def _to_gray(data: NDArray[Any], path: Path) -> tuple[NDArray[Any], dict[str, Any]]:
    """Reduce a read array to one 2-D image (first frame of stacks, luminance of RGB)."""
    meta: dict[str, Any] = {}
    arr = np.asarray(data)
    if arr.dtype.kind == "c":
        raise FormatError("complex-valued data (an FFT or exit wave), not a micrograph", path=path)
    if arr.dtype.kind not in "uifb":
        raise FormatError(f"unsupported pixel type {arr.dtype}", path=path)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3].astype(np.float64)
        arr = rgb @ np.array([0.2126, 0.7152, 0.0722])
        meta["converted_from"] = "rgb"
    while arr.ndim > 2:
        meta.setdefault("frames", arr.shape[0])
        arr = arr[0]
    if arr.ndim != 2 or min(arr.shape) < 8:
        raise FormatError(f"expected a 2-D image of at least 8 x 8 pixels, got shape {np.shape(data)}", path=path)
    if arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise FormatError(f"{bad} of {arr.size} pixels are NaN or infinite (a damaged file?)", path=path)
    return arr, meta


def _raw_resolution(page: Any, path: Path) -> tuple[float, float] | None:
    """X/YResolution (pixels per unit) from the raw TIFF rationals, or None when the tags are absent.

    tifffile turns a rational ``n/0`` into ``n``; a zero or non-finite numerator or denominator is a broken
    tag, and a broken calibration is refused like a missing one (issue 19).

    Raises
    ------
    FormatError
        Naming the broken tag and its raw value.
    """
    out = []
    for name in ("XResolution", "YResolution"):
        tag = page.tags.get(name)
        if tag is None:
            return None
        value = tag.value
        num, den = (value if isinstance(value, tuple) and len(value) == 2 else (value, 1))
        try:
            num_f, den_f = float(num), float(den)
        except (TypeError, ValueError):
            raise FormatError(f"TIFF tag {name} is not a number ({value!r}); broken calibration", path=path) from None
        if den_f == 0 or num_f <= 0 or not (math.isfinite(num_f) and math.isfinite(den_f)) or den_f < 0:
            raise FormatError(
                f"TIFF tag {name} = {num}/{den} is broken (zero or negative numerator/denominator); the pixel "
                f"calibration cannot be trusted, give it with --nm-per-px",
                path=path,
            )
        out.append(num_f / den_f)
    return out[0], out[1]


def _zeiss_calibration(sem: dict[str, Any], shape: tuple[int, ...], path: Path) -> tuple[float, float] | None:
    """Pixel size (y, x) in nm of a Zeiss SmartSEM TIFF from the field of view (``ap_width``/``ap_height``).

    ``ap_pixel_size`` is the pixel size of the 1024-wide scan, not of a stored image with another width
    (a 512-pixel store has twice that pixel size), so the field width divided by the stored width is used.
    """
    def length_nm(key: str) -> float | None:
        item = sem.get(key)
        if not (isinstance(item, tuple) and len(item) >= 3):
            return None
        try:
            per = unit_to_nm(str(item[2]))
            val = float(item[1])
        except (FormatError, TypeError, ValueError):
            return None
        return val * per if per is not None and math.isfinite(val) and val > 0 else None

    width, height = length_nm("ap_width"), length_nm("ap_height")
    if width is None:
        if "ap_pixel_size" in sem or "ap_image_pixel_size" in sem:
            raise FormatError("Zeiss CZ_SEM tag has a pixel size but no field width (ap_width): the stored "
                              "resolution is unknown, give --nm-per-px", path=path)
        return None
    ny, nx = int(shape[-2]), int(shape[-1])
    px = width / nx
    py = height / ny if height is not None else px
    raw = sem.get("")
    if isinstance(raw, tuple) and len(raw) > 3 and isinstance(raw[3], float) and raw[3] > 0:
        # the SI pixel size (m) of the 1024-wide display, with more digits than the rounded ap_width
        si = raw[3] * 1e9 * 1024 / nx
        if abs(si - px) > 1e-3 * px:
            raise FormatError(f"Zeiss CZ_SEM pixel size {si:.6g} nm disagrees with ap_width/{nx} px = {px:.6g} nm; "
                              "give --nm-per-px", path=path)
        return si, si
    return py, px


def _tiff_calibration(tif: Any, page: Any, path: Path) -> tuple[tuple[float, float] | None, str]:
    ij = tif.imagej_metadata
    if ij and ij.get("unit") is not None and page.tags.get("XResolution") is not None:
        per = _unit_nm(ij.get("unit"), path)
        if per is not None:
            res = _raw_resolution(page, path)
            if res is not None:
                rx, ry = res
                yunit = ij.get("yunit")
                per_y = _unit_nm(yunit, path) if yunit else per
                return (per_y / ry, per / rx), "imagej"
    fei = tif.fei_metadata
    if fei:
        scan = fei.get("Scan") or fei.get("EScan") or {}
        pw, ph = scan.get("PixelWidth"), scan.get("PixelHeight")
        if pw:
            pw = float(pw)
            return ((float(ph) if ph else pw) * 1e9, pw * 1e9), "fei"
    sem = getattr(tif, "sem_metadata", None)
    if sem:
        cal = _zeiss_calibration(sem, page.shape[:2] if len(page.shape) >= 2 else page.shape, path)
        if cal is not None:
            return cal, "zeiss"
    dm = _dm_tiff_calibration(page, path)
    if dm is not None:
        return dm, "dm_tiff_tags"
    unit_code = int(getattr(page, "resolutionunit", 1) or 1)
    per_unit = {2: 2.54e7, 3: 1e7, 4: 1e6, 5: 1e3}.get(unit_code)  # inch, cm, mm (4), µm (5; non-standard)
    if per_unit is not None:
        res = _raw_resolution(page, path)
        if res is not None:
            cal = (per_unit / res[1], per_unit / res[0])
            if max(cal) > MAX_NM_PER_PX:
                return None, f"resolution tag {res[0]:g} px/{'inch' if unit_code == 2 else 'unit'} is a display default"
            return cal, "resolution_tag"
    return None, "no ImageJ, FEI, Zeiss or resolution-unit calibration"


def _dm_tiff_calibration(page: Any, path: Path) -> tuple[float, float] | None:
    """Pixel size from the private tags DigitalMicrograph writes into its TIFF exports.

    Tags 65009/65010 hold the two axis scales and 65003/65004 their units (the convention RosettaSciIO
    reads). Which tag is x and which is y is not documented, so only square pixels are accepted.
    """
    tags = page.tags
    if not all(code in tags for code in (65003, 65004, 65009, 65010)):
        return None
    try:
        s1, s2 = float(tags[65009].value), float(tags[65010].value)
    except (TypeError, ValueError):
        raise FormatError("DigitalMicrograph TIFF tags 65009/65010 (scale) are not numbers", path=path) from None
    u1, u2 = _unit_nm(tags[65003].value, path), _unit_nm(tags[65004].value, path)
    if u1 is None or u2 is None:
        return None
    a, b = abs(s1) * u1, abs(s2) * u2
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        raise FormatError(f"DigitalMicrograph TIFF scale tags give {a:g} x {b:g} nm per pixel", path=path)
    if not math.isclose(a, b, rel_tol=1e-9):
        raise FormatError(f"DigitalMicrograph TIFF tags give non-square pixels ({a:g} and {b:g} nm) and do not say "
                          "which axis is which; give --nm-per-px", path=path)
    return a, b


def _unit_nm(unit: Any, path: Path) -> float | None:
    """:func:`unit_to_nm` with the file named in its error."""
    try:
        return unit_to_nm(unit)
    except FormatError as exc:
        raise FormatError(str(exc), path=path) from None


def _read_tiff(path: Path) -> tuple[NDArray[Any], tuple[float, float] | None, dict[str, Any]]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise FormatError("TIFF without image data", path=path)
        series = tif.series[0]
        page = series.pages[0] if series.pages else tif.pages[0]
        data = series.asarray()
        cal, why = _tiff_calibration(tif, page, path)
    return data, cal, {"format": "tiff", "calibration_source": why if cal else None, "calibration_note": why}


def _read_ncem(path: Path, kind: str) -> tuple[NDArray[Any], tuple[float, float] | None, dict[str, Any]]:
    import contextlib
    import io as _io

    from ncempy.io import dm, emd, ser

    if kind == "dm":  # check the header here: ncempy's fileDM leaks a half-open object on a bad one
        with path.open("rb") as fh:
            head = fh.read(20)
        version = int.from_bytes(head[:4], "big") if len(head) >= 4 else 0
        endian_at = {3: 8, 4: 12}.get(version)
        if endian_at is None or len(head) < endian_at + 4 or int.from_bytes(head[endian_at:endian_at + 4], "big") != 1:
            raise FormatError("not a little-endian DM3/DM4 file (bad header)", path=path)
    buf = _io.StringIO()
    with contextlib.redirect_stdout(buf):  # ncempy prints progress and errors
        if kind == "dm":
            with dm.fileDM(path, on_memory=True) as f:
                ds = f.getDataset(0)
        elif kind == "ser":
            ds = ser.serReader(path)
            # serReader lists the element calibrations as (x, y); the array is (y, x)
            ds["pixelSize"] = list(ds.get("pixelSize", []))[::-1]
            ds["pixelUnit"] = list(ds.get("pixelUnit", []))[::-1]
        else:
            try:
                ds = emd.emdReader(path, 0)
            except emd.NoEmdDataSets:
                ds = _read_velox(path)
    data = np.asarray(ds["data"])
    sizes = list(np.atleast_1d(ds.get("pixelSize", [])))
    units = ds.get("pixelUnit", [])
    units = [units] * len(sizes) if isinstance(units, (str, bytes)) else list(units)
    meta: dict[str, Any] = {"format": kind}
    if "velox_images" in ds:
        meta.update(reader="velox (h5py)", velox_images=ds["velox_images"], detector=ds["detector"])
    cal = None
    if len(sizes) >= 2 and len(units) >= 2:
        # the last two axes are the image (y, x); earlier ones are frames
        (sy, sx), (uy, ux) = sizes[-2:], units[-2:]
        py_, px_ = _unit_nm(uy, path), _unit_nm(ux, path)
        if kind == "ser" and py_ is None and px_ is None and 0 < float(sx) < 1e-3:
            py_ = px_ = 1e9  # TIA stores metres without a unit string
        if py_ is not None and px_ is not None and float(sy) > 0 and float(sx) > 0:
            cal = (abs(float(sy)) * py_, abs(float(sx)) * px_)
            meta["calibration_source"] = kind
            meta["file_units"] = [str(uy), str(ux)]
    return data, cal, meta


def _read_velox(path: Path) -> dict[str, Any]:
    """First image of a ThermoFisher Velox EMD (HDF5) with its ``BinaryResult`` pixel size.

    Read with h5py: ncempy's ``emdVeloxReader`` fails on real Ceta camera files that lack
    ``AcquisitionStartDatetime``. Velox stores ``Data/Image/<uuid>/Data`` as (y, x, frames) and one JSON
    metadata column per frame.
    """
    import json

    import h5py

    with h5py.File(path, "r") as f:
        images = f.get("Data/Image")
        if images is None or not len(images):
            raise FormatError("EMD file without Berkeley or Velox image data (Data/Image)", path=path)
        grp = images[next(iter(images))]
        data = np.asarray(grp["Data"][:, :, 0]) if grp["Data"].ndim == 3 else np.asarray(grp["Data"])
        raw = bytes(np.asarray(grp["Metadata"][:, 0], dtype=np.uint8)).rstrip(b"\x00")
        n_images = len(images)
    try:
        md = json.loads(raw.decode("utf-8"))
        result = md["BinaryResult"]
        size = result["PixelSize"]
        sx, sy = float(size["width"]), float(size["height"])
        ux, uy = result.get("PixelUnitX", "m"), result.get("PixelUnitY", "m")
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"Velox EMD metadata has no BinaryResult PixelSize ({type(exc).__name__}: {exc})",
                          path=path) from None
    return {"data": data, "pixelSize": [sy, sx], "pixelUnit": [uy, ux], "velox_images": n_images,
            "detector": str(result.get("Detector", ""))}


def _read_plain(path: Path) -> tuple[NDArray[Any], None, dict[str, Any]]:
    import matplotlib.image as mpimg

    return np.asarray(mpimg.imread(path)), None, {"format": path.suffix.lower().lstrip(".")}


def read_micrograph(path: str | Path, nm_per_px: float | tuple[float, float] | None = None) -> Micrograph:
    """Read one micrograph with its calibration.

    Parameters
    ----------
    path
        TIFF, DM3/DM4, SER, EMD, PNG or JPEG file.
    nm_per_px
        Pixel size to use instead of (or in the absence of) the file's calibration; one number (square
        pixels) or ``(y, x)``.

    Returns
    -------
    Micrograph
        ``meta`` holds ``source``, ``sha256``, ``format``, ``calibration_source`` (``imagej``, ``fei``,
        ``zeiss``, ``dm_tiff_tags``, ``resolution_tag``, ``dm``, ``ser``, ``emd`` or ``user``) and the file's own calibration if overridden.

    Raises
    ------
    FormatError
        Unreadable, damaged or uncalibrated file (without ``nm_per_px``).

    Examples
    --------
    >>> import tempfile, os
    >>> from qdlab.tem.synth import synth_micrograph
    >>> m = synth_micrograph(count=3, size_px=64, mean_diameter_nm=2.0, std_diameter_nm=0.1, seed=0).micrograph
    >>> p = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> _ = write_tiff(p, m)
    >>> read_micrograph(p).nm_per_px
    (0.1, 0.1)
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"image not found: {p}")
    if p.is_dir():
        raise InputError(f"expected an image file, got a directory: {p}")
    if nm_per_px is not None:
        vals = (nm_per_px, nm_per_px) if np.ndim(nm_per_px) == 0 else tuple(nm_per_px)  # type: ignore[arg-type]
        if len(vals) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in vals):
            raise InputError(f"must be a positive pixel size in nm, got {nm_per_px!r}", field="nm_per_px")
    kind = _sniff(p)
    try:
        if kind == "tiff":
            data, cal, meta = _read_tiff(p)
        elif kind in ("dm", "ser", "emd"):
            data, cal, meta = _read_ncem(p, kind)
        else:
            data, cal, meta = _read_plain(p)
    except (FormatError, InputError):
        raise
    except Exception as exc:  # any reader failure on a damaged file is a format problem
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"cannot read as {kind.upper()}: {msg[:200]}", path=p) from exc
    img, extra = _to_gray(data, p)
    meta.update(extra)
    if nm_per_px is not None:
        if cal is not None:
            meta["file_nm_per_px"] = list(cal)
        cal = (float(vals[0]), float(vals[1]))
        meta["calibration_source"] = "user"
    elif cal is None:
        note = meta.get("calibration_note") or "no pixel calibration in the file"
        raise FormatError(f"uncalibrated image ({note}); give the pixel size with --nm-per-px", path=p)
    if not all(math.isfinite(c) and 0 < c <= MAX_NM_PER_PX for c in cal):
        raise FormatError(f"implausible pixel size {cal} nm (a diffraction pattern stored without its reciprocal "
                          f"unit, or a damaged calibration?); give --nm-per-px", path=p)
    meta.update({"source": str(p), "sha256": file_sha256(p)})
    meta.pop("calibration_note", None)
    return Micrograph(image=img, nm_per_px=cal, meta=meta)


def write_tiff(path: str | Path, micrograph: Micrograph) -> Path:
    """Write a calibrated ImageJ TIFF (unit nm, X/YResolution in pixels per nm).

    uint8/uint16/float32 are kept; other types are stored as float32. Fiji, HyperSpy/RosettaSciIO and
    :func:`read_micrograph` read the calibration back.
    """
    import tifffile

    p = Path(path)
    img = np.asarray(micrograph.image)
    if img.dtype not in (np.uint8, np.uint16, np.float32):
        img = img.astype(np.float32)
    py, px = micrograph.nm_per_px
    tifffile.imwrite(p, img, imagej=True, resolution=(1.0 / px, 1.0 / py), metadata={"unit": "nm"})
    return p


__all__ = ["read_micrograph", "write_tiff", "unit_to_nm", "NM_PER_UNIT"]
