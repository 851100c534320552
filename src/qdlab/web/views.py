"""What the dashboard shows, computed from a stored experiment (no HTTP here; :mod:`qdlab.web.app` serves it).

Column names in words with their units (``peak_wavelength_nm`` -> "peak wavelength (nm)"), each analysis's
values and warnings, the spectra of every aliquot on a wavelength axis, the aliquot table as CSV, and the
report's summary rebuilt from the record so that the report and its figures can be drawn again.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from qdlab.units import HC_EV_NM

_UNITS = {
    "nm": "nm", "ev": "eV", "mev": "meV", "percent": "%", "da": "Da", "deg": "°", "min": "min", "s": "s",
    "angstrom": "Å", "ml": "mL", "c": "°C", "px": "px", "g_per_cm3": "g/cm³", "ml_per_h": "mL/h", "nm2": "nm²", "per_nm2": "per nm²",
}
_WORDS = {"qy": "QY", "fwhm": "FWHM", "pl": "PL", "od": "OD", "rwp": "Rwp", "bic": "BIC", "sem": "SEM",
          "ci95": "95 % CI", "std": "SD", "chi2": "χ²", "mz": "m/z", "id": "ID", "sha256": "SHA-256"}


def words(key: str) -> str:
    """A field name in words with its unit: ``peak_wavelength_nm`` -> ``peak wavelength (nm)``.

    Examples
    --------
    >>> words("peak_wavelength_nm"), words("qy_percent"), words("size_fit.diameter_std_nm")
    ('peak wavelength (nm)', 'QY (%)', 'size fit: diameter SD (nm)')
    >>> words("exciton_energy_ev_err")
    'uncertainty of exciton energy (eV)'

    """
    head, _, leaf = key.rpartition(".")
    prefix = f"{head.replace('_', ' ')}: " if head else ""
    for tail, what in (("_err", "uncertainty of "), ("_std", "SD of ")):
        if leaf.endswith(tail) and len(leaf) > len(tail):
            return prefix + what + words(leaf[: -len(tail)])
    parts = leaf.split("_")
    unit = None
    for n in (3, 2, 1):  # longest unit suffix first (g_per_cm3, ml_per_h, then nm...)
        if len(parts) > n and "_".join(parts[-n:]) in _UNITS:
            unit = _UNITS["_".join(parts[-n:])]
            parts = parts[:-n]
            break
    text = " ".join(_WORDS.get(p, p) for p in parts)
    return prefix + text + (f" ({unit})" if unit else "")


def fmt(value: Any, digits: int = 3) -> str:
    """A value for a table cell: floats to ``digits`` significant figures (no exponent below 10⁶), missing as —.

    Examples
    --------
    >>> fmt(1000.2), fmt(0.99812), fmt(13.123), fmt(37950.7, 5), fmt(float("nan")), fmt(None), fmt(True)
    ('1000', '0.998', '13.1', '37951', '—', '—', 'yes')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "—"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.{max(digits - 1, 1)}e}"
        if value == 0:
            return "0"
        decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
        return f"{value:.{decimals}f}"
    if isinstance(value, (list, tuple)) and len(value) <= 4 and all(isinstance(v, (int, float)) for v in value):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def formula_html(formula: str) -> str:
    """A formula with HTML subscripts and a superscript charge (escaped): ``Cd3P2`` -> ``Cd<sub>3</sub>P<sub>2</sub>``.

    Examples
    --------
    >>> formula_html("Cd22P12(OA)8+")
    'Cd<sub>22</sub>P<sub>12</sub>(OA)<sub>8</sub><sup>+</sup>'
    """
    text = html.escape(str(formula))
    sup = ""
    m = re.search(r"([+-])$", text)
    if m and len(text) > 1:
        sup, text = m.group(1), text[:-1]
    text = re.sub(r"(?<=[A-Za-z\)\]])(\d+)", r"<sub>\1</sub>", text)
    return text + (f"<sup>{sup}</sup>" if sup else "")


# keys that are bulky, internal or shown elsewhere
_SKIP = {"label", "kind", "peaks", "main", "meta", "details", "reference", "starts", "covariance", "residuals",
         "assignment", "assigned", "spacings", "preprocessing", "noise", "calibration", "settings", "scores",
         "histogram_edges_nm", "histogram_counts", "source", "statement", "warnings", "impurities", "modes",
         "background", "terms", "candidates", "masses_by_table", "near_isobaric"}


