"""Aliquot series: per-aliquot PL table and the Table-2-style initial / brightest / final summary.

Every aliquot's PL is analysed with :func:`qdlab.spectra.analyze_pl` (energy space, BIC bimodality).
The *brightest* aliquot is the one with the highest PLQY when QYs are given (as in Table 2 of the
reference paper); without QYs it is the one with the largest integrated PL, and the summary says so
(``brightness_basis``) — integrated PL compares brightness only if concentrations and settings match.
An aliquot whose PL cannot be analysed (no signal, no band) keeps its row with ``error`` set and is left
out of the summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import InputError
from qdlab.data.types import Result, SpectrumSeries
from qdlab.spectra.fit import PLAnalysis, analyze_pl


@dataclass(frozen=True)
class SeriesAnalysis(Result):
    """Result of :func:`analyze_series`.

    Attributes
    ----------
    table
        One row per aliquot: ``aliquot_id``, ``time_min``, ``peak_wavelength_nm``, ``peak_energy_ev``,
        ``fwhm_mev``, ``fwhm_nm``, ``bimodal``, ``mode_wavelengths_nm`` (resolved maxima),
        ``n_components``, ``component_wavelengths_nm``,
        ``component_fractions``, ``integrated``, ``relative_brightness``, ``qy`` (fraction), ``qy_percent``.
    summary
        ``initial``, ``brightest``, ``final`` (each ``aliquot_id``, ``time_min``, ``wavelength_nm``,
        ``qy``), ``brightness_basis``, ``shift_nm``, ``shift_mev``, ``bimodal_aliquots``.
    """

    table: list[dict[str, Any]]
    summary: dict[str, Any]
    fits: tuple[PLAnalysis, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Table and summary (the per-aliquot fits are summarised in the table)."""
        from qdlab.data.types import to_jsonable

        return {"table": to_jsonable(self.table), "summary": to_jsonable(self.summary)}


def _qy_list(qy: Sequence[float] | Mapping[str, float] | None, ids: Sequence[str]) -> list[float | None]:
    if qy is None:
        return [None] * len(ids)
    if isinstance(qy, Mapping):
        unknown = set(qy) - set(ids)
        if unknown:
            raise InputError(f"QY given for unknown aliquots {sorted(unknown)}; series has {list(ids)}", field="qy")
        vals = [qy.get(a) for a in ids]
    else:
        vals = list(qy)
        if len(vals) != len(ids):
            raise InputError(f"{len(vals)} QY values for {len(ids)} aliquots", field="qy")
    out: list[float | None] = []
    for v in vals:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        f = float(v)
        if not 0 <= f <= 1:
            raise InputError(f"QY must be a fraction 0-1 (got {f}); write 22 % as 0.22", field="qy")
        out.append(f)
    return out


def pl_row(f: PLAnalysis) -> dict[str, Any]:
    """The numbers reported for one PL spectrum, by ``spectra analyze`` and ``spectra series`` alike.

    The band's maximum and FWHM (``peak_wavelength_nm``, ``fwhm_mev``: the band read off the data, its measured
    background removed, as on a wavelength plot) and its resolved maxima (``mode_wavelengths_nm``) are the
    answer; ``component_*`` are the fitted Gaussians that describe the band's shape (a skewed single band
    needs several), not populations.
    """
    return {
        "peak_wavelength_nm": f.peak_wavelength_nm,
        "peak_energy_ev": f.peak_energy_ev,
        "fwhm_mev": f.fwhm_mev,
        "fwhm_nm": f.fwhm_nm,
        "bimodal": f.bimodal,
        "n_components": f.n_components,
        "mode_wavelengths_nm": list(f.modes_nm),
        "component_wavelengths_nm": [p.wavelength_nm for p in f.peaks],
        "component_fractions": [p.area_fraction for p in f.peaks],
        "integrated": f.integrated,
        "flags": {k: list(v) for k, v in f.flags.items()},
        "saturated_points": f.saturated_points,
        "warnings": list(f.warnings),
    }


