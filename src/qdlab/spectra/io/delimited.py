"""Generic delimited text: comma, tab, semicolon or whitespace columns, decimal comma, header detection."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.types import SpectrumSeries
from qdlab.spectra.io._common import (
    KINDS,
    _check_kind,
    _check_unit,
    _make_spectrum,
    _numeric_row,
    _series,
    _split,
    _unit_error,
    aliquot_id_from_label,
    detect_kind,
    detect_x_unit,
    parse_time_min,
)

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


def _check_declared_points(meta_ci: dict[str, str], x: np.ndarray, path: Path | None, start: int) -> None:
    """Compare NPOINTS/FIRSTX/LASTX key-value lines (JASCO exports) with the data actually read.

    Raises
    ------
    FormatError
        If the header's point count or first/last x disagree with the data (a truncated or shifted file).
    """
    try:
        n = int(float(meta_ci["npoints"])) if meta_ci.get("npoints") else None
        first = float(meta_ci["firstx"]) if meta_ci.get("firstx") else None
        last = float(meta_ci["lastx"]) if meta_ci.get("lastx") else None
    except ValueError:
        return
    if n is not None and n != x.size:
        raise FormatError(f"the header says NPOINTS {n} but {x.size} data rows were read (truncated file?)",
                          path=path, line=start + 1)
    for name, want, got in (("FIRSTX", first, x[0]), ("LASTX", last, x[-1])):
        if want is not None and not math.isclose(want, float(got), rel_tol=1e-6, abs_tol=1e-9):
            raise FormatError(f"the header says {name} {want:g} but the data give {float(got):g}", path=path,
                              line=start + 1)


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
            # ... and so is a last row shaped like the data (a number, then as many fields) that does not parse
            parts = _split(ln.strip(), delim)
            shaped = len(parts) == first_row_len and _numeric_row(parts[0] + (delim or " ") + "0", delim, decimal)
            if later or shaped:
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
    meta_ci = {k.lower(): v for k, v in meta.items()}
    # JASCO (JWS "save as text") and similar exports state the axes as XUNITS/YUNITS key-value lines
    unit_src = meta.get("x_unit") or meta.get("x unit") or meta_ci.get("xunits") or x_name
    _check_declared_points(meta_ci, data[:, 0], path, start)
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
        kind = detect_kind(ys) or detect_kind(header_line or "") or detect_kind(meta_ci.get("yunits", ""))
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
