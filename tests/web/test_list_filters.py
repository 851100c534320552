"""The experiments list filtered and sorted on the server (query parameters on ``/`` and ``/api/experiments``),
headers in words, and tags from the experiment page (a same-origin form POST) and the API (issue 20)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qdlab.store import AliquotRecord, ExperimentRecord, Store
from qdlab.web import create_app


def _summary(seed_nm: float, final_nm: float | None, target_nm: float | None) -> dict:
    rows = [{"aliquot": "A0", "time_min": 0.0, "pl_peak_nm": seed_nm, "fwhm_mev": 150.0}]
    if final_nm is not None:
        rows.append({"aliquot": "A1", "time_min": 60.0, "pl_peak_nm": final_nm, "fwhm_mev": 130.0})
    out: dict = {"aliquots": rows, "table2": {"initial": {"aliquot": "A0", "wavelength_nm": seed_nm}}}
    if target_nm is not None:  # what `qdlab run` keeps of the manifest's [target]
        out["next_recipe"] = {"status": "skipped", "target": {"wavelength_nm": target_nm}}
    return out


#: key, material, seed batch, date, seed PL, final PL, target (nm), synthetic
EXPERIMENTS = (
    ("hit-1300", "Cd3P2", "QD-1010-A", "2026-03-02", 1010.0, 1292.0, 1300.0, False),
    ("miss-1300", "Cd3P2", "QD-1010-B", "2026-05-20", 1008.0, 1250.0, 1300.0, False),
    ("no-target", "Cd3P2", "QD-965", "2025-11-11", 965.0, 1180.0, None, True),
    ("other-material", "CdSe", None, "2026-01-15", 1012.0, 1100.0, 1100.0, False),
    ("undated", "Cd3P2", "QD-1145", None, 1145.0, None, 1400.0, False),
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    url = f"sqlite:///{tmp_path_factory.mktemp('list') / 'lab.sqlite'}"
    ids = {}
    with Store(url) as store:
        for i, (key, material, batch, date, seed, final, target, synthetic) in enumerate(EXPERIMENTS):
            ids[key] = store.save_experiment(ExperimentRecord(
                key=key, material=material, manifest_sha256=f"{i}" * 64, fingerprint=key, title=f"Run {key}",
                seed_batch=batch, synthetic=synthetic, meta={"date": date, "operator": "test"},
                summary=_summary(seed, final, target), aliquots=(AliquotRecord("A0", 0, 0.0),),
            )).experiment_id
        store.set_tags("hit-1300", add=["good", "paper"])
        store.set_tags("other-material", add=["good"])
    return {"url": url, "ids": ids}


@pytest.fixture(scope="module")
def client(lab) -> TestClient:
    return TestClient(create_app(lab["url"]))


def _keys(client: TestClient, query: str) -> list[str]:
    r = client.get(f"/api/experiments{query}")
    assert r.status_code == 200, r.text
    return [e["key"] for e in r.json()["experiments"]]


def _page_keys(html: str) -> list[str]:
    body = html.split('id="experiments"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<small class="muted">([^<]+)</small>', body)


def test_filters_through_the_api(client: TestClient) -> None:
    assert sorted(_keys(client, "")) == sorted(e[0] for e in EXPERIMENTS)
    assert _keys(client, "?material=CdSe") == ["other-material"]
    # a number is a seed PL (within 15 nm) or part of a batch name; text only a batch name
    assert sorted(_keys(client, "?seed=1010")) == ["hit-1300", "miss-1300", "other-material"]
    assert _keys(client, "?seed=qd-965") == ["no-target"]
    assert _keys(client, "?seed=1140") == ["undated"]
    assert sorted(_keys(client, "?from=2026-01-01&to=2026-04-30")) == ["hit-1300", "other-material"]
    assert _keys(client, "?to=2025-12-31") == ["no-target"]  # the undated run is in no date range
    assert sorted(_keys(client, "?target=reached")) == ["hit-1300", "other-material"]
    assert _keys(client, "?target=no") == ["miss-1300"]
    assert _keys(client, "?target=none") == ["no-target"]
    assert _keys(client, "?target=unmeasured") == ["undated"]
    assert sorted(_keys(client, "?tag=GOOD")) == ["hit-1300", "other-material"]
    assert _keys(client, "?origin=synthetic") == ["no-target"]
    assert _keys(client, "?q=paper") == ["hit-1300"]  # the text search sees tags too
    assert _keys(client, "?material=Cd3P2&seed=1010&from=2026-01-01&to=2026-12-31&target=reached&tag=good") == [
        "hit-1300"]
    r = client.get("/api/experiments?target=reached&tag=good")
    assert r.json()["total"] == len(EXPERIMENTS) and r.json()["query"] == {"target": "reached", "tag": "good"}
    row = next(e for e in r.json()["experiments"] if e["key"] == "hit-1300")
    assert (row["seed_pl_nm"], row["final_pl_nm"], row["target_nm"], row["date"]) == (1010.0, 1292.0, 1300.0,
                                                                                      "2026-03-02")
    assert row["tags"] == ["good", "paper"] and row["target_words"] == "yes" and "within 15 nm" in row["target_note"]


def test_sorting_missing_values_last(client: TestClient) -> None:
    assert _keys(client, "?sort=date") == ["miss-1300", "hit-1300", "other-material", "no-target", "undated"]
    assert _keys(client, "?sort=date&order=asc") == ["no-target", "other-material", "hit-1300", "miss-1300",
                                                     "undated"]
    assert _keys(client, "?sort=final_nm&order=desc") == ["hit-1300", "miss-1300", "no-target", "other-material",
                                                          "undated"]
    assert _keys(client, "?sort=seed_nm") == ["no-target", "miss-1300", "hit-1300", "other-material", "undated"]
    assert _keys(client, "?sort=target")[:2] in (["hit-1300", "other-material"], ["other-material", "hit-1300"])
    assert _keys(client, "?sort=experiment&material=Cd3P2") == ["hit-1300", "miss-1300", "no-target", "undated"]


def test_bad_parameters_answer_400_in_a_line(client: TestClient) -> None:
    for query, field in (("?from=31.12.2026", "from"), ("?target=maybe", "target"), ("?sort=colour", "sort"),
                         ("?order=sideways", "order"), ("?tag=no%20way", "tag"),
                         ("?from=2026-06-01&to=2026-01-01", "to")):
        r = client.get(f"/api/experiments{query}")
        assert r.status_code == 400 and r.json()["field"] == field, (query, r.text)
        assert r.json()["detail"].startswith(f"{field}: ") and "\n" not in r.json()["detail"]
        page = client.get(f"/{query}")
        assert page.status_code == 400 and 'id="filter-error"' in page.text and "Traceback" not in page.text
        assert len(_page_keys(page.text)) == len(EXPERIMENTS)  # the whole list below the message


def test_the_page_filters_and_sorts_without_javascript(client: TestClient) -> None:
    page = client.get("/?seed=1010&target=reached&sort=final_nm&order=desc")
    assert page.status_code == 200
    assert _page_keys(page.text) == ["hit-1300", "other-material"]
    assert "2 of 5 shown" in page.text
    head = page.text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    labels = re.findall(r'<a href="[^"]*">([^<]+)</a>', head)
    assert labels[:9] == ["experiment", "material", "seed batch", "seed PL (nm)", "experiment date", "final PL (nm)",
                          "target PL (nm)", "target reached", "tags"]
    assert "_nm" not in "".join(labels)  # headers in words, not field names
    # the sorted column says so and its link flips the order, keeping the filters
    assert 'aria-sort="descending" data-sort="final_nm"' in head
    assert 'href="/?seed=1010&amp;target=reached&amp;sort=final_nm&amp;order=asc"' in head
    assert 'href="/?seed=1010&amp;target=reached&amp;sort=date&amp;order=desc"' in head
    # the form keeps what was chosen, and "clear filters" keeps the order
    assert 'name="seed" value="1010"' in page.text and '<option value="reached" selected>' in page.text
    assert 'id="clear-filters" href="/?sort=final_nm&amp;order=desc"' in page.text
    assert '<td class="target-reached" title="final PL 1292 nm is 8 nm from the target 1300 nm' in page.text
    none = client.get("/?tag=paper&material=CdSe")
    assert none.status_code == 200 and 'id="none-match"' in none.text and 'id="filters"' in none.text
    assert '<option selected>paper</option>' in none.text


def test_tags_from_the_experiment_page(client: TestClient, lab: dict) -> None:
    eid = lab["ids"]["miss-1300"]
    r = client.post(f"/experiments/{eid}/tags", data={"add": "redo  low-QY"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/experiments/{eid}#tags"
    page = client.get(f"/experiments/{eid}")
    tags = page.text.split('id="tags"', 1)[1].split("</section>", 1)[0]
    assert 'href="/?tag=low-QY"' in tags and 'aria-label="remove tag redo"' in tags
    assert sorted(_keys(client, "?tag=redo")) == ["miss-1300"]
    r = client.post(f"/experiments/{eid}/tags", data={"remove": "redo"}, follow_redirects=False)
    assert r.status_code == 303 and client.get(f"/api/experiments/{eid}").json()["tags"] == ["low-QY"]
    # refusals: in words beside the form, what was typed kept, nothing stored
    r = client.post(f"/experiments/{eid}/tags", data={"add": "fine bad/tag"})
    assert r.status_code == 400 and 'id="tag-error"' in r.text and "“bad/tag” is not a tag" in r.text
    assert 'value="fine bad/tag"' in r.text and client.get(f"/api/experiments/{eid}").json()["tags"] == ["low-QY"]
    assert client.post(f"/experiments/{eid}/tags", data={"add": " "}).status_code == 400
    assert client.post("/experiments/9999/tags", data={"add": "x"}).status_code == 404
    # the app's CSRF protection: a write from another site is refused before it reaches the record
    r = client.post(f"/experiments/{eid}/tags", data={"add": "evil"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "evil" not in client.get(f"/api/experiments/{eid}").json()["tags"]
    r = client.post(f"/experiments/{eid}/tags", data={"add": "evil"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    client.post(f"/experiments/{eid}/tags", data={"remove": "low-QY"})


def test_tags_through_the_api(client: TestClient, lab: dict) -> None:
    eid = lab["ids"]["no-target"]
    r = client.post(f"/api/experiments/{eid}/tags", json={"tags": ["check-xrd", "good"]})
    assert r.status_code == 200 and r.json()["tags"] == ["check-xrd", "good"] and r.json()["added"] == ["check-xrd",
                                                                                                        "good"]
    r = client.post("/api/experiments/no-target/tags", json={"tags": ["good"]})  # by key; already there: no change
    assert r.json()["added"] == [] and r.json()["tags"] == ["check-xrd", "good"]
    r = client.request("DELETE", f"/api/experiments/{eid}/tags?tag=check-xrd&tag=never")
    assert r.status_code == 200 and r.json()["tags"] == ["good"] and r.json()["not_tagged"] == ["never"]
    r = client.request("DELETE", f"/api/experiments/{eid}/tags", json={"tags": ["good"]})
    assert r.status_code == 200 and r.json()["tags"] == []
    r = client.post(f"/api/experiments/{eid}/tags", json={"tags": ["two words"]})
    assert r.status_code == 400 and r.json() == {"detail": "tag: “two words” is not a tag: use 1-32 letters, digits, "
                                                           "- or _", "field": "tag"}
    r = client.post(f"/api/experiments/{eid}/tags", json={"tags": [f"t{i}" for i in range(21)]})
    assert r.status_code == 400 and "at most 20" in r.json()["detail"]
    assert client.request("DELETE", f"/api/experiments/{eid}/tags").status_code == 400
    assert client.post(f"/api/experiments/{eid}/tags", json={"tags": "good"}).status_code == 422
    assert client.post("/api/experiments/9999/tags", json={"tags": ["x"]}).status_code == 404
    r = client.post(f"/api/experiments/{eid}/tags", json={"tags": ["x"]}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and client.get(f"/api/experiments/{eid}").json()["tags"] == []