#: what a chemist looks for first in each kind of result
_FIRST = ("peak_wavelength_nm", "peak_energy_ev", "fwhm_mev", "fwhm_nm", "bimodal", "exciton_wavelength_nm",
          "exciton_energy_ev", "diameter_nm", "qy_percent", "mean_diameter_nm", "std_diameter_nm", "count",
          "best_phase")


def values(result: Mapping[str, Any], limit: int = 18) -> list[tuple[str, str]]:
    """An analysis result's scalar values as ``(name in words, formatted value)`` (nested one level), key ones first."""
    out: list[tuple[str, str]] = []
    result = {**{k: result[k] for k in _FIRST if k in result}, **result}

    def walk(d: Mapping[str, Any], prefix: str) -> None:
        for k, v in d.items():
            if len(out) >= limit or k in _SKIP:
                continue
            key = f"{prefix}{k}"
            if isinstance(v, Mapping) and not prefix:
                walk(v, f"{k}.")
            elif isinstance(v, (int, float, bool)) or (isinstance(v, str) and 0 < len(v) < 100):
                out.append((words(key), fmt(v)))
            elif isinstance(v, list) and 0 < len(v) <= 4 and all(isinstance(x, (int, float)) for x in v):
                out.append((words(key), fmt(v)))

    walk(result, "")
    return out


def warnings(result: Mapping[str, Any]) -> list[str]:
    """Every warning an analysis gave (``warnings``/``warning``/``flags``/``note`` anywhere in its result)."""
    found: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if k in ("warnings", "flags") and isinstance(v, (list, tuple)):
                    found.extend(str(x) for x in v if x)
                elif k in ("warning", "note") and isinstance(v, str) and v.strip():
                    found.append(v.strip())
                elif k == "truncated" and v is True:
                    found.append("peak width truncated by the end of the data")
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj[:50]:
                walk(v)

    walk(result)
    return list(dict.fromkeys(found))


def analyses(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each stored analysis with its measurement, values in words and warnings, in record order."""
    meas = {m["source_name"]: m for m in record.get("measurements") or []}
    out = []
    for r in record.get("results") or []:
        m = meas.get(r.get("source_name") or "", {})
        res = r.get("result") or {}
        out.append({
            "id": r.get("id"), "analysis": r["analysis"], "status": r["status"], "error": r.get("error"),
            "source_name": r.get("source_name") or "whole series", "kind": m.get("kind", "series"),
            "role": m.get("role"), "aliquot": m.get("aliquot"), "measurement_id": m.get("id"),
            "values": values(res), "warnings": warnings(res), "result": res,
        })
    return out


def spectra(record: Mapping[str, Any], kind: str, get_arrays: Callable[[str], Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``pl`` or ``absorbance`` spectrum of every aliquot on a wavelength axis (nm, ascending).

    A spectrum stored on an energy axis (eV) is converted with the Jacobian, I(λ) = I(E)·E²/hc, so that
    areas are kept; the browser converts back the same way for its energy view.
    """
    times = {a["label"]: a.get("time_min") for a in record.get("aliquots") or []}
    params = {r.get("source_name"): r.get("parameters") or {} for r in record.get("results") or []}
    order = {a["label"]: a.get("position", i) for i, a in enumerate(record.get("aliquots") or [])}
    out = []
    for m in record.get("measurements") or []:
        if m["kind"] != kind or not m.get("array_sha256"):
            continue
        arr = get_arrays(m["array_sha256"])
        if "x" not in arr or "y" not in arr:
            continue
        x = np.asarray(arr["x"], dtype=float)
        y = np.asarray(arr["y"], dtype=float)
        if params.get(m["source_name"], {}).get("x_unit") == "ev":
            with np.errstate(divide="ignore"):
                x, y = HC_EV_NM / x, y * x**2 / HC_EV_NM
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
        x, y = x[keep], y[keep]
        o = np.argsort(x)
        out.append({"aliquot": m.get("aliquot") or m["source_name"], "source_name": m["source_name"],
                    "time_min": times.get(m.get("aliquot")), "wavelength_nm": x[o].tolist(),
                    "intensity": y[o].tolist()})
    out.sort(key=lambda s: order.get(s["aliquot"], 10**6))
    return out


ALIQUOT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("aliquot", "aliquot"), ("time_min", "time (min)"), ("pl_peak_nm", "PL peak (nm)"),
    ("pl_peak_ev", "PL peak (eV)"), ("fwhm_mev", "FWHM (meV)"), ("fwhm_nm", "FWHM (nm)"),
    ("qy_percent", "PLQY (%)"), ("exciton_nm", "1st exciton (nm)"), ("bimodal", "bimodal"),
)


