"""The dashboard and JSON API, in process (FastAPI TestClient) and in headless Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from qdlab.store import AliquotRecord, CalibrationRecord, ExperimentRecord, ResultRecord, Store
from qdlab.web import create_app


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "lab.sqlite"
    with Store(f"sqlite:///{path}") as store:
        store.save_experiment(
            ExperimentRecord(
                key="overgrowth-1010nm-test",
                material="Cd3P2",
                manifest_sha256="0" * 64,
                fingerprint="f1",
                title="Overgrowth on 1010 nm seeds (test)",
                seed_batch="1010nm",
                synthetic=True,
                aliquots=(AliquotRecord("A0", 0, 0.0), AliquotRecord("A1", 1, 5.0)),
            )
        )
        store.save_experiment(
            ExperimentRecord(
                key="analysed-run",
                material="Cd3P2",
                manifest_sha256="1" * 64,
                fingerprint="f2",
                title="An analysed run",
                summary={
                    "aliquots": [
                        {
                            "aliquot": "A0",
                            "time_min": 0.0,
                            "pl_peak_nm": 1010.25,
                            "fwhm_mev": 150.5,
                            "qy_percent": 13.1,
                            "bimodal": False,
                        },
                        {
                            "aliquot": "A1",
                            "time_min": 6.0,
                            "pl_peak_nm": 1263.24,
                            "fwhm_mev": 125.0,
                            "qy_percent": None,
                            "bimodal": True,
                        },
                    ],
                    "table2": {"initial": {"aliquot": "A0", "wavelength_nm": 1010.25, "qy_percent": 13.1}},
                },
                results=(ResultRecord("spectra.series", "ok", {"n": 2}),),
                calibrations=(
                    CalibrationRecord(
                        "overgrowth-1010nm",
                        "ok",
                        {"seeds.surface.etch_factor": {"value": 1.15, "stderr": 0.0025, "unit": "1"}},
                    ),
                ),
            )
        )
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def client(db_url):
    return TestClient(create_app(db_url))


def test_health_and_experiments(client):
    assert client.get("/api/health").json()["status"] == "ok"
    exps = client.get("/api/experiments").json()["experiments"]
    assert sorted(e["key"] for e in exps) == ["analysed-run", "overgrowth-1010nm-test"]
    exps = [e for e in exps if e["key"] == "overgrowth-1010nm-test"]
    one = client.get(f"/api/experiments/{exps[0]['id']}").json()
    assert [a["label"] for a in one["aliquots"]] == ["A0", "A1"]
    page = client.get("/")
    assert page.status_code == 200 and "Overgrowth on 1010 nm seeds" in page.text
    detail = client.get(f"/experiments/{exps[0]['id']}")
    assert detail.status_code == 200 and "A1" in detail.text


def test_experiment_page_shows_series_table2_and_calibration(client):
    page = client.get("/experiments/analysed-run")
    assert page.status_code == 200
    for text in ("Aliquot series", "1263.2", "Table 2", "seeds.surface.etch_factor", "1.15", "spectra.series"):
        assert text in page.text


def test_unknown_experiment_is_404(client):
    assert client.get("/api/experiments/999").status_code == 404
    r = client.get("/experiments/999")
    assert r.status_code == 404 and "Not found" in r.text


def test_size_api_agrees_with_cli_function(client):
    from qdlab.materials.convert import size_info

    r = client.get("/api/size", params={"material": "Cd3P2", "wavelength_nm": 1010})
    assert r.status_code == 200
    assert r.json()["diameter_nm"] == pytest.approx(size_info("Cd3P2", wavelength_nm=1010)["diameter_nm"])
    page = client.get("/size", params={"material": "Cd3P2", "diameter_nm": "4.2"})
    assert page.status_code == 200 and "1277" in page.text


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"wavelength_nm": -5}, 422),  # FastAPI validation: must be > 0
        ({"wavelength_nm": "abc"}, 422),
        ({"material": "Unobtainium", "wavelength_nm": 1000}, 400),
        ({"wavelength_nm": 1000, "diameter_nm": 3}, 400),
    ],
)
def test_bad_size_requests_are_4xx_with_a_message(client, params, status):
    r = client.get("/api/size", params=params)
    assert r.status_code == status
    assert r.json()["detail"]


def test_bad_form_input_renders_the_form_with_the_error(client):
    r = client.get("/size", params={"diameter_nm": "lots"})
    assert r.status_code == 200 and 'aria-invalid="true"' in r.text and "must be a number" in r.text and "lots" in r.text


def test_twin_api_rejects_unknown_scenario_and_keys(client):
    assert client.post("/api/twin/run", json={"scenario": "no-such-thing"}).status_code == 400
    assert client.post("/api/twin/run", json={"scenario": "overgrowth-1010nm", "colour": "red"}).status_code == 422
    assert "overgrowth-1010nm" in client.get("/api/twin/scenarios").json()["scenarios"]


@pytest.mark.slow
def test_twin_page_runs_a_scenario(client):
    r = client.get("/twin", params={"scenario": "overgrowth-1010nm", "rate_ml_per_h": "6"})
    assert r.status_code == 200 and "data:image/png;base64," in r.text and "A1" in r.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_dashboard_in_headless_chromium(db_url, tmp_path, require_service):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    require_service(bool(shutil.which("chromium")), "Debian chromium is not installed")
    import playwright.sync_api as playwright
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db_url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"http://127.0.0.1:{port}/")
            assert "Overgrowth on 1010 nm seeds" in page.content()
            page.goto(f"http://127.0.0.1:{port}/size")
            page.fill("input[name=wavelength_nm]", "1277")
            page.click("button[type=submit]")
            page.wait_for_selector("#size-result")
            assert "4.2" in page.inner_text("#size-result")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not errors, errors
    assert (tmp_path / "dashboard.png").stat().st_size > 1000
