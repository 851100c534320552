"""Acceptance: the shipped example runs end to end and its report opens in headless Chromium (slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "overgrowth-1010nm"
CHROMIUM = Path(os.environ.get("QDLAB_CHROMIUM", "/usr/bin/chromium"))


@pytest.mark.slow
@pytest.mark.skipif(not (EXAMPLE / "experiment.toml").exists(), reason="example folder not present")
def test_example_end_to_end(tmp_path: Path) -> None:
    from qdlab.workflow import run_experiment

    res = run_experiment(EXAMPLE, db=f"sqlite:///{tmp_path / 'lab.sqlite'}", out=tmp_path, quiet=True)
    s = res.summary
    assert s["experiment"]["synthetic"] is True
    assert s["counts"]["files"] == 41 and s["record"]["action"] == "created"
    ok = {a["kind"] for a in s["analyses"] if a["status"] == "ok"}
    assert {"pl", "absorbance"} <= ok, s["unavailable"]
    t2, ref = s["table2"], s["reference"]
    # synthetic truth: QYs written into the sphere scans are the paper's anchors (13, 26, 14.8 %)
    if "plqy" in ok:
        assert t2["initial"]["qy_percent"] == pytest.approx(ref["initial_qy_percent"], abs=1.0)
        assert t2["brightest"]["qy_percent"] == pytest.approx(ref["brightest_qy_percent"], abs=1.0)
        assert t2["final"]["qy_percent"] == pytest.approx(ref["final_qy_percent"], abs=1.0)
        assert t2["brightest"]["aliquot"] == "A5"
    # the twin's series starts at the seeds' 1010 nm and red-shifts past 1200 nm (peak conventions differ by < 15 nm)
    assert t2["initial"]["wavelength_nm"] == pytest.approx(1010, abs=15)
    assert t2["final"]["wavelength_nm"] > 1200
    if "tem" in ok:
        tem = {a["role"]: a["result"]["mean_diameter_nm"] for a in s["analyses"] if a["kind"] == "tem"}
        assert tem["before"] == pytest.approx(3.4, abs=0.25) and tem["after"] == pytest.approx(5.0, abs=0.35)
    if "xrd" in ok:
        (xrd,) = [a["result"] for a in s["analyses"] if a["kind"] == "xrd"]
        assert xrd["best_phase"] == "Cd3P2" and xrd["size_fit"]["diameter_nm"] == pytest.approx(5.0, abs=0.3)
    if s["twin"]["status"] == "ok":
        assert s["twin"]["parameters"] and all(p["stderr"] is not None for p in s["twin"]["parameters"].values())
    if CHROMIUM.exists():
        pw = pytest.importorskip("playwright.sync_api")
        errors: list[str] = []
        with pw.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(res.report_html.as_uri())
                assert page.locator("#aliquot-table tbody tr").count() == 11
                page.screenshot(path=str(Path(os.environ.get("QDLAB_SCREENSHOT_DIR", tmp_path)) / "example-report.png"),
                                full_page=True)
            finally:
                browser.close()
        assert errors == []
