"""Bruker flex-series raw data (``fid`` + ``acqus``/``acqu``): reader, writer and TOF calibrations.

A flex acquisition folder (``<spot>/1/1SLin`` or ``1SRef``) holds

* ``fid``: ``TD`` signed 32-bit integers, byte order from ``##$BYTORDA`` (0 = little, 1 = big endian);
* ``acqus`` (or the older ``acqu``): a JCAMP-DX style parameter file (``##$KEY= value``).

Sample ``i`` (0-based) was recorded at the time of flight ``t_i = DELAY + i * DW`` (ns). The standard
("quadratic") calibration maps time to mass through (Titulaer et al., BMC Bioinformatics 2006, 7, 403)::

    ML3 * m + sqrt(1e12 / ML1) * sqrt(m) + (ML2 - t) = 0     (solve for x = sqrt(m))

so ``t = ML2 + sqrt(1e12/ML1) * sqrt(m) + ML3 * m`` is the exact inverse used by :func:`write_flex`.

Two other calibrations exist and change the masses by up to several Da (or thousands, see
readBrukerFlexData issue #4), so they are detected and never ignored silently:

* **cubic / "cubic enhanced"**: constants stored in ``##$NTBCal`` as ``V1.0CTOF2CalibrationConstants
  DELAY DW ML2 ML1 ML3 A E ...``; the mass follows from ``A x^3 + ML3 x^2 + sqrt(1e12/ML1) x + ML2 - t = 0``
  with ``x = sqrt(m)`` and ``m = x^2 - E``. Bruker has not published this model; the form above is the one
  reverse-engineered by readBrukerFlexData (Gibb et al.). It is applied only on request
  (``calibration="cubic"``); by default such files are refused with an explanation.
* **HPC** (High Precision Calibration, ``##$HPClUse= yes`` with a positive order and mass limits; Gobom et
  al., Anal. Chem. 2002, 74, 3915): Bruker has not published the formula. qdlab applies the form found by
  readBrukerFlexData: inside ``[minMass, maxMass]`` of ``##$HPCStr`` the quadratic mass ``m`` becomes
  ``m - sum_k c_k m^k`` with the ``vCoeff`` polynomial. Checked against Bruker's own CompassXport export of
  the same fid (tests/data/real/ms, readBrukerFlexData's ``hpc`` example): every one of the 24,860 exported
  points agrees within 0.03 Da (0.004 %), 24,646 of them to the last float32 bit; the residual sits just
  below ``minMass``, where Bruker blends the correction out. An HPC string qdlab cannot parse or does not
  understand (order/coefficient mismatch, ``HPCML3`` != 0, ``bUse 0`` with ``HPClUse= yes``) is refused; an
  HPC file is never read with the plain quadratic axis (``calibration="quadratic"`` is refused for it).

The implementation is our own (numpy): the only Python readers (BASTet, maldiassist) read ``acqu`` only,
ignore cubic/HPC calibrations, or are Python-2 era.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import FormatError, InputError
from qdlab.data.types import MassSpectrum

CalibrationChoice = Literal["auto", "quadratic", "cubic", "hpc"]

_LINE_RE = re.compile(r"^##(\$?)([^=]+)=\s?(.*)$")
_NTB_RE = re.compile(r"V1\.0CTOF2CalibrationConstants\s+([-+0-9.eE\s]+?)\s+V1\.0CTOF2CalibrationConstants")


#: Largest m/z (Da, z = 1) a flex calibration may give: MALDI-TOF instruments stop far below (~500 kDa).
MAX_TOF_MASS_DA = 1.0e6

#: Smallest apex (counts) accepted by :func:`write_flex`: below it int32 rounding destroys the spectrum.
MIN_PEAK_COUNTS = 50.0

def parse_acqus(path: str | Path) -> dict[str, str]:
    """Read a flex ``acqus``/``acqu`` file into ``{KEY: raw value}`` (``$`` dropped, ``<>`` stripped).

    Array parameters (``(0..n)`` followed by value lines) are kept as their joined value lines.

    Raises
    ------
    FormatError
        If the file is not text or contains no ``##KEY=`` lines.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read acquisition parameters: {exc.strerror}", path=p) from exc
    if b"\x00" in raw[:4096]:
        raise FormatError("not a text file (NUL bytes); expected a JCAMP-style acqus file", path=p)
    text = raw.decode("latin-1")
    out: dict[str, str] = {}
    more: dict[str, list[str]] = {}  # continuation lines, joined once at the end (not quadratic in their number)
    last: str | None = None
    for line in text.splitlines():
        line = line.rstrip()
        m = _LINE_RE.match(line)
        if m:
            key, value = m.group(2).strip(), m.group(3).strip()
            if value.startswith("<") and value.endswith(">"):
                value = value[1:-1]
            if value.startswith("(") and ")" in value and value.endswith(")") and ".." in value:
                value = ""  # array header; values follow on the next lines
            out[key] = value
            more.pop(key, None)
            last = key
        elif last is not None and line and not line.startswith("$$"):
            more.setdefault(last, []).append(line.strip())
    for key, parts in more.items():
        out[key] = " ".join([out[key], *parts]).strip()
    if not out:
        raise FormatError("no '##KEY= value' lines found; not a Bruker acqus file", path=p)
    return out


