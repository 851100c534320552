"""experiment tags: a chemist's free-text tags on an experiment

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:30:00

``experiment_tags`` holds one row per tag of an experiment (1-32 characters of letters, digits, ``-`` and
``_``; at most 20 per experiment, checked by :meth:`qdlab.store.Store.set_tags`). Tags are annotations,
not data: they are outside the fingerprint and a re-run keeps them. Every experiment stored before this
revision starts with no tags.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('experiment_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'tag', name='uq_experiment_tag')
    )
    with op.batch_alter_table('experiment_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiment_tags_experiment_id'), ['experiment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiment_tags_tag'), ['tag'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('experiment_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_tags_tag'))
        batch_op.drop_index(batch_op.f('ix_experiment_tags_experiment_id'))
    op.drop_table('experiment_tags')
