"""single sign-on: SSO-only staff, linked IdP subject, sessions naming their provider, pending SSO logins

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('staff_users', sa.Column('sso_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('staff_users', sa.Column('sso_subject', sa.String(length=300), nullable=True))
    op.add_column('staff_sessions', sa.Column('auth_provider', sa.String(length=60), nullable=False,
                                              server_default=''))
    op.add_column('staff_sessions', sa.Column('idp_mfa', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'sso_logins',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('state_hash', sa.String(length=64), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('next_path', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('ticket_hash', sa.String(length=64), nullable=True),
        sa.Column('ticket_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('state_hash'),
        sa.UniqueConstraint('ticket_hash'),
    )
    op.create_index('ix_sso_logins_expires_at', 'sso_logins', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_sso_logins_expires_at', table_name='sso_logins')
    op.drop_table('sso_logins')
    op.drop_column('staff_sessions', 'idp_mfa')
    op.drop_column('staff_sessions', 'auth_provider')
    op.drop_column('staff_users', 'sso_subject')
    op.drop_column('staff_users', 'sso_only')
