"""The report opens in headless Chromium without console errors; a screenshot is saved for a visual check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("QDLAB_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _report(tmp_path: Path) -> Path:
    """A report from a small folder (PL series only) through the real pipeline."""
    import numpy as np

    from qdlab.units import HC_EV_NM
    from qdlab.workflow import run_experiment

    root = tmp_path / "exp"
    (root / "pl").mkdir(parents=True)
    lam = np.arange(850.0, 1400.0, 2.0)
    toml = '[experiment]\nid = "browser"\ntitle = "Browser check"\nsynthetic = true\n'
    for i, peak in enumerate((1010.0, 1060.0, 1120.0)):
        y = 1000 * np.exp(-0.5 * ((HC_EV_NM / lam - HC_EV_NM / peak) / 0.05) ** 2) + 3
        np.savetxt(root / "pl" / f"A{i}.csv", np.c_[lam, y], delimiter=",", header="wavelength_nm,intensity",
                   comments="", fmt="%.4f")
        toml += f'\n[[aliquots]]\nid = "A{i}"\ntime_min = {5 * i}\npl = "pl/A{i}.csv"\nqy_percent = {10 + 3 * i}\n'
    (root / "experiment.toml").write_text(toml)
    res = run_experiment(root, db=f"sqlite:///{tmp_path / 'lab.sqlite'}", scheduler="serial", quiet=True,
                         out=tmp_path / "out")
    return res.report_html


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_chromium_without_errors(tmp_path: Path, require_service) -> None:
    require_service(CHROMIUM.exists(), f"no Chromium at {CHROMIUM}")
    import playwright.sync_api as pw

    html = _report(tmp_path)
    errors: list[str] = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            assert page.title() == "qdlab report: browser"
            assert page.locator("#aliquot-table tbody tr").count() == 3
            assert page.locator("text=Synthetic data").count() == 1
            links = page.eval_on_selector_all("figcaption a", "els => els.map(e => e.getAttribute('href'))")
            assert any(h.endswith(".svg") for h in links) and any(h.endswith(".csv") for h in links)
            assert all((html.parent / h).is_file() for h in links)  # figures/ beside index.html, relative links
            imgs = page.locator("img")
            for i in range(imgs.count()):  # every embedded figure decoded to a real image
                assert imgs.nth(i).evaluate("el => el.complete && el.naturalWidth > 100")
            shot = Path(os.environ.get("QDLAB_SCREENSHOT_DIR", tmp_path)) / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert errors == []
