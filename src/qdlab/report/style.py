"""One figure style for the report, ``--plot`` and the web dashboard.

The style itself is a matplotlib style file shipped as package data (``qdlab/resources/qdlab.mplstyle``):
constrained layout (no overlapping labels), a colour-blind-safe colour cycle (Okabe & Ito) and the
cividis colour map for sequences, 300-dpi PNG and text-as-text SVG. A domain's ``plot.py`` may use it
through matplotlib alone (``plt.style.use(STYLE_FILE)``); the helpers below add what a style file cannot:
formulas with subscripts and charges (mathtext), a photon-energy axis beside a wavelength axis, titles
that never show a file path, and writing a figure as PNG + SVG (+ PDF) with a CSV of its plotted data.

Examples
--------
>>> formula_tex("Cd3P2")
'Cd$_{3}$P$_{2}$'
>>> formula_tex("Cd22P12(OA)8+")
'Cd$_{22}$P$_{12}$(OA)$_{8}$$^{+}$'
>>> plain_title("/home/me/data/ms/clusters.mzML")
'clusters.mzML'
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from qdlab.units import HC_EV_NM

#: The matplotlib style file (usable as ``plt.style.use(STYLE_FILE)``).
STYLE_FILE = str(resources.files("qdlab.resources") / "qdlab.mplstyle")

#: Okabe & Ito's colour-blind-safe palette (hex, in the order of the style's colour cycle).
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: Colour map for ordered series (aliquot 0 ... n): perceptually uniform and readable with colour-vision deficiency.
SEQUENTIAL_CMAP = "cividis"

#: Figure formats a figure can be written in; PNG is rendered at :data:`PNG_DPI`.
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
PNG_DPI = 300
_MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "csv": "text/csv"}

_ELEMENT_COUNT = re.compile(r"(?<=[A-Za-z\)\]])(\d+)")
_CHARGE = re.compile(r"(\d*)([+-])$")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (safe in workers and servers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Draw inside this context to get the qdlab style (restores the caller's rcParams afterwards)."""
    plt = pyplot()
    with plt.style.context(STYLE_FILE):
        yield


def use_style() -> None:
    """Make the qdlab style the process default (for the CLI's ``--plot`` figures)."""
    pyplot().style.use(STYLE_FILE)


def formula_tex(formula: str, charge: int | None = None) -> str:
    """A chemical formula with subscript counts and a superscript charge, as matplotlib mathtext.

    Parameters
    ----------
    formula
        E.g. ``"Cd3P2"``, ``"Cd22P12(OA)8+"``, ``"[Cd37P20]2+"``.
    charge
        The ion's charge if known; with ``|charge| > 1`` the digits before a trailing sign are read as the
        charge (``"...]2+"``), otherwise they are a count and only the sign is the charge.
    """
    text = str(formula).strip()
    sup = ""
    m = _CHARGE.search(text)
    if m and len(text) > len(m.group(0)):
        digits, sign = m.groups()
        if charge is not None and abs(charge) > 1 and digits:
            sup, text = f"{digits}{sign}", text[: m.start()]
        else:
            sup, text = sign, text[: m.end(1)]
    body = _ELEMENT_COUNT.sub(lambda g: f"$_{{{g.group(1)}}}$", text.replace("$", r"\$"))
    return body + (f"$^{{{sup}}}$" if sup else "")


def plain_title(text: str) -> str:
    """A title without a file system path: an absolute path (POSIX or Windows) becomes its last part."""
    s = str(text)
    if s.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", s):
        name = PureWindowsPath(s).name if "\\" in s else PurePosixPath(s).name
        return name or s
    return s


def nm_to_ev(wavelength_nm: Any) -> Any:
    """Photon energy (eV) of a wavelength (nm); non-positive inputs map to ``inf`` rather than dividing by 0."""
    w = np.asarray(wavelength_nm, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w > 0, HC_EV_NM / np.where(w > 0, w, 1.0), np.inf)


def add_energy_axis(ax: Any, where: str = "top", label: str = "photon energy (eV)") -> Any:
    """A secondary axis in photon energy (eV) beside a wavelength (nm) axis (``x`` for top/bottom, else ``y``)."""
    if where in ("top", "bottom"):
        sec = ax.secondary_xaxis(where, functions=(nm_to_ev, nm_to_ev))
        sec.set_xlabel(label)
    else:
        sec = ax.secondary_yaxis(where, functions=(nm_to_ev, nm_to_ev))
        sec.set_ylabel(label)
    return sec


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """Render ``fig`` as ``png`` (300 dpi), ``svg`` or ``pdf`` bytes (the figure stays open)."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    meta = {"png": {"Software": "qdlab"}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
    with figure_style():  # svg.fonttype / pdf.fonttype are read when saving, not when drawing
        fig.savefig(buf, format=fmt, dpi=PNG_DPI, metadata=meta)
    return buf.getvalue()


def close(fig: Any) -> None:
    """Release a figure's memory."""
    pyplot().close(fig)


def table_csv(columns: Mapping[str, Sequence[Any]]) -> str:
    """Columns of equal length as CSV text (header = column names with units); ``None``/NaN become empty cells."""
    names = list(columns)
    cols = [list(np.asarray(columns[n], dtype=object).ravel()) for n in names]
    lengths = {len(c) for c in cols}
    if len(lengths) > 1:
        raise ValueError(f"columns differ in length: {dict(zip(names, map(len, cols), strict=True))}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(names)

    def cell(v: Any) -> Any:
        if v is None:
            return ""
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else repr(float(v))
        if isinstance(v, np.integer):
            return int(v)
        return v

    for row in zip(*cols, strict=True):
        w.writerow([cell(v) for v in row])
    return out.getvalue()


def save_figure(fig: Any, directory: str | os.PathLike[str], stem: str, *, formats: Sequence[str] = ("png", "svg"),
                data: Mapping[str, Sequence[Any]] | None = None) -> dict[str, Path]:
    """Write ``fig`` as ``<stem>.<fmt>`` for each format (PNG at 300 dpi) and ``<stem>.csv`` from ``data``.

    Returns ``{format: path}`` (``csv`` included when ``data`` is given). The figure is not closed.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fmt in formats:
        p = d / f"{stem}.{fmt}"
        p.write_bytes(figure_bytes(fig, fmt))
        paths[fmt] = p
    if data is not None:
        p = d / f"{stem}.csv"
        p.write_text(table_csv(data), encoding="utf-8")
        paths["csv"] = p
    return paths


def mime_type(fmt: str) -> str:
    """The MIME type of a figure/data format (``png``, ``svg``, ``pdf``, ``csv``)."""
    return _MIME[fmt]


__all__ = [
    "STYLE_FILE", "PALETTE", "SEQUENTIAL_CMAP", "FORMATS", "PNG_DPI", "pyplot", "figure_style", "use_style",
    "formula_tex", "plain_title", "nm_to_ev", "add_energy_axis", "figure_bytes", "close", "table_csv",
    "save_figure", "mime_type",
]
