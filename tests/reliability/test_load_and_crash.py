"""Measured runs: the dashboard under load, SIGKILLs of `qdlab run`, concurrent writers (SQLite, PostgreSQL).

The figures of docs/reliability.md come from benchmarks/web_load.py and tools/crash_concurrency.py; the
``slow`` tests below run them at full size, the always-run test a small load on an in-thread server.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest


def load_tool(name: str):
    """tools/<name>.py as a module."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[2] / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_small_load_no_errors(tmp_path: Path) -> None:
    """4 clients, 200 requests (pages, a 404, uploads) on 127.0.0.1: every answer as expected, p99 bounded."""
    import uvicorn

    from qdlab.web import create_app

    load = _load_bench()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(f"sqlite:///{tmp_path / 'lab.sqlite'}", upload_scheduler="serial"),
                                           host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        res = load.run_load(port, None, clients=4, requests=200, upload_every=20, max_s=120)
    finally:
        server.should_exit = True
        t.join(30)
    assert res["requests_sent"] == 200 and res["uploads"] == 10
    assert res["errors"] == 0, res["error_samples"]
    assert res["p99_ms"] < 5000


def _load_bench():
    import importlib.util
    import sys

    if "web_load" in sys.modules:
        return sys.modules["web_load"]
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("web_load", root / "benchmarks" / "web_load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["web_load"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_kills_never_leave_half_an_experiment(tmp_path: Path) -> None:
    """12 SIGKILLs of `qdlab run` at random moments (CI-sized; the 100-kill figure of docs/reliability.md comes
    from `tools/crash_concurrency.py kills`): whole experiment or nothing, rerun completes, db opens."""
    res = load_tool("crash_concurrency").kills(12, None, 13, tmp_path)
    assert res["partial"] == 0 and res["integrity_not_ok"] == 0 and res["rerun_failed"] == 0, res["problems"]
    assert res["db_list_rc"] == 0 and res["lost"] == 0
    assert res["absent"] + res["complete"] == 12


def _writers(db: str, tmp_path: Path) -> None:
    res = load_tool("crash_concurrency").writers(8, db, tmp_path)
    assert res["process_failures"] == 0, res["failure_samples"]
    assert res["database_locked_messages"] == 0
    assert res["lost"] == 0 and res["duplicates"] == 0 and res["experiments_found"] == 9
    assert res["actions"].get("created", 0) == 9  # 8 own folders + the shared one exactly once
    assert res["aliquots"] == 2 * 9 and res["measurements"] == 2 * 9


@pytest.mark.slow
def test_eight_writers_sqlite(tmp_path: Path) -> None:
    _writers(f"sqlite:///{tmp_path / 'lab.sqlite'}", tmp_path)


@pytest.mark.slow
def test_eight_writers_postgres(tmp_path: Path, pg_url: str) -> None:
    _writers(pg_url, tmp_path)
