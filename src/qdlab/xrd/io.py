"""Readers and writers for powder patterns: ``.xy``/``.txt``/``.dat``, ``.csv``, PANalytical ``.xrdml``, Rigaku ``.ras``.

Every reader returns one :class:`~qdlab.data.types.Diffractogram` (2-theta increasing, finite values,
wavelength in angstrom, ``meta`` with source file, sha256 and format) or raises
:class:`~qdlab.data.errors.FormatError` naming the file and line. ``.xrdml`` is parsed with lxml
(namespace-agnostic, XRDML 1.0-2.x); positions may be given as start/end or as a list; counts or
intensities are accepted (multiplied by ``beamAttenuationFactors`` when an attenuator was in, divided by
per-step ``countingTimes`` when those vary) and the wavelength comes from ``usedWavelength`` (K-alpha1, or
the Ka2/Ka1-weighted mean when the intended line is the unresolved doublet). Binary Bruker ``.raw``/``.brml``
and Rigaku ``.rasx`` are refused with a message, never parsed as text.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import Diffractogram

TEXT_SUFFIXES = (".xy", ".txt", ".dat", ".asc")
_WL_RE = re.compile(r"(?:wavelength|lambda)[^0-9=:]*[=:]?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)", re.IGNORECASE)
_TT_NAMES = ("2theta", "two_theta", "twotheta", "2-theta", "2th", "angle", "pos", "2θ")
_I_NAMES = ("intensity", "counts", "int", "cps", "i")
_NO_WAVELENGTH = ("no wavelength in the file; Cu K-alpha1 (1.5406 A) assumed: d-spacings, phase matching and "
                  "Scherrer sizes are wrong if another source was used (give wavelength_angstrom / --wavelength)")


def _default_wavelength() -> float:
    from qdlab.xrd.pattern import wavelength_angstrom

    return wavelength_angstrom("CuKa1")


def _finish(
    tt: Sequence[float], y: Sequence[float], wavelength: float, path: Path | None, fmt: str, meta: dict[str, Any]
) -> Diffractogram:
    x = np.asarray(tt, float)
    i = np.asarray(y, float)
    if x.size < 3:
        raise FormatError(f"need at least 3 data points, found {x.size}", path=path)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(i))):
        raise FormatError("non-finite 2-theta or intensity values", path=path)
    if np.all(np.diff(x) < 0):
        x, i = x[::-1], i[::-1]
    if not np.all(np.diff(x) > 0):
        raise FormatError("2-theta values must be strictly increasing (or decreasing)", path=path, field="2theta")
    if x[0] <= 0 or x[-1] >= 180:
        raise FormatError(f"2-theta must lie inside (0, 180) degrees, found {x[0]:g}..{x[-1]:g}", path=path)
    if not (math.isfinite(wavelength) and 0.1 <= wavelength <= 5.0):
        raise FormatError(f"X-ray wavelength must be 0.1-5 A, found {wavelength:g}", path=path, field="wavelength")
    meta = dict(meta)
    meta["format"] = fmt
    if path is not None:
        meta.setdefault("source", str(path))
        meta.setdefault("sha256", file_sha256(path))
    return Diffractogram(x, i, float(wavelength), meta)


def _decode(raw: bytes, path: Path | None) -> str:
    if b"\x00" in raw[:4096]:
        raise FormatError("binary data, expected a text file", path=path)
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:  # pragma: no cover - latin-1 never fails
            continue
    raise FormatError("cannot decode text", path=path)  # pragma: no cover


def _floats(tokens: Sequence[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def parse_xy_text(text: str, *, path: Path | None = None, wavelength_angstrom: float | None = None) -> Diffractogram:
    """Parse two- (or three-, with esd) column text: comment lines start with ``#``, ``!``, ``;`` or ``'``.

    Non-numeric lines are allowed only before the data (a header); a wavelength written in the header
    (``# wavelength_angstrom = 1.5406``) is used unless ``wavelength_angstrom`` is given.
    """
    tt: list[float] = []
    y: list[float] = []
    header: list[str] = []
    for n, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if line[0] in "#!;'":
            header.append(line)
            continue
        tokens = [t for t in re.split(r"[,\s;]+", line) if t]
        values = _floats(tokens)
        if values is None:
            if tt:
                raise FormatError(f"expected numbers, found {line[:40]!r}", path=path, line=n)
            header.append(line)
            continue
        if len(values) < 2:
            raise FormatError(f"expected 2-theta and intensity columns, found {len(values)} value(s)", path=path, line=n)
        tt.append(values[0])
        y.append(values[1])
    if not tt:
        raise FormatError("no numeric 2-theta/intensity data found", path=path)
    wl = wavelength_angstrom
    if wl is None:
        for h in header:
            m = _WL_RE.search(h)
            if m:
                wl = float(m.group(1))
                break
    meta = {"wavelength_from": "argument" if wavelength_angstrom else ("header" if wl else "default Cu K-alpha1")}
    if wl is None:
        meta["warning"] = _NO_WAVELENGTH
    return _finish(tt, y, wl or _default_wavelength(), path, "xy", meta)


def parse_csv_text(text: str, *, path: Path | None = None, wavelength_angstrom: float | None = None) -> Diffractogram:
    """Parse a delimited table with an optional header naming the 2-theta and intensity columns."""
    lines = [ln for ln in text.splitlines() if ln.strip() and ln.lstrip()[0] not in "#!"]
    if not lines:
        raise FormatError("empty table", path=path)
    sample = "\n".join(lines[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    first = [c.strip() for c in rows[0]]
    tt_col, i_col, start = 0, 1, 0
    if _floats([c for c in first if c]) is None:
        names = [c.lower().replace(" ", "") for c in first]
        tt_col = next((k for k, c in enumerate(names) if any(c.startswith(n) for n in _TT_NAMES)), 0)
        i_col = next((k for k, c in enumerate(names) if k != tt_col and any(c.startswith(n) for n in _I_NAMES)), 1 if tt_col == 0 else 0)
        start = 1
    tt: list[float] = []
    y: list[float] = []
    for n, row in enumerate(rows[start:], start=start + 1):
        cells = [c.strip() for c in row if c.strip() != ""] if delim == " " else [c.strip() for c in row]
        if len(cells) <= max(tt_col, i_col):
            raise FormatError(f"expected at least {max(tt_col, i_col) + 1} columns, found {len(cells)}", path=path, line=n)
        vals = _floats([cells[tt_col], cells[i_col]])
        if vals is None:
            raise FormatError(f"expected numbers, found {cells[tt_col][:20]!r}, {cells[i_col][:20]!r}", path=path, line=n)
        tt.append(vals[0])
        y.append(vals[1])
    if not tt:
        raise FormatError("no data rows", path=path)
    meta: dict[str, Any] = {"delimiter": delim, "wavelength_from": "argument" if wavelength_angstrom else "default Cu K-alpha1"}
    if wavelength_angstrom is None:
        meta["warning"] = _NO_WAVELENGTH
    return _finish(tt, y, wavelength_angstrom or _default_wavelength(), path, "csv", meta)


def _local(tag: Any) -> str:
    return tag.split("}", 1)[1] if isinstance(tag, str) and "}" in tag else str(tag)


def _find(el: Any, name: str) -> Any:
    for child in el.iter():
        if _local(child.tag) == name:
            return child
    return None


def _float_text(el: Any, path: Path | None, what: str) -> float:
    try:
        return float((el.text or "").strip())
    except ValueError as exc:
        raise FormatError(f"expected a number in <{what}>, found {(el.text or '')[:20]!r}", path=path, field=what) from exc


def _float_list(el: Any, path: Path | None, what: str) -> np.ndarray:
    try:
        return np.array([float(t) for t in (el.text or "").split()])
    except ValueError as exc:
        raise FormatError(f"non-numeric <{what}>", path=path, field=what) from exc


def parse_ras_text(text: str, *, path: Path | None = None, wavelength_angstrom: float | None = None) -> Diffractogram:
    """Parse a Rigaku RAS file (SmartLab/Ultima text export): first scan, ``x intensity attenuator`` rows.

    The wavelength is ``*HW_XG_WAVE_LENGTH_ALPHA1``; counts are multiplied by the attenuator factor (third
    column), as Rigaku's own software does. Scans other than the first are reported in ``meta``.

    Raises
    ------
    FormatError
        Without ``*RAS_INT_START``, with non-numeric rows, or a point count that disagrees with
        ``*MEAS_DATA_COUNT``.
    """
    lines = text.splitlines()
    header: dict[str, str] = {}
    tt: list[float] = []
    y: list[float] = []
    n_scans = sum(1 for ln in lines if ln.strip().startswith("*RAS_INT_START"))
    if n_scans == 0:
        raise FormatError("no *RAS_INT_START block; not a Rigaku RAS file", path=path)
    in_data = False
    for n, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if line.startswith("*RAS_INT_START"):
            in_data = True
            continue
        if line.startswith("*RAS_INT_END"):
            break
        if not in_data:
            m = re.match(r"^\*(\S+)\s+\"?(.*?)\"?$", line)
            if m:
                header[m.group(1)] = m.group(2)
            continue
        if not line:
            continue
        values = _floats(line.split())
        if values is None or len(values) < 2:
            raise FormatError(f"expected 2-theta, counts and attenuator columns, found {line[:40]!r}", path=path, line=n)
        tt.append(values[0])
        y.append(values[1] * (values[2] if len(values) > 2 else 1.0))
    meta: dict[str, Any] = {"n_scans": n_scans, "scan_axis": header.get("MEAS_SCAN_AXIS_X", ""),
                            "intensity_unit": header.get("MEAS_SCAN_UNIT_Y", "counts")}
    if n_scans > 1:
        meta["warning"] = f"the file holds {n_scans} scans; only the first is read"
    count = header.get("MEAS_DATA_COUNT")
    if count:
        try:
            declared = int(float(count))
        except ValueError:
            declared = len(tt)
        if declared != len(tt):
            raise FormatError(f"*MEAS_DATA_COUNT says {declared} points but the first scan has {len(tt)}", path=path,
                              field="MEAS_DATA_COUNT")
    wl = wavelength_angstrom
    if wl is None and header.get("HW_XG_WAVE_LENGTH_ALPHA1"):
        try:
            wl = float(header["HW_XG_WAVE_LENGTH_ALPHA1"])
        except ValueError as exc:
            raise FormatError("*HW_XG_WAVE_LENGTH_ALPHA1 is not a number", path=path,
                              field="HW_XG_WAVE_LENGTH_ALPHA1") from exc
    meta["wavelength_from"] = "argument" if wavelength_angstrom else ("file" if wl else "default Cu K-alpha1")
    return _finish(tt, y, wl or _default_wavelength(), path, "ras", meta)


def parse_xrdml_bytes(raw: bytes, *, path: Path | None = None, wavelength_angstrom: float | None = None) -> Diffractogram:
    """Parse PANalytical XRDML (first scan; ``meta['n_scans']`` tells how many there were)."""
    from lxml import etree

    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"not well-formed XML ({' '.join(str(exc.msg).split())[:160]})", path=path, line=getattr(exc, "lineno", None)) from exc
    if root is None or "xrdMeasurement" not in _local(root.tag):
        raise FormatError("not an XRDML file (root element is not xrdMeasurements)", path=path)
    scans = [el for el in root.iter() if _local(el.tag) == "scan"]
    if not scans:
        raise FormatError("no <scan> element", path=path)
    dp = _find(scans[0], "dataPoints")
    if dp is None:
        raise FormatError("no <dataPoints> in the first scan", path=path)
    values_el = _find(dp, "intensities")
    if values_el is None:  # lxml elements without children are falsy: no `or` here
        values_el = _find(dp, "counts")
    if values_el is None:
        raise FormatError("no <intensities> or <counts> in <dataPoints>", path=path)
    try:
        y = np.array([float(t) for t in (values_el.text or "").split()])
    except ValueError as exc:
        raise FormatError("non-numeric intensities", path=path, field="intensities") from exc
    pos_el = None
    for el in dp:
        if _local(el.tag) == "positions" and el.get("axis", "").lower() in ("2theta", "2-theta", "twotheta"):
            pos_el = el
            break
    if pos_el is None:
        raise FormatError("no <positions axis=\"2Theta\"> in <dataPoints>", path=path)
    listed = _find(pos_el, "listPositions")
    if listed is not None:
        try:
            tt = np.array([float(t) for t in (listed.text or "").split()])
        except ValueError as exc:
            raise FormatError("non-numeric listPositions", path=path, field="listPositions") from exc
    else:
        start, end = _find(pos_el, "startPosition"), _find(pos_el, "endPosition")
        if start is None or end is None:
            raise FormatError("2Theta positions need startPosition/endPosition or listPositions", path=path)
        t0, t1 = _float_text(start, path, "startPosition"), _float_text(end, path, "endPosition")
        tt = np.linspace(t0, t1, y.size) if y.size >= 2 else np.array([t0])
    if tt.size != y.size:
        raise FormatError(f"{tt.size} 2-theta positions but {y.size} intensities", path=path)
    meta: dict[str, Any] = {"n_scans": len(scans)}
    if len(scans) > 1:
        meta["warning"] = f"the file holds {len(scans)} scans; only the first is read"
    time_el = _find(dp, "commonCountingTime")
    if time_el is not None:
        meta["counting_time_s"] = _float_text(time_el, path, "commonCountingTime")
    meta["intensity_unit"] = values_el.get("unit", "counts")
    att_el = _find(dp, "beamAttenuationFactors")
    if att_el is not None and (att_el.text or "").strip():
        att = _float_list(att_el, path, "beamAttenuationFactors")
        if att.size != y.size:
            raise FormatError(f"{att.size} beamAttenuationFactors but {y.size} intensities", path=path,
                              field="beamAttenuationFactors")
        if np.any(att != 1.0):  # counts were taken through an attenuator: the true intensity is counts x factor
            y = y * att
            meta["attenuation_corrected"] = True
    times_el = _find(dp, "countingTimes")
    if times_el is not None and (times_el.text or "").strip():
        times = _float_list(times_el, path, "countingTimes")
        if times.size != y.size or np.any(times <= 0):
            raise FormatError(f"countingTimes must be {y.size} positive values, found {times.size}", path=path,
                              field="countingTimes")
        if np.ptp(times) > 0:  # a variable counting time per step: only count rates are comparable
            y = y / times
            meta["intensity_unit"] = f"{meta['intensity_unit']} per second"
            meta["counting_time_s"] = [float(times.min()), float(times.max())]
    wl = wavelength_angstrom
    used = _find(root, "usedWavelength")
    if wl is None and used is not None:
        k1, k2, ratio = _find(used, "kAlpha1"), _find(used, "kAlpha2"), _find(used, "ratioKAlpha2KAlpha1")
        intended = (used.get("intended") or "").lower().replace("-", " ")
        if k1 is not None:
            wl = _float_text(k1, path, "kAlpha1")
            meta["kalpha1_angstrom"] = wl
            if k2 is not None and ratio is not None:
                wl2, r = _float_text(k2, path, "kAlpha2"), _float_text(ratio, path, "ratioKAlpha2KAlpha1")
                meta.update(kalpha2_angstrom=wl2, kalpha2_ratio=r)
                if "alpha 1" not in intended and "alpha1" not in intended and r > 0:
                    wl = (wl + r * wl2) / (1 + r)
                    meta["doublet"] = True  # the fit models both lines (qdlab.xrd.match)
    meta["wavelength_from"] = "argument" if wavelength_angstrom else ("file" if wl else "default Cu K-alpha1")
    return _finish(tt, y, wl or _default_wavelength(), path, "xrdml", meta)


def read_diffractogram(
    path: str | Path, *, wavelength_angstrom: float | None = None, fmt: str | None = None
) -> Diffractogram:
    """Read a powder pattern, choosing the parser from ``fmt`` or the file suffix/content.

    Parameters
    ----------
    path
        ``.xy``/``.txt``/``.dat``/``.asc``, ``.csv``, ``.xrdml`` or Rigaku ``.ras``.
    wavelength_angstrom
        Override the wavelength found in (or assumed for) the file.
    fmt
        ``"xy"``, ``"csv"``, ``"xrdml"`` or ``"ras"``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}")
    if p.is_dir():
        raise InputError(f"expected a file, got a directory: {p}")
    if wavelength_angstrom is not None and not (0.1 <= wavelength_angstrom <= 5.0):
        raise InputError(f"X-ray wavelength must be 0.1-5 A, got {wavelength_angstrom}", field="wavelength_angstrom")
    raw = p.read_bytes()
    if not raw.strip():
        raise FormatError("empty file", path=p)
    suffix = p.suffix.lower()
    kind = fmt or {".xrdml": "xrdml", ".csv": "csv", ".ras": "ras"}.get(suffix)
    if kind is None:
        if raw.lstrip()[:5] == b"<?xml" or b"<xrdMeasurements" in raw[:2000]:
            kind = "xrdml"
        elif raw.lstrip(b"\xef\xbb\xbf").startswith(b"*RAS_DATA_START"):
            kind = "ras"
        elif suffix in (".raw", ".brml", ".rasx", ".uxd", ".gsa"):
            raise FormatError(f"{suffix} files are not supported; export the scan as .xy/.xrdml from the "
                              "instrument software", path=p)
        else:
            kind = "xy"
    if kind == "xrdml":
        return parse_xrdml_bytes(raw, path=p, wavelength_angstrom=wavelength_angstrom)
    text = _decode(raw, p)
    if kind == "ras":
        return parse_ras_text(text, path=p, wavelength_angstrom=wavelength_angstrom)
    if kind == "csv":
        return parse_csv_text(text, path=p, wavelength_angstrom=wavelength_angstrom)
    if kind == "xy":
        return parse_xy_text(text, path=p, wavelength_angstrom=wavelength_angstrom)
    raise InputError(f"unknown format {fmt!r}; expected xy, csv, xrdml or ras", field="fmt")


