"""Vendor formats: Ocean Optics/Ocean Insight text exports, Agilent Cary CSV, JCAMP-DX (via ``jcamp``)."""

from __future__ import annotations

import contextlib
import io as _io
import re
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.types import SpectrumSeries
from qdlab.spectra.io._common import (
    _OCEAN_BEGIN_RE,
    _OCEAN_END_RE,
    OCEAN_BEGIN,
    _check_kind,
    _check_unit,
    _make_spectrum,
    _series,
    _to_float,
    _unit_error,
    aliquot_id_from_label,
    detect_kind,
    detect_x_unit,
    parse_time_min,
)


# --------------------------------------------------------------------------------------------------
# Ocean Optics / Ocean Insight
# --------------------------------------------------------------------------------------------------
def parse_ocean_optics(
    text: str, *, path: Path | None = None, x_unit: str | None = None, kind: str | None = None
) -> SpectrumSeries:
    """Parse an Ocean Optics/Ocean Insight text export (header block, then the spectral-data marker).

    The x axis is in nm unless the header says ``XAxis mode: Wavenumbers``/``Raman Shifts`` (cm^-1)
    or ``x_unit`` is given.
    """
    x_unit = _check_unit(x_unit, path)
    kind = _check_kind(kind)
    lines = text.splitlines()
    begin = next((i for i, ln in enumerate(lines) if _OCEAN_BEGIN_RE.search(ln)), None)
    if begin is None:
        raise FormatError(f"no '{OCEAN_BEGIN}' marker; not an Ocean Optics export", path=path)
    meta: dict[str, Any] = {}
    for ln in lines[:begin]:
        if ":" in ln:
            k, _, v = ln.partition(":")
            if k.strip():
                meta[k.strip()] = v.strip()
    axis = str(meta.get("XAxis mode", "")).lower()
    unit = x_unit or ("cm-1" if ("wavenumber" in axis or "raman" in axis) else "nm")
    xs: list[float] = []
    ys: list[float] = []
    decimal = "."
    for i in range(begin + 1, len(lines)):
        ln = lines[i].strip()
        if not ln:
            continue
        if _OCEAN_END_RE.search(ln):
            break
        parts = [p for p in re.split(r"[\t;]|\s+", ln) if p]
        if len(parts) < 2:
            raise FormatError(f"expected two numbers (x and intensity), got {ln[:60]!r}", path=path, line=i + 1)
        if not xs and "," in parts[0] and "." not in parts[0]:
            decimal = ","
        try:
            xs.append(_to_float(parts[0], decimal))
            ys.append(_to_float(parts[-1], decimal))
        except ValueError:
            raise FormatError(f"expected two numbers (x and intensity), got {ln[:60]!r}", path=path, line=i + 1) from None
    label = path.stem if path is not None else "spectrum"
    src = {"source": str(path)} if path is not None else {}
    kind_source = "given" if kind else "default"
    m = {
        **src,
        "format": "ocean",
        "instrument": meta.get("Spectrometer", ""),
        "kind_source": kind_source,
        "aliquot_id": aliquot_id_from_label(label),
        "time_min": parse_time_min(label),
    }
    if "Integration Time (sec)" in meta:
        with contextlib.suppress(ValueError):
            m["integration_time_s"] = _to_float(str(meta["Integration Time (sec)"]).split()[0], ".")
    elif "Integration Time (usec)" in meta:
        with contextlib.suppress(ValueError):
            m["integration_time_s"] = 1e-6 * _to_float(str(meta["Integration Time (usec)"]).split()[0], ".")
    spec = _make_spectrum(np.asarray(xs), np.asarray(ys), unit, kind or "pl", m, label, path, begin + 2)
    return _series([spec], {**meta, **src, "format": "ocean"})