def _number(params: Mapping[str, str], key: str, path: Path, *, integer: bool = False) -> float:
    if key not in params:
        raise FormatError(f"required parameter ##${key} is missing", path=path, field=key)
    text = params[key].strip()
    try:
        value = float(text)
    except ValueError as exc:
        raise FormatError(f"##${key} is not a number: {text[:40]!r}", path=path, field=key) from exc
    if not math.isfinite(value):
        raise FormatError(f"##${key} is not finite: {text[:40]!r}", path=path, field=key)
    if integer and value != int(value):
        raise FormatError(f"##${key} must be an integer, got {text[:40]!r}", path=path, field=key)
    return value


def quadratic_tof_to_mass(tof_ns: ArrayLike, ml1: float, ml2: float, ml3: float) -> NDArray[np.float64]:
    """Mass (Da, m/z for z = 1) from time of flight with Bruker's quadratic calibration.

    Examples
    --------
    >>> t = mass_to_quadratic_tof(5623.9, 2.0e6, 12.0, 0.001)
    >>> round(float(quadratic_tof_to_mass(t, 2.0e6, 12.0, 0.001)), 6)
    5623.9
    """
    t = np.asarray(tof_ns, dtype=float)
    a = float(ml3)
    b = math.sqrt(1e12 / ml1)
    c = ml2 - t
    if a == 0.0:
        x = -c / b
    else:
        disc = b * b - 4 * a * c
        with np.errstate(invalid="ignore"):
            # numerically stable root of a x^2 + b x + c = 0 (x >= 0 branch)
            x = np.where(disc >= 0, (-2 * c) / (b + np.sqrt(np.maximum(disc, 0.0))), np.nan)
    return np.where(x >= 0, x * x, np.nan)


def mass_to_quadratic_tof(mass_da: ArrayLike, ml1: float, ml2: float, ml3: float) -> NDArray[np.float64]:
    """Time of flight (ns) of an ion of mass ``mass_da`` (exact inverse of :func:`quadratic_tof_to_mass`)."""
    m = np.asarray(mass_da, dtype=float)
    return ml2 + math.sqrt(1e12 / ml1) * np.sqrt(m) + ml3 * m


def cubic_tof_to_mass(tof_ns: ArrayLike, constants: ArrayLike) -> NDArray[np.float64]:
    """Mass from time of flight with the NTBCal ``V1.0CTOF2CalibrationConstants`` cubic model.

    ``constants`` = (DELAY, DW, ML2, ML1, ML3, A, E, ...). Solves
    ``A x^3 + ML3 x^2 + sqrt(1e12/ML1) x + (ML2 - t) = 0`` for the real root ``x >= 0`` (Newton from the
    quadratic solution) and returns ``x^2 - E``.
    """
    d = np.asarray(constants, dtype=float)
    if d.size < 7 or not np.all(np.isfinite(d[:7])) or d[3] <= 0:
        raise InputError("cubic calibration needs 7 finite constants (DELAY DW ML2 ML1 ML3 A E), ML1 > 0")
    t = np.asarray(tof_ns, dtype=float)
    ml2, ml1, ml3, a3, e = d[2], d[3], d[4], d[5], d[6]
    b = math.sqrt(1e12 / ml1)
    x = np.sqrt(np.nan_to_num(quadratic_tof_to_mass(t, ml1, ml2, ml3), nan=0.0))
    for _ in range(30):
        f = ((a3 * x + ml3) * x + b) * x + (ml2 - t)
        fp = (3 * a3 * x + 2 * ml3) * x + b
        step = f / fp
        x = x - step
        if np.all(np.abs(step) < 1e-12 * np.maximum(1.0, np.abs(x))):
            break
    return np.where(t >= ml2, x * x - e, np.nan)


