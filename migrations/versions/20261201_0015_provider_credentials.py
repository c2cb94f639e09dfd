"""provider credentials encrypted at rest, the spend guard's limits and pauses, which secret signed a webhook

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'provider_credentials',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value_enc', sa.Text(), nullable=False),
        sa.Column('last4', sa.String(length=8), nullable=False),
        sa.Column('sandbox', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('previous_enc', sa.Text(), nullable=True),
        sa.Column('previous_last4', sa.String(length=8), nullable=True),
        sa.Column('previous_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_by', sa.String(length=200), nullable=False, server_default=''),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'spend_limits',
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('calls_per_hour', sa.Integer(), nullable=True),
        sa.Column('cost_per_day', sa.Numeric(12, 2), nullable=True),
        sa.Column('updated_by', sa.String(length=200), nullable=False, server_default=''),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope'),
    )
    op.create_table(
        'spend_guard_trips',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('metric', sa.String(length=24), nullable=False),
        sa.Column('observed', sa.Numeric(14, 4), nullable=False),
        sa.Column('limit_value', sa.Numeric(14, 4), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('tripped_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cleared_by', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_spend_guard_trips_open', 'spend_guard_trips', ['org_id'],
                    postgresql_where=sa.text('cleared_at is null'))
    op.add_column('webhook_events', sa.Column('signed_with', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('webhook_events', 'signed_with')
    op.drop_index('ix_spend_guard_trips_open', table_name='spend_guard_trips')
    op.drop_table('spend_guard_trips')
    op.drop_table('spend_limits')
    op.drop_table('provider_credentials')
