"""Bounded load test of the dashboard on 127.0.0.1: N concurrent clients, M requests, mixed pages and uploads.

Starts ``qdlab web`` (uvicorn, one process) on a free loopback port with a throw-away record holding the
example experiment (``examples/overgrowth-1010nm``, stored once with ``qdlab run``), then sends exactly
``--requests`` requests from ``--clients`` threads: the experiment list, one experiment page, its JSON,
spectra, aliquots CSV, a figure PNG, the sizing calculator, the health check, a 404 and — one request in
``--upload-every`` — a small zipped experiment folder upload. It refuses any host but loopback, stops by
itself after the count or ``--max-s`` seconds, and prints throughput, p50/p99 latency and errors (any
status other than the one expected for that request, or a connection failure) as JSON.

The load starts once ``/api/health`` says ``"warm": true`` (the server's start-up warm-up has prepared
the newest experiments; it answers meanwhile), at most ``--warm-s`` seconds after the server answers:
the figures are those of a server in service. ``--cold`` starts at the first answer instead, measuring
the warm-up racing the load (both are reported in docs/reliability.md).

``python benchmarks/web_load.py --clients 20 --requests 2000``
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _upload_zip() -> bytes:
    """A small experiment (one PL file, no analyses that take long) as the upload page expects it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("load/experiment.toml", '[experiment]\nid = "load-test"\nmaterial = "Cd3P2"\n')
    return buf.getvalue()


def _multipart(data: bytes, name: str) -> tuple[bytes, str]:
    boundary = "qdlabload" + os.urandom(8).hex()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def prepare(db_url: str) -> int:
    """Store the example experiment in the record; returns its id."""
    out = Path(tempfile.mkdtemp(prefix="qdlab-load-out-"))
    try:
        subprocess.run([sys.executable, "-m", "qdlab.cli.main", "run", str(ROOT / "examples" / "overgrowth-1010nm"),
                        "--db", db_url, "--out", str(out)], check=True, env=_env(), capture_output=True, timeout=900)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    code = ("from qdlab.store import Store; import sys; "
            "print(Store(sys.argv[1]).list_experiments()[0]['id'])")
    r = subprocess.run([sys.executable, "-c", code, db_url], check=True, env=_env(), capture_output=True, text=True)
    return int(r.stdout.strip().splitlines()[-1])


def run_load(base_port: int, exp_id: int | None, clients: int, requests: int, upload_every: int, max_s: float,
             seed: int = 0) -> dict:
    """Send ``requests`` requests from ``clients`` threads; returns the figures (``exp_id=None``: no experiment pages)."""
    pages = [("GET", "/", 200), ("GET", "/size?diameter_nm=3.0", 200), ("GET", "/api/size?diameter_nm=3.0", 200),
             ("GET", "/api/health", 200), ("GET", "/api/experiments", 200), ("GET", "/experiments/999999", 404),
             ("GET", "/upload", 200)] if exp_id is None else [("GET", "/", 200), ("GET", f"/experiments/{exp_id}", 200), ("GET", f"/api/experiments/{exp_id}", 200),
             ("GET", f"/api/experiments/{exp_id}/spectra/pl", 200), ("GET", f"/experiments/{exp_id}/aliquots.csv", 200),
             ("GET", f"/experiments/{exp_id}/figures/pl-trends.png", 200), ("GET", "/size?diameter_nm=3.0", 200),
             ("GET", "/api/size?diameter_nm=3.0", 200), ("GET", "/api/health", 200),
             ("GET", "/api/experiments", 200), ("GET", "/experiments/999999", 404)]
    zip_bytes = _upload_zip()
    lock = threading.Lock()
    latencies: list[float] = []
    per_path: dict[str, list[float]] = {}
    by_kind: Counter[str] = Counter()
    errors: list[str] = []
    counter = iter(range(requests))
    deadline = time.monotonic() + max_s

    def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        conn = http.client.HTTPConnection(HOST, base_port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            headers = {"Origin": f"http://{HOST}:{base_port}"}
            if upload_every and i % upload_every == upload_every - 1:
                method, path, expect = "POST", "/api/uploads", 202
                body, ctype = _multipart(zip_bytes, "load.zip")
                headers["Content-Type"] = ctype
            else:
                method, path, expect = rng.choice(pages)
                body = None
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status, conn = -1, http.client.HTTPConnection(HOST, base_port, timeout=60)
                with lock:
                    errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                per_path.setdefault(f"{method} {path}", []).append(dt)
                by_kind[path.split("?")[0] if status == expect else f"ERR {status} {path}"] += 1
                if status != expect and status != -1:
                    errors.append(f"{method} {path}: {status} (expected {expect})")
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_s + 120)
    wall = time.perf_counter() - t0
    lat = sorted(latencies)

    def q(p: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else float("nan")

    return {"clients": clients, "requests_sent": len(lat), "requests_planned": requests,
            "uploads": sum(v for k, v in by_kind.items() if k == "/api/uploads"), "wall_s": round(wall, 2),
            "throughput_rps": round(len(lat) / wall, 1) if wall else 0.0, "p50_ms": q(0.50), "p99_ms": q(0.99),
            "max_ms": round(1000 * lat[-1], 1) if lat else None,
            "per_path_p50_p99_ms": {k: [round(1000 * sorted(v)[len(v) // 2], 1),
                                        round(1000 * sorted(v)[min(len(v) - 1, int(0.99 * len(v)))], 1)]
                                    for k, v in sorted(per_path.items())}, "errors": len(errors), "error_samples": errors[:10],
            "cpu_count": os.cpu_count()}


def _wait_warm(port: int, limit_s: float) -> bool:
    """Wait up to ``limit_s`` for ``/api/health`` to say ``"warm": true``; whether it did."""
    t0 = time.monotonic()
    while True:
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", "/api/health")
            if json.loads(c.getresponse().read()).get("warm"):
                return True
        except (OSError, ValueError, http.client.HTTPException):
            pass
        if time.monotonic() - t0 >= limit_s:
            return False
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--upload-every", type=int, default=50, help="one upload per this many requests (0: none)")
    ap.add_argument("--max-s", type=float, default=300.0, help="stop sending after this long")
    ap.add_argument("--host", default=HOST)
    ap.add_argument("--db", default=None, help="record to serve (default: a throw-away SQLite file with the example)")
    ap.add_argument("--exp-id", type=int, default=None)
    ap.add_argument("--cold", action="store_true", help="start at the server's first answer, not once it is warm")
    ap.add_argument("--warm-s", type=float, default=120.0, help="longest wait for the warm-up")
    a = ap.parse_args(argv)
    if a.host != HOST:
        print("the load test runs against 127.0.0.1 only", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="qdlab-load-"))
    try:
        db = a.db or f"sqlite:///{tmp / 'lab.sqlite'}"
        exp_id = a.exp_id if a.exp_id is not None else prepare(db)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "qdlab.cli.main", "web", "--db", db, "--host", HOST,
                                   "--port", str(port)], env=_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120:
                try:
                    c = http.client.HTTPConnection(HOST, port, timeout=2)
                    c.request("GET", "/api/health")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.3)
            else:
                raise SystemExit("the server did not start within 120 s")
            answered = time.monotonic()
            warm = _wait_warm(port, 0.0 if a.cold else a.warm_s)
            waited = time.monotonic() - answered
            res = run_load(port, exp_id, a.clients, a.requests, a.upload_every, a.max_s)
            res.update({"cold": a.cold, "warm_at_start": warm, "warm_wait_s": round(waited, 1)})
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        print(json.dumps(res, indent=1))
        return 0 if res["errors"] == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
