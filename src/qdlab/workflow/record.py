"""Turn a run's outcomes into the stored record and the report's summary (plain JSON-able data)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qdlab.data.types import to_jsonable
from qdlab.store.record import (
    AliquotRecord,
    CalibrationRecord,
    ExperimentRecord,
    MeasurementRecord,
    RecipeRecord,
    ResultRecord,
)
from qdlab.workflow.manifest import Manifest
from qdlab.workflow.tasks import Outcome

#: Result keys tried, in order, for each quantity the report tabulates (domain results name them).
PEAK_KEYS = ("peak_nm", "peak_wavelength_nm", "wavelength_nm", "pl_peak_nm", "lambda_max_nm")
FWHM_MEV_KEYS = ("fwhm_mev", "fwhm_energy_mev")
FWHM_NM_KEYS = ("fwhm_nm",)
QY_KEYS = ("qy_percent", "plqy_percent")
EXCITON_KEYS = ("exciton_wavelength_nm", "first_exciton_nm", "band_edge_nm")


def pick(d: Mapping[str, Any] | None, keys: Sequence[str]) -> float | None:
    """First finite number found under one of ``keys`` (searched one level deep too)."""
    if not isinstance(d, Mapping):
        return None
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    for v in d.values():
        if isinstance(v, Mapping):
            got = pick(v, keys) if v is not d else None
            if got is not None:
                return got
    return None


def aliquot_rows(manifest: Manifest, outcomes: Sequence[Outcome], series_out: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per aliquot: time, PL peak, FWHM, QY, absorbance status (from the domain results)."""
    by = {(o.task.kind, o.task.aliquot): o for o in outcomes if o.task.aliquot}
    qy = series_out.get("qy_by_aliquot", {})
    rows = []
    table = series_out.get("result", {}).get("table") if series_out.get("status") == "ok" else None
    # the series table holds only the aliquots whose PL was analysed: match its rows by aliquot id, never by
    # position (a refused or missing PL file would shift every later row onto the wrong aliquot)
    series_rows = {r.get("aliquot_id"): r for r in _table_rows(table)}
    for a in manifest.aliquots:
        pl = by.get(("pl", a.id))
        row: dict[str, Any] = {"aliquot": a.id, "time_min": a.time_min}
        src = series_rows.get(a.id) or (pl.result if pl is not None and pl.status == "ok" else None)
        row["pl_peak_nm"] = pick(src, PEAK_KEYS)
        row["fwhm_mev"] = pick(src, FWHM_MEV_KEYS)
        row["fwhm_nm"] = pick(src, FWHM_NM_KEYS)
        bim = src.get("bimodal") if isinstance(src, Mapping) else None
        row["bimodal"] = bool(bim) if isinstance(bim, bool) else None
        q = pick(src, QY_KEYS)
        row["qy_percent"] = q if q is not None else (100 * qy[a.id] if a.id in qy else None)
        row["pl_status"] = pl.status if pl is not None else "no file"
        ab = by.get(("absorbance", a.id))
        row["exciton_nm"] = pick(ab.result, EXCITON_KEYS) if ab is not None and ab.status == "ok" else None
        row["absorbance_status"] = ab.status if ab is not None else "no file"
        rows.append(row)
    return rows


def _table_rows(table: Any) -> list[Mapping[str, Any]]:
    if isinstance(table, list):
        return [r for r in table if isinstance(r, Mapping)]
    if isinstance(table, Mapping):  # column-oriented
        cols = {k: v for k, v in table.items() if isinstance(v, list)}
        n = max((len(v) for v in cols.values()), default=0)
        return [{k: v[i] for k, v in cols.items() if i < len(v)} for i in range(n)]
    return []


