"""Pipeline and record: what the record costs, and what the parallel analysis buys.

1. **Record write** — :meth:`qdlab.store.Store.save_experiment` (SQLAlchemy ORM, one transaction, raw
   files and Parquet arrays into the content-addressed stores) against a reference that writes the same
   rows with the standard-library ``sqlite3`` (``executemany`` in one transaction, no blobs, no arrays):
   the ratio is the price of the ORM, the blob copies and the Parquet files.
2. **Idempotent re-run** — saving an unchanged experiment again (a fingerprint look-up) vs the first save.
3. **Whole job** — ``qdlab run`` on ``examples/overgrowth-1010nm`` with the analyses in local worker
   processes vs ``--scheduler serial``: the ratio is the parallel speed-up on this machine.
4. **First run after installing** — ``qdlab run`` in a new process with an empty numba cache (every
   compiled kernel compiles) vs a new process that loads them from the cache.
5. **Commands a user waits for** — ``qdlab --help`` in a new process, and one plan (seeds at 1010 nm to
   1150 nm, as ``qdlab plan``, in-process and warm).

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--skip-run]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _table import record

from qdlab.store import AliquotRecord, ExperimentRecord, MeasurementRecord, ResultRecord, Store

ROOT = Path(__file__).resolve().parents[1]
N_ALIQUOTS = 11
POINTS = 1200


def make_record(tmp: Path, key: str) -> ExperimentRecord:
    """An experiment shaped like the example: 11 aliquots x (PL, absorbance, PLQY) with arrays and results."""
    rng = np.random.default_rng(0)
    meas, results = [], []
    for i in range(N_ALIQUOTS):
        for kind in ("pl", "absorbance", "plqy"):
            p = tmp / f"{kind}-{key}-{i}.txt"
            y = rng.random(POINTS)
            p.write_text("\n".join(f"{900 + j} {v:.6f}" for j, v in enumerate(y)))
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            meas.append(MeasurementRecord(kind, f"{kind}/A{i}.txt", p.stat().st_size, sha, aliquot_label=f"A{i}",
                                          path=p, arrays={"x": np.arange(POINTS, dtype=float), "y": y}))
            results.append(ResultRecord(f"spectra.{kind}", "ok", {"peak_nm": 1000.0 + i, "fwhm_mev": 150.0},
                                        source_name=f"{kind}/A{i}.txt", kind=kind))
    return ExperimentRecord(key=key, material="Cd3P2", manifest_sha256="0" * 64, fingerprint="1" * 64,
                            aliquots=[AliquotRecord(f"A{i}", i, 6.0 * i) for i in range(N_ALIQUOTS)],
                            measurements=meas, results=results)


def reference_sqlite(path: Path, rec: ExperimentRecord) -> None:
    """The same rows with plain sqlite3 (one transaction, executemany), no blob or array files."""
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS e(id INTEGER PRIMARY KEY, key TEXT UNIQUE, material TEXT);"
        "CREATE TABLE IF NOT EXISTS a(id INTEGER PRIMARY KEY, e INTEGER, label TEXT, t REAL);"
        "CREATE TABLE IF NOT EXISTS m(id INTEGER PRIMARY KEY, e INTEGER, kind TEXT, name TEXT, size INTEGER, sha TEXT);"
        "CREATE TABLE IF NOT EXISTS r(id INTEGER PRIMARY KEY, e INTEGER, analysis TEXT, result TEXT);"
    )
    with con:
        cur = con.execute("INSERT INTO e(key, material) VALUES (?, ?)", (rec.key, rec.material))
        eid = cur.lastrowid
        con.executemany("INSERT INTO a(e, label, t) VALUES (?, ?, ?)", [(eid, a.label, a.time_min) for a in rec.aliquots])
        con.executemany("INSERT INTO m(e, kind, name, size, sha) VALUES (?, ?, ?, ?, ?)",
                        [(eid, m.kind, m.source_name, m.size_bytes, m.sha256) for m in rec.measurements])
        con.executemany("INSERT INTO r(e, analysis, result) VALUES (?, ?, ?)",
                        [(eid, r.analysis, json.dumps(dict(r.result))) for r in rec.results])
    con.close()


def bench_record(repeat: int = 5) -> None:
    ours, ref, again = [], [], []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with Store(tmp / "lab.sqlite", array_dir=tmp / "arrays") as store:
            for k in range(repeat):
                rec = make_record(tmp, f"exp-{k}")
                t0 = time.perf_counter()
                store.save_experiment(rec)
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                assert store.save_experiment(rec).action == "unchanged"
                again.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                reference_sqlite(tmp / "ref.sqlite", rec)
                ref.append(time.perf_counter() - t0)
    o, r, a = statistics.median(ours), statistics.median(ref), statistics.median(again)
    n = len(make_record(Path(tempfile.mkdtemp()), "x").measurements)
    print(f"record write, {N_ALIQUOTS} aliquots / {n} files x {POINTS} points (median of {repeat}):")
    print(f"  qdlab Store.save_experiment (ORM + blobs + Parquet): {o * 1e3:8.1f} ms")
    print(f"  reference sqlite3 executemany (rows only)          : {r * 1e3:8.1f} ms   ratio ours/ref = {o / r:.1f}")
    print(f"  idempotent re-save (unchanged fingerprint)         : {a * 1e3:8.1f} ms   = {a / o:.2f} of a first save")
    record("pipeline", f"record write, {n} files x {POINTS} points (ORM + blobs + Parquet)", 1e3 * o, "ms",
           reference=1e3 * r, reference_name="sqlite3 executemany, rows only")
    record("pipeline", "idempotent re-save of an unchanged experiment", 1e3 * a, "ms")


def bench_run() -> None:
    from qdlab.workflow import run_experiment

    example = ROOT / "examples" / "overgrowth-1010nm"
    times = {}
    for sched in ("serial", "local"):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = run_experiment(example, db=f"sqlite:///{d}/lab.sqlite", scheduler=sched, out=d, quiet=True)
            times[sched] = time.perf_counter() - t0
            n = res.summary["counts"]["files"]
    print(f"qdlab run {example.relative_to(ROOT)} ({n} files):")
    print(f"  local processes: {times['local']:6.1f} s")
    print(f"  serial         : {times['serial']:6.1f} s   speed-up serial/local = {times['serial'] / times['local']:.2f}")
    record("pipeline", f"qdlab run examples/overgrowth-1010nm ({n} files), local processes, warm", times["local"], "s",
           reference=times["serial"], reference_name="--scheduler serial", target=10.0)


def bench_cold_run() -> None:
    """``qdlab run`` in a new process with an empty numba cache (every kernel compiles: the first run after
    installing) against a new process that loads the compiled kernels from the cache."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("qdlab")
    example = ROOT / "examples" / "overgrowth-1010nm"
    times = {}
    for kind in ("cached", "cold"):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ)
            if kind == "cold":
                env["NUMBA_CACHE_DIR"] = str(Path(d) / "numba-cache")  # empty: everything compiles
            t0 = time.perf_counter()
            subprocess.run([str(exe), "run", str(example), "--db", f"sqlite:///{d}/lab.sqlite", "--out", d],
                           env=env, capture_output=True, check=True)
            times[kind] = time.perf_counter() - t0
    print(f"qdlab run, new process: empty numba cache {times['cold']:.1f} s, cached kernels {times['cached']:.1f} s")
    record("pipeline", "qdlab run examples/overgrowth-1010nm, new process, empty numba cache (compiles every kernel)",
           times["cold"], "s", reference=times["cached"], reference_name="new process, cached kernels", target=60.0)


