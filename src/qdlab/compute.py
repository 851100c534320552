"""The one executor every parallel feature goes through.

``get_executor()`` returns a :class:`concurrent.futures.Executor`:

* ``None`` / ``"local"``  -> local worker processes (``ProcessPoolExecutor``);
* ``"serial"``            -> runs in the calling process (debugging, tiny jobs, tests);
* ``"threads"``           -> threads of the calling process (``ThreadPoolExecutor``): for work whose time is
  spent in compiled code that releases the GIL, such as the twin's kernel (calibration, the planner's
  grids); nothing is pickled and no process starts, so short jobs gain what processes would lose;
* ``"tcp://host:port"`` (or any Dask scheduler address) -> a Dask ``distributed`` executor;
* an existing ``distributed.Client`` -> its executor.

:func:`map_progress` maps a function over items with a rich progress bar and returns results in
input order. Nothing else in qdlab starts pools.

Processes: local workers die with the process that started them (Linux ``PR_SET_PDEATHSIG``, so a
``kill -9`` of ``qdlab run`` leaves no worker behind); a Dask scheduler without workers is refused
after ``QDLAB_DASK_WORKER_TIMEOUT`` seconds (default 30), also when its workers vanish mid-run;
when stderr is not a terminal, progress is a plain line at most every 10 s instead of a bar.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from qdlab.data.errors import InputError

T = TypeVar("T")
R = TypeVar("R")


class SerialExecutor(Executor):
    """An executor that runs each call immediately in the calling process."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        fut: Future[R] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


def default_workers() -> int:
    """Number of local worker processes: ``QDLAB_WORKERS`` or the CPU count."""
    env = os.environ.get("QDLAB_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise InputError(f"QDLAB_WORKERS must be an integer, got {env!r}") from exc
        return max(1, n)
    return max(1, os.cpu_count() or 1)


def die_with_parent() -> None:
    """Worker initializer: ask the kernel to SIGKILL this worker when its parent dies (Linux; else a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # the parent died before the call: do not linger
            os._exit(1)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the pool's own shutdown still applies
        pass


def worker_timeout_s() -> float:
    """Seconds a Dask scheduler may have no workers before the job is refused (``QDLAB_DASK_WORKER_TIMEOUT``)."""
    env = os.environ.get("QDLAB_DASK_WORKER_TIMEOUT", "30")
    try:
        value = float(env)
    except ValueError as exc:
        raise InputError(f"QDLAB_DASK_WORKER_TIMEOUT must be a number of seconds, got {env!r}") from exc
    if not value > 0:
        raise InputError(f"QDLAB_DASK_WORKER_TIMEOUT must be positive, got {env!r}")
    return value


class _DaskWatch:
    """Raises :class:`InputError` when the scheduler has had no worker for longer than the timeout."""

    def __init__(self, client: Any, address: str, timeout_s: float) -> None:
        self.client, self.address, self.timeout_s = client, address, timeout_s
        self.since: float | None = None

    def __call__(self) -> None:
        try:
            n = len(self.client.scheduler_info().get("workers", {}))
        except OSError:  # pragma: no cover - scheduler gone: counts as no workers
            n = 0
        if n:
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        if now - self.since >= self.timeout_s:
            raise InputError(f"the Dask scheduler at {self.address} has had no workers for {self.timeout_s:g} s "
                             f"(they stopped or were never started): start some with `dask worker {self.address}` "
                             "or run without --scheduler", field="scheduler")


@contextlib.contextmanager
def get_executor(scheduler: Any = None, max_workers: int | None = None) -> Iterator[Executor]:
    """Context manager yielding an executor for ``scheduler`` (see module docstring)."""
    if scheduler is None or scheduler == "local":
        with ProcessPoolExecutor(max_workers=max_workers or default_workers(), initializer=die_with_parent) as ex:
            yield ex
        return
    if scheduler in ("serial", "sync"):
        yield SerialExecutor()
        return
    if scheduler == "threads":
        with ThreadPoolExecutor(max_workers=max_workers or default_workers(), thread_name_prefix="qdlab") as ex:
            yield ex
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dependency declared
        raise InputError("a Dask scheduler was given but 'distributed' is not installed") from exc
    if isinstance(scheduler, Client):
        yield scheduler.get_executor()
        return
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise InputError(
            f"scheduler must be 'local', 'threads', 'serial' or a Dask address like tcp://127.0.0.1:8786, "
            f"got {scheduler!r}",
            field="scheduler",
        )
    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise InputError(f"cannot reach Dask scheduler at {scheduler}: {exc}", field="scheduler") from exc
    try:
        timeout = worker_timeout_s()
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError as exc:
            raise InputError(f"the Dask scheduler at {scheduler} has no workers (waited {timeout:g} s): start some "
                             f"with `dask worker {scheduler}` or run without --scheduler", field="scheduler") from exc
        ex = client.get_executor()
        ex.qdlab_watch = _DaskWatch(client, scheduler, timeout)  # type: ignore[attr-defined]
        yield ex
    finally:
        client.close()


def mapper(scheduler: Any = "local", description: str = "working", max_workers: int | None = None,
           show: bool | None = None) -> Callable[[Callable[[T], R], Iterable[T]], list[R]]:
    """A ``map``-like callable on the executor ``scheduler`` selects, with a progress bar.

    Domains take such a callable (``map_fn``) instead of importing this module, so that the workflow or
    the CLI decides where their work runs.

    Examples
    --------
    >>> mapper("serial")(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    def run(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return map_progress(fn, items, scheduler=scheduler, max_workers=max_workers, description=description,
                            show=show)

    return run


def map_progress(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    executor: Executor | None = None,
    scheduler: Any = "local",
    max_workers: int | None = None,
    description: str = "working",
    show: bool | None = None,
) -> list[R]:
    """Apply ``fn`` to every item in parallel with a progress bar; results in input order.

    Parameters
    ----------
    fn
        A picklable function of one argument.
    items
        The inputs.
    executor
        Use this executor instead of creating one from ``scheduler``.
    scheduler, max_workers
        Passed to :func:`get_executor` when no executor is given.
    description
        Label of the progress bar.
    show
        Show the progress bar; default: only when stderr is a terminal.
    """
    seq: Sequence[T] = list(items)
    if executor is None:
        with get_executor(scheduler, max_workers) as ex:
            return map_progress(fn, seq, executor=ex, description=description, show=show)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from qdlab.console import err_console

    plain = show is None and not err_console().is_terminal
    if show is None:
        show = err_console().is_terminal
    results: list[Any] = [None] * len(seq)
    futures = {executor.submit(fn, item): i for i, item in enumerate(seq)}
    watch = getattr(executor, "qdlab_watch", None)
    t0 = last = time.monotonic()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        disable=not show,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=len(seq))
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in done:
                results[futures[fut]] = fut.result()
                progress.advance(task)
            if not done and watch is not None:
                watch()  # no worker left for too long: a clear error instead of a hang
            now = time.monotonic()
            if plain and pending and now - last >= 10.0:  # a log, not a terminal: a line now and then
                k = len(seq) - len(pending)
                print(f"qdlab: {description}: {k}/{len(seq)} done, {now - t0:.0f} s", file=sys.stderr, flush=True)
                last = now
    return results


__all__ = ["mapper", "SerialExecutor", "default_workers", "get_executor", "map_progress", "worker_timeout_s"]
