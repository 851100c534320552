"""shared files: raw files and array tables content-addressed in a server database

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 05:05:00

On a server database (PostgreSQL) every client writes the raw files and Parquet tables it stores into
``file_blobs`` (keyed by sha256, written once), so a colleague on another machine reads the same files;
the local directories are only a cache. SQLite records keep their files beside the database file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('file_blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', 'kind')
    )


def downgrade() -> None:
    op.drop_table('file_blobs')
