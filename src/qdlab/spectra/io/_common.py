"""Shared helpers of the spectrum readers: number parsing, unit/kind/time detection, validation."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qdlab.data.errors import FormatError, InputError
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
    "absorbance": re.compile(
        r"(?<![a-z])(abs|absorbance|absorption|od|optical density|epsilon|absorptivity|extinction)(?![a-z])"
    ),
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
    # a row with a number and a NaN/inf (or an empty cell) is a point the file does not give: drop it, and
    # say how many (rows empty in both columns are the padding of ragged multi-sample exports, not counted)
    half = int(np.count_nonzero(~ok & (np.isfinite(x) | np.isfinite(y))))
    if half:
        meta = {**meta, "non_finite_points_dropped": half}
    x, y = x[ok], y[ok]
    if x.size < 3:
        raise FormatError(f"spectrum {label!r} has {x.size} valid points; expected at least 3", path=path, line=line)
    if np.any(x <= 0):
        raise FormatError(
            f"spectrum {label!r}: x axis in {x_unit} must be positive (found {x.min():g})", path=path, line=line
        )
    if np.unique(x).size < x.size:
        pairs = np.unique(np.column_stack([x, y]), axis=0)
        if np.unique(pairs[:, 0]).size < pairs.shape[0]:
            xs, counts = np.unique(pairs[:, 0], return_counts=True)
            raise FormatError(
                f"spectrum {label!r}: x = {xs[counts > 1][0]:g} appears with different intensities", path=path, line=line
            )
        # exact duplicate (x, y) rows (NIST/JCAMP XYPOINTS tables repeat points) carry no information
        meta = {**meta, "duplicate_points_dropped": int(x.size - pairs.shape[0])}
        x, y = pairs[:, 0], pairs[:, 1]
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
