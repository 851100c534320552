"""The compare page's data: aliquots of one or two experiments overlaid, and a twin run against a measured series.

No HTTP here (:mod:`qdlab.web.app` serves ``/compare``). The twin run is compared with the measured PL
peaks at the measured aliquot times: the twin's peak-against-time curve is interpolated linearly
between its own aliquots (times outside the simulated run are not compared), and the residual is
measured minus twin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from qdlab.web import views


def measured_series(record: Mapping[str, Any], get_arrays: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """One experiment's PL spectra (nm) and its PL peak against time, for the overlay."""
    rows = [{"aliquot": r.get("aliquot"), "time_min": r.get("time_min"), "pl_peak_nm": r.get("pl_peak_nm"),
             "fwhm_mev": r.get("fwhm_mev")} for r in views.aliquot_rows(record)]
    return {"key": record["key"], "id": record["id"], "title": record.get("title") or "",
            "spectra": views.spectra(record, "pl", get_arrays), "rows": rows}


def calibrated_overrides(record: Mapping[str, Any], scenario: str) -> dict[str, float] | None:
    """The fitted values of ``record``'s twin calibration of ``scenario`` (``None`` without an ok one)."""
    for c in record.get("calibrations") or []:
        if c.get("status") == "ok" and c.get("scenario") == scenario:
            vals = (c.get("result") or {}).get("values") or {}
            return {k: float(v) for k, v in vals.items()} or None
    return None


def twin_series(result: Any) -> dict[str, Any]:
    """A twin run (:class:`qdlab.twin.TwinResult`) as aliquot peaks and PL spectra in its detector window."""
    window = getattr(getattr(result.scenario, "observation", None), "pl_window_nm", None)
    spectra = []
    for a, s in zip(result.aliquots, result.pl, strict=True):
        x, y = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        if window is not None:
            keep &= (x >= window[0]) & (x <= window[1])
        o = np.argsort(x[keep])
        spectra.append({"aliquot": a.aliquot_id, "time_min": a.time_min,
                        "wavelength_nm": x[keep][o].tolist(), "intensity": y[keep][o].tolist()})
    return {"scenario": result.scenario.name, "window_nm": list(window) if window is not None else None,
            "time_min": [float(a.time_min) for a in result.aliquots],
            "pl_peak_nm": [None if not math.isfinite(a.pl_peak_nm) else float(a.pl_peak_nm) for a in result.aliquots],
            "spectra": spectra}


def residuals(rows: Sequence[Mapping[str, Any]], twin: Mapping[str, Any]) -> dict[str, Any]:
    """Measured minus twin PL peak at each measured aliquot time, and their RMS.

    Examples
    --------
    >>> tw = {"time_min": [0.0, 10.0, 20.0], "pl_peak_nm": [1000.0, 1100.0, 1200.0]}
    >>> r = residuals([{"aliquot": "A1", "time_min": 5.0, "pl_peak_nm": 1060.0},
    ...                {"aliquot": "A2", "time_min": 30.0, "pl_peak_nm": 1300.0}], tw)
    >>> r["rows"][0]["twin_nm"], r["rows"][0]["residual_nm"], r["rows"][1]["twin_nm"], r["rms_nm"], r["n"]
    (1050.0, 10.0, None, 10.0, 1)
    """
    pts = [(t, p) for t, p in zip(twin["time_min"], twin["pl_peak_nm"], strict=True) if p is not None]
    out, res = [], []
    if pts:
        t_tw, p_tw = np.array(pts).T
    for r in rows:
        t, p = r.get("time_min"), r.get("pl_peak_nm")
        twin_nm = None
        if pts and t is not None and t_tw[0] - 1e-9 <= t <= t_tw[-1] + 1e-9:
            twin_nm = float(np.interp(t, t_tw, p_tw))
        resid = None if twin_nm is None or p is None else float(p) - twin_nm
        if resid is not None:
            res.append(resid)
        out.append({"aliquot": r.get("aliquot"), "time_min": t, "measured_nm": p, "twin_nm": twin_nm, "residual_nm": resid})
    rms = float(np.sqrt(np.mean(np.square(res)))) if res else None
    return {"rows": out, "rms_nm": rms, "n": len(res)}


__all__ = ["calibrated_overrides", "measured_series", "residuals", "twin_series"]
