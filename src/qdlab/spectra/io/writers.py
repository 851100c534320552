"""Writers for the text formats qdlab reads (round-trip exact: floats are written with ``repr``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import InputError
from qdlab.data.types import Spectrum, SpectrumSeries
from qdlab.spectra.io._common import OCEAN_BEGIN, OCEAN_END


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


__all__ = ["write_delimited", "write_ocean_optics", "write_cary_csv", "write_jcamp"]