def _point(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "aliquot_id": row["aliquot_id"],
        "time_min": row["time_min"],
        "wavelength_nm": row["peak_wavelength_nm"],
        "energy_ev": row["peak_energy_ev"],
        "fwhm_mev": row["fwhm_mev"],
        "qy": row["qy"],
        "qy_percent": row["qy_percent"],
        "bimodal": row["bimodal"],
    }


def analyze_series(
    series: SpectrumSeries,
    qy: Sequence[float] | Mapping[str, float] | None = None,
    *,
    shape: str = "gaussian",
    max_components: int = 3,
    baseline: str = "none",
    window_nm: tuple[float, float] | None = None,
    map_fn: Callable[..., Iterable[Any]] = map,
) -> SeriesAnalysis:
    """Analyse every aliquot of a PL series and summarise it like Table 2 of the reference paper.

    Parameters
    ----------
    series
        PL spectra in aliquot order.
    qy
        PLQYs as fractions, in aliquot order or keyed by aliquot id (None where unknown).
    shape, max_components, baseline, window_nm
        Passed to :func:`~qdlab.spectra.analyze_pl`; ``window_nm`` restricts every fit to a wavelength
        range (e.g. ``(800, 1700)`` keeps the QD band and drops the 455 nm cluster emission).
    map_fn
        A ``map``-like callable that runs the per-aliquot fits: the built-in ``map`` (serial, default) or an
        executor's, e.g. :func:`qdlab.compute.mapper` (local processes or Dask).

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_series
    >>> s, _ = synth_series([965.0, 1100.0, 1338.0])
    >>> r = analyze_series(s, qy=[0.22, 0.15, 0.073])
    >>> [r.summary[k]["aliquot_id"] for k in ("initial", "brightest", "final")]
    ['A0', 'A0', 'A2']
    """
    if len(series) == 0:
        raise InputError("the series has no spectra")
    ids = list(series.aliquot_ids)
    qys = _qy_list(qy, ids)
    kw = {"shape": shape, "max_components": max_components, "baseline": baseline, "window_nm": window_nm}
    from functools import partial

    results = list(map_fn(partial(_safe_fit, kw=kw), list(series)))
    ok = [r for r in results if isinstance(r, PLAnalysis)]
    if not ok:
        raise InputError(f"no aliquot of the series could be analysed: {results[0]}")
    first_int = next(r.integrated for r in results if isinstance(r, PLAnalysis))
    table = []
    for i, (f, q) in enumerate(zip(results, qys, strict=True)):
        if not isinstance(f, PLAnalysis):
            table.append(
                {
                    "aliquot_id": ids[i],
                    "time_min": float(series.time_min[i]) if np.isfinite(series.time_min[i]) else None,
                    "peak_wavelength_nm": None, "peak_energy_ev": None, "fwhm_mev": None, "fwhm_nm": None,
                    "bimodal": False, "n_components": 0, "mode_wavelengths_nm": [], "component_wavelengths_nm": [], "component_fractions": [],
                    "integrated": None, "relative_brightness": None,
                    "qy": q, "qy_percent": None if q is None else 100 * q, "error": f,
                }
            )
            continue
        table.append(
            {
                "aliquot_id": ids[i],
                "time_min": float(series.time_min[i]) if np.isfinite(series.time_min[i]) else None,
                **pl_row(f),
                "relative_brightness": f.integrated / first_int if first_int else None,
                "qy": q,
                "qy_percent": None if q is None else 100 * q,
            }
        )
    good = [i for i, r in enumerate(table) if r["peak_wavelength_nm"] is not None]
    have_qy = any(qys[i] is not None for i in good)
    if have_qy:
        bi = max((i for i in good if qys[i] is not None), key=lambda i: qys[i])  # type: ignore[arg-type,return-value]
        basis = "qy"
    else:
        bi = max(good, key=lambda i: table[i]["integrated"])
        basis = "integrated_pl"
    init, fin = table[good[0]], table[good[-1]]
    summary = {
        "initial": _point(init),
        "brightest": _point(table[bi]),
        "final": _point(fin),
        "brightness_basis": basis,
        "shift_nm": fin["peak_wavelength_nm"] - init["peak_wavelength_nm"],
        "shift_mev": 1000 * (fin["peak_energy_ev"] - init["peak_energy_ev"]),
        "bimodal_aliquots": [r["aliquot_id"] for r in table if r["bimodal"]],
        "n_aliquots": len(table),
        "failed_aliquots": [r["aliquot_id"] for r in table if r.get("error")],
        "warnings": [f"{r['aliquot_id']}: {w}" for r in table for w in r.get("warnings", [])],
    }
    return SeriesAnalysis(table=table, summary=summary, fits=tuple(r for r in results if isinstance(r, PLAnalysis)))


