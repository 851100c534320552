"""The dashboard's per-record caches: kept while the record is unchanged, dropped when any process changes it.

The app reads an experiment whole once per stamp (:meth:`qdlab.store.Store.experiment_stamp`) and keeps
what its pages compute from it; these tests write to the record *behind the app's back* (another
``Store`` on the same file, as ``qdlab run`` or a second server would) and check that every page sees it.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qdlab.store import AliquotRecord, ExperimentRecord, MeasurementRecord, ResultRecord, Store
from qdlab.web import create_app


def _record(fingerprint: str, title: str, peak_nm: float) -> ExperimentRecord:
    """One experiment with one PL aliquot peaking at ``peak_nm``."""
    lam = np.arange(900.0, 1200.0, 2.0)
    y = np.exp(-0.5 * ((lam - peak_nm) / 20.0) ** 2)
    return ExperimentRecord(
        key="cached", material="Cd3P2", manifest_sha256="0" * 64, fingerprint=fingerprint, title=title,
        summary={"aliquots": [{"aliquot": "A0", "time_min": 0.0, "pl_peak_nm": peak_nm}]},
        aliquots=(AliquotRecord("A0", 0, 0.0),),
        measurements=(MeasurementRecord("pl", "pl/A0.csv", 10, "1" * 64, aliquot_label="A0",
                                        arrays={"x": lam, "y": y}),),
        results=(ResultRecord("spectra.analyze_pl", "ok", {"peak_wavelength_nm": peak_nm, "warnings": []},
                              parameters={"x_unit": "nm"}, source_name="pl/A0.csv", kind="pl"),),
    )


@pytest.fixture
def record_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    with Store(url) as s:
        s.save_experiment(_record("v1", "First title", 1010.0))
    return url


def test_stamp_changes_with_every_write(record_url: str) -> None:
    with Store(record_url) as s:
        stamp, tags = s.experiment_stamp("cached")
        assert s.experiment_stamp(stamp[0]) == (stamp, tags) and tags == []
        s.save_experiment(_record("v1", "First title", 1010.0))  # the same run again: nothing written
        assert s.experiment_stamp("cached") == (stamp, [])
        s.set_tags("cached", add=["Good", "a"])
        assert s.experiment_stamp("cached") == (stamp, ["a", "Good"])  # tags apart, sorted as experiment_dict's
        s.save_experiment(_record("v2", "Second title", 1050.0))
        stamp2, tags2 = s.experiment_stamp("cached")
        assert stamp2 != stamp and stamp2[3] == 2 and tags2 == ["a", "Good"]
        with pytest.raises(Exception, match="no experiment"):
            s.experiment_stamp("nope")


def test_pages_follow_changes_made_by_another_process(record_url: str) -> None:
    c = TestClient(create_app(record_url, warm_experiments=0))
    with Store(record_url) as s:
        exp_id = s.experiment_stamp("cached")[0][0]
    base = f"/experiments/{exp_id}"
    first = c.get(f"/api{base}").json()
    assert first["title"] == "First title" and first["tags"] == []
    assert "First title" in c.get(base).text
    assert c.get(f"/api{base}").json() == first  # from the cache: the same answer
    spectra1 = c.get(f"/api{base}/spectra/pl").json()

    with Store(record_url) as other:  # behind the app's back
        other.set_tags(exp_id, add=["reviewed"])
    assert c.get(f"/api{base}").json()["tags"] == ["reviewed"]
    assert "reviewed" in c.get(base).text

    with Store(record_url) as other:
        other.save_experiment(_record("v2", "Second title", 1050.0))
    now = c.get(f"/api{base}").json()
    assert now["title"] == "Second title" and now["version"] == 2 and now["tags"] == ["reviewed"]
    page = c.get(base).text
    assert "Second title" in page
    assert "1050" in c.get(f"{base}/aliquots.csv").text
    spectra2 = c.get(f"/api{base}/spectra/pl").json()
    peak = [s["wavelength_nm"][int(np.argmax(s["intensity"]))] for s in (spectra1["spectra"][0], spectra2["spectra"][0])]
    assert peak == [1010.0, 1050.0]


def test_tag_form_error_page_is_not_cached(record_url: str) -> None:
    c = TestClient(create_app(record_url, warm_experiments=0))
    ok = c.get("/experiments/cached").text
    bad = c.post("/experiments/cached/tags", data={"add": "no spaces!?"})
    assert bad.status_code == 400
    assert c.get("/experiments/cached").text == ok


def test_health_says_warm_once_the_newest_experiments_are_prepared(record_url: str) -> None:
    with TestClient(create_app(record_url)) as c:  # the lifespan starts the warm-up
        t0 = time.monotonic()
        while not c.get("/api/health").json()["warm"]:
            assert time.monotonic() - t0 < 120, "the warm-up did not finish"
            time.sleep(0.2)
        t0 = time.perf_counter()
        r = c.get("/experiments/cached/figures/pl-waterfall.png")
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
        assert time.perf_counter() - t0 < 0.5  # rendered by the warm-up, not now (a cold render: 0.4-1.1 s)


def _niceness() -> int:
    return os.nice(0)


def test_upload_worker_yields_the_cpu_to_the_server() -> None:
    from qdlab.web.uploads import WORKER_NICE, _background_worker

    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_background_worker) as pool:
        assert pool.submit(_niceness).result(timeout=120) >= os.nice(0) + min(WORKER_NICE, 19 - os.nice(0))


def test_warm_up_is_called_after_an_upload_stores_an_experiment(tmp_path: Path, folder_zip: Any) -> None:
    from qdlab.web import uploads

    seen: list[int] = []
    jobs = uploads.Jobs(f"sqlite:///{tmp_path / 'lab.sqlite'}", "serial", on_stored=seen.append)
    try:
        archive = tmp_path / "up.zip"
        archive.write_bytes(folder_zip())
        job = jobs.start("up.zip", archive)
        t0 = time.monotonic()
        while jobs.get(job.id).finished_s is None:
            assert time.monotonic() - t0 < 300
            time.sleep(0.2)
        assert job.status == "ok" and seen == [job.experiment_id]
    finally:
        jobs.close()
