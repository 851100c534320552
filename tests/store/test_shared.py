"""Two machines, one server database: every client reads the same raw files and arrays."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from qdlab.store import Store
from qdlab.store.export import export_eln

sys.path.insert(0, str(Path(__file__).parent))
from test_eln import _record, consortium_problems

#: Client B runs in its own process with its own local file store, as on another machine.
CLIENT_B = textwrap.dedent(
    """
    import sys
    from qdlab.store import Store
    from qdlab.store.export import export_eln
    url, local, out = sys.argv[1:4]
    with Store(url, array_dir=local) as store:
        d = store.experiment_dict("exp-1")
        m = d["measurements"][0]
        print(store.arrays.get(m["array_sha256"])["y"].tolist())
        export_eln(store, "exp-1", out)
    """
)


@pytest.mark.postgres
def test_a_colleague_on_another_machine_exports_the_full_eln(pg_url: str, tmp_path: Path) -> None:
    a_local, b_local = tmp_path / "machine-a", tmp_path / "machine-b"
    with Store(pg_url, array_dir=a_local) as store:
        assert store.shared
        store.save_experiment(_record(tmp_path))
        eln_a = export_eln(store, "exp-1", tmp_path / "a.eln")
    r = subprocess.run([sys.executable, "-c", CLIENT_B, pg_url, str(b_local), str(tmp_path / "b.eln")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[1.0, 5.0]"  # B read A's array table from the database
    eln_b = tmp_path / "b.eln"
    assert consortium_problems(eln_b) == []

    def payload(p: Path) -> dict[str, str]:
        with zipfile.ZipFile(p) as z:
            return {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if "/raw/" in n or "/arrays/" in n}

    assert payload(eln_b) == payload(eln_a) and any("/raw/pl/A0.txt" in n for n in payload(eln_b))
    assert any(b_local.rglob("*.parquet")) and (b_local / "raw").is_dir()  # now cached on B


@pytest.mark.postgres
def test_damaged_shared_file_is_refused(pg_url: str, tmp_path: Path) -> None:
    from sqlalchemy import update

    from qdlab.data.errors import FormatError
    from qdlab.store import models as M

    with Store(pg_url, array_dir=tmp_path / "a") as store:
        store.save_experiment(_record(tmp_path))
        sha = store.experiment_dict("exp-1")["measurements"][0]["sha256"]
        with store.session(write=True) as s:
            s.execute(update(M.FileBlob).where(M.FileBlob.sha256 == sha).values(content=b"tampered"))
    with Store(pg_url, array_dir=tmp_path / "b") as store, pytest.raises(FormatError, match="does not match"):
        export_eln(store, "exp-1", tmp_path / "b.eln")


def test_sqlite_keeps_files_beside_the_database(tmp_path: Path) -> None:
    with Store(tmp_path / "lab.sqlite", array_dir=tmp_path / "arr") as store:
        assert not store.shared
        store.save_experiment(_record(tmp_path))
        assert store.counts()["experiments"] == 1
        from sqlalchemy import func, select

        from qdlab.store import models as M

        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(M.FileBlob)) == 0
