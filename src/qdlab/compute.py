"""The one executor every parallel feature goes through.

``get_executor()`` returns a :class:`concurrent.futures.Executor`:

* ``None`` / ``"local"``  -> local worker processes (``ProcessPoolExecutor``);
* ``"serial"``            -> runs in the calling process (debugging, tiny jobs, tests);
* ``"tcp://host:port"`` (or any Dask scheduler address) -> a Dask ``distributed`` executor;
* an existing ``distributed.Client`` -> its executor.

:func:`map_progress` maps a function over items with a rich progress bar and returns results in
input order. Nothing else in qdlab starts pools.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
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


@contextlib.contextmanager
def get_executor(scheduler: Any = None, max_workers: int | None = None) -> Iterator[Executor]:
    """Context manager yielding an executor for ``scheduler`` (see module docstring)."""
    if scheduler is None or scheduler == "local":
        with ProcessPoolExecutor(max_workers=max_workers or default_workers()) as ex:
            yield ex
        return
    if scheduler in ("serial", "sync"):
        yield SerialExecutor()
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
            f"scheduler must be 'local', 'serial' or a Dask address like tcp://127.0.0.1:8786, got {scheduler!r}",
            field="scheduler",
        )
    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise InputError(f"cannot reach Dask scheduler at {scheduler}: {exc}", field="scheduler") from exc
    try:
        yield client.get_executor()
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

    if show is None:
        show = err_console().is_terminal
    results: list[Any] = [None] * len(seq)
    futures = {executor.submit(fn, item): i for i, item in enumerate(seq)}
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
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            progress.advance(task)
    return results


__all__ = ["mapper", "SerialExecutor", "default_workers", "get_executor", "map_progress"]
