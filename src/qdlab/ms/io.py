"""Read mass spectra from Bruker flex folders, mzML and two-column text/CSV into one :class:`MassSpectrum`.

``read_mass_spectrum(path)`` sniffs the format: a folder or a file named ``fid`` -> Bruker flex
(:mod:`qdlab.ms.flex`); ``*.mzML`` (or XML starting with ``<mzML``/``<indexedmzML``) and ``*.mzXML`` (or XML
with ``<mzXML``, e.g. Bruker CompassXport exports) -> pyteomics;
anything else -> delimited text (flexAnalysis "export as ASCII/CSV": m/z and intensity columns separated by
tabs, spaces, commas or semicolons; decimal commas are accepted when the separator is not a comma).

Every reader checks that the mass axis is finite and strictly increasing and raises
:class:`~qdlab.data.errors.FormatError` naming the file (and line) otherwise: a damaged file never yields a
silently wrong axis.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qdlab.data.errors import FormatError, InputError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import MassSpectrum
from qdlab.ms.flex import CalibrationChoice, read_flex, write_flex

Format = Literal["auto", "flex", "mzml", "mzxml", "text"]
_NUM = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"


def sniff_format(path: str | Path) -> Literal["flex", "mzml", "mzxml", "text"]:
    """Guess the format of ``path`` from its name and first bytes."""
    p = Path(path)
    if p.is_dir() or p.name == "fid":
        return "flex"
    if p.suffix.lower() in (".mzml",):
        return "mzml"
    if p.suffix.lower() in (".mzxml",):
        return "mzxml"
    try:
        head = p.read_bytes()[:2048]
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from exc
    if b"<mzML" in head or b"<indexedmzML" in head:
        return "mzml"
    if b"<mzXML" in head:
        return "mzxml"
    return "text"


def read_mass_spectrum(
    path: str | Path, *, fmt: Format = "auto", calibration: CalibrationChoice = "auto"
) -> MassSpectrum:
    """Read a mass spectrum from a Bruker flex folder/fid, an mzML file or a two-column text file.

    Parameters
    ----------
    path
        File or flex acquisition folder.
    fmt
        ``"auto"`` (sniff), ``"flex"``, ``"mzml"`` or ``"text"``.
    calibration
        Flex only: see :func:`qdlab.ms.flex.read_flex`.

    Raises
    ------
    InputError
        If the path does not exist.
    FormatError
        If the file cannot be read as the (sniffed) format.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"not found: {p}")
    kind = sniff_format(p) if fmt == "auto" else fmt
    if kind == "flex":
        ms = read_flex(p, calibration=calibration)
    elif kind == "mzml":
        ms = read_mzml(p)
    elif kind == "mzxml":
        ms = read_mzxml(p)
    elif kind == "text":
        ms = read_text(p)
    else:
        raise InputError(f"unknown format {fmt!r}; expected auto, flex, mzml, mzxml or text", field="fmt")
    src = Path(ms.meta.get("source", p))
    if src.is_file():
        meta = dict(ms.meta)
        meta["sha256"] = file_sha256(src)
        ms = MassSpectrum(ms.mz, ms.intensity, ms.mode, ms.calibration, meta)
    return ms


def _one_line(exc: BaseException, limit: int = 120) -> str:
    """A library's error message on one line (lxml's end in a newline before the position), shortened."""
    return " ".join(str(exc).split())[:limit]


def _check_axis(mz: np.ndarray, y: np.ndarray, path: Path, what: str) -> None:
    if mz.size < 2:
        raise FormatError(f"{what}: fewer than 2 data points", path=path)
    if not (np.all(np.isfinite(mz)) and np.all(np.isfinite(y))):
        raise FormatError(f"{what}: non-finite m/z or intensity values", path=path)
    d = np.diff(mz)
    if np.any(d <= 0):
        i = int(np.argmax(d <= 0))
        raise FormatError(f"{what}: m/z is not strictly increasing at point {i + 2} ({mz[i]} -> {mz[i + 1]})", path=path)
    if mz[0] <= 0:
        raise FormatError(f"{what}: m/z must be positive, first value is {mz[0]}", path=path)


