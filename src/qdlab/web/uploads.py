"""Upload a zipped experiment folder and run it like ``qdlab run`` in the background.

A job unpacks the zip safely (no absolute paths, no ``..``, size-capped), finds ``experiment.toml``
(at the top or in the single top folder) and calls :func:`qdlab.workflow.run_experiment` on it with
the dashboard's record — in a worker process (one, shared by the uploads, which queue for it), so that an
analysis neither holds the web server's interpreter lock nor takes the server down if it crashes. Its state (stage, fraction done, per-file errors exactly as the CLI gives them,
the stored experiment's id) is polled by the upload page. Jobs live in memory: a restarted server forgets
them, the record keeps what they stored.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from qdlab.data.errors import InputError, QdlabError

#: Largest uncompressed experiment accepted (bytes).
MAX_UNPACKED_BYTES = 2 * 1024**3


@dataclass
class Job:
    """One upload: what it is doing now and what came of it."""

    id: str
    filename: str
    stage: str = "queued"
    fraction: float | None = 0.0  # None: working, fraction unknown
    started_s: float = field(default_factory=time.time)
    finished_s: float | None = None
    status: str = "running"  # running, ok, error
    errors: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    experiment_id: int | None = None
    experiment_key: str | None = None
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-able data (``elapsed_s`` added)."""
        end = self.finished_s or time.time()
        return {**asdict(self), "elapsed_s": round(end - self.started_s, 1)}


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Unpack ``archive`` into ``dest``, refusing absolute paths, ``..`` and archives over the size cap."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{archive.name}: not a zip file ({exc}); zip the experiment folder and upload that",
                         field="file") from exc
    with zf:
        names, total = [], 0
        for info in zf.infolist():
            p = PurePosixPath(info.filename.replace("\\", "/"))
            if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
                raise InputError(f"{archive.name}: refuses the entry {info.filename!r} (a path outside the folder)",
                                 field="file")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise InputError(f"{archive.name}: more than {MAX_UNPACKED_BYTES // 1024**3} GB unpacked", field="file")
            if not info.is_dir() and not p.name.startswith(".") and "__MACOSX" not in p.parts:
                names.append(str(p))
        for info in zf.infolist():
            p = PurePosixPath(info.filename.replace("\\", "/"))
            if "__MACOSX" in p.parts:
                continue
            zf.extract(info, dest)
    return sorted(names)


def find_folder(root: Path) -> Path:
    """The folder holding ``experiment.toml``: ``root`` itself or its only sub-folder."""
    if (root / "experiment.toml").is_file():
        return root
    subs = [p for p in root.iterdir() if p.is_dir() and p.name != "__MACOSX"]
    if len(subs) == 1 and (subs[0] / "experiment.toml").is_file():
        return subs[0]
    found = sorted(str(p.relative_to(root)) for p in root.rglob("experiment.toml"))
    hint = f" (found {', '.join(found)}: zip that folder)" if found else " (qdlab init FOLDER writes a template)"
    raise InputError(f"the zip has no experiment.toml at its top or in its one top folder{hint}", field="file")


def _relative(message: str, folder: Path) -> str:
    """A message without the server's temporary unpack folder: paths as they are inside the zip."""
    return message.replace(f"{folder}{'/'}", "").replace(str(folder), ".")


