"""Opening the record: database URL, engine set-up, migrations on open.

* Default: an embedded SQLite file ``qdlab.sqlite`` in the user data directory (platformdirs), opened
  with ``PRAGMA foreign_keys=ON``, ``journal_mode=WAL`` and a busy timeout, and with every write
  transaction started as ``BEGIN IMMEDIATE`` so that two processes writing at once queue up instead of
  failing half-way (SQLite allows one writer; WAL lets readers go on meanwhile).
* ``--db URL`` or ``QDLAB_DATABASE_URL``: any SQLAlchemy URL; ``postgresql://`` is mapped to the
  psycopg 3 driver.
* Schema versions: an empty database gets the newest schema on first open; after that only
  ``qdlab db upgrade`` (:func:`upgrade`, SQLite files backed up first) runs the Alembic migrations
  shipped in ``qdlab/store/migrations``, under a lock (a file lock for SQLite, an advisory lock for
  PostgreSQL). Opening a record written by a newer qdlab is refused ("written by qdlab >= X; upgrade
  qdlab"), an older one is told to run ``qdlab db upgrade``. Every message masks the password.
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
#: Seconds to wait for a database server to answer a connection attempt.
CONNECT_TIMEOUT_S = 10
#: Table recording which qdlab version brought the schema to each revision.
SCHEMA_TABLE = "qdlab_schema"


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


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print).

    Examples
    --------
    >>> mask_url("postgresql+psycopg://lab:s3cret@db.example/qd")
    'postgresql+psycopg://lab:***@db.example/qd'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return mask_secrets(url, url)


def _password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None


def mask_secrets(message: str, url: str) -> str:
    """``message`` with the password of ``url`` (plain or %-encoded) replaced by ``***``."""
    from urllib.parse import quote

    pw = _password(url)
    if not pw:
        return message
    for form in {pw, quote(pw, safe=""), quote(pw)}:
        message = message.replace(form, "***")
    return message


def _driver_message(exc: BaseException, url: str) -> str:
    """The driver's own message, on one line, password masked."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return mask_secrets(text, url)


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
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InputError(f"not a usable database URL {mask_url(url)}: {_driver_message(exc, url)}",
                         field="--db") from exc
    except OSError as exc:  # the SQLite file's folder cannot be created
        raise InputError(f"cannot create the database folder for {mask_url(url)}: {exc.strerror or exc}",
                         field="--db") from exc


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


#: The newest migration shipped with this qdlab (a test checks it against Alembic's head), so that
#: opening a current record needs no Alembic import (about 1 s of ``qdlab run``'s no-op path).
HEAD_REVISION = "0005"


def head_revision() -> str:
    """The newest migration shipped with this qdlab."""
    return HEAD_REVISION


def alembic_head_revision() -> str:
    """The head of the migration scripts, as Alembic sees it (should equal :data:`HEAD_REVISION`)."""
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revision(rev: str) -> bool:
    """Whether this qdlab ships the migration ``rev``."""
    from alembic.util.exc import CommandError

    try:
        return _script().get_revision(rev) is not None
    except CommandError:
        return False


def current_revision(engine: Any) -> str | None:
    """The migration the database is at (``None`` for an empty database); read like Alembic does."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise InputError(f"the record has several schema heads ({', '.join(rows)}); not a qdlab record", field="--db")
    return rows[0] if rows else None


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


def _written_by(engine: Any, rev: str) -> str | None:
    """The qdlab version that brought the database to ``rev`` (from ``qdlab_schema``), if recorded."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if SCHEMA_TABLE not in inspect(conn).get_table_names():
            return None
        row = conn.execute(text(f"SELECT qdlab_version FROM {SCHEMA_TABLE} WHERE revision = :r"), {"r": rev}).first()
    return None if row is None else str(row[0])


def _foreign_tables(engine: Any) -> list[str]:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        return sorted(inspect(conn).get_table_names())


