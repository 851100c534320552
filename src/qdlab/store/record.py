"""The experiment record: write one experiment atomically, list, show.

:class:`Store` wraps an engine (migrated on open), the Parquet array store and the raw-file blob store.
:meth:`Store.save_experiment` writes an :class:`ExperimentRecord` in ONE transaction:

1. raw files and arrays are copied into the content-addressed stores first (idempotent, atomic
   renames), so a crash before the commit leaves only reusable blobs, never a half experiment;
2. the transaction takes a per-experiment lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
   transaction lock on PostgreSQL), looks the experiment up by its key, and
3. leaves it alone if its fingerprint is unchanged (idempotent re-run), or replaces all its children
   (same experiment id), or creates it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdlab.data.errors import InputError
from qdlab.store.arrays import ArrayStore


@dataclass(frozen=True)
class AliquotRecord:
    """An aliquot to store: ``label`` (A0, A1...), order, time since injection start."""

    label: str
    position: int
    time_min: float | None = None
    volume_ml: float | None = None


@dataclass(frozen=True)
class MeasurementRecord:
    """A raw file to store. ``path`` is where to copy the bytes from (file or folder)."""

    kind: str
    source_name: str
    size_bytes: int
    sha256: str
    role: str | None = None
    aliquot_label: str | None = None
    path: Path | None = None
    arrays: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    array_sha256: str | None = None  # arrays already in the array store (an imported record)


@dataclass(frozen=True)
class ResultRecord:
    """An analysis result; ``source_name``/``kind`` link it to a measurement (``None``: series-level)."""

    analysis: str
    status: str
    result: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    source_name: str | None = None
    kind: str | None = None
    arrays: Mapping[str, Any] | None = None
    array_sha256: str | None = None  # arrays already in the array store (an imported record)
    qdlab_version: str | None = None  # the qdlab that made it (an imported record); default: this one


@dataclass(frozen=True)
class CalibrationRecord:
    """A twin calibration: ``parameters`` maps names to ``{"value", "stderr", "unit"}``."""

    scenario: str
    status: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)
    cost: float | None = None
    error: str | None = None
    qdlab_version: str | None = None  # the qdlab that made it (an imported record); default: this one


@dataclass(frozen=True)
class RecipeRecord:
    """The recipe file, verbatim."""

    source_name: str
    size_bytes: int
    sha256: str
    content: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentRecord:
    """Everything one run stores about one experiment."""

    key: str
    material: str
    manifest_sha256: str
    fingerprint: str
    title: str = ""
    seed_batch: str | None = None
    folder: str = ""
    synthetic: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    recipe: RecipeRecord | None = None
    aliquots: Sequence[AliquotRecord] = ()
    measurements: Sequence[MeasurementRecord] = ()
    results: Sequence[ResultRecord] = ()
    calibrations: Sequence[CalibrationRecord] = ()
    qdlab_version: str | None = None  # the qdlab that analysed it (an imported record); default: this one
    tags: Sequence[str] = ()  # added to the experiment's tags (an imported record); a run brings none


@dataclass(frozen=True)
class SaveOutcome:
    """What :meth:`Store.save_experiment` did: ``created``, ``replaced`` or ``unchanged``."""

    experiment_id: int
    action: str


def kill_point(name: str) -> None:
    """Fault injection for the interruption tests: SIGKILL this process if ``QDLAB_KILL_AT == name``."""
    if os.environ.get("QDLAB_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def tree_digest(path: Path) -> tuple[str, int, dict[str, str]]:
    """sha256, total size and per-file hashes of a folder (sorted relative paths and contents)."""
    from qdlab.data.hashing import file_sha256

    files = sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    per_file: dict[str, str] = {}
    size = 0
    for p in files:
        rel = p.relative_to(path).as_posix()
        digest = file_sha256(p)
        per_file[rel] = digest
        size += p.stat().st_size
        h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest(), size, per_file


class BlobStore:
    """Raw files by content hash: ``<root>/<h[:2]>/<h>`` (copied, fsynced, renamed into place)."""

    def __init__(self, root: str | os.PathLike[str], fetch: Callable[[str], bytes | None] | None = None) -> None:
        self.root = Path(root)
        self._fetch = fetch

    def path(self, sha256: str) -> Path:
        """Where the blob with hash ``sha256`` lives."""
        return self.root / sha256[:2] / sha256

    def ensure(self, sha256: str) -> Path | None:
        """The local file of blob ``sha256``, fetched first if needed (checked); ``None`` if it is nowhere."""
        target = self.path(sha256)
        if target.exists():
            return target
        data = self._fetch(sha256) if self._fetch is not None else None
        if data is None:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            from qdlab.data.errors import FormatError

            raise FormatError(f"shared raw file {sha256[:12]} does not match its hash", path=target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    def put_file(self, src: Path, sha256: str) -> Path:
        """Copy ``src`` in unless a blob with that hash is already there."""
        target = self.path(sha256)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
                shutil.copyfileobj(inp, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        return target


class Store:
    """The experiment record at ``url`` (created in an empty database; see :func:`qdlab.store.engine.open_schema`).

    Parameters
    ----------
    url
        SQLAlchemy URL, a path to an SQLite file, or ``None`` for the default
        (``QDLAB_DATABASE_URL`` or the user data directory).
    array_dir
        Where Parquet arrays and raw-file blobs go (default: see :func:`qdlab.store.engine.array_dir_for`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with Store(d / "lab.sqlite") as store:
    ...     store.list_experiments()
    []
    """

    def __init__(
        self, url: str | os.PathLike[str] | None = None, array_dir: str | os.PathLike[str] | None = None
    ) -> None:
        from sqlalchemy.orm import sessionmaker

        from qdlab.store import engine as _engine

        self.url = _engine.normalize_url(url)
        self.engine = _engine.create_engine_for(self.url)
        try:
            self.revision = _engine.open_schema(self.engine, self.url)
        except BaseException:
            self.engine.dispose()
            raise
        root = Path(array_dir) if array_dir is not None else _engine.array_dir_for(self.url)
        #: On a server database the files live in it (``file_blobs``); the directories are a local cache.
        self.shared = self.engine.dialect.name != "sqlite"
        self.arrays = ArrayStore(root / "parquet", fetch=self._fetcher("array") if self.shared else None)
        self.blobs = BlobStore(root / "raw", fetch=self._fetcher("raw") if self.shared else None)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.engine.execution_options(**{_engine.WRITE_OPTION: True}),
                                            expire_on_commit=False)

    @staticmethod
    def upgrade(url: str | os.PathLike[str] | None = None, *, backup: bool = True) -> dict[str, Any]:
        """Migrate the record at ``url`` to this qdlab's schema (``qdlab db upgrade``).

        SQLite files are copied first (SQLite's online backup) to ``<name>.backup-<rev>-<UTC time>.sqlite``;
        returns ``{"database", "from_revision", "to_revision", "backup", "action"}``.
        """
        from qdlab.store import engine as _engine

        full = _engine.normalize_url(url)
        eng = _engine.create_engine_for(full)
        try:
            out = _engine.upgrade(eng, full, backup=backup)
        finally:
            eng.dispose()
        return {"database": _engine.mask_url(full), **out}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        from qdlab.store.engine import mask_url

        return mask_url(self.url)

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Any]:
        """A session in one transaction: committed on success, rolled back on any error.

        ``write=True`` takes SQLite's write lock at the start (``BEGIN IMMEDIATE``); readers never wait.
        """
        with (self._write_sessions if write else self._sessions)() as s, s.begin():
            yield s

    # ---- shared files (server databases) ---------------------------------------------------
    def _fetcher(self, kind: str) -> Callable[[str], bytes | None]:
        def fetch(sha256: str) -> bytes | None:
            from sqlalchemy import select

            from qdlab.store import models as M

            with self.session() as s:
                return s.scalar(select(M.FileBlob.content).where(M.FileBlob.sha256 == sha256, M.FileBlob.kind == kind))

        return fetch

    def _share(self, kind: str, files: Mapping[str, Path]) -> None:
        """Write the local files ``{sha256: path}`` missing from the database's ``file_blobs`` into it."""
        if not self.shared or not files:
            return
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        from qdlab.store import models as M

        with self.session() as s:
            have = set(s.scalars(select(M.FileBlob.sha256).where(M.FileBlob.kind == kind,
                                                                  M.FileBlob.sha256.in_(list(files)))))
        for sha, path in files.items():
            if sha in have:
                continue
            data = path.read_bytes()
            with self.session(write=True) as s:
                s.execute(insert(M.FileBlob).values(sha256=sha, kind=kind, size_bytes=len(data), content=data)
                          .on_conflict_do_nothing())

    # ---- writing ---------------------------------------------------------------------------
    def _put_blobs(self, rec: ExperimentRecord) -> dict[tuple[str, str], str | None]:
        """Copy raw files and arrays into the content-addressed stores (and, on a server database, into
        it: every client reads the same files); returns measurement array hashes."""
        array_of: dict[tuple[str, str], str | None] = {}
        raw: dict[str, Path] = {}
        for m in rec.measurements:
            if m.path is not None:
                p = Path(m.path)
                if p.is_dir():
                    for rel, digest in dict(m.meta.get("files", {})).items():
                        raw[digest] = self.blobs.put_file(p / rel, digest)
                elif p.is_file():
                    raw[m.sha256] = self.blobs.put_file(p, m.sha256)
            array_of[(m.kind, m.source_name)] = self.arrays.put(m.arrays) if m.arrays else m.array_sha256
        self._share("raw", raw)
        return array_of

    def save_experiment(self, rec: ExperimentRecord) -> SaveOutcome:
        """Write ``rec`` atomically (see module docstring); returns what was done."""
        from sqlalchemy import delete, select, text

        from qdlab import __version__
        from qdlab.store import models as M
        from qdlab.store.query import split_tags

        tags = split_tags(rec.tags)
        # Cheap check first: nothing to copy when the stored record is already current.
        with self.session() as s:
            existing = s.scalars(select(M.Experiment).where(M.Experiment.key == rec.key)).first()
            current = existing is not None and existing.fingerprint == rec.fingerprint
            missing_tags = current and not set(tags) <= {t.tag for t in existing.tags}
        if current and existing is not None:
            if missing_tags:  # an imported record's tags on a run that is already here
                self.set_tags(existing.id, add=tags)
            return SaveOutcome(existing.id, "unchanged")
        array_of = self._put_blobs(rec)
        result_arrays = [self.arrays.put(r.arrays) if r.arrays else r.array_sha256 for r in rec.results]
        hashes = {h for h in [*array_of.values(), *result_arrays] if h}
        self._share("array", {h: self.arrays.path(h) for h in hashes if self.arrays.path(h).exists()})
        kill_point("after_blobs")
        with self.session(write=True) as s:
            if self.engine.dialect.name == "postgresql":
                lock = int.from_bytes(hashlib.sha256(rec.key.encode()).digest()[:8], "big", signed=True)
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
            exp = s.scalars(select(M.Experiment).where(M.Experiment.key == rec.key)).first()
            if exp is not None and exp.fingerprint == rec.fingerprint:
                _add_tags(s, exp, tags)
                return SaveOutcome(exp.id, "unchanged")
            action = "created"
            previous: dict[str, Any] | None = None
            if exp is None:
                exp = M.Experiment(key=rec.key, created_at=M.utcnow(), version=1)
                s.add(exp)
            else:
                action = "replaced"
                previous = _to_dict(exp)  # kept as the earlier version (history), with what changed
                for table in (M.AnalysisResult, M.TwinCalibration, M.Measurement, M.Aliquot, M.Recipe):
                    s.execute(delete(table).where(table.experiment_id == exp.id))
                s.expire(exp, list(_CHILDREN))
            exp.title = rec.title
            exp.material = rec.material
            exp.seed_batch = rec.seed_batch
            exp.folder = rec.folder
            exp.manifest_sha256 = rec.manifest_sha256
            exp.fingerprint = rec.fingerprint
            exp.qdlab_version = rec.qdlab_version or __version__
            exp.synthetic = rec.synthetic
            exp.meta = dict(rec.meta)
            exp.summary = dict(rec.summary)
            exp.updated_at = M.utcnow()
            s.flush()
            _add_tags(s, exp, tags)  # tags are the chemist's: a replaced experiment keeps its own
            if rec.recipe is not None:
                r = rec.recipe
                s.add(M.Recipe(experiment_id=exp.id, source_name=r.source_name, size_bytes=r.size_bytes,
                               sha256=r.sha256, content=r.content, data=dict(r.data)))
            aliquots: dict[str, M.Aliquot] = {}
            for a in rec.aliquots:
                row = M.Aliquot(experiment_id=exp.id, label=a.label, position=a.position, time_min=a.time_min,
                                volume_ml=a.volume_ml)
                s.add(row)
                aliquots[a.label] = row
            s.flush()
            meas: dict[tuple[str, str], M.Measurement] = {}
            for m in rec.measurements:
                if m.aliquot_label is not None and m.aliquot_label not in aliquots:
                    raise InputError(f"measurement {m.source_name} names unknown aliquot {m.aliquot_label!r}")
                row = M.Measurement(
                    experiment_id=exp.id,
                    aliquot_id=aliquots[m.aliquot_label].id if m.aliquot_label is not None else None,
                    kind=m.kind, role=m.role, source_name=m.source_name, size_bytes=m.size_bytes, sha256=m.sha256,
                    array_sha256=array_of.get((m.kind, m.source_name)), meta=_plain(m.meta),
                )
                s.add(row)
                meas[(m.kind, m.source_name)] = row
            s.flush()
            for r, arr in zip(rec.results, result_arrays, strict=True):
                mrow = meas.get((r.kind or "", r.source_name or "")) if r.source_name else None
                s.add(M.AnalysisResult(
                    experiment_id=exp.id, measurement_id=mrow.id if mrow is not None else None,
                    analysis=r.analysis, status=r.status, qdlab_version=r.qdlab_version or __version__,
                    parameters=_plain(r.parameters), result=_plain(r.result), error=r.error, array_sha256=arr,
                ))
            for c in rec.calibrations:
                s.add(M.TwinCalibration(
                    experiment_id=exp.id, scenario=c.scenario, status=c.status, qdlab_version=c.qdlab_version or __version__,
                    parameters=_plain(c.parameters), result=_plain(c.result), cost=c.cost, error=c.error,
                ))
            s.flush()
            if previous is not None:
                s.expire(exp, list(_CHILDREN))
                n = int(previous["version"])
                s.add(M.ExperimentVersion(
                    experiment_id=exp.id, version=n, fingerprint=previous["fingerprint"],
                    qdlab_version=previous["qdlab_version"],
                    saved_at=_dt.datetime.fromisoformat(previous["updated_at"]), replaced_at=exp.updated_at,
                    snapshot=_plain({k: v for k, v in previous.items() if k != "history"}),
                    changes=_plain(diff_versions(previous, _to_dict(exp))),
                ))
                exp.version = n + 1
                s.flush()
            kill_point("before_commit")
            return SaveOutcome(exp.id, action)

    # ---- reading ---------------------------------------------------------------------------
    def unchanged_report(self, key: str, fingerprint: str, report_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The stored run of ``key`` when nothing changed, else ``None`` (``qdlab run``'s fast no-op).

        Unchanged means: the record holds experiment ``key`` with this ``fingerprint`` (manifest, every raw
        file's sha256, qdlab version) and ``report_dir`` still holds that run's ``summary.json`` (with the
        same fingerprint and experiment id) and ``index.html``. Returns ``{"summary", "html",
        "summary_json"}``; nothing is analysed or written.
        """
        import json

        from sqlalchemy import select

        from qdlab.store import models as M

        with self.session() as s:
            row = s.execute(select(M.Experiment.id, M.Experiment.fingerprint).where(M.Experiment.key == key)).first()
        if row is None or row.fingerprint != fingerprint:
            return None
        d = Path(report_dir)
        html, js = d / "index.html", d / "summary.json"
        if not (html.is_file() and js.is_file()):
            return None
        try:
            summary = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        rec = summary.get("record") if isinstance(summary, dict) else None
        if not isinstance(rec, dict) or rec.get("fingerprint") != fingerprint or rec.get("experiment_id") != row.id:
            return None
        summary["report"] = {"html": str(html), "summary_json": str(js)}
        return {"summary": summary, "html": html, "summary_json": js}

    def list_experiments(self, query: Any = None) -> list[dict[str, Any]]:
        """One summary dict per experiment, newest run first (or filtered and ordered by ``query``).

        Each row has the experiment's id, key, title, material, seed batch, counts and times, and what the
        list page shows: ``date`` (the manifest's), ``seed_pl_nm`` and ``final_pl_nm`` (first and last
        aliquot's PL peak), ``target`` (``reached``/``missed``/``unmeasured``/``none``) with ``target_nm``,
        ``target_words`` and ``target_note``, and ``tags`` (see :mod:`qdlab.store.query`).

        Parameters
        ----------
        query
            An :class:`qdlab.store.query.ExperimentQuery`; ``None``: every experiment, newest run first.
        """
        from sqlalchemy import func, select

        from qdlab.store import models as M
        from qdlab.store.query import experiment_date, series_ends, target_status

        with self.session() as s:
            n_meas = (
                select(M.Measurement.experiment_id, func.count().label("n"))
                .group_by(M.Measurement.experiment_id).subquery()
            )
            n_aliq = (
                select(M.Aliquot.experiment_id, func.count().label("n")).group_by(M.Aliquot.experiment_id).subquery()
            )
            rows = s.execute(
                select(M.Experiment, n_meas.c.n, n_aliq.c.n)
                .outerjoin(n_meas, n_meas.c.experiment_id == M.Experiment.id)
                .outerjoin(n_aliq, n_aliq.c.experiment_id == M.Experiment.id)
                .order_by(M.Experiment.updated_at.desc(), M.Experiment.id.desc())
            ).all()
            tags: dict[int, list[str]] = {}
            for eid, tag in s.execute(select(M.ExperimentTag.experiment_id, M.ExperimentTag.tag)
                                      .order_by(M.ExperimentTag.tag)):
                tags.setdefault(eid, []).append(tag)
            out = []
            for e, nm, na in rows:
                summary = e.summary if isinstance(e.summary, dict) else {}
                ends = series_ends(summary)
                target = target_status(summary)
                day = experiment_date(e.meta if isinstance(e.meta, dict) else {})
                out.append({
                    "id": e.id, "key": e.key, "version": int(e.version or 1), "title": e.title, "material": e.material,
                    "seed_batch": e.seed_batch,
                    "n_aliquots": int(na or 0), "n_measurements": int(nm or 0), "synthetic": e.synthetic,
                    "qdlab_version": e.qdlab_version, "updated_at": e.updated_at.isoformat(timespec="seconds"),
                    "date": None if day is None else day.isoformat(),
                    "seed_pl_nm": ends["seed_pl_nm"], "final_pl_nm": ends["final_pl_nm"],
                    "target": target["status"], "target_nm": target["target_nm"], "target_words": target["words"],
                    "target_note": target["note"], "tags": sorted(tags.get(e.id, []), key=str.lower),
                })
        return out if query is None else query.apply(out)

    def set_tags(self, ident: int | str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> dict[str, Any]:
        """Add and remove tags of one experiment (by id or key) in one transaction.

        Each entry of ``add``/``remove`` is one tag (:func:`qdlab.store.query.split_tags` splits typed text).
        Adding a tag the experiment has, or removing one it has not, changes nothing (``unknown`` lists the latter). The run's
        record (fingerprint, times, versions) is not touched.

        Returns
        -------
        dict
            ``{"id", "key", "tags", "added", "removed", "unknown"}``; ``tags`` sorted.

        Raises
        ------
        InputError
            A tag that is not 1-32 letters, digits, ``-`` or ``_`` (field ``tag``), a tag both added and
            removed, more than :data:`qdlab.store.query.MAX_TAGS` tags, or no such experiment (field ``ID``).
        """
        from sqlalchemy import delete

        from qdlab.store import models as M
        from qdlab.store.query import MAX_TAGS, check_tag

        plus = list(dict.fromkeys(check_tag(t) for t in add))
        minus = list(dict.fromkeys(check_tag(t) for t in remove))
        both = [t for t in plus if t in minus]
        if both:
            raise InputError(f"“{both[0]}” is both added and removed; give it once", field="tag")
        with self.session(write=True) as s:
            exp = self._find(s, ident)
            have = {t.tag for t in exp.tags}
            gone = [t for t in minus if t in have]
            unknown = [t for t in minus if t not in have]
            new = [t for t in plus if t not in have]
            total = len(have) - len(gone) + len(new)
            if total > MAX_TAGS:
                raise InputError(f"experiment {exp.key} would have {total} tags; at most {MAX_TAGS} (remove some first)",
                                 field="tag")
            if gone:
                s.execute(delete(M.ExperimentTag).where(M.ExperimentTag.experiment_id == exp.id,
                                                        M.ExperimentTag.tag.in_(gone)))
            for t in new:
                s.add(M.ExperimentTag(experiment_id=exp.id, tag=t, created_at=M.utcnow()))
            s.flush()
            return {"id": exp.id, "key": exp.key, "tags": sorted((have - set(gone)) | set(new), key=str.lower),
                    "added": new, "removed": gone, "unknown": unknown}

    def _find(self, s: Any, ident: int | str) -> Any:
        from sqlalchemy import select

        from qdlab.store import models as M

        exp = None
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
            exp = s.get(M.Experiment, int(ident))
        if exp is None:
            exp = s.scalars(select(M.Experiment).where(M.Experiment.key == str(ident))).first()
        if exp is None:
            raise InputError(f"no experiment {ident!r} in the record {self.display_url}", field="ID")
        return exp

    def experiment_stamp(self, ident: int | str) -> tuple[tuple[Any, ...], list[str]]:
        """What identifies the current state of one experiment (by id or key), in two small queries.

        Every write of an experiment's run (:meth:`save_experiment`: a new fingerprint, ``updated_at`` and
        ``version``) changes the stamp, and :meth:`set_tags` changes the tags, the only part written
        separately; so :meth:`experiment_dict` without the tags can be cached under the stamp (the web app
        does: reading it whole costs about 12 ms, a stamp about 1 ms).

        Returns
        -------
        tuple
            ``((id, key, fingerprint, version, updated_at), tags)``; ``tags`` sorted as in :meth:`experiment_dict`.

        Raises
        ------
        InputError
            No such experiment (field ``ID``), as :meth:`experiment_dict`.
        """
        from sqlalchemy import select

        from qdlab.store import models as M

        cols = (M.Experiment.id, M.Experiment.key, M.Experiment.fingerprint, M.Experiment.version,
                M.Experiment.updated_at)
        with self.session() as s:
            row = None
            if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
                row = s.execute(select(*cols).where(M.Experiment.id == int(ident))).first()
            if row is None:
                row = s.execute(select(*cols).where(M.Experiment.key == str(ident))).first()
            if row is None:
                raise InputError(f"no experiment {ident!r} in the record {self.display_url}", field="ID")
            tags = list(s.scalars(select(M.ExperimentTag.tag).where(M.ExperimentTag.experiment_id == row.id)))
        return (row.id, row.key, row.fingerprint, int(row.version or 1), row.updated_at), sorted(tags, key=str.lower)

    def experiment_dict(self, ident: int | str, version: int | None = None) -> dict[str, Any]:
        """Everything stored about one experiment (by id or key) as plain JSON-able data.

        ``version`` picks an earlier version kept when a re-run replaced the experiment (1 is the first
        stored); the current one has ``"version"`` equal to the number of versions. Every dict carries
        ``history``: one entry per earlier version with what changed in the next.
        """
        with self.session() as s:
            e = self._find(s, ident)
            current = _to_dict(e)
            history = [
                {"version": v.version, "saved_at": v.saved_at.isoformat(timespec="seconds"),
                 "replaced_at": v.replaced_at.isoformat(timespec="seconds"), "qdlab_version": v.qdlab_version,
                 "fingerprint": v.fingerprint, "changes": v.changes}
                for v in e.versions
            ]
            if version is None or version == e.version:
                return {**current, "history": history}
            old = next((v for v in e.versions if v.version == version), None)
            if old is None:
                raise InputError(f"experiment {e.key!r} has versions 1-{e.version}, not {version}", field="--version")
            return {**old.snapshot, "version": version, "current_version": e.version, "history": history}

    def counts(self) -> dict[str, int]:
        """Row counts per table (used by tests and ``qdlab db list``)."""
        from sqlalchemy import func, select

        from qdlab.store import models as M

        with self.session() as s:
            return {
                t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0)
                for t in (M.Experiment, M.Recipe, M.Aliquot, M.Measurement, M.AnalysisResult, M.TwinCalibration)
            }


_CHILDREN = ("recipe", "aliquots", "measurements", "results", "calibrations")


def _add_tags(s: Any, exp: Any, tags: Sequence[str]) -> None:
    """Give ``exp`` the checked ``tags`` it lacks (an imported record's), within ``s``'s transaction."""
    from qdlab.store import models as M
    from qdlab.store.query import MAX_TAGS

    if not tags:
        return
    have = set() if exp.id is None else {t.tag for t in exp.tags}
    new = [t for t in tags if t not in have]
    if len(have) + len(new) > MAX_TAGS:
        raise InputError(f"experiment {exp.key} would have {len(have) + len(new)} tags; at most {MAX_TAGS}",
                         field="tag")
    for t in new:
        s.add(M.ExperimentTag(experiment_id=exp.id, tag=t, created_at=M.utcnow()))


def _to_dict(e: Any) -> dict[str, Any]:
    """One experiment row with its children as plain data (what ``qdlab db show --json`` prints)."""
    aliquot_label = {a.id: a.label for a in e.aliquots}
    meas_name = {m.id: m.source_name for m in e.measurements}
    meas_kind = {m.id: m.kind for m in e.measurements}
    return {
        "id": e.id, "key": e.key, "version": int(e.version or 1), "title": e.title, "material": e.material,
        "seed_batch": e.seed_batch, "folder": e.folder, "synthetic": e.synthetic, "manifest_sha256": e.manifest_sha256,
        "fingerprint": e.fingerprint, "qdlab_version": e.qdlab_version, "meta": e.meta,
        "created_at": e.created_at.isoformat(timespec="seconds"),
        "updated_at": e.updated_at.isoformat(timespec="seconds"),
        "summary": e.summary,
        "tags": sorted((t.tag for t in e.tags), key=str.lower),
        "recipe": None if e.recipe is None else {
            "source_name": e.recipe.source_name, "size_bytes": e.recipe.size_bytes,
            "sha256": e.recipe.sha256, "data": e.recipe.data, "content": e.recipe.content,
        },
        "aliquots": [
            {"label": a.label, "position": a.position, "time_min": a.time_min, "volume_ml": a.volume_ml}
            for a in e.aliquots
        ],
        "measurements": [
            {
                "id": m.id, "kind": m.kind, "role": m.role, "source_name": m.source_name,
                "size_bytes": m.size_bytes, "sha256": m.sha256, "array_sha256": m.array_sha256,
                "aliquot": aliquot_label.get(m.aliquot_id) if m.aliquot_id else None, "meta": m.meta,
            }
            for m in e.measurements
        ],
        "results": [
            {
                "id": r.id, "analysis": r.analysis, "status": r.status, "qdlab_version": r.qdlab_version,
                "source_name": meas_name.get(r.measurement_id) if r.measurement_id else None,
                "kind": meas_kind.get(r.measurement_id) if r.measurement_id else None,
                "parameters": r.parameters, "result": r.result, "error": r.error,
                "array_sha256": r.array_sha256,
            }
            for r in e.results
        ],
        "calibrations": [
            {
                "id": c.id, "scenario": c.scenario, "status": c.status, "qdlab_version": c.qdlab_version,
                "parameters": c.parameters, "result": c.result, "cost": c.cost, "error": c.error,
            }
            for c in e.calibrations
        ],
    }


#: Per-aliquot numbers compared between versions (the summary's aliquot rows).
_ALIQUOT_FIELDS = ("pl_peak_nm", "fwhm_mev", "qy_percent", "time_min")


def diff_versions(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from one version of an experiment to the next.

    Keys appear only when something changed: ``files`` (``added``, ``removed``, ``changed`` source
    names by sha256), ``manifest`` (old/new sha256), ``qdlab_version`` (old/new), ``aliquots``
    (``{label: {field: [old, new]}}`` for the summary's PL peak, FWHM, QY and time), ``calibration``
    (``{parameter: [old, new]}`` of the twin's fitted values), ``analyses`` (analyses whose status changed).

    Examples
    --------
    >>> diff_versions({"measurements": [{"kind": "pl", "source_name": "a", "sha256": "1"}]},
    ...               {"measurements": [{"kind": "pl", "source_name": "a", "sha256": "2"}]})
    {'files': {'added': [], 'removed': [], 'changed': ['a']}}
    """
    out: dict[str, Any] = {}
    fo = {(m["kind"], m["source_name"]): m["sha256"] for m in old.get("measurements", [])}
    fn = {(m["kind"], m["source_name"]): m["sha256"] for m in new.get("measurements", [])}
    files = {
        "added": sorted(k[1] for k in fn.keys() - fo.keys()),
        "removed": sorted(k[1] for k in fo.keys() - fn.keys()),
        "changed": sorted(k[1] for k in fo.keys() & fn.keys() if fo[k] != fn[k]),
    }
    if any(files.values()):
        out["files"] = files
    if old.get("manifest_sha256") != new.get("manifest_sha256"):
        out["manifest"] = [old.get("manifest_sha256"), new.get("manifest_sha256")]
    if old.get("qdlab_version") != new.get("qdlab_version"):
        out["qdlab_version"] = [old.get("qdlab_version"), new.get("qdlab_version")]
    ro = {r.get("aliquot"): r for r in (old.get("summary") or {}).get("aliquots", []) if isinstance(r, Mapping)}
    rn = {r.get("aliquot"): r for r in (new.get("summary") or {}).get("aliquots", []) if isinstance(r, Mapping)}
    aliquots: dict[str, Any] = {}
    for label in sorted(ro.keys() | rn.keys(), key=str):
        a, b = ro.get(label, {}), rn.get(label, {})
        d = {f: [a.get(f), b.get(f)] for f in _ALIQUOT_FIELDS if a.get(f) != b.get(f)}
        if d:
            aliquots[str(label)] = d
    if aliquots:
        out["aliquots"] = aliquots

    def cal(d: Mapping[str, Any]) -> dict[str, Any]:
        cs = d.get("calibrations") or []
        params = cs[0].get("parameters", {}) if cs else {}
        return {k: (v.get("value") if isinstance(v, Mapping) else v) for k, v in params.items()}

    co, cn = cal(old), cal(new)
    cdiff = {k: [co.get(k), cn.get(k)] for k in sorted(co.keys() | cn.keys()) if co.get(k) != cn.get(k)}
    if cdiff:
        out["calibration"] = cdiff
    so = {(r.get("analysis"), r.get("source_name")): r.get("status") for r in old.get("results", [])}
    sn = {(r.get("analysis"), r.get("source_name")): r.get("status") for r in new.get("results", [])}
    changed_status = [
        {"analysis": k[0], "file": k[1], "status": [so.get(k), sn.get(k)]}
        for k in sorted(so.keys() | sn.keys(), key=lambda k: (str(k[0]), str(k[1]))) if so.get(k) != sn.get(k)
    ]
    if changed_status:
        out["analyses"] = changed_status
    return out


def _plain(obj: Any) -> Any:
    from qdlab.data.types import to_jsonable

    return to_jsonable(obj)


__all__ = [
    "AliquotRecord",
    "MeasurementRecord",
    "ResultRecord",
    "CalibrationRecord",
    "RecipeRecord",
    "ExperimentRecord",
    "SaveOutcome",
    "Store",
    "BlobStore",
    "tree_digest",
    "kill_point",
    "diff_versions",
]
