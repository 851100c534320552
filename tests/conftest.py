"""Shared pytest configuration: non-interactive matplotlib, deterministic hypothesis profile, PostgreSQL."""

import os
import uuid
from collections.abc import Iterator

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.setdefault("QDLAB_WORKERS", "2")

settings.register_profile(
    "qdlab", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("qdlab")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away database on the PostgreSQL test server, dropped afterwards.

    Skips the test when ``QDLAB_TEST_POSTGRES_URL`` is not set (``.ci/services.sh`` sets it in CI).
    """
    url = os.environ.get("QDLAB_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("QDLAB_TEST_POSTGRES_URL not set (no PostgreSQL server)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from qdlab.store.engine import normalize_url

    base = make_url(normalize_url(url))
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