def table2(rows: Sequence[Mapping[str, Any]], series_out: Mapping[str, Any]) -> dict[str, Any]:
    """Initial, brightest and final aliquot (the paper's Table 2) from the series summary or the rows."""
    summ = series_out.get("result", {}).get("summary") if series_out.get("status") == "ok" else None
    out: dict[str, Any] = {}
    for which in ("initial", "brightest", "final"):
        src = summ.get(which) if isinstance(summ, Mapping) else None
        if isinstance(src, Mapping):
            out[which] = {"aliquot": src.get("aliquot_id", src.get("aliquot")),
                          "wavelength_nm": pick(src, PEAK_KEYS), "qy_percent": pick(src, QY_KEYS)}
            if out[which]["qy_percent"] is None:
                f = pick(src, ("qy", "plqy"))
                out[which]["qy_percent"] = None if f is None else 100 * f
    if out or not rows:
        return out
    have = [r for r in rows if r.get("pl_peak_nm") is not None]
    if not have:
        return out
    with_qy = [r for r in have if r.get("qy_percent") is not None]
    bright = max(with_qy, key=lambda r: r["qy_percent"]) if with_qy else None
    for which, r in (("initial", have[0]), ("brightest", bright), ("final", have[-1])):
        if r is not None:
            out[which] = {"aliquot": r["aliquot"], "wavelength_nm": r["pl_peak_nm"], "qy_percent": r.get("qy_percent")}
    return out


