"""The experiment report: index.html with every figure as its own file (figures/: 300-dpi PNG, SVG, CSV) and summary.json."""

from qdlab.report.html import build_figures, render_html, write_report

__all__ = ["write_report", "render_html", "build_figures"]
