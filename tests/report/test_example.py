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
    # generator ground truth (tools/make_example.py, twin overgrowth-1010nm: etch 2.58, reactivity 1.10; the
    # example's README): A0 1010.0 nm / 149.9 meV, A5 1154.6 nm, A10 1259.1 nm / 86.9 meV, bimodal A3-A4.
    # Same peak definition on both sides (wavelength-axis maximum): noise moves the peaks by < 1.5 nm.
    assert t2["initial"]["wavelength_nm"] == pytest.approx(1010.0, abs=1.5)
    assert t2["brightest"]["wavelength_nm"] == pytest.approx(1154.6, abs=1.5)
    assert t2["final"]["wavelength_nm"] == pytest.approx(1259.1, abs=1.5)
    rows = {r["aliquot"]: r for r in s["aliquots"]}
    assert rows["A1"]["pl_peak_nm"] < rows["A0"]["pl_peak_nm"] - 15  # the early blue shift (twin 988 nm)
    assert [a for a, r in rows.items() if r["bimodal"]] == ["A3", "A4"]
    # FWHM: read off the data like the twin's half-maximum width (before 2026-12-07 the <= 3-Gaussian model's
    # linear background took part of the late aliquots' secondary-QD pedestal: A10 read 83.4 meV)
    assert rows["A0"]["fwhm_mev"] == pytest.approx(149.9, abs=1.5)
    assert rows["A10"]["fwhm_mev"] == pytest.approx(86.9, abs=1.5)
    if "tem" in ok:
        tem = {a["role"]: a["result"]["mean_diameter_nm"] for a in s["analyses"] if a["kind"] == "tem"}
        assert tem["before"] == pytest.approx(3.4, abs=0.25) and tem["after"] == pytest.approx(5.0, abs=0.35)
    if "xrd" in ok:
        (xrd,) = [a["result"] for a in s["analyses"] if a["kind"] == "xrd"]
        assert xrd["best_phase"] == "Cd3P2" and xrd["size_fit"]["diameter_nm"] == pytest.approx(5.0, abs=0.3)
    if s["twin"]["status"] == "ok":
        par = s["twin"]["parameters"]
        assert par and all(p["stderr"] is not None for p in par.values())
        # the calibration recovers the generating seed-surface factors (2.574 +- 0.007, 1.1003 +- 0.0015 on this
        # example; 2.595, 1.106 while the measured FWHMs were read off the model)
        assert par["seeds.surface.etch_factor"]["value"] == pytest.approx(2.58, rel=0.01)
        assert par["seeds.surface.reactivity_factor"]["value"] == pytest.approx(1.10, rel=0.01)
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