def hpc_correct_mass(mass_da: ArrayLike, coefficients: ArrayLike, min_mass_da: float, max_mass_da: float) -> NDArray[np.float64]:
    """Apply Bruker's High Precision Calibration to quadratic masses (readBrukerFlexData's form).

    Inside ``[min_mass_da, max_mass_da]`` ``m -> m - sum_k c_k m^k``; outside, masses are unchanged.

    Examples
    --------
    >>> hpc_correct_mass([500.0, 1000.0, 5000.0], [0.5, 1e-4], 800.0, 4000.0).tolist()
    [500.0, 999.4, 5000.0]
    """
    m = np.asarray(mass_da, dtype=float)
    c = np.asarray(coefficients, dtype=float)
    inside = (m >= min_mass_da) & (m <= max_mass_da)
    out = m.copy()
    out[inside] = m[inside] - np.polynomial.polynomial.polyval(m[inside], c)
    return out


def parse_hpc_string(text: str, path: Path) -> dict[str, Any]:
    """Coefficients and limits of a ``##$HPCStr`` (``V1.0CHPCData Order n vCoeff V1.0VectorDouble k ...``).

    Raises
    ------
    FormatError
        When the string is missing, malformed, or describes something qdlab does not apply.
    """
    toks = text.split()
    try:
        order = int(toks[toks.index("Order") + 1])
        i = toks.index("V1.0VectorDouble")
        n = int(toks[i + 1])
        coeffs = [float(t) for t in toks[i + 2:i + 2 + n]]
        lo = float(toks[toks.index("minMass") + 1])
        hi = float(toks[toks.index("maxMass") + 1])
        use = toks[toks.index("bUse") + 1] if "bUse" in toks else "1"
    except (ValueError, IndexError) as exc:
        raise FormatError(f"##$HPCStr cannot be parsed as V1.0CHPCData ({text[:60]!r}); HPC calibration unsupported",
                          path=path, field="HPCStr") from exc
    if len(coeffs) != n or n != order + 1 or not np.all(np.isfinite(coeffs)):
        raise FormatError(f"##$HPCStr: order {order} needs {order + 1} finite coefficients, found {len(coeffs)} of {n}",
                          path=path, field="HPCStr")
    if use != "1":
        raise FormatError(f"##$HPClUse= yes but ##$HPCStr says bUse {use}; ambiguous HPC state", path=path, field="HPCStr")
    if not (0 < lo < hi) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise FormatError(f"##$HPCStr mass limits {lo}..{hi} are not a positive range", path=path, field="HPCStr")
    return {"order": order, "coefficients": coeffs, "min_mass_da": lo, "max_mass_da": hi}