def _safe_fit(spectrum: Any, kw: dict[str, Any]) -> PLAnalysis | str:
    """The PL analysis of one aliquot, or the reason it failed (one bad aliquot must not sink a series)."""
    from qdlab.data.errors import QdlabError

    try:
        return analyze_pl(spectrum, **kw)
    except QdlabError as exc:
        return f"{spectrum.label}: {exc}"


def analyze_absorbance_series(series: SpectrumSeries, *, material: str | None = None) -> SeriesAnalysis:
    """First-exciton position, width and OD of every aliquot's absorbance (e.g. MSC emergence, Fig. 2a).

    Rows: ``aliquot_id``, ``time_min``, ``exciton_wavelength_nm``, ``exciton_energy_ev``,
    ``exciton_fwhm_mev``, ``exciton_od``, ``onset_nm``, ``diameter_nm`` (with ``material``) or ``error``.
    The summary gives the initial and final aliquots, the strongest exciton (largest OD) and the shift.
    """
    from qdlab.data.errors import QdlabError
    from qdlab.spectra.absorption import analyze_absorbance

    if len(series) == 0:
        raise InputError("the series has no spectra")
    table: list[dict[str, Any]] = []
    for i, spec in enumerate(series):
        row: dict[str, Any] = {
            "aliquot_id": series.aliquot_ids[i],
            "time_min": float(series.time_min[i]) if np.isfinite(series.time_min[i]) else None,
        }
        try:
            a = analyze_absorbance(spec, material=material)
        except QdlabError as exc:
            row.update(exciton_wavelength_nm=None, exciton_energy_ev=None, exciton_fwhm_mev=None, exciton_od=None, error=str(exc))
        else:
            row.update(absorbance_row(a))
        table.append(row)
    good = [r for r in table if r["exciton_wavelength_nm"] is not None]
    if not good:
        raise InputError(f"no aliquot shows a first exciton: {table[0].get('error')}")

    def point(r: dict[str, Any]) -> dict[str, Any]:
        return {k: r[k] for k in ("aliquot_id", "time_min", "exciton_wavelength_nm", "exciton_od")}

    summary = {
        "initial": point(good[0]),
        "strongest": point(max(good, key=lambda r: r["exciton_od"])),
        "final": point(good[-1]),
        "shift_nm": good[-1]["exciton_wavelength_nm"] - good[0]["exciton_wavelength_nm"],
        "failed_aliquots": [r["aliquot_id"] for r in table if r.get("error")],
        "n_aliquots": len(table),
        "warnings": [f"{r['aliquot_id']}: {w}" for r in table for w in r.get("warnings", [])],
    }
    return SeriesAnalysis(table=table, summary=summary)


def absorbance_row(a: Any) -> dict[str, Any]:
    """The numbers reported for one absorbance spectrum (``spectra analyze`` and ``spectra series``)."""
    return {
        "exciton_wavelength_nm": a.exciton_wavelength_nm, "exciton_energy_ev": a.exciton_energy_ev,
        "exciton_energy_ev_err": a.exciton_energy_ev_err, "exciton_fwhm_mev": a.exciton_fwhm_mev,
        "exciton_od": a.exciton_od, "onset_nm": a.onset_nm, "diameter_nm": a.diameter_nm, "noise_od": a.noise_od,
        "exciton_snr": a.exciton_snr, "saturated_points": a.saturated_points, "saturated_nm": a.saturated_nm,
        "flags": a.flags, "warnings": list(a.warnings),
    }


__all__ = ["SeriesAnalysis", "absorbance_row", "analyze_absorbance_series", "analyze_series", "pl_row"]
