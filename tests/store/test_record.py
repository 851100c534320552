"""The record: migrations, atomic and idempotent saves, reading back, exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qdlab.data.errors import InputError
from qdlab.store import (
    AliquotRecord,
    ArrayStore,
    CalibrationRecord,
    ExperimentRecord,
    MeasurementRecord,
    ResultRecord,
    Store,
)
from qdlab.store.engine import current_revision, head_revision, normalize_url
from qdlab.store.export import export_eln, export_json


def make_record(tmp_path: Path, key: str = "exp-1", fingerprint: str = "f" * 64, peak_nm: float = 1010.0) -> ExperimentRecord:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    pl = raw / "A0.txt"
    pl.write_text("900 1\n1000 5\n")
    import hashlib

    sha = hashlib.sha256(pl.read_bytes()).hexdigest()
    return ExperimentRecord(
        key=key, material="Cd3P2", manifest_sha256="m" * 64, fingerprint=fingerprint, title="test",
        aliquots=[AliquotRecord("A0", 0, 0.0), AliquotRecord("A1", 1, 10.0)],
        measurements=[MeasurementRecord("pl", "pl/A0.txt", pl.stat().st_size, sha, aliquot_label="A0", path=pl,
                                        arrays={"x": np.array([900.0, 1000.0]), "y": np.array([1.0, 5.0])})],
        results=[ResultRecord("spectra.analyze_pl", "ok", {"peak_nm": peak_nm}, source_name="pl/A0.txt", kind="pl"),
                 ResultRecord("spectra.analyze_series", "ok", {"n": 2})],
        calibrations=[CalibrationRecord("overgrowth-1010nm", "ok", {"k_growth": {"value": 1.0, "stderr": 0.1, "unit": "1/min"}})],
        summary={"aliquots": [{"aliquot": "A0", "pl_peak_nm": peak_nm}]},
    )


def test_open_migrates_to_head(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        assert store.revision == head_revision()
        assert current_revision(store.engine) == head_revision()
        assert store.counts() == dict.fromkeys(
            ["experiments", "recipes", "aliquots", "measurements", "analysis_results", "twin_calibrations"], 0)
    with Store(db_url, array_dir=tmp_path / "arr") as store:  # second open: no-op
        assert store.list_experiments() == []


def test_save_is_idempotent_and_replaces_on_change(db_url: str, tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        first = store.save_experiment(rec)
        assert first.action == "created"
        counts = store.counts()
        assert counts["experiments"] == 1 and counts["aliquots"] == 2 and counts["measurements"] == 1
        assert counts["analysis_results"] == 2 and counts["twin_calibrations"] == 1
        again = store.save_experiment(rec)
        assert (again.experiment_id, again.action) == (first.experiment_id, "unchanged")
        assert store.counts() == counts
        changed = store.save_experiment(replace(make_record(tmp_path, peak_nm=1020.0), fingerprint="e" * 64))
        assert (changed.experiment_id, changed.action) == (first.experiment_id, "replaced")
        assert store.counts() == counts
        d = store.experiment_dict("exp-1")
        assert d["results"][0]["result"]["peak_nm"] == 1020.0
        assert d["calibrations"][0]["parameters"]["k_growth"]["stderr"] == 0.1
        assert store.experiment_dict(first.experiment_id)["key"] == "exp-1"


def test_arrays_and_raw_blobs_round_trip(db_url: str, tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        store.save_experiment(rec)
        m = store.experiment_dict("exp-1")["measurements"][0]
        arrays = store.arrays.get(m["array_sha256"])
        np.testing.assert_array_equal(arrays["y"], [1.0, 5.0])
        assert store.blobs.path(m["sha256"]).read_bytes() == (tmp_path / "raw" / "A0.txt").read_bytes()


def test_failed_save_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    bad = replace(make_record(tmp_path), measurements=[
        replace(make_record(tmp_path).measurements[0], aliquot_label="A9")])
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        with pytest.raises(InputError, match="unknown aliquot"):
            store.save_experiment(bad)
        assert store.counts()["experiments"] == 0 and store.counts()["aliquots"] == 0


def test_unknown_experiment_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr") as store, pytest.raises(InputError, match="no experiment 'nope'"):
        store.experiment_dict("nope")


def test_exports(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        store.save_experiment(make_record(tmp_path))
        js = json.loads(export_json(store, "exp-1", tmp_path / "e.json").read_text())
        assert js["key"] == "exp-1" and js["aliquots"][1]["time_min"] == 10.0
        eln = export_eln(store, "exp-1", tmp_path / "e.eln")
    with zipfile.ZipFile(eln) as zf:
        names = zf.namelist()
        roots = {n.split("/", 1)[0] for n in names}
        assert roots == {"exp-1"}, "an .eln has exactly one root folder"
        crate = json.loads(zf.read("exp-1/ro-crate-metadata.json"))
        assert "exp-1/exp-1/raw/pl/A0.txt" in names
        raw = zf.read("exp-1/exp-1/raw/pl/A0.txt")
    graph = {e["@id"]: e for e in crate["@graph"]}
    assert graph["ro-crate-metadata.json"]["about"] == {"@id": "./"}
    assert graph["./"]["hasPart"] == [{"@id": "./exp-1/"}]
    files = [e for e in crate["@graph"] if e.get("@type") == "File"]
    import hashlib

    raw_entity = graph["./exp-1/raw/pl/A0.txt"]
    assert raw_entity["sha256"] == hashlib.sha256(raw).hexdigest() and raw_entity["contentSize"] == str(len(raw))
    assert {f["@id"] for f in files} == {p["@id"] for p in graph["./exp-1/"]["hasPart"]}


def test_array_store_is_content_addressed(tmp_path: Path) -> None:
    s = ArrayStore(tmp_path)
    a = s.put({"x": np.arange(5.0)})
    assert a == s.put({"x": np.arange(5.0)}) != s.put({"x": np.arange(6.0)})
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
    s.path(a).write_bytes(b"garbage")
    from qdlab.data.errors import FormatError

    with pytest.raises(FormatError, match="content hash"):
        s.get(a)
    with pytest.raises(InputError):
        s.put({"x": np.arange(3.0), "y": np.arange(4.0)})


def test_url_normalisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url(tmp_path / "x.sqlite") == f"sqlite:///{tmp_path / 'x.sqlite'}"
    monkeypatch.setenv("QDLAB_DATABASE_URL", "sqlite:///elsewhere.db")
    assert normalize_url(None) == "sqlite:///elsewhere.db"
    with pytest.raises(InputError, match="--db"):
        Store("nosuchdriver://x/y")


def test_migrations_match_the_models(tmp_path: Path) -> None:
    """Alembic autogenerate finds nothing to do on a migrated database: models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from qdlab.store.models import Base

    with Store(tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_folder_measurement_blobs_and_eln(tmp_path: Path) -> None:
    """A Bruker-style acquisition folder is hashed over its tree, each file kept and exported."""
    from qdlab.store import tree_digest

    acq = tmp_path / "ms" / "after"
    (acq / "1" / "1Lin").mkdir(parents=True)
    (acq / "1" / "1Lin" / "fid").write_bytes(b"\x01\x02\x03\x04")
    (acq / "1" / "1Lin" / "acqus").write_text("##$ML1= 2000000\n")
    digest, size, files = tree_digest(acq)
    assert size == 4 + len("##$ML1= 2000000\n") and set(files) == {"1/1Lin/fid", "1/1Lin/acqus"}
    (acq / "1" / "1Lin" / "acqus").write_text("##$ML1= 2000001\n")
    assert tree_digest(acq)[0] != digest  # any byte changes the folder's hash
    digest, size, files = tree_digest(acq)
    rec = replace(make_record(tmp_path), measurements=[
        MeasurementRecord("ms", "ms/after", size, digest, role="after", path=acq, meta={"files": files})])
    with Store(tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store:
        store.save_experiment(rec)
        eln = export_eln(store, "exp-1", tmp_path / "x.eln")
    with zipfile.ZipFile(eln) as zf:
        assert zf.read("exp-1/exp-1/raw/ms/after/1/1Lin/fid") == b"\x01\x02\x03\x04"


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_array_store_round_trips_any_float_column(tmp_path_factory: pytest.TempPathFactory, y: np.ndarray) -> None:
    s = ArrayStore(tmp_path_factory.mktemp("arr"))
    h = s.put({"x": np.arange(y.size, dtype=float), "y": y})
    back = s.get(h)
    np.testing.assert_array_equal(back["y"], y)  # NaN == NaN here, bit-exact values
    assert h == s.put({"x": np.arange(y.size, dtype=float), "y": y.copy()})


def test_sqlite_writers_lock_up_front_readers_do_not(tmp_path: Path) -> None:
    """Write transactions start with BEGIN IMMEDIATE; reads stay deferred (WAL: they never wait for a writer)."""
    from sqlalchemy import event, text

    with Store(tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store:
        store.engine.dispose()
        log: list[str] = []
        event.listen(store.engine, "connect", lambda c, _r: c.set_trace_callback(log.append))
        with store.session(write=True) as s:
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        with store.session() as s:
            s.execute(text("SELECT 1"))
    assert [q for q in log if q.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT", "BEGIN", "COMMIT"]


def test_eln_is_read_by_ro_crate_py(tmp_path: Path) -> None:
    """An independent RO-Crate implementation (ro-crate-py) parses the .eln and finds every file entity."""
    rocrate = pytest.importorskip("rocrate.rocrate")
    with Store(tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store:
        store.save_experiment(make_record(tmp_path))
        eln = export_eln(store, "exp-1", tmp_path / "e.eln")
    with zipfile.ZipFile(eln) as zf:
        zf.extractall(tmp_path / "unz")
    crate = rocrate.ROCrate(tmp_path / "unz" / "exp-1")
    ids = {e.id for e in crate.data_entities}
    assert "exp-1/" in ids and "exp-1/raw/pl/A0.txt" in ids and "exp-1/record.json" in ids
    assert crate.get("./exp-1/").type == "Dataset"
