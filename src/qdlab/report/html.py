"""The self-contained HTML report (inline CSS, figures as base64 PNG) and ``summary.json``."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.units import HC_EV_NM


def _fmt(v: Any, digits: int = 2, sci: bool = False) -> str:
    if v is None or isinstance(v, bool):
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        if sci and v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-2):
            return f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:,.{digits}f}"
    return str(v)


def _ev(nm: Any) -> float | None:
    return HC_EV_NM / nm if isinstance(nm, (int, float)) and nm > 0 else None


def _badge(status: str | None) -> str:
    return {"ok": "ok", "error": "error", "skipped": "unavailable"}.get(status or "", "")


def _scalars(d: Mapping[str, Any], prefix: str = "", limit: int = 24) -> list[tuple[str, str]]:
    """Flatten a result dict to ``(key, formatted value)`` for its scalar entries (nested one level)."""
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        if len(out) >= limit:
            break
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            out.append((prefix + k, _fmt(v, 3, True)))
        elif isinstance(v, str) and len(v) < 120:
            out.append((prefix + k, v))
        elif isinstance(v, Mapping) and not prefix:
            out.extend(_scalars(v, f"{k}.", limit - len(out)))
    return out


def _img(png: bytes, caption: str, alt: str) -> dict[str, str]:
    return {"b64": base64.b64encode(png).decode("ascii"), "caption": caption, "alt": alt}


def build_figures(summary: Mapping[str, Any], outcomes: Sequence[Any], calib: Mapping[str, Any]) -> dict[str, Any]:
    """All report figures as ``{section: [ {b64, caption, alt} ]}`` (MS and XRD keyed by file)."""
    from qdlab.report import figures as F
    from qdlab.workflow.tasks import png

    figs: dict[str, Any] = {"series": [], "ms": {}, "tem": [], "xrd": {}, "twin": []}
    pl = [o for o in outcomes if o.task.kind == "pl" and o.status == "ok" and o.arrays]
    if pl:
        curves = []
        for o in pl:
            x, y = np.asarray(o.arrays["x"], float), np.asarray(o.arrays["y"], float)
            if o.parameters.get("x_unit") == "ev":
                x = HC_EV_NM / x
            curves.append((o.task.aliquot or o.task.source_name, x, y))
        figs["series"].append(_img(png(F.pl_waterfall(curves)), "PL spectra of the aliquots, normalised and offset.",
                                   "PL waterfall"))
    ab = [o for o in outcomes if o.task.kind == "absorbance" and o.status == "ok" and o.arrays]
    if ab:
        curves = []
        for o in ab:
            x, y = np.asarray(o.arrays["x"], float), np.asarray(o.arrays["y"], float)
            if o.parameters.get("x_unit") == "ev":
                x = HC_EV_NM / x
            curves.append((o.task.aliquot or o.task.source_name, x, y))
        fig = F.pl_waterfall(curves, offset=0.4, ylabel="normalised absorbance (offset)", title="Absorbance of the aliquots")
        figs["series"].append(_img(png(fig), "Absorption spectra of the aliquots, normalised and offset.", "absorbance"))
    rows = summary.get("aliquots", [])
    if rows and any(r.get("pl_peak_nm") is not None for r in rows):
        figs["series"].append(_img(png(F.series_trends(rows)), "PL peak, FWHM and PLQY of each aliquot.",
                                   "peak, FWHM and QY vs aliquot"))
    for o in outcomes:
        if o.task.kind == "ms" and o.status == "ok":
            items = [_img(b, f"Mass spectrum {o.task.source_name} ({o.task.role}).", "mass spectrum")
                     for b in o.figures.values()]
            if not items and o.arrays:
                fig = F.mass_spectrum(o.arrays["mz"], o.arrays["intensity"], o.result.get("peaks", []),
                                      f"{o.task.source_name} ({o.task.role})")
                items = [_img(png(fig), f"Mass spectrum {o.task.source_name}, assigned peaks annotated.", "mass spectrum")]
            figs["ms"][o.task.source_name] = items
        elif o.task.kind == "xrd" and o.status == "ok" and o.figures:
            figs["xrd"][o.task.source_name] = [_img(b, f"Powder pattern {o.task.source_name} with the fit.", "XRD fit")
                                               for b in o.figures.values()]
        elif o.task.kind == "xrd" and o.status == "ok" and o.arrays:
            fig = F.xrd_fit(o.arrays["two_theta_deg"], o.arrays["intensity"], o.arrays.get("fit"), o.task.source_name)
            figs["xrd"][o.task.source_name] = [_img(png(fig), f"Powder pattern {o.task.source_name} with the fit.",
                                                    "XRD fit")]
    tem = [o for o in outcomes if o.task.kind == "tem" and o.status == "ok"]
    groups = [(f"{o.task.role}", o.arrays["diameter_nm"]) for o in tem if o.arrays and "diameter_nm" in o.arrays]
    if groups:
        figs["tem"].append(_img(png(F.tem_histogram(groups)), "Particle diameters from TEM.", "TEM histogram"))
    for o in tem:
        for b in o.figures.values():
            figs["tem"].append(_img(b, f"Segmented particles in {o.task.source_name} ({o.task.role}).", "TEM overlay"))
    if calib.get("status") == "ok":
        res = calib.get("result", {})
        pred = res.get("predicted_pl_peak_nm") or res.get("pl_peak_nm")
        t = res.get("predicted_time_min") or res.get("time_min")
        ok = isinstance(pred, list) and isinstance(t, list) and len(pred) == len(t)
        figs["twin"].append(_img(png(F.twin_vs_measured(rows, pred if ok else None, t if ok else None)),
                                 "Measured PL peaks and the calibrated twin.", "twin vs measured"))
    return figs


def render_html(summary: Mapping[str, Any], figs: Mapping[str, Any]) -> str:
    """Render the report template."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qdlab.report", "templates"), autoescape=True, undefined=jinja2.ChainableUndefined
    )
    tmpl = env.get_template("report.html.j2")
    analyses = summary.get("analyses", [])
    return tmpl.render(
        s=summary, figs=figs, fmt=_fmt, ev=_ev, badge=_badge, scalars=_scalars,
        ms=[a for a in analyses if a["kind"] == "ms"], tem=[a for a in analyses if a["kind"] == "tem"],
        xrd=[a for a in analyses if a["kind"] == "xrd"],
        generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _atomic_write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    report_dir: str | os.PathLike[str],
    summary: Mapping[str, Any],
    outcomes: Sequence[Any] = (),
    series_out: Mapping[str, Any] | None = None,
    calib: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.json`` into ``report_dir``; returns both paths."""
    from qdlab.cli.common import dumps

    d = Path(report_dir)
    figs = build_figures(summary, outcomes, calib or {})
    html = render_html(summary, figs)
    js_path = d / "summary.json"
    _atomic_write(js_path, json.dumps(json.loads(dumps(summary)), indent=2))
    html_path = d / "index.html"
    _atomic_write(html_path, html)
    return html_path, js_path


__all__ = ["write_report", "render_html", "build_figures"]
