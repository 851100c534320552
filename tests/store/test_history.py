"""History: a replaced experiment keeps its earlier versions and says what changed."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from qdlab.cli.main import main
from qdlab.data.errors import InputError
from qdlab.store import MeasurementRecord, Store
from qdlab.store.record import diff_versions

sys.path.insert(0, str(Path(__file__).parent))
from test_record import make_record


def _v2(tmp_path: Path):
    """Version 2: the PL file re-exported (new bytes), the peak moved, the calibration refitted."""
    raw = tmp_path / "raw2"
    raw.mkdir(exist_ok=True)
    pl = raw / "A0.txt"
    pl.write_text("900 1\n1000 6\n")
    rec = make_record(tmp_path, peak_nm=1020.0)
    m = rec.measurements[0]
    meas = MeasurementRecord(m.kind, m.source_name, pl.stat().st_size, hashlib.sha256(pl.read_bytes()).hexdigest(),
                             aliquot_label="A0", path=pl, arrays={"x": [900.0, 1000.0], "y": [1.0, 6.0]})
    cal = replace(rec.calibrations[0], parameters={"k_growth": {"value": 1.3, "stderr": 0.1, "unit": "1/min"}})
    return replace(rec, fingerprint="e" * 64, measurements=[meas], calibrations=[cal])


def test_replaced_experiment_keeps_its_versions(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        first = store.save_experiment(make_record(tmp_path))
        v1 = store.experiment_dict("exp-1")
        assert v1["version"] == 1 and v1["history"] == []
        assert store.save_experiment(_v2(tmp_path)).action == "replaced"
        assert store.save_experiment(_v2(tmp_path)).action == "unchanged"  # no new version for nothing
        now = store.experiment_dict("exp-1")
        assert now["version"] == 2 and now["id"] == first.experiment_id
        assert now["results"][0]["result"]["peak_nm"] == 1020.0
        old = store.experiment_dict("exp-1", version=1)
        assert old["current_version"] == 2 and old["version"] == 1
        # the earlier version is what was shown then, byte for byte in its stored parts
        assert {k: old[k] for k in ("measurements", "results", "calibrations", "summary", "fingerprint")} == {
            k: v1[k] for k in ("measurements", "results", "calibrations", "summary", "fingerprint")}
        # its raw file and arrays are still there (content-addressed stores keep every version's)
        m = old["measurements"][0]
        assert store.blobs.path(m["sha256"]).read_text() == "900 1\n1000 5\n"
        assert store.arrays.get(m["array_sha256"])["y"].tolist() == [1.0, 5.0]
        (h,) = now["history"]
        assert h["version"] == 1 and h["fingerprint"] == "f" * 64
        assert h["changes"]["files"] == {"added": [], "removed": [], "changed": ["pl/A0.txt"]}
        assert h["changes"]["aliquots"] == {"A0": {"pl_peak_nm": [1010.0, 1020.0]}}
        assert h["changes"]["calibration"] == {"k_growth": [1.0, 1.3]}
        assert "qdlab_version" not in h["changes"] and "manifest" not in h["changes"]
        assert store.list_experiments()[0]["version"] == 2
        with pytest.raises(InputError, match="versions 1-2, not 3"):
            store.experiment_dict("exp-1", version=3)
        store.save_experiment(replace(make_record(tmp_path), fingerprint="d" * 64))  # back to v1's content
        assert [x["version"] for x in store.experiment_dict("exp-1")["history"]] == [1, 2]
        assert store.experiment_dict("exp-1", version=2)["results"][0]["result"]["peak_nm"] == 1020.0


def test_diff_versions_files_added_and_removed() -> None:
    a = {"measurements": [{"kind": "pl", "source_name": "p1", "sha256": "1"}], "qdlab_version": "0.1",
         "manifest_sha256": "m1", "results": [{"analysis": "x", "source_name": "p1", "status": "ok"}]}
    b = {"measurements": [{"kind": "ms", "source_name": "m1", "sha256": "2"}], "qdlab_version": "0.2",
         "manifest_sha256": "m2", "results": [{"analysis": "x", "source_name": "p1", "status": "error"}]}
    d = diff_versions(a, b)
    assert d["files"] == {"added": ["m1"], "removed": ["p1"], "changed": []}
    assert d["qdlab_version"] == ["0.1", "0.2"] and d["manifest"] == ["m1", "m2"]
    assert d["analyses"] == [{"analysis": "x", "file": "p1", "status": ["ok", "error"]}]
    assert diff_versions(a, a) == {}


def test_cli_show_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "lab.sqlite"
    with Store(db, array_dir=tmp_path / "arr") as store:
        store.save_experiment(make_record(tmp_path))
        store.save_experiment(_v2(tmp_path))
    assert main(["db", "show", "exp-1", "--version", "1", "--db", str(db), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["version"] == 1 and d["current_version"] == 2 and d["results"][0]["result"]["peak_nm"] == 1010.0
    assert main(["db", "show", "exp-1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "history" in out and "pl_peak_nm 1010.0 -> 1020.0" in out
    assert main(["db", "show", "exp-1", "--version", "7", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "versions 1-2, not 7" in err and err.strip().count("\n") == 0