def write_xy(diffractogram: Diffractogram, path: str | Path, *, header: dict[str, Any] | None = None) -> Path:
    """Write two-column ``2theta intensity`` text with the wavelength (and ``header`` items) as comments."""
    p = Path(path)
    lines = ["# qdlab powder pattern", f"# wavelength_angstrom = {diffractogram.wavelength_angstrom:.6f}"]
    for k, v in (header or {}).items():
        lines.append(f"# {k} = {v}")
    lines.append("# two_theta_deg intensity")
    body = "\n".join(f"{x:.5f} {y:.6g}" for x, y in zip(diffractogram.two_theta_deg, diffractogram.intensity, strict=True))
    p.write_text("\n".join(lines) + "\n" + body + "\n", encoding="utf-8")
    return p


def write_xrdml(diffractogram: Diffractogram, path: str | Path, *, counting_time_s: float = 1.0) -> Path:
    """Write a minimal XRDML 1.5 file (one continuous 2theta scan, equally spaced points).

    A diffractogram whose ``meta`` says ``doublet`` (with ``kalpha1_angstrom``, ``kalpha2_angstrom``,
    ``kalpha2_ratio``) is written as an unresolved K-alpha measurement.
    """
    from lxml import etree

    tt = diffractogram.two_theta_deg
    if tt.size > 2 and not np.allclose(np.diff(tt), (tt[-1] - tt[0]) / (tt.size - 1), rtol=1e-6, atol=1e-9):
        raise InputError("XRDML start/end positions need an evenly spaced 2-theta grid", field="two_theta_deg")
    ns = "http://www.xrdml.com/XRDMeasurement/1.5"
    root = etree.Element(f"{{{ns}}}xrdMeasurements", nsmap={None: ns}, status="Completed")
    meas = etree.SubElement(root, f"{{{ns}}}xrdMeasurement", measurementType="Scan", status="Completed")
    meta = diffractogram.meta
    if meta.get("doublet"):
        used = etree.SubElement(meas, f"{{{ns}}}usedWavelength", intended="K-Alpha")
        etree.SubElement(used, f"{{{ns}}}kAlpha1", unit="Angstrom").text = f"{float(meta['kalpha1_angstrom']):.7f}"
        etree.SubElement(used, f"{{{ns}}}kAlpha2", unit="Angstrom").text = f"{float(meta['kalpha2_angstrom']):.7f}"
        etree.SubElement(used, f"{{{ns}}}ratioKAlpha2KAlpha1").text = f"{float(meta['kalpha2_ratio']):.4f}"
    else:
        used = etree.SubElement(meas, f"{{{ns}}}usedWavelength", intended="K-Alpha 1")
        etree.SubElement(used, f"{{{ns}}}kAlpha1", unit="Angstrom").text = f"{diffractogram.wavelength_angstrom:.7f}"
    scan = etree.SubElement(meas, f"{{{ns}}}scan", appendNumber="0", mode="Continuous", scanAxis="Gonio", status="Completed")
    dp = etree.SubElement(scan, f"{{{ns}}}dataPoints")
    pos = etree.SubElement(dp, f"{{{ns}}}positions", axis="2Theta", unit="deg")
    etree.SubElement(pos, f"{{{ns}}}startPosition").text = f"{tt[0]:.6f}"
    etree.SubElement(pos, f"{{{ns}}}endPosition").text = f"{tt[-1]:.6f}"
    etree.SubElement(dp, f"{{{ns}}}commonCountingTime", unit="seconds").text = f"{counting_time_s:.3f}"
    etree.SubElement(dp, f"{{{ns}}}intensities", unit="counts").text = " ".join(f"{v:.6g}" for v in diffractogram.intensity)
    p = Path(path)
    p.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return p


__all__ = [
    "read_diffractogram",
    "parse_xy_text",
    "parse_csv_text",
    "parse_xrdml_bytes",
    "parse_ras_text",
    "write_xy",
    "write_xrdml",
]
