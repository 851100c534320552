"""The experiment page and its downloads, in process (FastAPI TestClient): every link works, numbers are true."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qdlab.units import HC_EV_NM
from qdlab.web import create_app


@pytest.fixture(scope="module")
def client(lab):
    return TestClient(create_app(lab["url"]))


@pytest.fixture(scope="module")
def page(client, lab):
    r = client.get(f"/experiments/{lab['id']}")
    assert r.status_code == 200
    return r.text


def test_page_shows_what_the_report_shows_with_warnings_and_errors(page):
    for text in ("Aliquot series", "A2", "Table 2", "PL peak, FWHM and PLQY against time", "pl-plot",
                 "absorbance-plot", "peak sits within 2 FWHM of the detector edge",  # a warning, not just "ok"
                 "need PL peaks of at least 4 aliquots", "seeds.surface.etch_factor", "Raw files",
                 "Cd<sub>22</sub>P<sub>12</sub>(OA)<sub>8</sub><sup>+</sup>", "synthetic data"):
        assert text in page, text
    assert "1 warning" in page
    assert "peak wavelength (nm)" in page  # values in words with units, not field names


def _links(page: str) -> set[str]:
    links = set(re.findall(r'(?:href|src)="(/[^"]*)"', page))
    assert {"/vendor/plotly.min.js", "/static/experiment.js"} <= links
    assert not re.search(r'(?:href|src)="(?:https?:)?//', page)  # nothing from another host
    return links


def _drawn(url: str) -> bool:
    return "/figures/" in url or url.endswith("/report.html")


def test_every_link_on_the_page_answers(client, page):
    for url in sorted(u for u in _links(page) if not _drawn(u)):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:200])


@pytest.mark.slow
def test_every_figure_link_and_the_report_answer(client, page):  # draws every figure in 4 formats (~45 s)
    drawn = sorted(u for u in _links(page) if _drawn(u))
    assert len(drawn) > 20
    for url in drawn:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, (url, r.status_code, r.text[:200])


def test_spectra_api_applies_the_jacobian_for_energy_axis_data(client, lab):
    spectra = client.get(f"/api/experiments/{lab['id']}/spectra/pl").json()["spectra"]
    assert [s["aliquot"] for s in spectra] == ["A0", "A1", "A2"]
    for s, e0 in zip(spectra, lab["pl_peaks_ev"], strict=True):
        lam = np.asarray(s["wavelength_nm"])
        y = np.asarray(s["intensity"])
        assert np.all(np.diff(lam) > 0)
        # back on the energy axis with I(E) = I(lambda) lambda^2 / hc the line is the Gaussian centred on E0 again
        e, ye = HC_EV_NM / lam, y * lam**2 / HC_EV_NM
        assert e[np.argmax(ye)] == pytest.approx(e0, abs=2e-3)
        # and the area is the Gaussian's, whichever axis it was stored on: 1000 * sigma * sqrt(2 pi)
        assert abs(np.trapezoid(y, lam)) == pytest.approx(1000 * 0.08 * np.sqrt(2 * np.pi), rel=5e-3)
    assert client.get(f"/api/experiments/{lab['id']}/spectra/xrd").status_code == 404


def test_aliquot_csv_is_the_series(client, lab):
    r = client.get(f"/experiments/{lab['id']}/aliquots.csv")
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["aliquot"] for row in rows] == ["A0", "A1", "A2"]
    for row, e0 in zip(rows, lab["pl_peaks_ev"], strict=True):
        assert float(row["pl_peak_nm"]) == pytest.approx(HC_EV_NM / e0)
        assert float(row["pl_peak_ev"]) == pytest.approx(e0)


def test_figures_in_every_format(client, lab):
    from PIL import Image

    figs = client.get(f"/api/experiments/{lab['id']}/figures").json()["figures"]
    names = {f["name"] for f in figs}
    assert {"pl-waterfall", "absorbance-waterfall", "pl-trends", "ms-clusters", "tem-histogram",
            "twin-vs-measured"} <= names
    base = f"/experiments/{lab['id']}/figures/pl-waterfall"
    png = client.get(base + ".png")
    assert Image.open(io.BytesIO(png.content)).info["dpi"] == pytest.approx((300, 300), abs=0.1)
    svg = client.get(base + ".svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "wavelength (nm)" in "".join(ET.fromstring(svg.content).itertext())
    assert client.get(base + ".pdf").content.startswith(b"%PDF")
    data = list(csv.DictReader(io.StringIO(client.get(base + ".csv").text)))
    assert {d["aliquot"] for d in data} == {"A0", "A1", "A2"}
    assert client.get(f"/experiments/{lab['id']}/figures/nope.svg").status_code == 404
    ms = client.get(f"/experiments/{lab['id']}/figures/ms-clusters.svg").text
    assert "/tmp" not in ms and str(lab["root"]) not in ms  # no file paths on a figure


def test_raw_files_eln_and_report(client, lab):
    rec = client.get(f"/api/experiments/{lab['id']}").json()
    m = next(m for m in rec["measurements"] if m["source_name"] == "pl/A1.csv")
    raw = client.get(f"/experiments/{lab['id']}/files/{m['id']}").content
    assert hashlib.sha256(raw).hexdigest() == m["sha256"] == hashlib.sha256(
        (lab["root"] / "pl/A1.csv").read_bytes()).hexdigest()
    assert client.get(f"/experiments/{lab['id']}/files/99999").status_code == 404
    eln = zipfile.ZipFile(io.BytesIO(client.get(f"/experiments/{lab['id']}/export.eln").content))
    assert any(n.endswith("ro-crate-metadata.json") for n in eln.namelist())
    report = client.get(f"/experiments/{lab['id']}/report.html").text
    assert "web-e2e" in report and report.count('src="data:image/png;base64,') >= 5


def test_docs_work_offline(client):
    html = client.get("/docs").text
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert assets and all(a.startswith("/vendor/") for a in assets)
    assert "cdn" not in html.lower()
    for a in assets:
        assert client.get(a).status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "qdlab"
    assert client.get("/vendor/../../etc/passwd").status_code == 404
    assert client.get("/vendor/nothing.js").status_code == 404


def test_forms_answer_in_words_and_keep_the_input(client):
    r = client.get("/size", params={"diameter_nm": "lots"})
    assert r.status_code == 200  # the page, with the mistake beside the box
    assert "diameter must be a number in nm, e.g. 3.4" in r.text and 'value="lots"' in r.text
    r = client.get("/size", params={"wavelength_nm": "1010", "diameter_nm": "3"})
    assert r.status_code == 200 and "Enter one value only: you gave PL peak and diameter" in r.text
    assert 'value="1010"' in r.text and 'value="3"' in r.text and "--wavelength-nm" not in r.text
    r = client.get("/size", params={"wavelength_nm": "-3"})
    assert r.status_code == 200 and "more than 0 nm" in r.text
    r = client.get("/size", params={"wavelength_nm": "120"})  # refused by the sizing curve: said in words
    assert r.status_code == 200 and "PL peak (nm): the implied diameter" in r.text and "--" not in r.text
    r = client.get("/size", params={"wavelength_nm": "2100"})
    assert r.status_code == 200 and "PL peak 2100 nm is unusual" in r.text and 'id="size-result"' in r.text


def test_implausible_injection_rate_is_warned_and_not_run_until_confirmed(client):
    r = client.get("/twin", params={"scenario": "overgrowth-1010nm", "rate_ml_per_h": "500"})
    assert r.status_code == 200
    assert "500 mL/h is implausible" in r.text and "500 mL to the flask" in r.text
    assert 'value="500"' in r.text and 'name="confirm"' in r.text and "data:image/png" not in r.text
    r = client.get("/twin", params={"scenario": "overgrowth-1010nm", "rate_ml_per_h": "fast"})
    assert r.status_code == 200 and "injection rate must be a number in mL/h" in r.text
    r = client.get("/twin", params={"scenario": "nope"})
    assert r.status_code == 200 and "no scenario called" in r.text


def test_spectra_json_is_read_once_per_record_version(client, lab, monkeypatch):
    """The arrays behind /spectra are read and encoded once (the load test's slowest request), then served."""
    from qdlab.web import views

    calls = []
    real = views.spectra
    monkeypatch.setattr(views, "spectra", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    url = f"/api/experiments/{lab['id']}/spectra/absorbance"
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert first.headers["content-type"] == "application/json" and calls == ["absorbance"]
