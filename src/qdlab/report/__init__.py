"""The experiment report: one self-contained HTML page (inline CSS, base64 PNG figures) and summary.json."""

from qdlab.report.html import build_figures, render_html, write_report

__all__ = ["write_report", "render_html", "build_figures"]
