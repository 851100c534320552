"""Readers and writers for optical spectra: delimited text, Ocean Optics, Agilent Cary CSV, JCAMP-DX.

Every reader returns one :class:`~qdlab.data.types.SpectrumSeries` (one spectrum per aliquot or per y
column). A file that cannot be read raises :class:`~qdlab.data.errors.FormatError` naming the file,
the line and what was expected; nothing is guessed silently — in particular an x axis whose unit is
not stated in the file must be given explicitly (``x_unit=`` / ``--x-unit``).

Formats
-------
``delimited``
    Comma, tab, semicolon or whitespace separated columns; optional metadata lines (``key: value``,
    ``# key: value``) and one column-name line above the data; decimal comma accepted when the
    delimiter is not a comma. The first column is the x axis, every further column one spectrum.
``ocean``
    Ocean Optics / Ocean Insight text export (OceanView, SpectraSuite): ``key: value`` header lines,
    data between ``>>>>>Begin Spectral Data<<<<<`` and the optional ``>>>>>End Spectral Data<<<<<``
    (parsed by marker, never by line count; decimal comma accepted).
``cary``
    Agilent/Varian Cary WinUV CSV: sample names on row 1 (each spanning two columns), ``Wavelength
    (nm),Abs`` pairs on row 2, data rows with a trailing comma, data end at the first blank line and
    method metadata follow.
``jcamp``
    JCAMP-DX (``##TITLE=`` ... ``##END=``), read with the ``jcamp`` package (AFFN and ASDF
    compression, compound files).

Times of aliquots are taken from labels such as ``"A3 (12.5 min)"`` or file names like
``A3_12.5min.txt``.
"""

from __future__ import annotations

import contextlib
import io as _io
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import Spectrum, SpectrumSeries

Format = Literal["delimited", "ocean", "cary", "jcamp"]
FORMATS: tuple[str, ...] = ("delimited", "ocean", "cary", "jcamp")
X_UNITS: tuple[str, ...] = ("nm", "ev", "cm-1")
KINDS: tuple[str, ...] = ("pl", "absorbance", "excitation", "transmittance", "other")

OCEAN_BEGIN = ">>>>>Begin Spectral Data<<<<<"
OCEAN_END = ">>>>>End Spectral Data<<<<<"
_OCEAN_BEGIN_RE = re.compile(r">{3,}\s*(begin|inicio|comienzo|start)[^<]*<{3,}", re.I)
_OCEAN_END_RE = re.compile(r">{3,}\s*(end|fin)[^<]*<{3,}", re.I)

