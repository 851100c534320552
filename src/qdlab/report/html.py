"""The HTML report (inline CSS; figures as files in ``figures/`` or embedded) and ``summary.json``."""

from __future__ import annotations

import base64
import datetime as _dt
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def build_figures(summary: Mapping[str, Any], outcomes: Sequence[Any], calib: Mapping[str, Any]) -> list[Any]:
    """All report figures (:class:`qdlab.report.figures.ReportFigure`, in report order) of a run's outcomes."""
    from qdlab.report import figures as F

    return F.collect(summary, F.analyses_from_outcomes(outcomes), calib)


#: figures handed to forked renderer processes (set only while :func:`_render_all` runs)
_FORK_FIGURES: list[Any] = []


def _render_forked(job: tuple[int, list[str]]) -> tuple[dict[str, bytes], Any]:
    i, formats = job
    return _FORK_FIGURES[i].render(formats)


def figure_jobs(n_figures: int) -> int:
    """Processes :func:`write_figures` renders with by default: ``QDLAB_FIGURE_JOBS``, else one per CPU (at most
    4), and 1 where ``fork`` is not available or there are fewer than 4 figures."""
    import multiprocessing as mp

    env = os.environ.get("QDLAB_FIGURE_JOBS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            return 1
    if n_figures < 4 or "fork" not in mp.get_all_start_methods():
        return 1
    return max(1, min(4, os.cpu_count() or 1, n_figures // 2))


def _render_all(figures: Sequence[Any], formats: list[list[str]], jobs: int) -> list[tuple[dict[str, bytes], Any]]:
    """Render every figure (``formats[i]`` for figure ``i``); vector figures in ``jobs`` forked processes.

    Forked, because a figure's drawing function is a closure over its analysis (not picklable); a figure is
    drawn in one process only, so the output is the same as serial rendering. Any failure of the pool
    (no fork, a dead worker) falls back to rendering in this process.
    """
    todo = [i for i, f in enumerate(figures) if f.draw is not None and formats[i]]
    out: list[Any] = [None] * len(figures)
    if jobs > 1 and len(todo) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        global _FORK_FIGURES
        _FORK_FIGURES = list(figures)
        try:
            with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("fork")) as ex:
                for i, res in zip(todo, ex.map(_render_forked, [(i, formats[i]) for i in todo]), strict=True):
                    out[i] = res
        except (BrokenProcessPool, OSError, ValueError):
            pass  # rendered below, in this process
        finally:
            _FORK_FIGURES = []
    for i, f in enumerate(figures):
        if out[i] is None:
            out[i] = f.render(formats[i])
    return out


def write_figures(figures: Sequence[Any], directory: str | os.PathLike[str],
                  formats: Sequence[str] = ("png", "svg"), jobs: int | None = None) -> list[dict[str, Any]]:
    """Write each figure as ``<name>.png`` (300 dpi), ``.svg`` and its plotted data as ``<name>.csv``.

    ``jobs`` processes render the figures (default :func:`figure_jobs`). Returns one entry per figure for the
    template: ``section``, ``key``, ``caption``, ``alt``, ``src`` (the PNG, relative to the report) and
    ``files`` (``{format: relative path}``).
    """
    from qdlab.report import style as S

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    wanted = [[fmt for fmt in formats if fmt in f.formats] for f in figures]
    rendered = _render_all(figures, wanted, figure_jobs(len(figures)) if jobs is None else jobs)
    for f, (blobs, data) in zip(figures, rendered, strict=True):
        files: dict[str, str] = {}
        for fmt, b in blobs.items():
            (d / f"{f.name}.{fmt}").write_bytes(b)
            files[fmt] = f"{d.name}/{f.name}.{fmt}"
        if data is not None:
            (d / f"{f.name}.csv").write_text(S.table_csv(data), encoding="utf-8")
            files["csv"] = f"{d.name}/{f.name}.csv"
        entries.append({"section": f.section, "key": f.key, "name": f.name, "caption": f.caption, "alt": f.alt,
                        "src": files.get("png", ""), "files": files})
    return entries


def embed_figures(figures: Sequence[Any]) -> list[dict[str, Any]]:
    """Figures as data URIs (PNG at 150 dpi) for a single self-contained HTML file."""
    entries = []
    for f in figures:
        png = f.render_preview(dpi=150)
        entries.append({"section": f.section, "key": f.key, "name": f.name, "caption": f.caption, "alt": f.alt,
                        "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), "files": {}})
    return entries


def _group(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Template shape: ``{section: [entry]}``, MS and XRD as ``{source_name: [entry]}``."""
    figs: dict[str, Any] = {"series": [], "ms": {}, "tem": [], "xrd": {}, "twin": []}
    for e in entries:
        if isinstance(figs.get(e["section"]), dict):
            figs[e["section"]].setdefault(e["key"], []).append(e)
        else:
            figs.setdefault(e["section"], []).append(e)
    return figs


def render_html(summary: Mapping[str, Any], figs: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """Render the report template; ``figs`` are :func:`write_figures` or :func:`embed_figures` entries."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qdlab.report", "templates"), autoescape=True, undefined=jinja2.ChainableUndefined
    )
    tmpl = env.get_template("report.html.j2")
    if not isinstance(figs, Mapping):
        figs = _group(figs)
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
    *,
    self_contained: bool = False,
) -> tuple[Path, Path]:
    """Write ``index.html``, ``summary.json`` and ``figures/`` into ``report_dir``; returns the first two paths.

    Every figure is written to ``figures/`` as a 300-dpi PNG and an SVG with a CSV of its plotted data, and
    ``index.html`` shows the PNGs by relative link (viewable offline; move the folder as a whole). With
    ``self_contained=True`` the figures are embedded instead (one file to mail; no ``figures/``).
    """
    from qdlab.data.types import dumps_json

    d = Path(report_dir)
    figures = build_figures(summary, outcomes, calib or {})
    if self_contained:
        entries = embed_figures(figures)
    else:
        fig_dir = d / "figures"
        if fig_dir.is_dir():  # figures of an earlier run of this folder must not linger beside the new ones
            for old in fig_dir.iterdir():
                if old.is_file() and old.suffix in (".png", ".svg", ".pdf", ".csv"):
                    old.unlink()
        entries = write_figures(figures, fig_dir)
    html = render_html(summary, entries)
    js_path = d / "summary.json"
    _atomic_write(js_path, dumps_json(summary, indent=2))
    html_path = d / "index.html"
    _atomic_write(html_path, html)
    return html_path, js_path


__all__ = ["write_report", "render_html", "build_figures", "write_figures", "embed_figures"]