def bench_commands() -> None:
    import subprocess
    import sys

    from qdlab.plan import plan_recipe
    from qdlab.plan.twin_model import TwinModel

    exe = Path(sys.executable).with_name("qdlab")
    subprocess.run([str(exe), "--help"], capture_output=True, check=True)  # warm the file cache
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        ts.append(time.perf_counter() - t0)
    print(f"qdlab --help in a new process: {statistics.median(ts):.2f} s (median of 5)")
    record("pipeline", "qdlab --help, new process", statistics.median(ts), "s", target=0.5)
    model = TwinModel(seed_nm=1010.0, seed_mg=20.0)
    plan_recipe(model, 1150.0, n_samples=0)  # warm (numba cache, imports)
    t0 = time.perf_counter()
    res = plan_recipe(model, 1150.0, scheduler="threads")  # qdlab plan's default scheduler
    t_plan = time.perf_counter() - t0
    print(f"plan 1010 -> 1150 nm: {t_plan:.1f} s, {res.twin_runs} twin runs")
    record("pipeline", "plan 1010 -> 1150 nm (as qdlab plan: in-process, threads, warm)", t_plan, "s", target=0.5,
           note=f"{res.twin_runs} twin runs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-run", action="store_true", help="only the record benchmark")
    args = ap.parse_args()
    bench_record()
    if not args.skip_run:
        bench_run()
        bench_cold_run()
        bench_commands()


if __name__ == "__main__":
    main()
