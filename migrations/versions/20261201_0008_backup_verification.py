"""disaster recovery: backup_verification_log (the seed's columns), dr_backups, dr_drills

backup_verification_log keeps one row per verification run (90 days); dr_backups records base backups and
logical dumps (retention marks old ones removed); dr_drills records restore drills and real restores with their
measured RTO and achieved RPO. Chained after 0006 on its branch; the integrator re-chains it after 0007.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backup_verification_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('backup_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('backup_age_hours', sa.Float(), nullable=True),
    sa.Column('backup_size_mb', sa.Float(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('checks_passed', sa.Integer(), nullable=False),
    sa.Column('checks_failed', sa.Integer(), nullable=False),
    sa.Column('error_details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('verification_details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('success', 'warning', 'failure')", name='ck_backup_verification_log_status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_backup_verification_log_verified_at'), 'backup_verification_log', ['verified_at'], unique=False)
    op.create_table('dr_backups',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('start_wal', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('checksum', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('row_counts', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_ok', sa.Boolean(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.CheckConstraint("kind in ('base', 'logical')", name='ck_dr_backups_kind'),
    sa.CheckConstraint("status in ('running', 'succeeded', 'failed', 'removed')", name='ck_dr_backups_status'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('label')
    )
    op.create_index(op.f('ix_dr_backups_started_at'), 'dr_backups', ['started_at'], unique=False)
    op.create_table('dr_drills',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('backup_label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('target_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recovered_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rto_s', sa.Float(), nullable=True),
    sa.Column('rpo_s', sa.Float(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.CheckConstraint("status in ('running', 'succeeded', 'failed')", name='ck_dr_drills_status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_dr_drills_started_at'), 'dr_drills', ['started_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dr_drills_started_at'), table_name='dr_drills')
    op.drop_table('dr_drills')
    op.drop_index(op.f('ix_dr_backups_started_at'), table_name='dr_backups')
    op.drop_table('dr_backups')
    op.drop_index(op.f('ix_backup_verification_log_verified_at'), table_name='backup_verification_log')
    op.drop_table('backup_verification_log')
