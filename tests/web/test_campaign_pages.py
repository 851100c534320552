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


def test_creating_a_twin_campaign_answers_at_once_and_the_page_follows_it(client, monkeypatch):
    """The twin strategy plans its first recipe on creation (10-30 s): the POST must not wait for it."""
    import threading
    import time

    from qdlab.plan.campaign import Campaign

    gate = threading.Event()
    real = Campaign.create.__func__

    def slow_create(cls, spec, **kw):
        assert gate.wait(30)
        if spec.target_nm > 5000:
            from qdlab.data.errors import InputError

            raise InputError(f"target_nm: target {spec.target_nm:g} nm is out of reach from these seeds")
        return real(cls, spec, **{**kw, "model_factory": None}) if spec.strategy != "twin" else \
            real(cls, _random(spec), **kw)

    monkeypatch.setattr(Campaign, "create", classmethod(slow_create))
    t0 = time.monotonic()
    r = client.post("/campaigns", data={"name": "bg-1", "target_nm": "1300", "seed_nm": "1010", "seed_mg": "20",
                                        "strategy": "twin"}, follow_redirects=False)
    assert time.monotonic() - t0 < 5 and r.status_code == 303 and r.headers["location"] == "/campaigns/bg-1"
    page = client.get("/campaigns/bg-1")
    assert page.status_code == 200 and 'id="campaign-pending"' in page.text and "s so far" in page.text
    assert '<meta http-equiv="refresh" content="2">' in page.text and "1010 nm → 1300 nm" in page.text
    assert 'href="/campaigns/bg-1"' in client.get("/campaigns").text.split('id="creating"')[1]
    # the same name again while it is being created: refused in words, what was typed kept
    r = client.post("/campaigns", data={"name": "bg-1", "target_nm": "1250", "strategy": "twin"})
    assert "is being created" in r.text and 'value="1250"' in r.text
    gate.set()
    for _ in range(100):  # what the meta refresh does
        page = client.get("/campaigns/bg-1")
        if 'id="campaign-pending"' not in page.text:
            break
        time.sleep(0.1)
    assert page.status_code == 200 and "Campaign bg-1: 1010 nm → 1300 nm" in page.text
    # a refusal that comes from the background is kept and shown on the page, with the form as typed
    gate.clear()
    r = client.post("/campaigns", data={"name": "bg-2", "target_nm": "9000", "strategy": "twin"}, follow_redirects=False)
    assert r.status_code == 303
    gate.set()
    for _ in range(100):
        page = client.get("/campaigns/bg-2")
        if 'id="campaign-pending"' not in page.text:
            break
        time.sleep(0.1)
    assert page.status_code == 400 and "Campaign bg-2 was not created" in page.text and "out of reach" in page.text
    assert 'value="9000"' in page.text and 'value="bg-2"' in page.text


def _random(spec):
    import dataclasses

    return dataclasses.replace(spec, strategy="random")


@pytest.mark.slow
def test_a_real_twin_campaign_is_created_in_the_background(client):
    import time

    t0 = time.monotonic()
    r = client.post("/campaigns", data={"name": "twin-1", "target_nm": "1150", "seed_nm": "1010", "seed_mg": "20",
                                        "strategy": "twin"}, follow_redirects=False)
    assert r.status_code == 303 and time.monotonic() - t0 < 5
    for _ in range(600):
        page = client.get("/campaigns/twin-1")
        if 'id="campaign-pending"' not in page.text:
            break
        time.sleep(0.5)
    assert page.status_code == 200 and "twin strategy" in page.text
    asked = client.post("/campaigns/twin-1/ask", data={"n": "1"})
    assert "twin warm start" in asked.text