def read_text(path: str | Path) -> MassSpectrum:
    """Read a two-column (m/z, intensity) text or CSV export.

    Header/comment lines before the data are skipped (and kept in ``meta["header"]``); the first numeric
    line fixes the separator; after that every non-empty line must be numeric.

    Raises
    ------
    FormatError
        Naming the line of the first unreadable row, or when no numeric rows exist.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=p) from exc
    if b"\x00" in raw[:4096]:
        raise FormatError("binary file (NUL bytes); expected two-column text", path=p)
    text = raw.decode("utf-8", errors="replace")
    header: list[str] = []
    sep: str | None = None
    decimal_comma = False
    xs: list[float] = []
    ys: list[float] = []
    line_re: re.Pattern[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if sep is None:
            sep, decimal_comma = _detect_separator(s)
            if sep is None:
                if xs or len(header) > 200:
                    raise FormatError("no numeric data found in the first 200 lines", path=p, line=lineno)
                header.append(s)
                continue
            sep_re = r"\s+" if sep == " " else r"\s*" + re.escape(sep) + r"\s*"
            line_re = re.compile(rf"^({_NUM}){sep_re}({_NUM})(?:{sep_re}.*)?$")
        if s.startswith(("#", "%", ";")):
            continue
        assert line_re is not None
        m = line_re.match(s)
        if not m:
            raise FormatError(f"expected two numbers separated by {sep!r}, got {s[:60]!r}", path=p, line=lineno)
        a, b = m.group(1), m.group(2)
        if decimal_comma:
            a, b = a.replace(",", "."), b.replace(",", ".")
        try:
            xs.append(float(a))
            ys.append(float(b))
        except ValueError as exc:  # pragma: no cover - regex guarantees numbers
            raise FormatError(f"not a number: {s[:60]!r}", path=p, line=lineno) from exc
    if not xs:
        raise FormatError("no numeric (m/z, intensity) rows found", path=p)
    mz = np.asarray(xs)
    y = np.asarray(ys)
    _check_axis(mz, y, p, "text spectrum")
    return MassSpectrum(mz, y, mode="unknown", calibration={"model": "as exported"},
                        meta={"format": "text", "source": str(p), "header": header, "separator": sep,
                              "decimal_comma": decimal_comma})


def _detect_separator(line: str) -> tuple[str | None, bool]:
    """Separator and decimal-comma flag of a numeric data line, or (None, False) for a header line."""
    for sep in ("\t", ";", ","):
        parts = [t.strip() for t in line.split(sep)]
        if len(parts) >= 2 and all(re.fullmatch(_NUM, t) for t in parts[:2]):
            comma = sep != "," and any("," in t for t in parts[:2])
            return sep, comma
    parts = line.split()
    if len(parts) >= 2 and all(re.fullmatch(_NUM, t) for t in parts[:2]):
        return " ", any("," in t for t in parts[:2])
    return None, False


@functools.cache
def _psi_ms_cv():
    """The PSI-MS controlled vocabulary vendored with psims (loaded once; never downloaded)."""
    from pyteomics.xml import load_psims

    return load_psims()


def _nth_spectrum(path: Path, index: int) -> dict[str, Any] | None:
    from pyteomics import mzml

    with mzml.MzML(str(path), use_index=False, read_schema=False, huge_tree=True, cv=_psi_ms_cv()) as reader:
        for i, s in enumerate(reader):
            if i == index:
                return s
    return None


def read_mzml(path: str | Path, *, index: int = 0) -> MassSpectrum:
    """Read spectrum number ``index`` of an mzML file with pyteomics.

    Raises
    ------
    FormatError
        If the XML is invalid, the file has no spectrum ``index`` or it lacks m/z/intensity arrays.
    """
    import warnings

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyteomics warns about damaged array names; we raise below instead
            spec = _nth_spectrum(p, index)
    except Exception as exc:  # lxml/pyteomics raise many types (XMLSyntaxError, PyteomicsError, ...) for bad files
        raise FormatError(f"cannot read mzML: {type(exc).__name__}: {_one_line(exc)}", path=p) from exc
    if spec is None:
        raise FormatError(f"no spectrum number {index} in the file", path=p)
    if "m/z array" not in spec or "intensity array" not in spec:
        raise FormatError("spectrum has no 'm/z array' and 'intensity array'", path=p)
    mz = np.asarray(spec["m/z array"], dtype=float)
    y = np.asarray(spec["intensity array"], dtype=float)
    if mz.shape != y.shape:
        raise FormatError(f"m/z array has {mz.size} values but intensity array {y.size}", path=p)
    _check_axis(mz, y, p, "mzML spectrum")
    mode: Literal["linear", "reflectron", "unknown"] = "unknown"
    text = " ".join(str(k) for k in spec)
    if "reflectron on" in text:
        mode = "reflectron"
    elif "reflectron off" in text:
        mode = "linear"
    meta: dict[str, Any] = {"format": "mzml", "source": str(p), "id": spec.get("id", ""),
                            "ms_level": spec.get("ms level"), "spectrum_type": _spectrum_type(spec)}
    if meta["spectrum_type"] == "centroid":
        meta["warning"] = ("centroided (peak list) spectrum: peak widths and areas from it are not meaningful; "
                           "export the profile spectrum for peak analysis")
    return MassSpectrum(mz, y, mode=mode, calibration={"model": "as exported (mzML)"}, meta=meta)


def _spectrum_type(spec: dict[str, Any]) -> str:
    if "centroid spectrum" in spec:
        return "centroid"
    if "profile spectrum" in spec:
        return "profile"
    return "unknown"


def read_mzxml(path: str | Path, *, index: int = 0) -> MassSpectrum:
    """Read scan number ``index`` (0-based) of an mzXML file with pyteomics.

    Bruker CompassXport writes mzXML 2.1 (32-bit, network byte order, zero-intensity points dropped);
    pyteomics decodes every precision, byte order and zlib compression that mzXML 2.x/3.x allows.

    Raises
    ------
    FormatError
        If the XML is invalid, the scan does not exist or lacks m/z/intensity arrays.
    """
    import warnings

    from pyteomics import mzxml

    p = Path(path)
    spec = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mzxml.MzXML(str(p), use_index=False, read_schema=False, huge_tree=True) as reader:
                for i, s in enumerate(reader):
                    if i == index:
                        spec = s
                        break
    except Exception as exc:  # lxml/pyteomics raise many types for bad files
        raise FormatError(f"cannot read mzXML: {type(exc).__name__}: {_one_line(exc)}", path=p) from exc
    if spec is None:
        raise FormatError(f"no scan number {index} in the file", path=p)
    if "m/z array" not in spec or "intensity array" not in spec:
        raise FormatError("scan has no peaks (m/z and intensity arrays)", path=p)
    mz = np.asarray(spec["m/z array"], dtype=float)
    y = np.asarray(spec["intensity array"], dtype=float)
    if mz.shape != y.shape:
        raise FormatError(f"m/z array has {mz.size} values but intensity array {y.size}", path=p)
    _check_axis(mz, y, p, "mzXML scan")
    centroided = str(spec.get("centroided", "0")) in ("1", "true", "True")
    meta: dict[str, Any] = {"format": "mzxml", "source": str(p), "id": str(spec.get("num", "")),
                            "ms_level": spec.get("msLevel"), "spectrum_type": "centroid" if centroided else "unknown",
                            "points_dropped": "zero-intensity points may be omitted by the exporter"}
    if centroided:
        meta["warning"] = "centroided (peak list) scan: peak widths and areas from it are not meaningful"
    return MassSpectrum(mz, y, mode="unknown", calibration={"model": "as exported (mzXML)"}, meta=meta)


def write_text(path: str | Path, spectrum: MassSpectrum, *, sep: str = "\t", header: bool = True) -> Path:
    """Write ``m/z<sep>intensity`` rows (with an optional ``# m/z, intensity`` header)."""
    p = Path(path)
    rows = "\n".join(f"{a:.6f}{sep}{b:.6g}" for a, b in zip(spectrum.mz, spectrum.intensity, strict=False))
    p.write_text(("# m/z" + sep + "intensity\n" if header else "") + rows + "\n", encoding="utf-8")
    return p


def write_mzml(path: str | Path, spectrum: MassSpectrum, *, spectrum_id: str = "scan=1") -> Path:
    """Write an mzML 1.1 file with one MS1 profile spectrum, using psims' ``MzMLWriter``.

    The PSI-MS vocabulary comes from the copy vendored with psims (no download).
    """
    import warnings

    from psims.mzml.writer import MzMLWriter

    p = Path(path)
    params: list[Any] = ["MS1 spectrum", {"ms level": 1}, "positive scan"]
    if spectrum.mode == "reflectron":
        params.append("reflectron on")
    elif spectrum.mode == "linear":
        params.append("reflectron off")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MzMLWriter(open(p, "wb"), close=True) as out:
            out.controlled_vocabularies()
            out.software_list([{"id": "qdlab", "version": "0", "params": ["custom unreleased software tool"]}])
            with out.run(id="run1"):
                with out.spectrum_list(count=1):
                    out.write_spectrum(np.asarray(spectrum.mz, float), np.asarray(spectrum.intensity, float),
                                       id=spectrum_id, centroided=False, params=params,
                                       encoding={"m/z array": np.float64, "intensity array": np.float64})
    return p


def write_mass_spectrum(path: str | Path, spectrum: MassSpectrum, *, fmt: Literal["flex", "mzml", "text"], **kwargs: Any) -> Path:
    """Write ``spectrum`` as a flex folder (``path`` = acquisition folder), mzML or text."""
    if fmt == "flex":
        return write_flex(path, spectrum, **kwargs)
    if fmt == "mzml":
        return write_mzml(path, spectrum, **kwargs)
    if fmt == "text":
        return write_text(path, spectrum, **kwargs)
    raise InputError(f"unknown format {fmt!r}; expected flex, mzml or text", field="fmt")


__all__ = [
    "read_mass_spectrum",
    "read_text",
    "read_mzml",
    "read_mzxml",
    "write_text",
    "write_mzml",
    "write_mass_spectrum",
    "sniff_format",
]