def summary_dict(
    manifest: Manifest,
    root: Path,
    files: Sequence[Any],
    outcomes: Sequence[Outcome],
    series_out: Mapping[str, Any],
    calib: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON summary printed by ``qdlab run --json`` and written to ``report/summary.json``."""
    e = manifest.experiment
    rows = aliquot_rows(manifest, outcomes, series_out)
    analyses = [
        {
            "source_name": o.task.source_name, "kind": o.task.kind, "role": o.task.role, "aliquot": o.task.aliquot,
            "analysis": o.analysis, "status": o.status, "error": o.error, "result": o.result,
        }
        for o in outcomes
    ]
    refused = [o.error or f"{o.task.source_name}: failed" for o in outcomes if o.status == "error"]
    # every analysis's own warnings (the series analysis refits the same PL files: its warnings are these)
    warnings = [f"{o.task.source_name}: {w}" for o in outcomes if o.status == "ok"
                for w in _as_list(o.result.get("warnings"))]
    twin: dict[str, Any] = dict(calib)
    twin["parameters"] = calib.get("parameters") or _twin_parameters(calib)
    return to_jsonable({
        "experiment": {
            "id": e.id, "title": e.title, "material": e.material, "seed_batch": e.seed_batch, "date": e.date,
            "operator": e.operator, "synthetic": e.synthetic, "notes": e.notes, "folder": str(root),
        },
        "files": [
            {"source_name": f.source_name, "kind": f.kind, "role": f.role, "aliquot": f.aliquot,
             "size_bytes": f.size_bytes, "sha256": f.sha256}
            for f in files
        ],
        "aliquots": rows,
        "table2": table2(rows, series_out),
        "analyses": analyses,
        "series": {k: v for k, v in series_out.items() if k not in ("series", "series_result")},
        "twin": twin,
        "reference": manifest.reference.model_dump(exclude_none=True),
        "refused": refused,
        "warnings": warnings,
        "counts": {
            # files: every ingested file; measurements: those stored as measurements (`qdlab db list`), i.e. all
            # but the recipe
            "files": len(files), "measurements": sum(f.kind != "recipe" for f in files),
            "analyses_ok": sum(o.status == "ok" for o in outcomes),
            "analyses_refused": len(refused),
        },
    })


def _as_list(v: Any) -> list[str]:
    """A result's ``warnings``: a list of sentences (a single string counts as one)."""
    if isinstance(v, str):
        return [v]
    return [str(w) for w in v] if isinstance(v, (list, tuple)) else []


def _twin_parameters(calib: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: {value, stderr, unit}}`` from a calibration result, whatever its exact layout."""
    res = calib.get("result") if calib.get("status") == "ok" else None
    if not isinstance(res, Mapping):
        return {}
    params = res.get("parameters", res.get("params", {}))
    out: dict[str, Any] = {}
    if isinstance(params, Mapping):
        for name, v in params.items():
            if isinstance(v, Mapping):
                out[name] = {"value": v.get("value"), "stderr": v.get("stderr", v.get("uncertainty")),
                             "unit": v.get("unit", "")}
            elif isinstance(v, (int, float)):
                err = res.get("stderr", {}).get(name) if isinstance(res.get("stderr"), Mapping) else None
                out[name] = {"value": v, "stderr": err, "unit": ""}
    elif isinstance(params, list):
        for v in params:
            if isinstance(v, Mapping) and "name" in v:
                out[v["name"]] = {"value": v.get("value"), "stderr": v.get("stderr", v.get("uncertainty")),
                                  "unit": v.get("unit", "")}
    return out


def build_record(
    manifest: Manifest,
    root: Path,
    manifest_sha256: str,
    fp: str,
    files: Sequence[Any],
    outcomes: Sequence[Outcome],
    series_out: Mapping[str, Any],
    calib: Mapping[str, Any],
    summary: Mapping[str, Any],
) -> ExperimentRecord:
    """The :class:`~qdlab.store.ExperimentRecord` of a successful run."""
    import tomllib


    e = manifest.experiment
    recipe = None
    arrays_by_file = {(o.task.kind, o.task.source_name): o.arrays for o in outcomes if o.arrays}
    measurements = []
    for f in files:
        if f.kind == "recipe":
            text = f.path.read_text(encoding="utf-8", errors="replace")
            try:
                data = tomllib.loads(text) if f.path.suffix == ".toml" else {}
            except tomllib.TOMLDecodeError:
                data = {}
            recipe = RecipeRecord(f.source_name, f.size_bytes, f.sha256, text, to_jsonable(data))
            continue
        meta: dict[str, Any] = {"field": f.field}
        if f.files:
            meta["files"] = dict(f.files)
        measurements.append(MeasurementRecord(
            kind=f.kind, source_name=f.source_name, size_bytes=f.size_bytes, sha256=f.sha256, role=f.role,
            aliquot_label=f.aliquot, path=f.path, arrays=arrays_by_file.get((f.kind, f.source_name)), meta=meta,
        ))
    results = [
        ResultRecord(
            analysis=o.analysis, status=o.status, result=o.result, parameters=o.parameters, error=o.error,
            source_name=o.task.source_name, kind=o.task.kind, arrays=None,
        )
        for o in outcomes
    ]
    if series_out.get("status") in ("ok", "error"):
        results.append(ResultRecord(
            analysis="spectra.analyze_series", status=series_out["status"],
            result=to_jsonable(series_out.get("result", {})), error=series_out.get("error"),
        ))
    calibrations = []
    if calib.get("status") in ("ok", "error"):
        params = summary.get("twin", {}).get("parameters", {})
        res = to_jsonable(calib.get("result", {}))
        cost = res.get("cost") if isinstance(res, Mapping) else None
        calibrations.append(CalibrationRecord(
            scenario=str(calib.get("scenario")), status=calib["status"], parameters=params, result=res,
            cost=cost if isinstance(cost, (int, float)) else None, error=calib.get("error"),
        ))
    return ExperimentRecord(
        key=e.id, material=e.material, manifest_sha256=manifest_sha256, fingerprint=fp, title=e.title,
        seed_batch=e.seed_batch, folder=str(root), synthetic=e.synthetic,
        meta={"date": e.date, "operator": e.operator, "notes": e.notes,
              "reference": manifest.reference.model_dump(exclude_none=True)},
        summary={k: summary[k] for k in ("aliquots", "table2", "refused", "warnings", "counts", "next_recipe") if k in summary},
        recipe=recipe,
        aliquots=[AliquotRecord(a.id, i, a.time_min, a.volume_ml) for i, a in enumerate(manifest.aliquots)],
        measurements=measurements, results=results, calibrations=calibrations,
    )


__all__ = ["aliquot_rows", "table2", "summary_dict", "build_record", "pick"]
