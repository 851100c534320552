"""qdlab_schema: which qdlab version brought the record to each schema revision

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 04:40:00

Opening a record whose revision this qdlab does not know is refused with "written by qdlab >= X",
X read from this table (:func:`qdlab.store.engine.open_schema`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qdlab_schema',
    sa.Column('revision', sa.String(length=64), nullable=False),
    sa.Column('qdlab_version', sa.String(length=50), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('revision')
    )


def downgrade() -> None:
    op.drop_table('qdlab_schema')