_NUM_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_TIME_RE = re.compile(r"(?<![\w.])t?\s*=?\s*([0-9]+(?:[.,][0-9]+)?)\s*_?min(?:utes?)?\b", re.I)
_UNIT_PATTERNS: dict[str, re.Pattern[str]] = {
    "nm": re.compile(r"(?<![a-z])nm(?![a-z])|nanomet|wavelength|lambda|(?<![a-z])wl(?![a-z])"),
    "ev": re.compile(r"(?<![a-z])ev(?![a-z])|electron.?volt|energy"),
    "cm-1": re.compile(r"cm\s*\^?\s*-\s*1|cm⁻¹|1\s*/\s*cm|wave\s*numbers?|wavenumber|raman"),
}
_KIND_PATTERNS: dict[str, re.Pattern[str]] = {
    "absorbance": re.compile(r"(?<![a-z])(abs|absorbance|absorption|od|optical density)(?![a-z])"),
    "transmittance": re.compile(r"%\s*t(?![a-z])|transmittance|transmission"),
    "excitation": re.compile(r"excitation|(?<![a-z])ple(?![a-z])"),
    "pl": re.compile(r"(?<![a-z])(pl|photolum\w*|emission|fluorescence|luminescence|counts|intensity|int)(?![a-z])"),
}
_MAX_BYTES = 200 * 1024 * 1024


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------
def _decode(raw: bytes, path: Path | None) -> str:
    """Decode file bytes (UTF-8 with BOM, UTF-16 with BOM, else Latin-1); refuse binary files."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FormatError("not a text file (broken UTF-16)", path=path) from exc
    if b"\x00" in raw[:65536]:
        raise FormatError("binary file (NUL bytes); expected a text export of a spectrum", path=path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _is_number(token: str) -> bool:
    return bool(_NUM_RE.match(token))


def _to_float(token: str, decimal: str) -> float:
    t = token.strip()
    if decimal == ",":
        t = t.replace(",", ".")
    if not t:
        return math.nan
    if t.lower() in ("nan", "na", "n/a", "--"):
        return math.nan
    if not _is_number(t):
        raise ValueError(t)
    return float(t)


def _split(line: str, delim: str | None) -> list[str]:
    parts = line.split() if delim is None else [p.strip() for p in line.split(delim)]
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _numeric_row(line: str, delim: str | None, decimal: str) -> list[float] | None:
    """Parse a data row; empty cells (not the first) become NaN. None if not a numeric row."""
    parts = _split(line.strip(), delim)
    if len(parts) < 2 or parts[0] == "":
        return None
    vals: list[float] = []
    for p in parts:
        if p == "" and vals:
            vals.append(math.nan)
            continue
        if decimal == "," and "." in p:
            return None
        try:
            vals.append(_to_float(p, decimal))
        except ValueError:
            return None
    if not math.isfinite(vals[0]):
        return None
    return vals


def detect_x_unit(text: str) -> str | None:
    """Return the x unit named in a header/column text (``nm``, ``ev``, ``cm-1``), or None.

    Raises
    ------
    InputError
        If the text names more than one unit.

    Examples
    --------
    >>> detect_x_unit("Wavelength (nm)"), detect_x_unit("energy_ev"), detect_x_unit("Raman shift cm-1")
    ('nm', 'ev', 'cm-1')
    >>> detect_x_unit("x") is None
    True
    """
    low = text.lower().replace("_", " ")
    found = [u for u, pat in _UNIT_PATTERNS.items() if pat.search(low)]
    if len(found) > 1:
        raise InputError(f"header {text.strip()!r} names several x units ({', '.join(found)})", field="x_unit")
    return found[0] if found else None


def detect_kind(text: str) -> str | None:
    """Return the spectrum kind named in a column/header text, or None.

    >>> detect_kind("Abs"), detect_kind("PL intensity (counts)"), detect_kind("%T")
    ('absorbance', 'pl', 'transmittance')
    """
    low = text.lower().replace("_", " ")
    for kind, pat in _KIND_PATTERNS.items():
        if pat.search(low):
            return kind
    return None


def parse_time_min(text: str) -> float:
    """Aliquot time in minutes from a label such as ``"A3 (12.5 min)"`` or ``"A3_t12.5min"``; NaN if none.

    >>> parse_time_min("A3 (12.5 min)"), parse_time_min("A3_12min")
    (12.5, 12.0)
    >>> import math; math.isnan(parse_time_min("A3"))
    True
    """
    m = _TIME_RE.search(text.replace("_", " "))
    return float(m.group(1).replace(",", ".")) if m else math.nan


def aliquot_id_from_label(label: str) -> str:
    """Strip a time annotation from a label: ``"A3 (12.5 min)" -> "A3"``."""
    base = re.sub(r"\s*[\(\[]?\s*t?\s*=?\s*[0-9]+(?:[.,][0-9]+)?\s*min(?:utes?)?\s*[\)\]]?", "", label.replace("_", " "), flags=re.I)
    return base.strip(" _-") or label


def _check_unit(x_unit: str | None, path: Path | None) -> str | None:
    if x_unit is None:
        return None
    u = str(x_unit).lower().replace("^", "").replace("cm1", "cm-1")
    if u in ("cm-1", "1/cm", "cm⁻¹", "wavenumber"):
        u = "cm-1"
    if u not in X_UNITS:
        raise InputError(f"unknown x unit {x_unit!r}; expected one of {', '.join(X_UNITS)}", field="x_unit")
    return u


def _check_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    if kind not in KINDS:
        raise InputError(f"unknown spectrum kind {kind!r}; expected one of {', '.join(KINDS)}", field="kind")
    return kind


def _make_spectrum(
    x: np.ndarray, y: np.ndarray, x_unit: str, kind: str, meta: dict[str, Any], label: str, path: Path | None, line: int | None
) -> Spectrum:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3:
        raise FormatError(f"spectrum {label!r} has {x.size} valid points; expected at least 3", path=path, line=line)
    if np.any(x <= 0):
        raise FormatError(
            f"spectrum {label!r}: x axis in {x_unit} must be positive (found {x.min():g})", path=path, line=line
        )
    if np.unique(x).size < x.size:
        raise FormatError(f"spectrum {label!r}: repeated x values", path=path, line=line)
    if np.any(np.abs(y) > 1e300):
        raise FormatError(f"spectrum {label!r}: intensity out of range", path=path, line=line)
    order = np.argsort(x, kind="stable")
    return Spectrum(x[order], y[order], x_unit=x_unit, kind=kind, meta=meta, label=label)  # type: ignore[arg-type]


def _series(spectra: list[Spectrum], meta: dict[str, Any]) -> SpectrumSeries:
    times = [float(s.meta.get("time_min", math.nan)) for s in spectra]
    ids = [str(s.meta.get("aliquot_id", s.label)) for s in spectra]
    return SpectrumSeries(tuple(spectra), np.asarray(times, dtype=float), tuple(ids), meta)


def _unit_error(path: Path | None, header: str | None) -> FormatError:
    what = f"the header {header.strip()!r} does not name it" if header else "the file has no column header"
    return FormatError(
        f"cannot tell the x-axis unit ({what}); give it explicitly with --x-unit nm|ev|cm-1 (x_unit=)", path=path
    )


# --------------------------------------------------------------------------------------------------
# format sniffing
# --------------------------------------------------------------------------------------------------
def sniff_format(text: str) -> Format:
    """Guess the file format from its text (markers only, never content heuristics on numbers).

    >>> sniff_format("##TITLE=x\\n##JCAMP-DX=5.01\\n")
    'jcamp'
    >>> sniff_format("Date: x\\n>>>>>Begin Spectral Data<<<<<\\n400\\t1\\n")
    'ocean'
    >>> sniff_format("A0,,\\nWavelength (nm),Abs,\\n400,0.1,\\n")
    'cary'
    >>> sniff_format("wavelength_nm,A0\\n400,1\\n")
    'delimited'
    """
    head = text[:200000]
    if head.lstrip().startswith("##"):
        return "jcamp"
    if _OCEAN_BEGIN_RE.search(head):
        return "ocean"
    lines = [ln for ln in head.splitlines()[:3]]
    if len(lines) >= 2:
        cells = [c.strip() for c in lines[1].split(",")]
        while cells and cells[-1] == "":
            cells.pop()
        if len(cells) >= 2 and len(cells) % 2 == 0:
            xs = cells[0::2]
            if all(re.match(r"(wavelength|wavenumber|energy)\b", c, re.I) for c in xs) and not any(
                _is_number(c) for c in cells
            ):
                return "cary"
    return "delimited"


# --------------------------------------------------------------------------------------------------
# delimited text
# --------------------------------------------------------------------------------------------------
_DELIMS: tuple[str | None, ...] = ("\t", ";", ",", None)


def _choose_layout(lines: Sequence[str]) -> tuple[str | None, str, int]:
    """Pick (delimiter, decimal mark, first data line index) that makes the most lines numeric rows.

    The data start at the first numeric row that is followed by another numeric row (a lone number
    pair in a metadata block does not start the data).
    """
    best: tuple[int, int, str | None, str, int] | None = None
    sample = lines[:5000]
    for rank, delim in enumerate(_DELIMS):
        for decimal in (".", ","):
            if decimal == "," and delim == ",":
                continue
            numeric = [i for i, ln in enumerate(sample) if ln.strip() and _numeric_row(ln, delim, decimal) is not None]
            if not numeric:
                continue
            start = numeric[0]
            nonblank = [i for i, ln in enumerate(sample) if ln.strip()]
            pos = {i: k for k, i in enumerate(nonblank)}
            numeric_set = set(numeric)
            for i in numeric:
                k = pos[i]
                if k + 1 < len(nonblank) and nonblank[k + 1] in numeric_set:
                    start = i
                    break
            key = (len(numeric), -rank * 2 - (decimal == ","))
            if best is None or key > (best[0], best[1]):
                best = (key[0], key[1], delim, decimal, start)
    if best is None:
        raise FormatError("no rows of numbers found; expected columns of x and intensity values")
    return best[2], best[3], best[4]


def _delim_name(delim: str | None) -> str:
    return {"\t": "tab", ";": "';'", ",": "','", None: "whitespace"}[delim]


def parse_delimited(
    text: str,
    *,
    path: Path | None = None,
    x_unit: str | None = None,
    kind: str | None = None,
) -> SpectrumSeries:
    """Parse delimited text: x column then one column per spectrum.

    Parameters
    ----------
    text
        File contents.
    path
        For error messages and metadata.
    x_unit
        ``nm``, ``ev`` or ``cm-1``; required when the header does not name the unit.
    kind
        Spectrum kind; default from the column names (``Abs`` -> absorbance, ``PL``/``counts`` -> pl),
        else ``"pl"`` (recorded as ``meta['kind_source'] = 'default'``).

    Examples
    --------
    >>> s = parse_delimited("Wavelength (nm);A0;A1\\n400,0;1,5;2\\n401,0;1,6;2\\n402,0;1,7;2\\n")
    >>> len(s), s[0].x_unit, float(s[0].y[0]), s.aliquot_ids
    (2, 'nm', 1.5, ('A0', 'A1'))
    """
    x_unit = _check_unit(x_unit, path)
    kind = _check_kind(kind)
    lines = text.splitlines()
    try:
        delim, decimal, start = _choose_layout(lines)
    except FormatError as exc:
        raise FormatError(str(exc), path=path) from None
    rows: list[list[float]] = []
    first_row_len = len(_numeric_row(lines[start], delim, decimal) or [])
    len(lines)
    for i in range(start, len(lines)):
        ln = lines[i]
        if not ln.strip():
            continue
        row = _numeric_row(ln, delim, decimal)
        if row is None:
            # a damaged row inside the data block is an error; a text footer after the data is not
            later = any(
                (r := _numeric_row(lines[j], delim, decimal)) is not None and len(r) == first_row_len
                for j in range(i + 1, min(len(lines), i + 200))
                if lines[j].strip()
            )
            if later:
                raise FormatError(
                    f"expected numbers separated by {_delim_name(delim)} (decimal '{decimal}'), got {ln.strip()[:60]!r}",
                    path=path,
                    line=i + 1,
                )
            break
        rows.append(row)
    ncol = max(len(r) for r in rows)
    data = np.full((len(rows), ncol), np.nan)
    for k, r in enumerate(rows):
        data[k, : len(r)] = r

    # header: nearest non-blank line above the data; metadata: key/value lines above it
    header_line: str | None = None
    meta: dict[str, Any] = {}
    above = [ln for ln in lines[:start] if ln.strip()]
    if above:
        header_line = above[-1].lstrip("#").strip()
        for ln in above[:-1]:
            body = ln.lstrip("#").strip()
            m = re.match(r"^([^:=,;\t]{1,60})\s*[:=,;\t]\s*(.*)$", body)
            if m:
                meta[m.group(1).strip()] = m.group(2).strip()
    names: list[str] = []
    if header_line is not None:
        cand = _split(header_line, delim)
        if len(cand) != ncol and delim is None:
            cand = [c for c in re.split(r"\t|\s{2,}", header_line) if c]
        if len(cand) == ncol:
            names = cand
        else:
            m = re.match(r"^([^:=]{1,60})\s*[:=]\s*(.*)$", header_line)
            if m:  # a "key: value" line is metadata, not a column header (its units say nothing about x)
                meta[m.group(1).strip()] = m.group(2).strip()
                header_line = None
    x_name = names[0] if names else (header_line or "")
    unit_src = meta.get("x_unit") or meta.get("x unit") or x_name
    try:
        found_unit = detect_x_unit(unit_src) if unit_src else None
    except InputError as exc:
        raise FormatError(str(exc) + "; give it explicitly with --x-unit", path=path, line=start) from None
    unit = x_unit or found_unit
    if unit is None:
        raise _unit_error(path, header_line)
    if kind is None:
        kind_meta = meta.get("kind")
        kind = kind_meta if kind_meta in KINDS else None
    kind_source = "given"
    if kind is None:
        ys = " ".join(names[1:]) if names else ""
        kind = detect_kind(ys) or detect_kind(header_line or "")
        kind_source = "header" if kind else "default"
        kind = kind or "pl"
    stem = path.stem if path is not None else "spectrum"
    times_meta = meta.get("time_min")
    times: list[float] = []
    if times_meta:
        try:
            times = [float(t) for t in re.split(r"[,;\s]+", times_meta.strip()) if t]
        except ValueError:
            times = []
    spectra = []
    src = {"source": str(path)} if path is not None else {}
    for j in range(1, ncol):
        label = names[j] if names and names[j] else (stem if ncol == 2 else f"{stem}[{j}]")
        t = times[j - 1] if len(times) == ncol - 1 else parse_time_min(label)
        if math.isnan(t) and ncol == 2 and path is not None:
            t = parse_time_min(path.stem)
        aid = aliquot_id_from_label(label)
        m = {**src, "format": "delimited", "column": j, "kind_source": kind_source, "aliquot_id": aid, "time_min": t}
        spectra.append(_make_spectrum(data[:, 0], data[:, j], unit, kind, m, label, path, start + 1))
    return _series(spectra, {**meta, **src, "format": "delimited", "delimiter": _delim_name(delim), "decimal": decimal})


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
    return None, 1.0


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
        knd = kind or detect_kind(dtype) or "pl"
        label = str(blk.get("title", "") or (path.stem if path else f"block{b + 1}"))
        m = {
            **src,
            "format": "jcamp",
            "kind_source": "given" if kind else ("header" if detect_kind(dtype) else "default"),
            "aliquot_id": aliquot_id_from_label(label),
            "time_min": parse_time_min(label),
            "jcamp_data_type": dtype.strip(),
        }
        spectra.append(_make_spectrum(x, y, unit, knd, m, label, path, None))
    if not spectra:
        raise FormatError("no spectra in JCAMP-DX file", path=path)
    return _series(spectra, {**src, "format": "jcamp"})


# --------------------------------------------------------------------------------------------------
# public readers
# --------------------------------------------------------------------------------------------------
_PARSERS = {"delimited": parse_delimited, "ocean": parse_ocean_optics, "cary": parse_cary_csv, "jcamp": parse_jcamp}


def read_spectra(
    path: str | Path, x_unit: str | None = None, kind: str | None = None, fmt: str | None = None
) -> SpectrumSeries:
    """Read one spectrum file (any supported format) into a :class:`SpectrumSeries`.

    Parameters
    ----------
    path
        The file.
    x_unit
        ``nm``, ``ev`` or ``cm-1`` — overrides the file; required when the file does not say.
    kind
        ``pl``, ``absorbance``, ... — overrides the file.
    fmt
        ``delimited``, ``ocean``, ``cary`` or ``jcamp``; sniffed from markers when None.

    Raises
    ------
    FormatError
        Unreadable file, with its name, line and what was expected.
    InputError
        Unknown ``x_unit``/``kind``/``fmt``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}")
    if p.is_dir():
        raise InputError(f"expected a file, got a directory: {p}")
    if p.stat().st_size > _MAX_BYTES:
        raise FormatError(f"file too large for a spectrum export ({p.stat().st_size} bytes)", path=p)
    raw = p.read_bytes()
    if not raw.strip():
        raise FormatError("empty file", path=p)
    text = _decode(raw, p)
    if fmt is not None and fmt not in _PARSERS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", field="fmt")
    f = fmt or sniff_format(text)
    series = _PARSERS[f](text, path=p, x_unit=x_unit, kind=kind)
    sha = file_sha256(p)
    spectra = [Spectrum(s.x, s.y, s.x_unit, s.kind, {**s.meta, "sha256": sha}, s.label) for s in series]
    return SpectrumSeries(tuple(spectra), series.time_min, series.aliquot_ids, {**series.meta, "sha256": sha})


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def list_spectrum_files(folder: str | Path) -> list[Path]:
    """Spectrum files in a folder (``.txt .csv .tsv .dat .jdx .dx .asc``), in natural order (A2 < A10)."""
    exts = {".txt", ".csv", ".tsv", ".dat", ".jdx", ".dx", ".jcamp", ".asc", ".prn"}
    return sorted((q for q in Path(folder).iterdir() if q.is_file() and q.suffix.lower() in exts), key=_natural_key)