# --------------------------------------------------------------------------------------------------
# Agilent Cary CSV
# --------------------------------------------------------------------------------------------------
def parse_cary_csv(
    text: str, *, path: Path | None = None, x_unit: str | None = None, kind: str | None = None
) -> SpectrumSeries:
    """Parse an Agilent/Varian Cary WinUV CSV export (paired x/y columns, metadata after a blank line)."""
    x_unit = _check_unit(x_unit, path)
    kind = _check_kind(kind)
    lines = text.splitlines()
    if len(lines) < 3:
        raise FormatError("a Cary CSV needs a sample-name row, a column-name row and data", path=path)
    names = [c.strip() for c in lines[0].split(",")]
    cols = [c.strip() for c in lines[1].split(",")]
    while cols and cols[-1] == "":
        cols.pop()
    if len(cols) < 2 or len(cols) % 2:
        raise FormatError(f"expected x/y column pairs, got {len(cols)} column names", path=path, line=2)
    npair = len(cols) // 2
    data: list[list[float]] = []
    end = len(lines)
    for i in range(2, len(lines)):
        ln = lines[i]
        if not ln.strip():
            end = i
            break
        cells = [c.strip() for c in ln.split(",")]
        cells = (cells + [""] * len(cols))[: len(cols)]
        try:
            data.append([_to_float(c, ".") for c in cells])
        except ValueError:
            raise FormatError(f"expected {len(cols)} comma-separated numbers, got {ln.strip()[:60]!r}", path=path, line=i + 1) from None
    if not data:
        raise FormatError("no data rows after the column names", path=path, line=3)
    arr = np.asarray(data)
    footer = [ln for ln in lines[end + 1 :] if ln.strip()]
    src = {"source": str(path)} if path is not None else {}
    spectra = []
    for k in range(npair):
        xname, yname = cols[2 * k], cols[2 * k + 1]
        label = names[2 * k] if 2 * k < len(names) and names[2 * k] else f"sample{k + 1}"
        try:
            unit = x_unit or detect_x_unit(xname)
        except InputError as exc:
            raise FormatError(str(exc), path=path, line=2) from None
        if unit is None:
            raise _unit_error(path, xname)
        knd = kind or detect_kind(yname) or "pl"
        m = {
            **src,
            "format": "cary",
            "kind_source": "given" if kind else ("header" if detect_kind(yname) else "default"),
            "aliquot_id": aliquot_id_from_label(label),
            "time_min": parse_time_min(label),
            "y_name": yname,
        }
        spectra.append(_make_spectrum(arr[:, 2 * k], arr[:, 2 * k + 1], unit, knd, m, label, path, 3))
    return _series(spectra, {**src, "format": "cary", "footer": "\n".join(footer[:200])})


# --------------------------------------------------------------------------------------------------
# JCAMP-DX
# --------------------------------------------------------------------------------------------------
def _jcamp_unit(units: str) -> tuple[str | None, float]:
    u = units.strip().upper()
    if u in ("NANOMETERS", "NM"):
        return "nm", 1.0
    if u in ("MICROMETERS", "UM", "MICRONS"):
        return "nm", 1000.0
    if u in ("1/CM", "CM-1", "CM^-1", "WAVENUMBERS"):
        return "cm-1", 1.0
    if u in ("EV", "ELECTRON VOLTS", "ELECTRONVOLTS"):
        return "ev", 1.0
    try:  # free-text units such as NIST's "Wavelength (nm)"
        return detect_x_unit(units), 1.0
    except InputError:
        return None, 1.0


def _jcamp_kind(data_type: str, y_units: str) -> str | None:
    """Spectrum kind from ##DATA TYPE and ##YUNITS (``A`` is JCAMP's absorbance; UV/VIS means absorption).

    >>> _jcamp_kind("UV/VIS SPECTRUM", "A"), _jcamp_kind("INFRARED SPECTRUM", "TRANSMITTANCE")
    ('absorbance', 'transmittance')
    """
    found = detect_kind(y_units) or detect_kind(data_type)
    if found:
        return found
    if y_units.strip().upper() in ("A", "AU", "A.U. ABS"):
        return "absorbance"
    if "UV/VIS" in data_type.upper() or "UV-VIS" in data_type.upper():
        return "absorbance"
    return None


def parse_jcamp(
    text: str, *, path: Path | None = None, x_unit: str | None = None, kind: str | None = None
) -> SpectrumSeries:
    """Parse JCAMP-DX text with the ``jcamp`` package (compound files give one spectrum per block)."""
    import jcamp

    x_unit = _check_unit(x_unit, path)
    kind = _check_kind(kind)
    sink = _io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):  # jcamp prints its X/Y-check messages
            d = jcamp.read(text.splitlines(keepends=True))
    except Exception as exc:
        raise FormatError(f"not a readable JCAMP-DX file ({type(exc).__name__}: {exc})", path=path) from None
    blocks = d.get("children") or [d]
    src = {"source": str(path)} if path is not None else {}
    spectra = []
    for b, blk in enumerate(blocks):
        x = np.asarray(blk.get("x", []), dtype=float)
        y = np.asarray(blk.get("y", []), dtype=float)
        if x.size != y.size:
            raise FormatError(f"block {b + 1}: {x.size} x values but {y.size} y values", path=path)
        unit, factor = _jcamp_unit(str(blk.get("xunits", "")))
        unit = x_unit or unit
        if unit is None:
            raise _unit_error(path, f"##XUNITS={blk.get('xunits', '')}")
        if x_unit is None:
            x = x * factor
        dtype = f"{blk.get('data type', blk.get('datatype', ''))} {blk.get('yunits', '')}"
        header_kind = _jcamp_kind(str(blk.get("data type", blk.get("datatype", ""))), str(blk.get("yunits", "")))
        knd = kind or header_kind or "pl"
        label = str(blk.get("title", "") or (path.stem if path else f"block{b + 1}"))
        m = {
            **src,
            "format": "jcamp",
            "kind_source": "given" if kind else ("header" if header_kind else "default"),
            "aliquot_id": aliquot_id_from_label(label),
            "time_min": parse_time_min(label),
            "jcamp_data_type": dtype.strip(),
        }
        spectra.append(_make_spectrum(x, y, unit, knd, m, label, path, None))
    if not spectra:
        raise FormatError("no spectra in JCAMP-DX file", path=path)
    return _series(spectra, {**src, "format": "jcamp"})
