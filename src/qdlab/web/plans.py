"""Plans computed off the request: ``/plan`` answers at once and refreshes itself until the plan is ready.

A plan is 60-odd twin runs (about 0.4 s warm on 2 cores, a few seconds in a new process). The planner is deterministic (the same inputs give the
same answer, :func:`qdlab.plan.plan_recipe`), so a finished plan is kept by its inputs and a reload or a
second chemist asking the same question gets it at once. One plan runs at a time (they are CPU-bound);
others wait in line.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlanJob:
    """One plan: its future and when it was asked for (monotonic seconds)."""

    future: Future
    started_s: float

    @property
    def elapsed_s(self) -> float:
        """Seconds since it was asked for."""
        return time.monotonic() - self.started_s


class PlanJobs:
    """Run ``plan_fn(*key)`` in one background worker, keeping the last ``keep`` plans by their key.

    Examples
    --------
    >>> jobs = PlanJobs(lambda a, b: a + b)
    >>> jobs.get((1, 2)).future.result(timeout=5)
    3
    >>> jobs.get((1, 2)) is jobs.get((1, 2))
    True
    """

    def __init__(self, plan_fn: Callable[..., Any], keep: int = 64) -> None:
        self._fn = plan_fn
        self._keep = keep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdlab-plan")
        self._jobs: OrderedDict[Hashable, PlanJob] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> PlanJob:
        """The job for ``key``, started if new (a failed one is started again)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.future.done() and job.future.exception() is not None \
                    and not _is_answer(job.future.exception()):
                job = None  # an unexpected failure is not kept: the next ask retries
            if job is None:
                job = PlanJob(self._pool.submit(self._fn, *key), time.monotonic())
                self._jobs[key] = job
            self._jobs.move_to_end(key)
            while len(self._jobs) > self._keep:
                old_key, old = next(iter(self._jobs.items()))
                if not old.future.done():
                    break
                del self._jobs[old_key]
            return job


def _is_answer(exc: BaseException | None) -> bool:
    """A refusal the planner gives on purpose (out of reach, bad input) is an answer worth keeping."""
    from qdlab.data.errors import QdlabError

    return isinstance(exc, QdlabError)


__all__ = ["PlanJob", "PlanJobs"]
