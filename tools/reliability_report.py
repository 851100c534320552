"""Write the figure tables of docs/reliability.md from the JSON the measuring scripts print.

    python tools/fuzz_readers.py --per-target 1000 --long-lines 100000 --seed 7 --save fuzz.json
    python benchmarks/web_load.py --clients 20 --requests 2000 > load.json
    python tools/crash_concurrency.py kills --kills 50 --seed 13 > kills.json
    python tools/crash_concurrency.py writers --writers 8 > writers-sqlite.json
    python tools/crash_concurrency.py writers --writers 8 --db "$QDLAB_TEST_POSTGRES_URL" > writers-pg.json
    python tools/reliability_report.py --fuzz fuzz.json --load load.json --kills kills.json \\
        --writers writers-sqlite.json writers-pg.json > tables.md

Each table is printed only for the files given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fuzz_table(d: dict) -> str:
    rows = ["| reader | inputs tried | read correctly | refused (QdlabError, one line, names the file) | defects | s |",
            "|---|---:|---:|---:|---:|---:|"]
    tot = [0, 0, 0, 0]
    for name, c in d["outcomes"].items():
        bad = sum(v for k, v in c.items() if k not in ("ok", "rejected"))
        n = d["inputs"][name]
        rows.append(f"| {name} | {n} | {c.get('ok', 0)} | {c.get('rejected', 0)} | {bad} | {d['seconds'][name]:.0f} |")
        tot = [tot[0] + n, tot[1] + c.get("ok", 0), tot[2] + c.get("rejected", 0), tot[3] + bad]
    rows.append(f"| **all** | **{tot[0]}** | {tot[1]} | {tot[2]} | **{tot[3]}** | |")
    return "\n".join(rows)


def load_table(d: dict) -> str:
    rows = ["| clients | requests sent | uploads | wall (s) | throughput (req/s) | p50 (ms) | p99 (ms) | max (ms) | errors | CPUs |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {d['clients']} | {d['requests_sent']} | {d['uploads']} | {d['wall_s']} | {d['throughput_rps']} | "
            f"{d['p50_ms']} | {d['p99_ms']} | {d['max_ms']} | {d['errors']} | {d['cpu_count']} |"]
    per = d.get("per_path_p50_p99_ms") or {}
    if per:
        rows += ["", "| request | p50 (ms) | p99 (ms) |", "|---|---:|---:|"]
        rows += [f"| `{k}` | {v[0]} | {v[1]} |" for k, v in per.items()]
    return "\n".join(rows)


def kills_table(d: dict) -> str:
    return "\n".join([
        "| SIGKILLs | delay span (s) | run finished before the kill | experiment absent after kill | complete "
        "| **partial** | integrity_check not ok | rerun failed | `qdlab db list` rc | **lost** |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {d['kills']} | 0–{d['delay_span_s']} | {d['finished_before_kill']} | {d['absent']} | {d['complete']} | "
        f"**{d['partial']}** | {d['integrity_not_ok']} | {d['rerun_failed']} | {d['db_list_rc']} | **{d['lost']}** |"])


def writers_table(ds: list[dict]) -> str:
    rows = ["| backend | concurrent writers | runs | wall (s) | failed processes | 'database is locked' seen "
            "| experiments expected / found | duplicated | **lost** | actions |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for d in ds:
        acts = ", ".join(f"{k} {v}" for k, v in sorted(d["actions"].items(), key=lambda kv: str(kv[0])))
        rows.append(f"| {d['backend']} | {d['writers']} | {2 * d['writers']} | {d['wall_s']} | {d['process_failures']} | "
                    f"{d['database_locked_messages']} | {d['experiments_expected']} / {d['experiments_found']} | "
                    f"{d['duplicates']} | **{d['lost']}** | {acts} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz")
    ap.add_argument("--load")
    ap.add_argument("--kills")
    ap.add_argument("--writers", nargs="*", default=[])
    a = ap.parse_args(argv)

    def read(p: str) -> dict:
        return json.loads(Path(p).read_text())

    if a.fuzz:
        print("### Readers and parsers (fuzzing)\n\n" + fuzz_table(read(a.fuzz)) + "\n")
    if a.load:
        print("### Web app under load\n\n" + load_table(read(a.load)) + "\n")
    if a.kills:
        print("### SIGKILL of `qdlab run`\n\n" + kills_table(read(a.kills)) + "\n")
    if a.writers:
        print("### Concurrent writers\n\n" + writers_table([read(p) for p in a.writers]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
