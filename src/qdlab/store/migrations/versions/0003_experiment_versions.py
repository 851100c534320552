"""experiment versions: a replaced experiment keeps its earlier versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 04:55:00

``experiments.version`` counts the versions (1 for every experiment stored before this revision);
``experiment_versions`` holds each earlier version as a snapshot (what ``qdlab db show --json`` printed
then) and what changed from it to the next version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    op.create_table('experiment_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('qdlab_version', sa.String(length=50), nullable=False),
    sa.Column('saved_at', sa.DateTime(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'version', name='uq_experiment_version')
    )
    with op.batch_alter_table('experiment_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiment_versions_experiment_id'), ['experiment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('experiment_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_versions_experiment_id'))
    op.drop_table('experiment_versions')
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_column('version')
