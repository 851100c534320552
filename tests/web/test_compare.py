"""The compare page (issue 20): aliquots of one or two experiments overlaid, a twin run against a measured series."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qdlab.web import compare, create_app

SCENARIO = "overgrowth-1010nm"
CHROMIUM = os.environ.get("QDLAB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def client(lab):
    return TestClient(create_app(lab["url"]))


def _twin_peaks() -> tuple[np.ndarray, np.ndarray]:
    from qdlab import twin

    res = twin.simulate(twin.load_scenario(SCENARIO))
    return np.array([a.time_min for a in res.aliquots]), np.array([a.pl_peak_nm for a in res.aliquots])


def test_twin_against_the_measured_series(client, lab) -> None:
    from qdlab.store import Store

    r = client.get("/compare", params={"a": "web-e2e", "scenario": SCENARIO})
    assert r.status_code == 200
    with Store(lab["url"]) as st:
        rows = st.experiment_dict("web-e2e")["summary"]["aliquots"]
    t_tw, p_tw = _twin_peaks()
    # independent: the twin's own aliquots, linear between them, at the measured times
    want = [float(row["pl_peak_nm"]) - float(np.interp(row["time_min"], t_tw, p_tw)) for row in rows]
    rms = float(np.sqrt(np.mean(np.square(want))))
    shown = float(re.search(r'<strong id="rms">([-\d.,]+)</strong>', r.text).group(1).replace(",", ""))
    assert shown == pytest.approx(rms, rel=5e-3)
    assert r.text.count("<tr><td>A") == len(rows)
    # the page carries every aliquot's spectrum and the twin's for the browser to overlay
    import json

    data = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', r.text, re.S).group(1))
    assert [len(s["spectra"]) for s in data["series"]] == [3]
    assert data["twin"]["pl_peak_nm"] == pytest.approx(p_tw.tolist()) and len(data["twin"]["spectra"]) == len(t_tw)


def test_residuals_skip_times_outside_the_twin_run() -> None:
    tw = {"time_min": [0.0, 60.0], "pl_peak_nm": [1000.0, 1300.0]}
    out = compare.residuals([{"aliquot": "A", "time_min": 30.0, "pl_peak_nm": 1160.0},
                             {"aliquot": "B", "time_min": 90.0, "pl_peak_nm": 1400.0},
                             {"aliquot": "C", "time_min": 10.0, "pl_peak_nm": None}], tw)
    assert [row["residual_nm"] for row in out["rows"]] == [10.0, None, None]
    assert out["n"] == 1 and out["rms_nm"] == 10.0
    rec = {"calibrations": [{"status": "error", "scenario": SCENARIO, "result": {"values": {"x": 1.0}}},
                            {"status": "ok", "scenario": SCENARIO, "result": {"values": {"params.a": 2.0}}}]}
    assert compare.calibrated_overrides(rec, SCENARIO) == {"params.a": 2.0}
    assert compare.calibrated_overrides(rec, "other") is None


def test_two_experiments_and_bad_names_keep_the_form(client) -> None:
    both = client.get("/compare", params={"a": "web-e2e", "b": "web-e2e"})
    assert both.status_code == 200 and "(solid)" in both.text and "(dashed)" in both.text
    bad = client.get("/compare", params={"a": "nope", "scenario": "no-such-scenario"})
    assert bad.status_code == 200
    assert "There is no experiment “nope”" in bad.text and "There is no scenario called “no-such-scenario”" in bad.text
    empty = client.get("/compare")
    assert empty.status_code == 200 and "Pick one or two experiments" in empty.text
    # a twin run with parameters fitted to an experiment that has none says so
    note = client.get("/compare", params={"a": "web-e2e", "scenario": SCENARIO, "calibrated": "1"})
    assert "has no twin calibration of overgrowth-1010nm" in note.text


@pytest.mark.browser
def test_compare_in_chromium(served, lab, tmp_path: Path, require_service) -> None:
    require_service(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (Debian package chromium)")
    import playwright.sync_api as pw

    problems: list[str] = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
            page.on("request", lambda r: problems.append(f"off-host: {r.url}")
                    if not (r.url.startswith(served) or r.url.startswith("data:")) else None)
            page.goto(served + "/compare")
            page.select_option("select[name=a]", "web-e2e")
            page.select_option("select[name=scenario]", SCENARIO)
            page.click("#compare-form button[type=submit]")
            page.wait_for_selector("#compare-spectra[data-ready='1']", timeout=60_000)
            page.wait_for_selector("#compare-peaks[data-ready='1']", timeout=60_000)
            n_twin = len(_twin_peaks()[0])
            spec = page.evaluate("document.getElementById('compare-spectra').data.map(t => [t.name, Math.max(...t.y)])")
            assert len(spec) == 3 + n_twin  # three measured aliquots, every twin aliquot
            assert all(m == pytest.approx(1.0) for _, m in spec)  # each normalised
            peaks = page.evaluate("document.getElementById('compare-peaks').data.map(t => t.name)")
            assert peaks == ["web-e2e", f"twin {SCENARIO}"]
            assert page.locator("#residuals tbody tr").count() == 3
            page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