def run_folder(folder: str, db_url: str | None, scheduler: Any, out: str) -> dict[str, Any]:
    """Run ``qdlab run`` on an unpacked folder (in the upload worker process); the outcome as plain data.

    ``{"status": "ok", ...}`` with the record's answer, ``{"status": "error", "errors": [[file, message], ...]}``
    for what the user can fix, ``{"status": "bug", ...}`` with the traceback for anything else.
    """
    import traceback

    from qdlab.workflow import RunError, run_experiment

    try:
        res = run_experiment(Path(folder), db=db_url, scheduler=scheduler, out=Path(out), quiet=True, keep_going=True)
    except RunError as exc:
        return {"status": "error", "errors": [[f, m] for f, m in exc.errors]}
    except QdlabError as exc:
        return {"status": "error", "errors": [[None, str(exc)]]}
    except Exception as exc:  # a bug: reported to the server, which logs it and keeps serving
        return {"status": "bug", "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
    s = res.summary
    return {"status": "ok", "refused": list(s.get("refused") or []), "experiment_id": s["record"]["experiment_id"],
            "experiment_key": s["experiment"]["id"], "action": s["record"]["action"]}


#: niceness of the upload worker process: an analysis is background work, pages are answered first
WORKER_NICE = 10


def _background_worker() -> None:
    """Initializer of the upload worker: dies with the server, and yields the CPU to it (``WORKER_NICE``).

    On a 2-core machine an analysis otherwise takes a core from the server and the browsers for as long
    as it runs (benchmarks/web_load.py: one upload in 50 requests).
    """
    import os

    from qdlab.compute import die_with_parent

    die_with_parent()
    try:
        os.nice(WORKER_NICE)
    except (OSError, AttributeError):  # pragma: no cover - no nice (Windows): the worker runs at normal priority
        pass


class Jobs:
    """The server's upload jobs: a thread each for unpacking and waiting, one worker process for the analyses."""

    def __init__(self, db_url: str | None, scheduler: Any = None, on_stored: Any = None) -> None:
        """``on_stored(experiment_id)`` (optional) is called after each upload that stored an experiment."""
        self.db_url, self.scheduler, self.on_stored = db_url, scheduler, on_stored
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.work = Path(tempfile.mkdtemp(prefix="qdlab-uploads-"))
        self._pool: Any = None

    def _executor(self) -> Any:
        """The upload worker process (started on first use, restarted after a crash)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self.lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_background_worker)
            return self._pool

    def close(self) -> None:
        """Stop the worker process: queued analyses are cancelled, a running one is terminated (its record
        transaction rolls back: an experiment is stored whole or not at all)."""
        with self.lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            procs = list(getattr(pool, "_processes", {}).values())  # the executor has no public handle on them
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()

    def get(self, job_id: str) -> Job | None:
        """A job by id (``None`` if unknown)."""
        with self.lock:
            return self.jobs.get(job_id)

    def _set(self, job: Job, **kw: Any) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(job, k, v)

    def start(self, filename: str, data_path: Path) -> Job:
        """Register a job for the uploaded zip at ``data_path`` and start it."""
        job = Job(id=uuid.uuid4().hex[:12], filename=filename)
        with self.lock:
            self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, data_path), daemon=True, name=f"upload-{job.id}").start()
        return job

    def _run(self, job: Job, archive: Path) -> None:
        import logging
        from concurrent.futures.process import BrokenProcessPool

        root = self.work / job.id
        log = logging.getLogger("qdlab.web")
        try:
            self._set(job, stage="unpacking the zip", fraction=0.05)
            files = safe_extract(archive, root / "unpacked")
            folder = find_folder(root / "unpacked")
            self._set(job, files=files, stage=f"analysing {len(files)} files (as qdlab run)", fraction=None)
            try:
                out = self._executor().submit(run_folder, str(folder), self.db_url, self.scheduler,
                                              str(root / "out")).result()
            except BrokenProcessPool:  # the worker died (killed, out of memory): a new one serves the next upload
                with self.lock:
                    self._pool = None
                out = {"status": "bug", "type": "BrokenProcessPool", "message": "the analysis process died"}
            if out["status"] == "ok":
                self._set(job, stage="done", fraction=1.0, status="ok",
                          refused=[_relative(m, folder) for m in out["refused"]], experiment_id=out["experiment_id"],
                          experiment_key=out["experiment_key"], action=out["action"])
                if self.on_stored is not None and out["action"] != "unchanged":
                    try:
                        self.on_stored(out["experiment_id"])
                    except Exception:  # e.g. a warm-up: the job itself succeeded
                        log.exception("after upload %s", job.id)
            elif out["status"] == "error":
                self._set(job, stage="failed", status="error",
                          errors=[{"file": f or job.filename, "message": _relative(m, root / "unpacked")}
                                  for f, m in out["errors"]])
            else:  # a bug: keep the server up and say so on the page, the traceback in the log
                log.error("upload %s failed: %s", job.id, out.get("traceback") or out["message"])
                self._set(job, stage="failed", status="error",
                          errors=[{"file": job.filename, "message": f"internal error ({out['type']}: {out['message']}); "
                                   "please report it with the zip"}])
        except QdlabError as exc:
            self._set(job, stage="failed", status="error",
                      errors=[{"file": job.filename, "message": _relative(str(exc), root / "unpacked")}])
        except Exception as exc:  # a bug in the server's own part: keep serving, the traceback in the log
            log.exception("upload %s failed", job.id)
            self._set(job, stage="failed", status="error",
                      errors=[{"file": job.filename, "message": f"internal error ({type(exc).__name__}: {exc}); "
                               "please report it with the zip"}])
        finally:
            self._set(job, finished_s=time.time())
            archive.unlink(missing_ok=True)
            shutil.rmtree(root / "unpacked", ignore_errors=True)


__all__ = ["Job", "Jobs", "safe_extract", "find_folder", "run_folder", "MAX_UNPACKED_BYTES"]