def read_series(
    paths: str | Path | Iterable[str | Path], x_unit: str | None = None, kind: str | None = None
) -> SpectrumSeries:
    """Read a folder, one file or several files into one series (files in natural order).

    Raises
    ------
    InputError
        A folder without spectrum files.
    """
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        files = list_spectrum_files(p) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise InputError(f"no spectrum files (.txt .csv .dat .jdx ...) in {p}")
    else:
        files = [Path(q) for q in paths]
    spectra: list[Spectrum] = []
    times: list[float] = []
    ids: list[str] = []
    for f in files:
        s = read_spectra(f, x_unit=x_unit, kind=kind)
        spectra.extend(s.spectra)
        times.extend(s.time_min.tolist())
        ids.extend(s.aliquot_ids)
    return SpectrumSeries(tuple(spectra), np.asarray(times), tuple(ids), {"files": [str(f) for f in files]})


# --------------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------------
def _as_series(obj: Spectrum | SpectrumSeries | Sequence[Spectrum]) -> SpectrumSeries:
    if isinstance(obj, SpectrumSeries):
        return obj
    if isinstance(obj, Spectrum):
        return SpectrumSeries.from_spectra([obj])
    return SpectrumSeries.from_spectra(list(obj))


def _fmt(v: float, decimal: str = ".", missing: str = "") -> str:
    s = missing if not math.isfinite(v) else repr(float(v))
    return s.replace(".", ",") if decimal == "," else s


