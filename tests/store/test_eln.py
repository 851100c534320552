"""The .eln export against the ELN Consortium's conventions and ro-crate-py; import restores the experiment."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from qdlab.cli.main import main
from qdlab.data.errors import FormatError, InputError
from qdlab.store import Store
from qdlab.store.export import export_eln, import_eln
from qdlab.store.record import RecipeRecord

sys.path.insert(0, str(Path(__file__).parent))
from test_record import make_record


def _record(tmp_path: Path):
    recipe = "[injection]\nrate_ml_per_h = 8.0\n"
    return replace(
        make_record(tmp_path), meta={"operator": "A. Tiwari", "date": "2025-03-01"},
        recipe=RecipeRecord("recipe.toml", len(recipe), hashlib.sha256(recipe.encode()).hexdigest(), recipe,
                            {"injection": {"rate_ml_per_h": 8.0}}),
    )


def consortium_problems(eln: Path) -> list[str]:
    """The ELN Consortium's checks of an .eln (archive layout, crate conventions, field types), as a list.

    Written from the consortium's published rules (TheELNFileFormat: SPECIFICATION.md and its test
    suite): one root folder holding everything and ro-crate-metadata.json; every node once, with a
    string @id and a string @type; the descriptor has version and sdPublisher; the root dataset has
    hasPart whose references exist; every Dataset has a name, every File a name; keywords is a string,
    never a list; author/about/sdPublisher are {"@id"} objects; dates are date-times; no empty values.
    """
    import datetime as dt

    bad: list[str] = []
    with zipfile.ZipFile(eln) as zf:
        infos = zf.infolist()
        roots = set()
        for info in infos:
            parts = PurePosixPath(info.filename).parts
            if not parts or ".." in parts or (len(parts) == 1 and not info.is_dir()):
                bad.append(f"entry outside the root folder: {info.filename}")
            else:
                roots.add(parts[0])
        if len(roots) != 1:
            return [*bad, f"{len(roots)} root folders"]
        (root,) = roots
        crate = json.loads(zf.read(f"{root}/ro-crate-metadata.json"))
        members = set(zf.namelist())
    graph = crate["@graph"]
    ids = [n.get("@id") for n in graph]
    if len(ids) != len(set(ids)):
        bad.append("duplicate @id")
    by_id = {n["@id"]: n for n in graph}
    for n in graph:
        if not isinstance(n.get("@id"), str) or not isinstance(n.get("@type"), str):
            bad.append(f"@id/@type not strings in {n.get('@id')}")
        if isinstance(n.get("keywords"), list):
            bad.append(f"keywords is a list in {n['@id']}")
        if any(not str(v).strip() for v in n.values()):
            bad.append(f"empty value in {n['@id']}")
        for k in ("author", "about", "sdPublisher", "conformsTo"):
            if k in n and not (isinstance(n[k], dict) and isinstance(n[k].get("@id"), str)):
                bad.append(f"{k} of {n['@id']} is not an {{'@id'}} object")
        for k in ("dateCreated", "dateModified", "datePublished"):
            if k in n:
                try:
                    t = dt.datetime.fromisoformat(n[k])
                    if t.tzinfo is None:
                        bad.append(f"{k} of {n['@id']} has no UTC offset")
                except ValueError:
                    bad.append(f"{k} of {n['@id']} is not a date-time")
        for child in n.get("hasPart", []):
            if child.get("@id") not in by_id:
                bad.append(f"hasPart of {n['@id']} names a missing node {child}")
        if n.get("@type") in ("Dataset", "File") and "name" not in n:
            bad.append(f"{n['@id']} has no name")
        if n.get("@type") == "File" and f"{root}/{n['@id'][2:]}" not in members:
            bad.append(f"{n['@id']} is not in the archive")
    desc = by_id.get("ro-crate-metadata.json", {})
    bad += [f"descriptor lacks {k}" for k in ("version", "sdPublisher") if k not in desc]
    if "hasPart" not in by_id.get("./", {}):
        bad.append("root dataset has no hasPart")
    return bad


def _export(tmp_path: Path, db_url: str | None = None) -> tuple[Path, dict[str, Any]]:
    with Store(db_url or tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store:
        store.save_experiment(_record(tmp_path))
        return export_eln(store, "exp-1", tmp_path / "exp-1.eln"), store.experiment_dict("exp-1")


def test_eln_passes_the_consortium_checks_and_ro_crate_py(tmp_path: Path) -> None:
    rocrate = pytest.importorskip("rocrate.rocrate")
    eln, _ = _export(tmp_path)
    assert consortium_problems(eln) == []
    with zipfile.ZipFile(eln) as zf:
        zf.extractall(tmp_path / "unz")
        crate = json.loads(zf.read("exp-1/ro-crate-metadata.json"))
    rc = rocrate.ROCrate(tmp_path / "unz" / "exp-1")
    ds = rc.get("./exp-1/")
    assert ds.type == "Dataset" and ds["keywords"] == "quantum dots, Cd3P2, qdlab"
    assert ds["author"]["name"] == "A. Tiwari" and ds["author"].type == "Person"  # from the manifest operator
    graph = {n["@id"]: n for n in crate["@graph"]}
    assert graph["./exp-1/raw/pl/A0.txt"]["name"] == "A0.txt (pl, aliquot A0)"
    (arr,) = [n for i, n in graph.items() if "/arrays/" in i]
    assert arr["name"].startswith("pl-A0-") and arr["name"].endswith(".parquet")  # not just a hash
    assert graph["./exp-1/raw/recipe.toml"]["name"] == "recipe.toml (recipe)"
    # the checks above do find what the issue reported (a list of keywords, no name)
    crate["@graph"] = [dict(n, keywords=["a", "b"]) if n["@id"] == "./exp-1/" else n for n in crate["@graph"]]
    broken = tmp_path / "broken.eln"
    with zipfile.ZipFile(eln) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(item, json.dumps(crate) if item.filename.endswith("ro-crate-metadata.json") else body)
    assert consortium_problems(broken) == ["keywords is a list in ./exp-1/"]


def test_eln_round_trip_restores_the_experiment(db_url: str, tmp_path: Path) -> None:
    eln, before = _export(tmp_path / "a")
    other = tmp_path / "b"  # another machine: its own database and file store
    with Store(db_url, array_dir=other / "arr") as store:
        saved = import_eln(store, eln)
        assert saved.action == "created"
        after = store.experiment_dict(saved.experiment_id)
        assert import_eln(store, eln).action == "unchanged"
        # everything stored comes back (ids and storage times are the new record's own)
        for k in ("key", "title", "material", "meta", "summary", "fingerprint", "manifest_sha256", "qdlab_version",
                  "recipe", "aliquots", "synthetic"):
            assert after[k] == before[k], k
        strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]  # noqa: E731
        for k in ("measurements", "results", "calibrations"):
            assert strip(after[k]) == strip(before[k]), k
        m = after["measurements"][0]
        assert store.blobs.path(m["sha256"]).read_text() == "900 1\n1000 5\n"
        assert store.arrays.get(m["array_sha256"])["y"].tolist() == [1.0, 5.0]
        # and it exports again to the same content
        again = export_eln(store, saved.experiment_id, tmp_path / "again.eln")
    with zipfile.ZipFile(eln) as z1, zipfile.ZipFile(again) as z2:
        files = lambda z: {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if "/raw/" in n or "/arrays/" in n}  # noqa: E731
        assert files(z1) == files(z2)


def test_import_refuses_damaged_or_foreign_archives(tmp_path: Path) -> None:
    eln, _ = _export(tmp_path / "a")
    damaged = tmp_path / "damaged.eln"
    with zipfile.ZipFile(eln) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(item, b"900 1\n1000 9\n" if item.filename.endswith("raw/pl/A0.txt") else body)
    with Store(tmp_path / "b.sqlite", array_dir=tmp_path / "b") as store:
        with pytest.raises(FormatError, match="does not match its sha256"):
            import_eln(store, damaged)
        assert store.list_experiments() == []
        junk = tmp_path / "junk.eln"
        junk.write_text("hello")
        with pytest.raises(FormatError, match="not a zip"):
            import_eln(store, junk)


def test_export_refuses_to_leave_files_out(tmp_path: Path) -> None:
    """A colleague whose machine lacks the raw files gets an error, not a silently empty archive."""
    _export(tmp_path / "a")
    with Store(tmp_path / "a" / "lab.sqlite", array_dir=tmp_path / "elsewhere") as store, \
            pytest.raises(InputError, match="not in this machine's file store"):
        export_eln(store, "exp-1", tmp_path / "x.eln")
    assert not (tmp_path / "x.eln").exists() and not (tmp_path / "x.eln.part").exists()


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    eln, _ = _export(tmp_path / "a")
    monkeypatch.setenv("QDLAB_ARRAY_DIR", str(tmp_path / "b-arr"))
    db = str(tmp_path / "b.sqlite")
    assert main(["db", "import", str(eln), "--db", db, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"] == "exp-1" and out["action"] == "created"
    assert main(["db", "import", str(tmp_path / "missing.eln"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "missing.eln" in err
