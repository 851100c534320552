"""Fixtures: a fresh SQLite record, and a PostgreSQL one when QDLAB_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL of an empty record, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lab.sqlite'}"
        return
    yield request.getfixturevalue("pg_url")  # tests/conftest.py: skips without a server
