import math

import pytest

from qdlab.compute import get_executor, map_progress
from qdlab.data import InputError


def test_map_progress_local_processes_keeps_order():
    assert map_progress(math.sqrt, [16.0, 1.0, 9.0], scheduler="local", max_workers=2) == [4.0, 1.0, 3.0]


def test_threads_keep_order_and_the_twin_gives_the_serial_answer():
    # the twin's kernel releases the GIL: runs in threads must be bit-identical to serial runs (no shared
    # scratch state), in input order
    from qdlab.twin import load_scenario, simulate

    sc = load_scenario("overgrowth-965nm")
    cases = [sc.with_overrides({"seeds.surface.etch_factor": f}) for f in (0.5, 1.0, 2.0, 1.5)]

    def peaks(s):
        return [a.pl_peak_nm for a in simulate(s).aliquots]

    serial = [peaks(c) for c in cases]
    assert map_progress(peaks, cases, scheduler="threads", max_workers=2) == serial
    assert len({tuple(p) for p in serial}) == 4  # four different answers, so order is tested


def test_serial_executor_propagates_errors():
    with get_executor("serial") as ex:
        fut = ex.submit(math.sqrt, -1.0)
        with pytest.raises(ValueError):
            fut.result()


def test_bad_scheduler_is_an_input_error():
    with pytest.raises(InputError, match="scheduler"), get_executor("not-an-address"):
        pass


def test_dask_local_cluster_on_loopback():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert map_progress(math.sqrt, [4.0, 25.0], scheduler=cluster.scheduler_address) == [2.0, 5.0]


# ---- processes (issue 21 item 8): no workers -> a clear error; workers never outlive their parent ----


def _slow_square(x: float) -> float:
    import time as _t

    _t.sleep(0.5)
    return x * x


def test_dask_scheduler_without_workers_is_refused_within_the_timeout(monkeypatch) -> None:
    import time

    import distributed

    from qdlab.compute import map_progress

    monkeypatch.setenv("QDLAB_DASK_WORKER_TIMEOUT", "2")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        t0 = time.monotonic()
        with pytest.raises(InputError, match=r"has no workers.*dask worker"):
            map_progress(abs, [-1, 2], scheduler=cluster.scheduler_address)
        assert time.monotonic() - t0 < 20


def test_dask_workers_gone_mid_run_is_an_error_not_a_hang(monkeypatch) -> None:
    import threading
    import time

    import distributed

    from qdlab.compute import map_progress

    monkeypatch.setenv("QDLAB_DASK_WORKER_TIMEOUT", "2")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        threading.Timer(1.5, lambda: cluster.scale(0)).start()  # every worker leaves while work is queued
        t0 = time.monotonic()
        with pytest.raises(InputError, match="no workers for 2 s"):
            map_progress(_slow_square, list(range(40)), scheduler=cluster.scheduler_address)
        assert time.monotonic() - t0 < 30


def test_local_workers_die_with_a_killed_parent(tmp_path) -> None:
    """SIGKILL the process that started the pool: its workers go too (PR_SET_PDEATHSIG)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    pids = tmp_path / "pids"
    script = f"""
import os, time
from qdlab.compute import map_progress
def work(i):
    with open({str(pids)!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(120)
map_progress(work, range(2), scheduler="local", max_workers=2, show=False)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.2)
    workers = [int(p) for p in pids.read_text().split()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init to reap it is gone too
            return f.read().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)]


def _nap(x: int) -> int:
    import time as _t

    _t.sleep(0.2)
    return x


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import qdlab.compute as c

    ticks = iter(range(0, 100_000, 11))  # every look at the clock is 11 s later: a line each time
    monkeypatch.setattr(c.time, "monotonic", lambda: float(next(ticks)))
    with ThreadPoolExecutor(max_workers=1) as ex:
        out = c.map_progress(_nap, [1, 2, 3, 4], executor=ex, description="twin runs")
    assert out == [1, 2, 3, 4]
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(ln.startswith("qdlab: twin runs: ") and " done, " in ln for ln in lines)
    assert "\x1b[" not in "".join(lines)  # no bar, no escape codes in a log