#: The experiments list's columns: (``sort`` key of :class:`qdlab.store.query.ExperimentQuery`, header in words).
LIST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiment", "experiment"), ("material", "material"), ("seed", "seed batch"), ("seed_nm", "seed PL (nm)"),
    ("date", "experiment date"), ("final_nm", "final PL (nm)"), ("target_nm", "target PL (nm)"),
    ("target", "target reached"), ("tags", "tags"), ("aliquots", "aliquots"), ("files", "raw files"),
    ("data", "data"), ("updated", "last run (UTC)"),
)


def aliquot_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The analysed aliquot series (from the run's summary) with the PL peak in eV added."""
    rows = []
    for r in (record.get("summary") or {}).get("aliquots") or []:
        nm = r.get("pl_peak_nm")
        rows.append({**r, "pl_peak_ev": HC_EV_NM / nm if isinstance(nm, (int, float)) and nm > 0 else None})
    return rows


def aliquots_csv(record: Mapping[str, Any]) -> str:
    """The aliquot table as CSV with machine-readable headers (``pl_peak_nm`` ...)."""
    from qdlab.report.style import table_csv

    rows = aliquot_rows(record)
    if not rows:  # not analysed: the aliquots as recorded
        rows = [{"aliquot": a["label"], "time_min": a.get("time_min")} for a in record.get("aliquots") or []]
    keys = [k for k, _ in ALIQUOT_COLUMNS if any(k in r for r in rows)]
    return table_csv({k: [r.get(k) for r in rows] for k in keys})


def report_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``summary`` rebuilt from the record (what :func:`qdlab.report.render_html` expects)."""
    summ = dict(record.get("summary") or {})
    meta = dict(record.get("meta") or {})
    cal = next((c for c in record.get("calibrations") or [] if c.get("status") == "ok"),
               (record.get("calibrations") or [None])[0])
    meas = {m["source_name"]: m for m in record.get("measurements") or []}
    return {
        "experiment": {"id": record["key"], "title": record.get("title"), "material": record.get("material"),
                       "seed_batch": record.get("seed_batch"), "synthetic": record.get("synthetic"),
                       "date": meta.get("date"), "operator": meta.get("operator")},
        "aliquots": summ.get("aliquots") or [], "table2": summ.get("table2") or {},
        "refused": summ.get("refused") or [], "series": {},
        "reference": meta.get("reference") if isinstance(meta.get("reference"), Mapping) else {},
        "analyses": [
            {"source_name": r.get("source_name"), "kind": meas.get(r.get("source_name") or "", {}).get("kind"),
             "role": meas.get(r.get("source_name") or "", {}).get("role"), "analysis": r["analysis"],
             "status": r["status"], "error": r.get("error"), "result": r.get("result") or {}}
            for r in record.get("results") or [] if r.get("source_name")
        ],
        "twin": {} if cal is None else {"status": cal["status"], "scenario": cal["scenario"],
                                        "parameters": cal.get("parameters") or {}, "result": cal.get("result") or {},
                                        "error": cal.get("error")},
        "files": [{k: m.get(k) for k in ("source_name", "kind", "role", "aliquot", "size_bytes", "sha256")}
                  for m in record.get("measurements") or []],
        "record": {"experiment_id": record["id"], "action": "stored", "database": ""},
        "qdlab_version": record.get("qdlab_version"), "elapsed_s": None,
        **({"next_recipe": summ["next_recipe"]} if summ.get("next_recipe") else {}),
    }


def twin_series(record: Mapping[str, Any]) -> dict[str, Sequence[float]] | None:
    """The calibrated twin's predicted PL peak against time, if a calibration stored one."""
    for c in record.get("calibrations") or []:
        res = c.get("result") or {}
        t, y = res.get("predicted_time_min"), res.get("predicted_pl_peak_nm")
        if c.get("status") == "ok" and isinstance(t, list) and isinstance(y, list) and len(t) == len(y):
            return {"time_min": t, "pl_peak_nm": y}
    return None


__all__ = ["words", "fmt", "formula_html", "values", "warnings", "analyses", "spectra", "aliquot_rows",
           "aliquots_csv", "report_summary", "twin_series", "ALIQUOT_COLUMNS", "LIST_COLUMNS"]
