"""Campaign pages: list, create, ask, tell a result and a failure, history; refusals in words (issue 20)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qdlab.web import create_app


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'lab.sqlite'}"


@pytest.fixture
def client(db):
    return TestClient(create_app(db))


def test_create_ask_tell_and_fail_from_the_browser(client, db, capsys):
    r = client.get("/campaigns")
    assert r.status_code == 200 and 'id="no-campaigns"' in r.text and 'href="/campaigns"' in r.text
    r = client.post("/campaigns", data={"name": "c-1", "target_nm": "1300", "seed_nm": "1010", "seed_mg": "20",
                                        "strategy": "random"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/campaigns/c-1"
    assert 'href="/campaigns/c-1"' in client.get("/campaigns").text
    page = client.get("/campaigns/c-1")
    assert "1010 nm → 1300 nm" in page.text and "No trial yet" in page.text
    asked = client.post("/campaigns/c-1/ask", data={"n": "2"})
    assert asked.status_code == 200 and 'id="asked"' in asked.text
    r = client.post("/campaigns/c-1/tell", data={"trial": "0", "pl_peak_nm": "1290", "fwhm_mev": "95"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/campaigns/c-1/tell", data={"trial": "1", "failed": "no-emission", "note": "black powder"})
    hist = r.text.split('id="trials"')[1]
    assert "1290" in hist and "failed (no-emission: black powder)" in hist and 'id="best"' in r.text
    # the CLI reads the same campaign: what the page told is there
    import json

    from qdlab.cli.main import main

    assert main(["campaign", "status", "c-1", "--db", db, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["n_measured"], st["n_failed"], st["best"]["trial"]) == (1, 1, 0)


def test_refusals_are_words_with_the_input_kept(client):
    r = client.post("/campaigns", data={"name": "bad name!", "target_nm": "1300"})
    assert r.status_code == 200 and "campaign name: letters" in r.text and 'value="bad name!"' in r.text
    r = client.post("/campaigns", data={"name": "c2", "target_nm": "lots", "strategy": "random"})
    assert "target PL peak (nm): “lots” is not a number" in r.text
    client.post("/campaigns", data={"name": "c2", "target_nm": "1200", "strategy": "random"})
    r = client.post("/campaigns/c2/tell", data={"trial": "7", "pl_peak_nm": "1200"})
    assert r.status_code == 200 and "has no trial 7" in r.text and 'value="1200"' in r.text
    client.post("/campaigns/c2/ask", data={"n": "1"})
    r = client.post("/campaigns/c2/tell", data={"trial": "0", "pl_peak_nm": "1200", "failed": "aborted"})
    assert "a failed experiment has no measured values" in r.text
    assert client.get("/campaigns/nope").status_code == 404
