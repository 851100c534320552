"""qdlab.web.plans: background plans kept by their inputs; refusals kept, unexpected failures retried."""

from __future__ import annotations

import threading

import pytest

from qdlab.data.errors import InputError
from qdlab.web.plans import PlanJobs


def test_same_inputs_run_once_and_are_kept() -> None:
    calls: list[tuple] = []

    def plan(a: float, b: float) -> float:
        calls.append((a, b))
        return a * b

    jobs = PlanJobs(plan, keep=2)
    assert jobs.get((2.0, 3.0)).future.result(timeout=5) == 6.0
    assert jobs.get((2.0, 3.0)).future.result(timeout=5) == 6.0
    assert calls == [(2.0, 3.0)]
    for k in range(4):  # only the last `keep` finished plans are kept
        jobs.get((float(k), 1.0)).future.result(timeout=5)
    jobs.get((2.0, 3.0)).future.result(timeout=5)
    assert calls.count((2.0, 3.0)) == 2


def test_a_refusal_is_kept_an_unexpected_failure_is_retried() -> None:
    n = {"refuse": 0, "crash": 0}

    def plan(kind: str) -> None:
        n[kind] += 1
        if kind == "refuse":
            raise InputError("target 5000 nm is out of reach")
        raise RuntimeError("worker died")

    jobs = PlanJobs(plan)
    for _ in range(2):
        with pytest.raises(InputError, match="out of reach"):
            jobs.get(("refuse",)).future.result(timeout=5)
        with pytest.raises(RuntimeError):
            jobs.get(("crash",)).future.result(timeout=5)
    assert n == {"refuse": 1, "crash": 2}


def test_plans_run_one_at_a_time() -> None:
    running, peak = [0], [0]
    lock = threading.Lock()
    gate = threading.Event()

    def plan(k: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(0.05)
        with lock:
            running[0] -= 1
        return k

    jobs = PlanJobs(plan)
    futures = [jobs.get((k,)).future for k in range(5)]
    assert [f.result(timeout=10) for f in futures] == list(range(5))
    assert peak[0] == 1
