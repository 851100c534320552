"""Shared pytest configuration: non-interactive matplotlib, deterministic hypothesis profile, PostgreSQL."""

import os
import uuid
from collections.abc import Callable, Iterator

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.setdefault("QDLAB_WORKERS", "2")

settings.register_profile(
    "qdlab", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("qdlab")


def _require_service(available: bool, reason: str) -> None:
    """Skip a test whose service is missing on a developer's machine; FAIL it in CI (``CI=true``).

    CI (``.ci/run`` -> ``.ci/services.sh``) must provide PostgreSQL and Chromium: a test that silently
    skips there would let a broken store or dashboard land.
    """
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must provide this service (.ci/services.sh)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def require_service() -> Callable[[bool, str], None]:
    """The rule above as a fixture: ``require_service(shutil.which("chromium") is not None, "no Chromium")``."""
    return _require_service


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away database on the PostgreSQL test server, dropped afterwards.

    Needs ``QDLAB_TEST_POSTGRES_URL`` (``.ci/services.sh`` sets it in CI): skipped without it on a
    developer's machine, failed in CI.
    """
    url = os.environ.get("QDLAB_TEST_POSTGRES_URL", "")
    _require_service(bool(url), "QDLAB_TEST_POSTGRES_URL not set (no PostgreSQL server)")
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
