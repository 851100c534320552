"""Crash safety and concurrency of the record, measured: SIGKILLs of ``qdlab run`` and concurrent writers.

``kills``
    ``--kills`` times: write a small experiment folder (two PL aliquots, a new key each time), start
    ``qdlab run`` on it as a subprocess, SIGKILL it after a random delay in [0, ``--max-delay-s``] (the
    span of one whole run: ingest, analysis, store), then check the database: the experiment is either
    absent or complete (2 aliquots, 2 measurements, its analysis results, a stored summary), SQLite's
    ``PRAGMA integrity_check`` is ``ok``; a rerun completes (action ``created`` or ``unchanged``). At the end
    ``qdlab db list`` must open the record and list every experiment exactly once.
``writers``
    ``--writers`` processes run ``qdlab run`` at once on one database: each its own folder, and all of them
    one shared folder too (same key). Afterwards every private experiment is there once, the shared one
    once, no process failed (no "database is locked" reached a user), and the counts add up.

``python tools/crash_concurrency.py kills --kills 50`` ·
``python tools/crash_concurrency.py writers --writers 8 [--db postgresql://...]`` (prints JSON figures).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QDLAB = [sys.executable, "-m", "qdlab.cli.main"]
HC_EV_NM = 1239.841984


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("QDLAB_WORKERS", "1")
    return env


def write_folder(root: Path, key: str, peaks_nm: tuple[float, ...] = (1010.0, 1100.0)) -> Path:
    """A small experiment: Gaussian PL bands (in energy) as two-column CSV, one per aliquot."""
    (root / "pl").mkdir(parents=True, exist_ok=True)
    lam = np.arange(850.0, 1300.0, 3.0)
    entries = []
    for i, peak in enumerate(peaks_nm):
        e = HC_EV_NM / lam
        y = 1000 * np.exp(-0.5 * ((e - HC_EV_NM / peak) / 0.04) ** 2) + 5
        np.savetxt(root / "pl" / f"A{i}.csv", np.c_[lam, y], delimiter=",", header="wavelength_nm,intensity",
                   comments="", fmt="%.5f")
        entries.append(f'\n[[aliquots]]\nid = "A{i}"\ntime_min = {10 * i}\npl = "pl/A{i}.csv"\nqy_percent = {12 + i}\n')
    (root / "experiment.toml").write_text(f'[experiment]\nid = "{key}"\nmaterial = "Cd3P2"\n' + "".join(entries))
    return root


def _state(db: str, key: str) -> dict[str, Any]:
    """What the record holds of experiment ``key`` (and the database's own integrity check)."""
    from sqlalchemy import text

    from qdlab.store import Store

    with Store(db) as st:
        exps = [e for e in st.list_experiments() if e["key"] == key]
        out: dict[str, Any] = {"present": len(exps)}
        if exps:
            rec = st.experiment_dict(exps[0]["id"])
            out.update(aliquots=len(rec.get("aliquots") or []), measurements=len(rec.get("measurements") or []),
                       results=len(rec.get("results") or rec.get("analyses") or []),
                       summary=bool(rec.get("summary")))
        if st.engine.dialect.name == "sqlite":
            with st.engine.connect() as c:
                out["integrity"] = c.execute(text("PRAGMA integrity_check")).scalar()
    return out


def _complete(s: dict[str, Any]) -> bool:
    return s["present"] == 1 and s["aliquots"] == 2 and s["measurements"] == 2 and s["summary"]


def kills(n: int, max_delay_s: float | None, seed: int, work: Path) -> dict[str, Any]:
    """SIGKILL ``qdlab run`` ``n`` times at random delays; returns the figures."""
    rng = random.Random(seed)
    db = f"sqlite:///{work / 'lab.sqlite'}"
    for ref in ("ref-0", "ref-1"):  # the second undisturbed run (database made) gives the span of the kills
        folder = write_folder(work / f"exp-{ref}", ref)
        t0 = time.perf_counter()
        subprocess.run([*QDLAB, "run", str(folder), "--db", db, "--scheduler", "serial", "--json", "--out",
                        str(work / f"out-{ref}")], check=True, env=_env(), capture_output=True, timeout=600)
        run_s = time.perf_counter() - t0
    span = max_delay_s or run_s * 1.1
    outcomes = {"absent": 0, "complete": 0, "partial": 0, "integrity_not_ok": 0, "rerun_failed": 0}
    finished_before_kill = 0
    problems: list[str] = []
    for i in range(n):
        key = f"kill-{i}"
        folder = write_folder(work / f"exp-{i}", key)
        delay = rng.uniform(0.0, span)
        proc = subprocess.Popen([*QDLAB, "run", str(folder), "--db", db, "--scheduler", "serial", "--json",
                                 "--out", str(work / f"out-{i}")], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=_env())
        time.sleep(delay)
        if proc.poll() is not None:
            finished_before_kill += 1
        proc.kill()
        proc.wait(timeout=60)
        s = _state(db, key)
        if s.get("integrity", "ok") != "ok":
            outcomes["integrity_not_ok"] += 1
            problems.append(f"{key}: integrity {s['integrity']}")
        if s["present"] == 0:
            outcomes["absent"] += 1
        elif _complete(s):
            outcomes["complete"] += 1
        else:
            outcomes["partial"] += 1
            problems.append(f"{key} after kill at {delay:.2f} s: {s}")
        try:  # the rerun, in this process (as `qdlab run` does it, without paying the import again)
            from qdlab.workflow import run_experiment

            action = run_experiment(folder, db=db, scheduler="serial", quiet=True,
                                    out=work / f"out-{i}").summary["record"]["action"]
            err = ""
        except Exception as exc:
            action, err = None, f"{type(exc).__name__}: {exc}"
        if action not in ("created", "unchanged") or not _complete(_state(db, key)):
            outcomes["rerun_failed"] += 1
            problems.append(f"{key}: rerun action={action} {err[-300:]}")
        shutil.rmtree(work / f"out-{i}", ignore_errors=True)
    r = subprocess.run([*QDLAB, "db", "list", "--db", db], env=_env(), capture_output=True, text=True, timeout=300)
    listed = sum(f"kill-{i}" in r.stdout for i in range(n))
    return {"kills": n, "run_s": round(run_s, 2), "delay_span_s": round(span, 2), "seed": seed,
            "finished_before_kill": finished_before_kill, **outcomes, "db_list_rc": r.returncode,
            "db_list_experiments": listed, "lost": n - listed, "problems": problems[:20]}


def writers(n: int, db: str, work: Path) -> dict[str, Any]:
    """``n`` concurrent ``qdlab run`` (private folder each, then all on one shared folder); returns the figures."""
    from qdlab.store import Store

    shared = write_folder(work / "shared", "shared")
    folders = [write_folder(work / f"w{i}", f"writer-{i}") for i in range(n)]
    t0 = time.perf_counter()
    procs = []
    for i, f in enumerate(folders):
        # each process runs its own folder then the shared one: n writers race on one key too
        script = (f"{' '.join(map(str, QDLAB))} run {f} --db '{db}' --scheduler serial --json --out {work / f'o{i}'}"
                  f" && {' '.join(map(str, QDLAB))} run {shared} --db '{db}' --scheduler serial --json "
                  f"--out {work / f'os{i}'}")
        procs.append(subprocess.Popen(["bash", "-c", script], env=_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=1200) for p in procs]
    wall = time.perf_counter() - t0
    failed = [err[-400:] for p, (_, err) in zip(procs, outs, strict=True) if p.returncode != 0]
    locked = sum("locked" in err for _, err in outs)
    actions: dict[str, int] = {}
    dec = json.JSONDecoder()
    for out, _ in outs:  # two JSON documents per process (its own folder, the shared one)
        i = out.find("{")
        while i != -1:
            try:
                doc, end = dec.raw_decode(out, i)
            except ValueError:
                break
            a = doc.get("record", {}).get("action")
            actions[a] = actions.get(a, 0) + 1
            i = out.find("{", end)
    with Store(db) as st:
        keys = [e["key"] for e in st.list_experiments()]
        counts = st.counts()
    expected = {f"writer-{i}" for i in range(n)} | {"shared"}
    return {"writers": n, "backend": db.split(":", 1)[0], "wall_s": round(wall, 1), "process_failures": len(failed),
            "database_locked_messages": locked, "actions": actions,
            "experiments_expected": len(expected), "experiments_found": len(set(keys) & expected),
            "duplicates": len(keys) - len(set(keys)), "lost": len(expected - set(keys)),
            "aliquots": counts["aliquots"], "measurements": counts["measurements"],
            "failure_samples": failed[:3]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    k = sub.add_parser("kills")
    k.add_argument("--kills", type=int, default=50)
    k.add_argument("--max-delay-s", type=float, default=None, help="default: 1.1 x one undisturbed run")
    k.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("writers")
    w.add_argument("--writers", type=int, default=8)
    w.add_argument("--db", default=None, help="default: a new SQLite file")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qdlab-crash-"))
    try:
        if a.what == "kills":
            res = kills(a.kills, a.max_delay_s, a.seed, work)
            bad = res["partial"] + res["integrity_not_ok"] + res["rerun_failed"] + res["lost"] + (res["db_list_rc"] != 0)
        else:
            res = writers(a.writers, a.db or f"sqlite:///{work / 'lab.sqlite'}", work)
            bad = res["process_failures"] + res["duplicates"] + res["lost"] + res["database_locked_messages"]
        print(json.dumps(res, indent=1))
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
