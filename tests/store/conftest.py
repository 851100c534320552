"""Fixtures: a fresh SQLite record, and a PostgreSQL one when QDLAB_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("QDLAB_TEST_POSTGRES_URL")


def _pg_database() -> Iterator[str]:
    """A throw-away database on the test server (dropped afterwards)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from qdlab.store.engine import normalize_url

    base = make_url(normalize_url(PG_URL))
    name = f"qdlab_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL of an empty record, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lab.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("QDLAB_TEST_POSTGRES_URL not set (no PostgreSQL server)")
    yield from _pg_database()
