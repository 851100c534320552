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

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import Spectrum, SpectrumSeries
from qdlab.spectra.io._common import (
    _MAX_BYTES,
    _OCEAN_BEGIN_RE,
    FORMATS,
    KINDS,
    X_UNITS,
    Format,
    _decode,
    _is_number,
    aliquot_id_from_label,
    detect_kind,
    detect_x_unit,
    parse_time_min,
)
from qdlab.spectra.io.delimited import parse_delimited
from qdlab.spectra.io.vendors import parse_cary_csv, parse_jcamp, parse_ocean_optics
from qdlab.spectra.io.writers import write_cary_csv, write_delimited, write_jcamp, write_ocean_optics


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
    """Spectrum files in a folder (``.txt .csv .tsv .dat .jdx .dx .asc .scope``), in natural order (A2 < A10)."""
    exts = {".txt", ".csv", ".tsv", ".dat", ".jdx", ".dx", ".jcamp", ".asc", ".prn", ".scope"}
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


__all__ = [
    "FORMATS",
    "X_UNITS",
    "KINDS",
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