def _column_label(series: SpectrumSeries, i: int, compact: bool = False) -> str:
    """``"A3 (12.5 min)"``, or ``"A3_12.5min"`` without spaces (for whitespace-delimited files)."""
    aid = series.aliquot_ids[i]
    t = series.time_min[i]
    if compact:
        aid = re.sub(r"\s+", "_", aid)
    if not math.isfinite(t):
        return aid
    tt = np.format_float_positional(float(t), trim="-")
    return f"{aid}_{tt}min" if compact else f"{aid} ({tt} min)"


_X_NAMES = {"nm": "wavelength_nm", "ev": "energy_ev", "cm-1": "wavenumber_cm-1"}


def write_delimited(
    path: str | Path,
    series: Spectrum | SpectrumSeries | Sequence[Spectrum],
    *,
    delimiter: str = ",",
    decimal: str = ".",
    header: bool = True,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write spectra as delimited text: ``x`` column then one column per spectrum.

    All spectra must share the first spectrum's x axis (same unit); they are interpolated onto it
    otherwise (NaN outside their range, written as empty cells).

    Parameters
    ----------
    delimiter
        ``","``, ``"\\t"``, ``";"`` or ``" "``.
    decimal
        ``"."`` or ``","`` (not with a comma delimiter).
    header
        Write ``# key: value`` metadata lines and the column-name line (without it, readers need
        ``x_unit``).
    """
    if decimal == "," and delimiter == ",":
        raise InputError("a decimal comma needs a delimiter other than ','", field="decimal")
    s = _as_series(series)
    base = s[0]
    x = base.x
    cols = [x]
    for sp in s:
        if sp.x_unit != base.x_unit:
            sp = sp.to_wavelength() if base.x_unit == "nm" else sp.to_energy()
        cols.append(sp.y if sp.x.shape == x.shape and np.array_equal(sp.x, x) else np.interp(x, sp.x, sp.y, left=np.nan, right=np.nan))
    out = []
    compact = delimiter.strip() == ""
    if header:
        out.append("# qdlab spectra export")
        out.append(f"# kind: {base.kind}")
        for k, v in (meta or {}).items():
            out.append(f"# {k}: {v}")
        out.append(delimiter.join([_X_NAMES[base.x_unit]] + [_column_label(s, i, compact) for i in range(len(s))]))
    arr = np.column_stack(cols)
    missing = "nan" if delimiter.strip() == "" else ""  # empty cells would vanish between spaces
    for row in arr:
        out.append(delimiter.join(_fmt(v, decimal, missing) for v in row))
    p = Path(path)
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


def write_ocean_optics(
    path: str | Path, spectrum: Spectrum, *, decimal: str = ".", integration_time_s: float = 0.1, spectrometer: str = "NQ5500001"
) -> Path:
    """Write one spectrum as an OceanView "with header" text export (tab separated, nm axis)."""
    sp = spectrum.to_wavelength() if spectrum.x_unit != "nm" else spectrum
    lines = [
        f"Data from {Path(path).name} Node",
        "",
        "Date: Tue Nov 24 14:52:31 UTC 2026",
        "User: qdlab",
        f"Spectrometer: {spectrometer}",
        "Trigger mode: 0",
        f"Integration Time (sec): {integration_time_s:.6E}",
        "Scans to average: 1",
        "Nonlinearity correction enabled: false",
        "Boxcar width: 0",
        "XAxis mode: Wavelengths",
        f"Number of Pixels in Spectrum: {sp.x.size}",
        OCEAN_BEGIN,
    ]
    lines += [f"{_fmt(a, decimal)}\t{_fmt(b, decimal)}" for a, b in zip(sp.x, sp.y, strict=True)]
    lines.append(OCEAN_END)
    p = Path(path)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def write_cary_csv(path: str | Path, series: Spectrum | SpectrumSeries | Sequence[Spectrum]) -> Path:
    """Write spectra as an Agilent Cary WinUV CSV (paired ``Wavelength (nm)``/y columns, metadata after a blank line)."""
    s = _as_series(series)
    conv = [sp.to_wavelength() if sp.x_unit != "nm" else sp for sp in s]
    yname = {"absorbance": "Abs", "transmittance": "%T"}.get(s[0].kind, "Intensity (a.u.)")
    names = ",".join(f"{_column_label(s, i)}," for i in range(len(s))) + ","
    cols = ",".join(f"Wavelength (nm),{yname}" for _ in conv) + ","
    n = max(sp.x.size for sp in conv)
    out = [names, cols]
    for r in range(n):
        cells = []
        for sp in conv:
            if r < sp.x.size:
                cells += [_fmt(sp.x[r]), _fmt(sp.y[r])]
            else:
                cells += ["", ""]
        out.append(",".join(cells) + ",")
    out.append("")
    for i in range(len(s)):
        out += [_column_label(s, i), "Collection Time: 11/24/2026 2:52:31 PM", "Instrument: Cary 5000", ""]
    p = Path(path)
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


def write_jcamp(path: str | Path, spectrum: Spectrum, *, title: str | None = None) -> Path:
    """Write one spectrum as JCAMP-DX 5.01 with ``##XYPOINTS=(XY..XY)`` (AFFN, full precision)."""
    xunits = {"nm": "NANOMETERS", "ev": "EV", "cm-1": "1/CM"}[spectrum.x_unit]
    dtype = {"absorbance": "UV/VIS SPECTRUM", "pl": "FLUORESCENCE SPECTRUM", "excitation": "EXCITATION SPECTRUM"}.get(
        spectrum.kind, "SPECTRUM"
    )
    yunits = {"absorbance": "ABSORBANCE", "transmittance": "TRANSMITTANCE"}.get(spectrum.kind, "COUNTS")
    lines = [
        f"##TITLE={title or spectrum.label or 'spectrum'}",
        "##JCAMP-DX=5.01",
        f"##DATA TYPE={dtype}",
        "##ORIGIN=qdlab",
        "##OWNER=public domain",
        f"##XUNITS={xunits}",
        f"##YUNITS={yunits}",
        "##XFACTOR=1",
        "##YFACTOR=1",
        f"##FIRSTX={float(spectrum.x[0])!r}",
        f"##LASTX={float(spectrum.x[-1])!r}",
        f"##NPOINTS={spectrum.x.size}",
        "##XYPOINTS=(XY..XY)",
    ]
    lines += [f"{float(a)!r}, {float(b)!r}" for a, b in zip(spectrum.x, spectrum.y, strict=True)]
    lines.append("##END=")
    p = Path(path)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


__all__ = [
    "FORMATS",
    "read_spectra",
    "read_series",
    "list_spectrum_files",
    "sniff_format",
    "parse_delimited",
    "parse_ocean_optics",
    "parse_cary_csv",
    "parse_jcamp",
    "detect_x_unit",
    "detect_kind",
    "parse_time_min",
    "aliquot_id_from_label",
    "write_delimited",
    "write_ocean_optics",
    "write_cary_csv",
    "write_jcamp",
]
