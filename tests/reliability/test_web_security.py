"""The dashboard under attack: loopback/token, uploads, CSRF, bad requests (qdlab.web.security)."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from qdlab.data.errors import InputError
from qdlab.web import create_app
from qdlab.web.security import check_bind, is_loopback

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def app_factory(tmp_path):
    def make(**kw):
        return TestClient(create_app(f"sqlite:///{tmp_path / 'lab.sqlite'}", upload_scheduler="serial", **kw),
                          raise_server_exceptions=False)
    return make


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True), ("::1", True),
                                       ("[::1]", True), ("0.0.0.0", False), ("192.168.1.4", False), ("::", False),
                                       ("lab.example.org", False)])
def test_loopback(host, loop):
    assert is_loopback(host) is loop
    if loop:
        check_bind(host, None)
    else:
        with pytest.raises(InputError, match="--token"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    with pytest.raises(InputError, match="at least 16"):
        check_bind(host, "short")


def test_cli_refuses_public_host_without_token(tmp_path):
    """`qdlab web --host 0.0.0.0` exits 2 with one line before anything listens."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QDLAB_WEB_TOKEN": ""}
    env.pop("QDLAB_WEB_TOKEN")
    r = subprocess.run([sys.executable, "-m", "qdlab.cli.main", "web", "--host", "0.0.0.0", "--port", "1",
                        "--db", f"sqlite:///{tmp_path / 'x.sqlite'}"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    assert len(lines) == 1 and "--token" in lines[0] and "Traceback" not in r.stderr


def test_token_required_everywhere_once_set(app_factory):
    c = app_factory(token=TOKEN)
    for path in ("/", "/api/health", "/api/experiments", "/upload", "/static/qdlab.css", "/docs"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 401, path
        assert "Traceback" not in r.text and len(r.text) < 500
    assert c.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert c.get("/api/health", headers={"X-Qdlab-Token": TOKEN}).status_code == 200
    assert c.get("/api/health", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert c.get("/api/health?token=wrong", follow_redirects=False).status_code == 401
    # ?token= sets an HttpOnly SameSite=Strict cookie and redirects to the URL without it
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=Strict" in r.headers["set-cookie"]
    assert c.get("/").status_code == 200  # the cookie is now sent


def test_no_token_needed_on_loopback_by_default(app_factory):
    assert app_factory().get("/api/health").status_code == 200


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return buf.getvalue()


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Referer": "http://evil.example/page"},
    {"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://127.0.0.1:9999"},
])
def test_cross_site_writes_refused(app_factory, headers):
    c = app_factory()
    files = {"file": ("exp.zip", _zip({"exp/experiment.toml": b""}), "application/zip")}
    for path in ("/upload", "/api/uploads"):
        r = c.post(path, files=files, headers=headers)
        assert r.status_code == 403 and "another site" in r.text, (path, r.text)
    r = c.post("/api/twin/run", json={"scenario": "overgrowth-1010nm"}, headers=headers)
    assert r.status_code == 403


def test_same_origin_write_accepted(app_factory):
    c = app_factory()
    files = {"file": ("exp.zip", _zip({"exp/experiment.toml": b""}), "application/zip")}
    r = c.post("/api/uploads", files=files, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 202


def test_upload_size_capped(app_factory):
    c = app_factory(max_upload_bytes=10_000)
    big = _zip({"exp/experiment.toml": b"", "exp/pl/a.txt": b"x" * 50_000}) + b"\0" * 20_000
    r = c.post("/api/uploads", files={"file": ("exp.zip", big, "application/zip")})
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    r = c.post("/upload", files={"file": ("exp.zip", big, "application/zip")})
    assert r.status_code == 413


def test_traversal_names_never_used_as_paths(app_factory, tmp_path):
    """A client file name with ../ or an absolute path is only a label; zip entries outside the folder fail."""
    import time

    c = app_factory()
    evil = _zip({"../../escaped.txt": b"x", "exp/experiment.toml": b""})
    r = c.post("/api/uploads", files={"file": ("../../../tmp/owned.zip", evil, "application/zip")})
    assert r.status_code == 202
    job = r.json()
    assert job["filename"] == "owned.zip"
    for _ in range(100):
        job = c.get(f"/api/uploads/{job['id']}").json()
        if job["status"] != "running":
            break
        time.sleep(0.1)
    assert job["status"] == "error" and "outside the folder" in job["errors"][0]["message"]
    assert not (tmp_path / "escaped.txt").exists()
    from pathlib import Path
    assert not Path("/tmp/owned.zip").exists()


BAD = [
    ("GET", "/experiments/999999", None), ("GET", "/experiments/..%2F..%2Fetc%2Fpasswd", None),
    ("GET", "/experiments/1/files/notanint", None), ("GET", "/experiments/1/figures/..%2F..%2Fx.png", None),
    ("GET", "/api/experiments/%00", None), ("GET", "/vendor/..%2F..%2Fapp.py", None),
    ("GET", "/static/../app.py", None), ("GET", "/api/experiments/1/spectra/evil", None),
    ("GET", "/api/size?material=Unobtainium&diameter_nm=3", None), ("GET", "/api/size?diameter_nm=nan", None),
    ("GET", "/api/size?diameter_nm=1e999", None), ("GET", "/api/size?diameter_nm=-1", None),
    ("GET", "/api/plan?seed_nm=abc", None), ("GET", "/api/uploads/" + "x" * 5000, None),
    ("POST", "/api/twin/run", b"{not json"), ("POST", "/api/twin/run", b'{"scenario": "nope"}'),
    ("POST", "/api/twin/run", b'{"scenario": "overgrowth-1010nm", "overrides": {"no.such.path": 1}}'),
    ("POST", "/api/twin/run", b'{"scenario": "overgrowth-1010nm", "evil": 1}'),
    ("POST", "/api/uploads", b"garbage"), ("POST", "/upload", b"garbage"),
    ("GET", "/size?diameter_nm=%ff%fe", None), ("GET", "/twin?scenario=../../etc/passwd", None),
    ("GET", "/plan?seed_nm=1e400&target_nm=-5", None), ("PUT", "/api/health", b""), ("DELETE", "/", None),
]


@pytest.mark.parametrize("method,path,body", BAD)
def test_bad_requests_get_a_short_4xx(app_factory, method, path, body):
    c = app_factory()
    headers = {"content-type": "application/json"} if body and body.startswith(b"{") else {}
    r = c.request(method, path, content=body, headers=headers)
    assert 400 <= r.status_code < 500 or (r.status_code == 200 and path.startswith(("/size", "/plan", "/twin"))), \
        (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert r.headers.get("x-content-type-options") == "nosniff" or r.status_code >= 400


def test_a_bug_is_a_short_500_without_traceback(app_factory):
    c = app_factory()
    c.app.add_api_route("/api/boom", lambda: 1 / 0)
    r = c.get("/api/boom")
    assert r.status_code == 500 and "ZeroDivisionError" in r.text and "Traceback" not in r.text


def test_cache_makes_a_value_once_under_concurrency():
    """20 threads asking for one missing figure: rendered once, not 20 times in a row (the 52 s p99)."""
    import threading
    import time

    from qdlab.web.app import _LRU

    cache, calls = _LRU(), []

    def make():
        calls.append(1)
        time.sleep(0.2)
        return b"png"

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get("k", make))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [b"png"] * 20 and len(calls) == 1

    def boom():
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        cache.get("bad", boom)
    assert cache.get("bad", lambda: 2) == 2  # a failed make does not block the key


def test_cache_is_bounded_in_bytes():
    """Rendered figures are large: the download cache drops the least recently used past its byte limit."""
    from qdlab.web.app import _LRU

    cache = _LRU(100, max_bytes=1000)
    for k in range(5):
        cache.get(k, lambda: b"x" * 300)
    assert list(cache.data) == [2, 3, 4] and cache.nbytes == 900
    cache.get(2, lambda: b"never made")  # a hit: now the most recently used
    cache.get("big", lambda: b"y" * 5000)  # larger than the limit alone: kept, the rest dropped
    assert list(cache.data) == ["big"] and cache.nbytes == 5000
