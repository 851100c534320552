"""Two processes writing one record at once: no corruption, no duplicates, no lost experiment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from test_record import make_record
    from qdlab.store import Store

    url, arr, who = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = Path(arr).parent / f"w{who}"
    tmp.mkdir(exist_ok=True)
    with Store(url, array_dir=arr) as store:
        for i in range(12):
            # shared keys (both writers) and private keys (one writer), changing fingerprints
            store.save_experiment(replace(make_record(tmp, key=f"shared-{i % 4}"), fingerprint=f"{who}{i:063d}"))
            store.save_experiment(make_record(tmp, key=f"own-{who}-{i}"))
    print("done")
    """
)


def test_two_writers_one_database(db_url: str, tmp_path: Path) -> None:
    from qdlab.store import Store

    arr = tmp_path / "arr"  # the database is empty: both writers also race to migrate it on open
    here = str(Path(__file__).parent)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(arr), who, here],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for who in ("1", "2")
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "done"
    with Store(db_url, array_dir=arr) as store:
        keys = sorted(e["key"] for e in store.list_experiments())
        assert keys == sorted([f"shared-{i}" for i in range(4)] + [f"own-{w}-{i}" for w in "12" for i in range(12)])
        counts = store.counts()
        assert counts["experiments"] == 28
        assert counts["aliquots"] == 2 * 28 and counts["measurements"] == 28 and counts["twin_calibrations"] == 28
        if store.engine.dialect.name == "sqlite":
            from sqlalchemy import text

            with store.engine.connect() as c:
                assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
                assert c.execute(text("PRAGMA foreign_key_check")).fetchall() == []
