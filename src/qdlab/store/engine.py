"""Opening the record: database URL, engine set-up, migrations on open.

* Default: an embedded SQLite file ``qdlab.sqlite`` in the user data directory (platformdirs), opened
  with ``PRAGMA foreign_keys=ON``, ``journal_mode=WAL`` and a busy timeout, and with every write
  transaction started as ``BEGIN IMMEDIATE`` so that two processes writing at once queue up instead of
  failing half-way (SQLite allows one writer; WAL lets readers go on meanwhile).
* ``--db URL`` or ``QDLAB_DATABASE_URL``: any SQLAlchemy URL; ``postgresql://`` is mapped to the
  psycopg 3 driver.
* The Alembic migrations shipped in ``qdlab/store/migrations`` run on open, under a lock (a file lock
  for SQLite, an advisory lock for PostgreSQL) so that concurrent first opens do not race.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qdlab.data.errors import InputError

#: Environment variable naming the database URL.
ENV_URL = "QDLAB_DATABASE_URL"
#: Environment variable naming the array (Parquet) directory; default beside the SQLite file.
ENV_ARRAYS = "QDLAB_ARRAY_DIR"
#: Execution option marking a write transaction (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "qdlab_write"
#: Seconds a writer waits for another writer's lock on SQLite before giving up.
SQLITE_BUSY_TIMEOUT_S = 120.0


def user_data_dir() -> Path:
    """qdlab's per-user data directory (created on demand)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("qdlab", appauthor=False))


def default_database_url() -> str:
    """``QDLAB_DATABASE_URL`` if set, else an SQLite file in :func:`user_data_dir`."""
    env = os.environ.get(ENV_URL)
    if env:
        return env
    return f"sqlite:///{user_data_dir() / 'qdlab.sqlite'}"


def normalize_url(url: str | os.PathLike[str] | None) -> str:
    """Resolve ``url`` to a SQLAlchemy URL string.

    A bare file path means an SQLite file; ``postgresql://``/``postgres://`` selects psycopg 3.

    Examples
    --------
    >>> normalize_url("postgresql://u@localhost/qd")
    'postgresql+psycopg://u@localhost/qd'
    >>> normalize_url("sqlite:///:memory:")
    'sqlite:///:memory:'
    """
    s = os.fspath(url) if url else default_database_url()
    if "://" not in s:
        return f"sqlite:///{Path(s).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if s.startswith(prefix):
            return "postgresql+psycopg://" + s[len(prefix):]
    return s


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (``None`` for other backends or in-memory databases)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def array_dir_for(url: str) -> Path:
    """Directory of the content-addressed Parquet arrays belonging to the database ``url``.

    ``QDLAB_ARRAY_DIR`` wins; an SQLite file keeps its arrays beside it (``<name>-arrays/``); other
    databases use ``<user data dir>/arrays``.
    """
    env = os.environ.get(ENV_ARRAYS)
    if env:
        return Path(env)
    path = sqlite_path(url)
    if path is not None:
        return path.with_name(path.stem + "-arrays")
    return user_data_dir() / "arrays"


def _sqlite_events(engine: Any) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (no deadlock upgrading a read lock when two writers overlap);
        # readers start a deferred transaction and, in WAL mode, never wait for a writer.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_engine_for(url: str) -> Any:
    """An SQLAlchemy engine for ``url`` with qdlab's connection settings."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            _sqlite_events(engine)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InputError(f"not a usable database URL {url!r}: {exc}", field="--db") from exc


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this qdlab."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Any) -> str | None:
    """The migration the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Any, url: str) -> Iterator[None]:
    path = sqlite_path(url)
    if engine.dialect.name == "sqlite":
        if path is None:
            yield
            return
        import fcntl

        lock = path.with_name(path.name + ".migrate.lock")
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha256(b"qdlab-migrate").digest()[:8], "big", signed=True)
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    yield


def upgrade(engine: Any, url: str) -> str:
    """Bring the database to the newest schema (no-op when current); returns the revision."""
    from alembic import command
    from sqlalchemy.exc import OperationalError

    head = head_revision()
    try:
        if current_revision(engine) == head:
            return head
        with _migration_lock(engine, url):
            if current_revision(engine) == head:
                return head
            cfg = _alembic_config()
            with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise InputError(f"cannot open the database {url}: {exc.orig}", field="--db") from exc
    return head


__all__ = [
    "ENV_URL",
    "WRITE_OPTION",
    "ENV_ARRAYS",
    "user_data_dir",
    "default_database_url",
    "normalize_url",
    "sqlite_path",
    "array_dir_for",
    "create_engine_for",
    "head_revision",
    "current_revision",
    "upgrade",
]
