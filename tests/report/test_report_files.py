"""``write_report`` writes every figure as its own file (300-dpi PNG + SVG + CSV) that ``index.html`` links."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from qdlab.report import write_report
from qdlab.units import HC_EV_NM
from qdlab.workflow.tasks import Outcome, Task


def _outcomes() -> tuple[dict, list[Outcome]]:
    lam = np.linspace(850.0, 1400.0, 200)
    outs, rows = [], []
    for i, peak in enumerate((1010.0, 1060.0)):
        y = np.exp(-0.5 * ((HC_EV_NM / lam - HC_EV_NM / peak) / 0.05) ** 2)
        outs.append(Outcome(Task("pl", f"/abs/path/pl/A{i}.csv", "", aliquot=f"A{i}"), "spectra.analyze_pl", "ok",
                            arrays={"x": lam, "y": y}, parameters={"x_unit": "nm"}))
        rows.append({"aliquot": f"A{i}", "time_min": 5.0 * i, "pl_peak_nm": peak, "fwhm_mev": 110.0,
                     "qy_percent": 10.0 + i})
    diam = np.random.default_rng(0).normal(3.4, 0.3, 200)
    outs.append(Outcome(Task("tem", "tem/before.tif", "", role="before"), "tem.size_distribution", "ok",
                        result={"mean_diameter_nm": float(diam.mean())}, arrays={"diameter_nm": diam},
                        figures={"overlay": b"\x89PNG fake"}))
    summary = {"experiment": {"id": "files"}, "aliquots": rows, "table2": {}, "analyses": [], "series": {},
               "twin": {}, "reference": {}, "files": []}
    return summary, outs


def test_every_figure_is_a_file_linked_from_index(tmp_path: Path) -> None:
    summary, outs = _outcomes()
    html_path, _ = write_report(tmp_path / "report", summary, outs)
    html = html_path.read_text()
    figs = tmp_path / "report" / "figures"
    srcs = re.findall(r'<img alt="[^"]*" src="([^"]+)"', html)
    assert srcs and all(s.startswith("figures/") and (html_path.parent / s).is_file() for s in srcs)
    drawn = {"pl-waterfall", "pl-trends", "tem-histogram"}
    for stem in drawn:  # vector + 300-dpi raster + the plotted numbers
        assert {p.suffix for p in figs.glob(f"{stem}.*")} == {".png", ".svg", ".csv"}, stem
        assert f'href="figures/{stem}.svg"' in html and f'href="figures/{stem}.csv"' in html
    # a raster made by an analysis worker is kept as it is (PNG only)
    assert (figs / "tem-before-overlay.png").read_bytes() == b"\x89PNG fake"
    from PIL import Image

    assert Image.open(figs / "pl-waterfall.png").info["dpi"] == pytest.approx((300, 300), abs=0.1)
    assert "data:image" not in html


@pytest.mark.slow
def test_rerun_removes_stale_figures_and_self_contained_embeds(tmp_path: Path) -> None:
    summary, outs = _outcomes()
    write_report(tmp_path / "r", summary, outs)
    (tmp_path / "r" / "figures" / "ms-gone.svg").write_text("<svg/>")
    write_report(tmp_path / "r", summary, outs[:2])  # the TEM file left the experiment
    names = {p.name for p in (tmp_path / "r" / "figures").iterdir()}
    assert "ms-gone.svg" not in names and not any(n.startswith("tem-") for n in names)
    html_path, _ = write_report(tmp_path / "one", summary, outs, self_contained=True)
    html = html_path.read_text()
    assert html.count('src="data:image/png;base64,') == 4 and not (tmp_path / "one" / "figures").exists()
