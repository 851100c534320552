"""Experiment tags (issue 20): stored in ``experiment_tags`` (migration 0005), validated, kept by a re-run and
by an .eln round trip; the list's rows say seed PL, final PL and whether the target was reached; `qdlab db tag`."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from qdlab.cli.main import main
from qdlab.data.errors import InputError
from qdlab.store import ExperimentRecord, Store
from qdlab.store.engine import head_revision
from qdlab.store.query import MAX_TAGS, ExperimentQuery, target_status

sys.path.insert(0, str(Path(__file__).parent))
from test_schema import _migrate_to


def _bare(key: str, fingerprint: str = "f", **kw) -> ExperimentRecord:
    return ExperimentRecord(key=key, material="Cd3P2", manifest_sha256="0" * 64, fingerprint=fingerprint, **kw)


def test_add_remove_validate_and_keep_over_a_rerun(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        eid = store.save_experiment(_bare("run-1")).experiment_id
        out = store.set_tags("run-1", add=["good", "TEM-pending", "good"])
        assert out["tags"] == ["good", "TEM-pending"] and out["added"] == ["good", "TEM-pending"]
        out = store.set_tags(eid, add=["good"], remove=["TEM-pending", "never-had"])
        assert out == {"id": eid, "key": "run-1", "tags": ["good"], "added": [], "removed": ["TEM-pending"],
                       "unknown": ["never-had"]}
        for bad, what in ((["bad tag"], "is not a tag"), ([""], "an empty tag"), (["x" * 33], "is not a tag"),
                          (["naïve"], "is not a tag")):
            with pytest.raises(InputError, match=what) as exc:
                store.set_tags(eid, add=bad)
            assert exc.value.field == "tag" and "\n" not in str(exc.value)
        with pytest.raises(InputError, match="both added and removed"):
            store.set_tags(eid, add=["x"], remove=["x"])
        with pytest.raises(InputError, match=f"would have {MAX_TAGS + 1} tags; at most {MAX_TAGS}"):
            store.set_tags(eid, add=[f"t{i}" for i in range(MAX_TAGS)])
        assert store.experiment_dict(eid)["tags"] == ["good"]  # the refused change left nothing behind
        store.set_tags(eid, add=[f"t{i}" for i in range(MAX_TAGS - 1)])
        with pytest.raises(InputError, match="no experiment"):
            store.set_tags("nope", add=["x"])
        # a re-run replaces the measurements, not the chemist's tags; the times of the run are untouched
        before = store.experiment_dict(eid)
        assert store.save_experiment(_bare("run-1", fingerprint="g")).action == "replaced"
        after = store.experiment_dict(eid)
        assert after["tags"] == before["tags"] and len(after["tags"]) == MAX_TAGS and after["version"] == 2
        row = store.list_experiments()[0]
        assert row["tags"] == after["tags"]


def test_migration_from_0004_gives_every_experiment_no_tags(db_url: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from qdlab.store.engine import normalize_url

    _migrate_to(db_url, "0004")  # what the previous qdlab left: no experiment_tags table
    eng = create_engine(normalize_url(db_url))
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO experiments (key, title, material, folder, manifest_sha256, fingerprint,"
                          " qdlab_version, synthetic, meta, summary, created_at, updated_at, version) VALUES ('old-1',"
                          " 'kept', 'Cd3P2', '', 'm', 'f', '0.0.9', false, '{}', '{}', '2026-01-01', '2026-01-01', 1)"))
    eng.dispose()
    with pytest.raises(InputError, match=r"has schema 0004.*qdlab db upgrade"):
        Store(db_url, array_dir=tmp_path / "arr")
    out = Store.upgrade(db_url)
    assert (out["from_revision"], out["to_revision"], out["action"]) == ("0004", head_revision(), "upgraded")
    assert head_revision() == "0005"
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        (row,) = store.list_experiments()
        assert row["key"] == "old-1" and row["tags"] == [] and row["target"] == "none"
        assert store.experiment_dict("old-1")["tags"] == []
        assert store.set_tags("old-1", add=["from-0004"])["tags"] == ["from-0004"]


def test_sqlite_backup_of_0004_still_reads(tmp_path: Path) -> None:
    db = tmp_path / "lab.sqlite"
    _migrate_to(str(db), "0004")
    backup = Path(Store.upgrade(db)["backup"])
    con = sqlite3.connect(backup)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "experiment_tags" not in tables and "file_blobs" in tables
    con = sqlite3.connect(db)
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0005",)]
    con.close()


def test_tags_travel_in_the_eln_export(tmp_path: Path) -> None:
    from qdlab.store.export import export_eln, import_eln

    with Store(tmp_path / "a.sqlite", array_dir=tmp_path / "arr-a") as store:
        store.save_experiment(_bare("exported"))
        store.set_tags("exported", add=["good", "paper-fig3"])
        path = export_eln(store, "exported", tmp_path / "exported.eln")
    import zipfile

    with zipfile.ZipFile(path) as zf:
        crate = json.loads(zf.read("exported/ro-crate-metadata.json"))
        record = json.loads(zf.read("exported/exported/record.json"))
    dataset = next(n for n in crate["@graph"] if n.get("@id") == "./exported/")
    assert dataset["keywords"].endswith("qdlab, good, paper-fig3") and record["tags"] == ["good", "paper-fig3"]
    with Store(tmp_path / "b.sqlite", array_dir=tmp_path / "arr-b") as other:
        other.save_experiment(_bare("exported"))  # the same run, already there untagged: the import adds its tags
        assert import_eln(other, path).action == "unchanged"
        assert other.experiment_dict("exported")["tags"] == ["good", "paper-fig3"]


def test_target_reached_from_the_stored_summary() -> None:
    def summ(final: float, target: dict | None, fwhm: float = 130.0) -> dict:
        rows = [{"aliquot": "A0", "pl_peak_nm": 1010.0},
                {"aliquot": "A5", "pl_peak_nm": final, "fwhm_mev": fwhm, "qy_percent": 14.0}]
        out: dict = {"aliquots": rows}
        if target is not None:
            out["next_recipe"] = {"status": "skipped", "target": target}
        return out

    assert target_status(summ(1290.0, {"wavelength_nm": 1300.0}))["status"] == "reached"
    assert target_status(summ(1284.0, {"wavelength_nm": 1300.0}))["status"] == "missed"  # 16 nm off > 15 nm
    st = target_status(summ(1295.0, {"wavelength_nm": 1300.0, "max_fwhm_mev": 120.0}))
    assert st["status"] == "missed" and "final FWHM 130 meV > 120 meV" in st["note"]
    assert target_status(summ(1295.0, {"wavelength_nm": 1300.0, "min_qy_percent": 10.0}))["status"] == "reached"
    assert target_status({"aliquots": [{"aliquot": "A0", "pl_peak_nm": None}],
                          "next_recipe": {"target": {"wavelength_nm": 1300.0}}})["words"] == "no final PL"
    assert target_status(summ(1295.0, None)) == {"status": "none", "words": "no target", "target_nm": None,
                                                 "note": "no [target] in the manifest"}
    table2 = {"aliquots": [], "table2": {"initial": {"wavelength_nm": 1012.0}, "final": {"wavelength_nm": 1277.0}},
              "next_recipe": {"target": {"wavelength_nm": 1280.0}}}
    assert target_status(table2)["status"] == "reached"


def test_query_parameters_are_checked_one_line_each() -> None:
    for params, field in (({"from": "yesterday"}, "from"), ({"to": "2026-02-30"}, "to"), ({"target": "maybe"}, "target"),
                          ({"sort": "colour"}, "sort"), ({"order": "up"}, "order"), ({"tag": "a b"}, "tag"),
                          ({"origin": "dreamt"}, "origin"), ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
                          ({"seed": "x" * 201}, "seed")):
        with pytest.raises(InputError) as exc:
            ExperimentQuery.from_params(params)
        assert exc.value.field == field and "\n" not in str(exc.value)


def test_cli_db_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "lab.sqlite")
    with Store(db, array_dir=tmp_path / "arr") as store:
        store.save_experiment(_bare("cli-run"))
    assert main(["db", "tag", "cli-run", "--add", "good", "--add", "TEM,xrd-done", "--db", db, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"] == "cli-run" and out["tags"] == ["good", "TEM", "xrd-done"]
    assert main(["db", "tag", "1", "--remove", "TEM", "--remove", "absent", "--db", db, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["tags"], out["removed"], out["not_tagged"]) == (["good", "xrd-done"], ["TEM"], ["absent"])
    assert main(["db", "tag", "cli-run", "--db", db]) == 0
    assert "tags good, xrd-done" in capsys.readouterr().out
    assert main(["db", "list", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiments"][0]["tags"] == ["good", "xrd-done"]
    for argv, field in ((["--add", "bad!"], "--add"), (["--remove", "no-way!"], "--remove"),
                        (["--add", "x" * 40], "--add")):
        assert main(["db", "tag", "cli-run", *argv, "--db", db]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{field}:" in err and "Traceback" not in err, err
    assert main(["db", "tag", "no-such-run", "--add", "good", "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no experiment 'no-such-run'" in err
    assert main(["db", "tag", "cli-run", "--add", ",".join(f"t{i}" for i in range(MAX_TAGS)), "--db", db]) == 2
    assert f"at most {MAX_TAGS}" in capsys.readouterr().err
