"""Schema versions and opening errors: only creation or ``qdlab db upgrade`` migrates; one-line errors."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qdlab.cli.main import main
from qdlab.data.errors import InputError
from qdlab.store import Store
from qdlab.store.engine import _alembic_config, current_revision, head_revision, normalize_url

sys.path.insert(0, str(Path(__file__).parent))
from test_record import make_record


def _migrate_to(url: str, rev: str) -> None:
    """Bring an empty database to an OLD revision, as an older qdlab would have left it."""
    from alembic import command

    eng = create_engine(normalize_url(url))
    try:
        cfg = _alembic_config()
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, rev)
    finally:
        eng.dispose()


def _pretend_newer(url: str, rev: str = "9999", version: str = "9.9.0") -> None:
    """What a newer qdlab leaves behind: a revision this qdlab does not ship, and its version."""
    eng = create_engine(normalize_url(url))
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": rev})
        conn.execute(text("INSERT INTO qdlab_schema (revision, qdlab_version, applied_at) "
                          "VALUES (:r, :v, CURRENT_TIMESTAMP)"), {"r": rev, "v": version})
    eng.dispose()


def test_first_open_creates_an_older_schema_is_not_migrated(db_url: str, tmp_path: Path) -> None:
    _migrate_to(db_url, "0001")
    with pytest.raises(InputError, match=r"has schema 0001, this qdlab .* needs .*run `qdlab db upgrade"):
        Store(db_url, array_dir=tmp_path / "arr")
    eng = create_engine(normalize_url(db_url))
    assert current_revision(eng) == "0001"  # opening did not touch it
    eng.dispose()
    out = Store.upgrade(db_url)
    assert (out["from_revision"], out["to_revision"], out["action"]) == ("0001", head_revision(), "upgraded")
    with Store(db_url, array_dir=tmp_path / "arr") as store:
        assert store.revision == head_revision()
        store.save_experiment(make_record(tmp_path))
    assert Store.upgrade(db_url)["action"] == "current"


def test_sqlite_upgrade_keeps_a_backup_that_still_reads(tmp_path: Path) -> None:
    db = tmp_path / "lab.sqlite"
    _migrate_to(str(db), "0001")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO experiments (key, title, material, folder, manifest_sha256, fingerprint, qdlab_version,"
                " synthetic, meta, summary, created_at, updated_at) VALUES ('old-1', 'kept', 'Cd3P2', '', 'm', 'f',"
                " '0.0.9', 0, '{}', '{}', '2026-01-01', '2026-01-01')")
    con.commit()
    con.close()
    out = Store.upgrade(db)
    backup = Path(out["backup"])
    assert backup.exists() and backup.name.startswith("lab.backup-0001-") and backup.suffix == ".sqlite"
    con = sqlite3.connect(backup)  # the backup is the record as it was: schema 0001 with its row
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    assert con.execute("SELECT key, title FROM experiments").fetchall() == [("old-1", "kept")]
    con.close()
    with Store(db, array_dir=tmp_path / "arr") as store:
        assert [e["key"] for e in store.list_experiments()] == ["old-1"]


def test_newer_schema_is_refused_with_the_version(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, array_dir=tmp_path / "arr"):
        pass
    _pretend_newer(db_url)
    with pytest.raises(InputError, match=r"written by qdlab >= 9\.9\.0 \(schema 9999\).*upgrade qdlab") as e:
        Store(db_url, array_dir=tmp_path / "arr")
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"written by qdlab >= 9\.9\.0"):  # never downgraded
        Store.upgrade(db_url)


def test_cli_errors_are_one_line_exit_2_password_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.sqlite"
    junk.write_text("this is not a database\n" * 100)
    assert main(["db", "list", "--db", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a database" in err and "Traceback" not in err
    # a server that is not there (port 1 refuses at once); the password must not leak, plain or %-encoded
    url = "postgresql://lab:Pa%24%24w0rd-xyz@127.0.0.1:1/qd"
    for argv in (["db", "list", "--db", url], ["db", "upgrade", "--db", url], ["campaign", "list", "--db", url]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "***" in err, err
        assert "Pa$$w0rd" not in err and "Pa%24%24w0rd" not in err and "xyz" not in err, err


def test_wrong_credentials_on_the_server(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy.engine import make_url

    bad = make_url(normalize_url(pg_url)).set(username="qdlab_no_such_role", password="hunter2-secret")
    url = bad.render_as_string(hide_password=False)
    with pytest.raises(InputError, match="qdlab_no_such_role") as e:
        Store(url, array_dir=tmp_path / "arr")
    assert "hunter2-secret" not in str(e.value) and "\n" not in str(e.value)
    assert main(["db", "list", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "hunter2-secret" not in err and err.strip().count("\n") == 0


def test_cli_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    db = tmp_path / "lab.sqlite"
    _migrate_to(str(db), "0001")
    assert main(["db", "list", "--db", str(db)]) == 2
    assert "qdlab db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["from_revision"] == "0001" and out["to_revision"] == head_revision() and Path(out["backup"]).exists()
    assert main(["db", "list", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiments"] == []


def test_a_database_of_something_else_is_not_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=r"holds other tables \(invoices\) but no qdlab record"):
        Store(db, array_dir=tmp_path / "arr")
    con = sqlite3.connect(db)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["invoices"]
    con.close()


def test_head_constant_is_alembics_head() -> None:
    from qdlab.store.engine import alembic_head_revision

    assert head_revision() == alembic_head_revision()
