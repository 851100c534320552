"""Does an analysis apply to this spectrum? Axis range, sign, kind and saturation checks.

Each check either refuses the input (:class:`~qdlab.data.errors.InputError` naming the spectrum, what was
found and what an instrument can give) or returns warning sentences that the analysis result carries
(``warnings``) and the CLI prints. Limits are package data with their sources
(``resources/spectra/instruments.toml``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Spectrum
from qdlab.resources import load_toml
from qdlab.signal import describe_mask, saturated
from qdlab.units import HC_EV_NM

#: kinds an analysis treats as emission-like
_EMISSION = ("pl", "excitation")


@lru_cache(maxsize=1)
def instrument_limits() -> dict[str, Any]:
    """``resources/spectra/instruments.toml`` (axis ranges, saturation ceilings, with sources)."""
    return load_toml("spectra/instruments.toml")


def _where(spectrum: Spectrum) -> str:
    src = spectrum.meta.get("source")
    return f"{src}: {spectrum.label!r}" if src else repr(spectrum.label)


def _wavelength_nm(spectrum: Spectrum) -> NDArray[np.float64] | None:
    x = np.asarray(spectrum.x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    if spectrum.x_unit == "nm":
        return x
    if spectrum.x_unit == "ev":
        with np.errstate(divide="ignore"):
            return HC_EV_NM / x[x > 0] if np.any(x > 0) else None
    return None  # wavenumber axes (Raman shifts, IR) are not optical wavelengths of a UV-vis-NIR instrument


def check_axis(spectrum: Spectrum) -> list[str]:
    """Refuse an axis no UV-vis-NIR-SWIR instrument records; warn when part of it lies outside.

    Examples
    --------
    >>> s = Spectrum(np.linspace(400e3, 1700e3, 50), np.ones(50), "nm", "pl", label="x1000")
    >>> check_axis(s)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qdlab.data.errors.InputError: x: 'x1000': the wavelength axis spans 400000-1.7e+06 nm, entirely outside the 175-3300 nm ...
    >>> check_axis(Spectrum(np.linspace(400, 1700, 50), np.ones(50), "nm", "pl"))
    []
    """
    lam = _wavelength_nm(spectrum)
    if lam is None or lam.size == 0:
        return []
    lim = instrument_limits()["wavelength_range_nm"]
    lo, hi = float(lim["min"]), float(lim["max"])
    a, b = float(lam.min()), float(lam.max())
    if b < lo or a > hi:
        raise InputError(
            f"{_where(spectrum)}: the wavelength axis spans {a:.6g}-{b:.6g} nm, entirely outside the {lo:g}-{hi:g} nm "
            "that a UV-vis-NIR-SWIR instrument records; is the axis in other units or scaled (e.g. x1000)?",
            field="x",
        )
    if a < lo or b > hi:
        out = (lam < lo) | (lam > hi)
        return [
            f"{int(out.sum())} of {lam.size} points lie outside the {lo:g}-{hi:g} nm a UV-vis-NIR-SWIR instrument "
            f"records (axis {a:.6g}-{b:.6g} nm); check the axis unit"
        ]
    return []


def check_sign(spectrum: Spectrum, what: str) -> None:
    """Refuse a sign-flipped spectrum (negated absorbance or PL, blank and sample swapped).

    Examples
    --------
    >>> x = np.linspace(400, 800, 100)
    >>> check_sign(Spectrum(x, -np.exp(-((x - 500) / 40) ** 2), "nm", "absorbance", label="neg"), "absorbance")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qdlab.data.errors.InputError: y: 'neg': the absorbance is negative (median -0.00171, ...
    """
    y = np.asarray(spectrum.y, dtype=float)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return
    ratio = float(instrument_limits()["negative_signal"]["value"])
    ymin, ymax = (float(v) for v in np.percentile(y, [0.5, 99.5]))
    med = float(np.median(y))
    if med < 0 and -ymin > ratio * max(ymax, 0.0):
        raise InputError(
            f"{_where(spectrum)}: the {what} is negative (median {med:.3g}, 0.5-99.5 % range {ymin:.3g} to {ymax:.3g}): "
            "sign flipped, or blank and sample swapped? Absorbance and PL are positive",
            field="y",
        )


def check_absorbance_scale(spectrum: Spectrum) -> None:
    """Refuse values that no spectrophotometer reports as absorbance (median at or above the ceiling).

    Examples
    --------
    >>> check_absorbance_scale(Spectrum(np.arange(5.0) + 400, np.full(5, 3000.0), "nm", "absorbance", label="c"))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qdlab.data.errors.InputError: y: 'c': values around 3000 are not absorbances ...
    """
    y = np.asarray(spectrum.y, dtype=float)
    y = y[np.isfinite(y)]
    ceiling = float(instrument_limits()["absorbance_ceiling"]["any"]["value"])
    if y.size and float(np.median(y)) >= ceiling:
        raise InputError(
            f"{_where(spectrum)}: values around {float(np.median(y)):.6g} are not absorbances (a spectrophotometer "
            f"reads at most {ceiling:g}); is this a counts, PL or %T file?",
            field="y",
        )


def kind_warning(spectrum: Spectrum, analysed_as: str) -> list[str]:
    """A warning when the file says one kind (header/column name) and the analysis is another.

    ``spectrum.meta['header_kind']`` (set by the CLI, which reads the file without imposing a kind) or a
    ``kind`` read from the header (``kind_source == 'header'``) is compared with the analysis.

    Examples
    --------
    >>> s = Spectrum(np.arange(3.0), np.ones(3), "nm", "absorbance", {"kind_source": "header"}, "A3")
    >>> kind_warning(s, "pl")
    ["'A3': the file says absorbance but it is analysed as pl (use --kind absorbance for the first exciton)"]
    """
    said = spectrum.meta.get("header_kind")
    if said is None and spectrum.meta.get("kind_source") == "header":
        said = spectrum.kind
    if not said:
        return []
    said_em = said in _EMISSION
    as_em = analysed_as in _EMISSION
    if said == analysed_as or (said_em and as_em):
        return []
    hint = {"pl": "use --kind pl for emission bands", "absorbance": "use --kind absorbance for the first exciton"}
    advice = hint.get(str(said), "convert it first" if said == "transmittance" else "check the file")
    return [f"{_where(spectrum)}: the file says {said} but it is analysed as {analysed_as} ({advice})"]


def _clipped_runs(y: NDArray[np.float64], min_run: int) -> tuple[NDArray[np.bool_], list[str]]:
    """Runs of >= ``min_run`` points at the global maximum that the flanks say were clipped.

    A broad maximum written with few decimals also repeats its top value (e.g. 0.2349 over 4 nm): the
    curvature that keeps ``L`` points within one resolution step ``q`` of the top lets the signal fall by
    only about ``4 q`` within ``L/2`` points outside the run. A clipped top falls steeply on both sides:
    the run is clipped when the signal ``L/2`` points (at least 3) outside it lies more than
    ``3 (4 q + noise)`` below the top on every side that has data.
    """
    from qdlab.signal import derivative_sigma

    run_mask = saturated(y, ceiling=None, min_run=min_run)
    out = np.zeros(y.size, dtype=bool)
    reasons: list[str] = []
    if not run_mask.any():
        return out, reasons
    fin = np.isfinite(y)
    diffs = np.abs(np.diff(y[fin]))
    q = float(diffs[diffs > 0].min()) if np.any(diffs > 0) else 0.0
    noise = derivative_sigma(y[fin], 2)
    tol = 3 * (4 * q + (noise if np.isfinite(noise) else 0.0))
    edges = np.diff(np.concatenate([[0], run_mask.astype(np.int8), [0]]))
    for s0, e0 in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        m = max(3, (e0 - s0) // 2)
        top = float(y[s0])
        drops = []
        if s0 - m >= 0 and np.isfinite(y[s0 - m]):
            drops.append(top - float(y[s0 - m]))
        if e0 - 1 + m < y.size and np.isfinite(y[e0 - 1 + m]):
            drops.append(top - float(y[e0 - 1 + m]))
        if not drops or min(drops) > tol:
            out[s0:e0] = True
            reasons.append(f"flat top of {e0 - s0} points at {top:.6g}")
    return out, reasons


def saturation(spectrum: Spectrum) -> tuple[NDArray[np.bool_], str | None, str]:
    """Saturated points of the raw spectrum: (mask in the spectrum's order, why, source).

    The ceiling depends on the kind and the file format (package data); a run of at least ``min_run``
    points at the global maximum that the flanks say was clipped (:func:`_clipped_runs`) is saturated on
    any instrument.

    Examples
    --------
    >>> x = np.linspace(300, 800, 11)
    >>> m, why, _ = saturation(Spectrum(x, np.r_[10.0, 10.0, np.linspace(2, 0.1, 9)], "nm", "absorbance", {"format": "cary"}))
    >>> int(m.sum()), why
    (2, 'A >= 10 (cary overflow)')
    """
    lim = instrument_limits()
    fmt = str(spectrum.meta.get("format", ""))
    ceiling, why, src = None, None, lim["flat_top"]["source"]
    table = lim["absorbance_ceiling"] if spectrum.kind == "absorbance" else lim["counts_ceiling"]
    for name, e in table.items():
        if fmt in e["formats"] or (not e["formats"] and ceiling is None and spectrum.kind == "absorbance"):
            ceiling = float(e["value"])
            unit = "A" if spectrum.kind == "absorbance" else "counts"
            why = f"{unit} >= {ceiling:g} ({name} overflow)" if e["formats"] else f"{unit} >= {ceiling:g} (overflow)"
            src = e["source"]
            if e["formats"]:
                break
    y = np.asarray(spectrum.y, dtype=float)
    over = saturated(y, ceiling=ceiling, min_run=0) if ceiling is not None else np.zeros(y.size, dtype=bool)
    flat, flat_why = _clipped_runs(np.where(over, np.nan, y), int(lim["flat_top"]["min_run"]))
    reasons = ([why] if over.any() and why else []) + flat_why
    return over | flat, "; ".join(reasons) or None, src


def as_kind(spectra: Any, kind: str) -> list[Spectrum]:
    """The spectra (read without a kind) as ``kind``, remembering what the file said for :func:`kind_warning`.

    ``kind_source`` ``header`` (column name, ``##DATA TYPE``) or ``given`` (a ``# kind:`` metadata line)
    is the file's own statement when the reader was not told a kind; ``default`` says nothing.

    Examples
    --------
    >>> s = Spectrum(np.arange(3.0), np.ones(3), "nm", "absorbance", {"kind_source": "header"}, "A3")
    >>> [(x.kind, x.meta["header_kind"]) for x in as_kind([s], "pl")]
    [('pl', 'absorbance')]
    """
    import dataclasses

    out = []
    for sp in spectra:
        meta = dict(sp.meta)
        said = sp.kind if meta.get("kind_source") in ("header", "given") else None
        if said and said != kind:
            meta["header_kind"] = said
        meta["kind_source"] = "given"
        out.append(dataclasses.replace(sp, kind=kind, meta=meta))
    return out


def saturation_warning(spectrum: Spectrum, mask: NDArray[np.bool_], why: str | None) -> str:
    """One sentence naming the masked ranges."""
    unit = "nm" if spectrum.x_unit == "nm" else ("eV" if spectrum.x_unit == "ev" else "cm-1")
    return f"{describe_mask(spectrum.x, mask, unit)} saturated ({why or 'clipped top'}): masked, not fitted"


__all__ = ["as_kind", "check_absorbance_scale", "check_axis", "check_sign", "instrument_limits", "kind_warning", "saturation", "saturation_warning"]
