"""Alembic environment of the qdlab record.

Migrations run programmatically from :func:`qdlab.store.engine.upgrade` on a connection passed in
``config.attributes["connection"]``; the ``alembic`` command line works too with ``-x url=...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from qdlab.store.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Run the migrations on the connection handed in by qdlab (or on ``-x url=...``)."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).connect() as conn:  # pragma: no cover - command-line use
        _run(conn)
        conn.commit()


# Only inside an Alembic run is ``context.config`` defined (importing this file elsewhere does nothing).
if hasattr(context, "config"):
    main()