def _run_upgrade(engine: Any) -> None:
    from alembic import command
    from sqlalchemy import text

    from qdlab import __version__
    from qdlab.store.models import utcnow

    cfg = _alembic_config()
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        head = head_revision()
        conn.execute(text(f"DELETE FROM {SCHEMA_TABLE} WHERE revision = :r"), {"r": head})
        conn.execute(text(f"INSERT INTO {SCHEMA_TABLE} (revision, qdlab_version, applied_at) VALUES (:r, :v, :t)"),
                     {"r": head, "v": __version__, "t": utcnow()})


def _db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)


def open_schema(engine: Any, url: str) -> str:
    """Check the database's schema on open; create it in an empty database. Never upgrades.

    Returns the revision. Raises :class:`InputError` (one line, password masked) when the database
    cannot be reached, is not a database, is not a qdlab record, was written by a newer qdlab (its
    revision is unknown here), or is older than this qdlab (then ``qdlab db upgrade`` brings it up).
    """
    head = head_revision()
    shown = mask_url(url)
    try:
        rev = current_revision(engine)
        if rev == head:
            return head
        if rev is None:
            with _migration_lock(engine, url):
                rev = current_revision(engine)
                if rev is None:
                    tables = _foreign_tables(engine)
                    if tables:
                        raise InputError(
                            f"the database {shown} holds other tables ({', '.join(tables[:5])}"
                            f"{', ...' if len(tables) > 5 else ''}) but no qdlab record; give an empty database",
                            field="--db")
                    _run_upgrade(engine)
                    return head
            if rev == head:
                return head
        if not known_revision(rev):
            by = _written_by(engine, rev)
            raise InputError(
                f"the record {shown} was written by qdlab >= {by or 'a newer version'} (schema {rev}); "
                f"this is qdlab {_version()}: upgrade qdlab", field="--db")
        raise InputError(
            f"the record {shown} has schema {rev}, this qdlab {_version()} needs {head}: "
            f"run `qdlab db upgrade --db {shown}` (SQLite files are backed up first)", field="--db")
    except _db_errors() as exc:
        raise InputError(f"cannot open the database {shown}: {_driver_message(exc, url)}", field="--db") from exc


def _version() -> str:
    from qdlab import __version__

    return __version__


def sqlite_backup(engine: Any, url: str, rev: str | None) -> Path | None:
    """Copy an SQLite record (consistently, with SQLite's online backup) next to itself; ``None`` otherwise."""
    import datetime as _dt
    import sqlite3

    path = sqlite_path(url)
    if engine.dialect.name != "sqlite" or path is None or not path.exists():
        return None
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.stem}.backup-{rev or 'empty'}-{stamp}{path.suffix or '.sqlite'}")
    src = sqlite3.connect(path)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def upgrade(engine: Any, url: str, *, backup: bool = True) -> dict[str, Any]:
    """Bring the database to the newest schema (``qdlab db upgrade``).

    Returns ``{"from_revision", "to_revision", "backup", "action"}``; ``action`` is ``created``,
    ``upgraded`` or ``current``. An SQLite file is backed up before anything changes. A database
    written by a newer qdlab is refused (never downgraded).
    """
    head = head_revision()
    shown = mask_url(url)
    try:
        with _migration_lock(engine, url):
            rev = current_revision(engine)
            if rev == head:
                return {"from_revision": rev, "to_revision": head, "backup": None, "action": "current"}
            if rev is not None and not known_revision(rev):
                by = _written_by(engine, rev)
                raise InputError(
                    f"the record {shown} was written by qdlab >= {by or 'a newer version'} (schema {rev}); "
                    f"this is qdlab {_version()}: upgrade qdlab", field="--db")
            if rev is None and _foreign_tables(engine):
                raise InputError(f"the database {shown} holds other tables but no qdlab record; give an empty database",
                                 field="--db")
            saved = sqlite_backup(engine, url, rev) if backup and rev is not None else None
            _run_upgrade(engine)
    except _db_errors() as exc:
        raise InputError(f"cannot open the database {shown}: {_driver_message(exc, url)}", field="--db") from exc
    return {"from_revision": rev, "to_revision": head, "backup": None if saved is None else str(saved),
            "action": "created" if rev is None else "upgraded"}


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
    "known_revision",
    "current_revision",
    "open_schema",
    "upgrade",
    "sqlite_backup",
    "mask_url",
    "mask_secrets",
]