def _calibration_kind(params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Detect which calibration the acquisition software used."""
    info: dict[str, Any] = {}
    ntb = params.get("NTBCal", "")
    m = _NTB_RE.search(ntb)
    if m:
        try:
            consts = [float(v) for v in m.group(1).split()]
        except ValueError:
            consts = []
        if len(consts) >= 7 and any(c != 0 for c in consts[:7]):
            info["ntbcal_constants"] = consts
            if consts[5] != 0.0 or consts[6] != 0.0:
                return "cubic", info
    try:
        hpc_order = float(params.get("HPClOrd", "0") or 0)
        lo = float(params.get("HPClBLo", "0") or 0)
        hi = float(params.get("HPClBHi", "0") or 0)
    except ValueError:
        hpc_order, lo, hi = 0.0, 0.0, 0.0
    if params.get("HPClUse", "").strip().lower() == "yes" and hpc_order > 0 and lo > 0 and hi > 0:
        info.update(hpc_order=hpc_order, hpc_mass_range_da=[lo, hi], hpc_string=params.get("HPCStr", ""))
        return "hpc", info
    return "quadratic", info


def _mode(params: Mapping[str, str], folder: Path) -> Literal["linear", "reflectron", "unknown"]:
    aqop = params.get("AQOP_m", "").strip()
    if aqop == "0":
        return "linear"
    if aqop == "1":
        return "reflectron"
    name = folder.name.lower()
    if name.endswith("lin"):
        return "linear"
    if name.endswith("ref"):
        return "reflectron"
    return "unknown"


def find_flex_fid(path: str | Path) -> Path:
    """Locate the ``fid`` of a flex acquisition given the fid itself or a folder above it.

    Raises
    ------
    FormatError
        If no ``fid`` or more than one is found below a folder.
    """
    p = Path(path)
    if p.is_file():
        if p.name != "fid":
            raise FormatError("expected a Bruker flex 'fid' file or its folder", path=p)
        return p
    if not p.is_dir():
        raise InputError(f"not found: {p}")
    direct = p / "fid"
    if direct.is_file():
        return direct
    fids = sorted(f for f in p.rglob("fid") if f.is_file())
    if not fids:
        raise FormatError("no Bruker flex 'fid' file in this folder", path=p)
    if len(fids) > 1:
        shown = ", ".join(str(f.relative_to(p)) for f in fids[:4])
        raise FormatError(f"{len(fids)} flex acquisitions found ({shown}...); give one of them", path=p)
    return fids[0]


def read_flex(path: str | Path, *, calibration: CalibrationChoice = "auto") -> MassSpectrum:
    """Read a Bruker flex raw spectrum (``fid`` + ``acqus``/``acqu``) into a :class:`MassSpectrum`.

    Parameters
    ----------
    path
        The ``fid`` file, its acquisition folder (``1SLin``/``1SRef``) or a folder with exactly one fid.
    calibration
        ``"auto"`` (default): apply the quadratic ML1/ML2/ML3 calibration, plus the HPC correction when
        the file uses HPC, and refuse cubic (NTBCal) files with a clear message; ``"hpc"``: like auto but
        the file must use HPC; ``"cubic"``: apply the NTBCal cubic model (approximate: Bruker's model is
        unpublished); ``"quadratic"``: use ML1/ML2/ML3 even if the file says cubic (the ignored correction
        is recorded in ``calibration["ignored"]``); refused for HPC files.

    Raises
    ------
    FormatError
        Missing/invalid parameters, a fid whose size does not match ``TD``, a calibration that gives a
        non-increasing or non-finite mass axis, or an unsupported calibration under ``"auto"``.
    """
    if calibration not in ("auto", "quadratic", "cubic", "hpc"):
        raise InputError(f"expected auto, quadratic, cubic or hpc, got {calibration!r}", field="calibration")
    fid = find_flex_fid(path)
    folder = fid.parent
    acq = next((folder / n for n in ("acqus", "acqu") if (folder / n).is_file()), None)
    if acq is None:
        raise FormatError("no 'acqus' or 'acqu' next to the fid; cannot build the mass axis", path=fid)
    params = parse_acqus(acq)
    byte_order = params.get("BYTORDA", "").strip()
    if byte_order not in ("0", "1"):
        raise FormatError(f"##$BYTORDA must be 0 (little) or 1 (big endian), got {byte_order[:20]!r}", path=acq, field="BYTORDA")
    td = int(_number(params, "TD", acq, integer=True))
    if td < 2:
        raise FormatError(f"##$TD must be >= 2, got {td}", path=acq, field="TD")
    delay = _number(params, "DELAY", acq)
    dw = _number(params, "DW", acq)
    if dw <= 0:
        raise FormatError(f"##$DW (sampling interval) must be > 0 ns, got {dw}", path=acq, field="DW")
    ml1 = _number(params, "ML1", acq)
    ml2 = _number(params, "ML2", acq)
    ml3 = _number(params, "ML3", acq)
    if ml1 <= 0:
        raise FormatError(f"##$ML1 must be > 0, got {ml1}", path=acq, field="ML1")
    size = fid.stat().st_size
    if size % 4:
        raise FormatError(f"fid has {size} bytes, not a whole number of int32 values", path=fid)
    if size < 4 * td:
        raise FormatError(f"fid holds {size // 4} values but ##$TD = {td} (truncated file?)", path=fid)
    dtype = np.dtype("<i4" if byte_order == "0" else ">i4")
    counts = np.fromfile(fid, dtype=dtype, count=td).astype(float)
    tof = delay + dw * np.arange(td, dtype=float)

    kind, info = _calibration_kind(params)
    prov: dict[str, Any] = {
        "model": "quadratic",
        "formula": "ML3*m + sqrt(1e12/ML1)*sqrt(m) + ML2 - t = 0, t = DELAY + i*DW (ns)",
        "ML1": ml1, "ML2": ml2, "ML3": ml3, "DELAY_ns": delay, "DW_ns": dw, "TD": td,
        "detected": kind,
        "source": "Titulaer et al., BMC Bioinformatics 2006, 7, 403 (Bruker flex quadratic calibration)",
    }
    if kind == "hpc":
        if calibration == "quadratic":
            raise FormatError(
                "this spectrum uses High Precision Calibration (HPC); the plain ML1/ML2/ML3 axis would shift masses, "
                "so calibration='quadratic' is refused for it (use auto/hpc)", path=acq, field="HPClUse")
        if calibration == "cubic":
            raise FormatError("calibration='cubic' requested but the file uses HPC, not NTBCal cubic constants",
                              path=acq, field="HPClUse")
        hpc_ml3 = params.get("HPCML3", "0").strip() or "0"
        try:
            hpc_ml3_value = float(hpc_ml3)
        except ValueError:
            hpc_ml3_value = float("nan")
        if hpc_ml3_value != 0.0:
            raise FormatError(f"##$HPCML3= {hpc_ml3[:20]} (not 0): this HPC variant is unsupported", path=acq,
                              field="HPCML3")
        hpc = parse_hpc_string(params.get("HPCStr", ""), acq)
        mz = hpc_correct_mass(quadratic_tof_to_mass(tof, ml1, ml2, ml3), hpc["coefficients"],
                              hpc["min_mass_da"], hpc["max_mass_da"])
        prov.update(model="hpc", formula="quadratic m, then m - sum_k c_k m^k inside [minMass, maxMass] (HPCStr)",
                    hpc=hpc,
                    note="Bruker's HPC is unpublished; readBrukerFlexData's form, checked against CompassXport "
                         "(<= 0.03 Da, 0.004 %)")
    elif calibration == "hpc":
        raise FormatError("calibration='hpc' requested but the file has no usable HPC (##$HPClUse)", path=acq,
                          field="HPClUse")
    elif kind == "cubic" and calibration == "auto":
        raise FormatError(
            "this spectrum uses a cubic ('cubic enhanced', ##$NTBCal) calibration; the plain ML1/ML2/ML3 axis would "
            "shift masses. Export it as mzML/text from flexAnalysis, or read with calibration='cubic' (CLI "
            "--calibration cubic) to apply the reverse-engineered cubic model, or calibration='quadratic' to accept "
            "the uncorrected axis",
            path=acq, field="NTBCal",
        )
    elif calibration == "cubic":
        if kind != "cubic":
            raise FormatError("calibration='cubic' requested but the file has no NTBCal cubic constants", path=acq, field="NTBCal")
        mz = cubic_tof_to_mass(tof, info["ntbcal_constants"])
        prov.update(model="cubic", formula="A x^3 + ML3 x^2 + sqrt(1e12/ML1) x + ML2 - t = 0, m = x^2 - E",
                    constants=info["ntbcal_constants"],
                    note="Bruker's cubic model is unpublished; this is readBrukerFlexData's reverse-engineered form")
    else:
        mz = quadratic_tof_to_mass(tof, ml1, ml2, ml3)
        if kind != "quadratic":
            prov["ignored"] = {"kind": kind, **info}
    if not np.all(np.isfinite(mz)) or np.any(np.diff(mz) <= 0):
        bad = int(np.argmax(~np.isfinite(mz))) if not np.all(np.isfinite(mz)) else int(np.argmax(np.diff(mz) <= 0))
        raise FormatError(
            f"the calibration gives an invalid mass axis at sample {bad} (t = {tof[bad]:.6g} ns): check DELAY/DW/ML1-3",
            path=acq, field="ML2",
        )
    if mz[-1] > MAX_TOF_MASS_DA:
        raise FormatError(
            f"the calibration (ML1 = {ml1:.6g}, ML2 = {ml2:.6g}, ML3 = {ml3:.6g}) gives m/z up to {mz[-1]:.3g}, beyond "
            f"what a MALDI-TOF measures ({MAX_TOF_MASS_DA:.0e} Da): damaged calibration constants",
            path=acq, field="ML1",
        )
    meta: dict[str, Any] = {
        "format": "bruker-flex",
        "source": str(fid),
        "acqus": str(acq),
        "instrument": params.get("INSTRUM", ""),
        "acquisition_method": params.get("ACQMETH", ""),
        "laser_shots": params.get("NoSHOTS", ""),
        "byte_order": "little" if byte_order == "0" else "big",
    }
    if size > 4 * td:
        meta["trailing_bytes"] = size - 4 * td
    return MassSpectrum(mz, counts, mode=_mode(params, folder), calibration=prov, meta=meta)


def write_flex(
    folder: str | Path,
    spectrum: MassSpectrum | None = None,
    *,
    mz: ArrayLike | None = None,
    intensity: ArrayLike | None = None,
    ml1: float = 2.0e6,
    ml2: float = 10.0,
    ml3: float = 0.0,
    delay_ns: float | None = None,
    dw_ns: float = 2.0,
    td: int | None = None,
    mode: Literal["linear", "reflectron"] = "linear",
    byte_order: Literal["little", "big"] = "little",
    extra: Mapping[str, str] | None = None,
) -> Path:
    """Write a Bruker flex acquisition folder (``fid`` + ``acqus``) with the given calibration constants.

    The intensities (from ``spectrum`` or ``mz``/``intensity``) are interpolated onto the time grid
    ``t_i = DELAY + i*DW`` mapped to mass by the quadratic calibration, rounded to int32 counts (so give
    them in counts, not normalised to 1) and written in the chosen byte order. ``DELAY`` defaults to the flight time of the lowest mass (rounded up to a multiple of ``DW``);
    ``TD`` defaults to cover the highest mass.

    Parameters
    ----------
    folder
        Acquisition folder to create (e.g. ``.../0_A1/1/1SLin``).
    extra
        Additional ``##$KEY= value`` lines (e.g. ``{"NTBCal": ..., "HPClUse": "yes"}``) for tests.

    Returns
    -------
    Path
        The written ``fid``.
    """
    if spectrum is not None:
        x, y = spectrum.mz, spectrum.intensity
    elif mz is not None and intensity is not None:
        x, y = np.asarray(mz, float), np.asarray(intensity, float)
    else:
        raise InputError("give a MassSpectrum or both mz and intensity")
    if x.size < 2 or np.any(np.diff(x) <= 0) or not np.all(np.isfinite(x)) or x[0] <= 0:
        raise InputError("mz must be positive, finite and strictly increasing", field="mz")
    if ml1 <= 0 or dw_ns <= 0:
        raise InputError("ML1 and DW must be > 0")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < MIN_PEAK_COUNTS:
        raise InputError(
            f"the largest intensity is {peak:.3g}: a fid stores integer detector counts, so these values would be "
            f"rounded away; give counts (e.g. scale the spectrum so its apex is >= {MIN_PEAK_COUNTS:g})",
            field="intensity",
        )
    t_lo = float(mass_to_quadratic_tof(x[0], ml1, ml2, ml3))
    t_hi = float(mass_to_quadratic_tof(x[-1], ml1, ml2, ml3))
    delay = math.ceil(t_lo / dw_ns) * dw_ns if delay_ns is None else float(delay_ns)
    n = math.floor((t_hi - delay) / dw_ns) + 1 if td is None else int(td)
    if n < 2:
        raise InputError("the time grid has fewer than 2 samples; check DW and the mass range")
    tof = delay + dw_ns * np.arange(n)
    m = quadratic_tof_to_mass(tof, ml1, ml2, ml3)
    y_t = np.interp(np.nan_to_num(m, nan=0.0), x, y, left=0.0, right=0.0)
    y_t = np.clip(np.rint(y_t), np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int64)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype("<i4" if byte_order == "little" else ">i4")
    fid = out / "fid"
    y_t.astype(dtype).tofile(fid)
    lines = {
        "TITLE": "",
        "JCAMPDX": "5.0",
        "DATATYPE": "",
        "ORIGIN": "qdlab (synthetic Bruker flex acquisition)",
        "OWNER": "qdlab",
        "$ACQMETH": "<qdlab synthetic>",
        "$AQOP_m": "0" if mode == "linear" else "1",
        "$BYTORDA": "0" if byte_order == "little" else "1",
        "$DELAY": f"{delay:.10g}",
        "$DW": f"{dw_ns:.10g}",
        "$INSTRUM": "<qdlab synth>",
        "$ML1": repr(float(ml1)),
        "$ML2": repr(float(ml2)),
        "$ML3": repr(float(ml3)),
        "$NoSHOTS": "1000",
        "$TD": str(n),
    }
    for k, v in (extra or {}).items():
        lines["$" + k.lstrip("$")] = v
    text = "".join(f"##{k}= {v}\n" for k, v in lines.items()) + "##END=\n"
    (out / "acqus").write_text(text, encoding="latin-1")
    return fid


__all__ = [
    "parse_acqus",
    "read_flex",
    "write_flex",
    "find_flex_fid",
    "quadratic_tof_to_mass",
    "mass_to_quadratic_tof",
    "cubic_tof_to_mass",
    "hpc_correct_mass",
    "parse_hpc_string",
]
