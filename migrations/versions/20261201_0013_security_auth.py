"""security (issue 14): token expiry, re-authentication and forced password change, encrypted TOTP secrets and
keyed recovery-code hashes, lockout by account and source IP, tool-call answers kept for replays, verification
call tokens

Existing TOTP secrets are encrypted here under the vault's keyring (VOXANNE_DATA_DIR/secrets or
VOXANNE_ENCRYPTION_KEYS, never the database). Existing recovery codes keep working: each stored unsalted SHA-256
becomes HMAC-SHA256(recovery key, that SHA-256), which is what sign-in now computes. Existing API tokens get the
default 90-day expiry from now.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from voxanne_admin.auth import secrets_at_rest

    op.alter_column('staff_users', 'totp_secret', type_=sa.String(length=400), existing_nullable=True)
    op.add_column('staff_users', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.alter_column('recovery_codes', 'code_hash', type_=sa.String(length=128), existing_nullable=False)
    op.add_column('api_tokens', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('staff_sessions', sa.Column('reauth_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('staff_users', sa.Column('failures_reset_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('login_attempts', sa.Column('account_key', sa.String(length=40), nullable=False,
                                              server_default=''))
    op.create_index('ix_login_attempts_account_time', 'login_attempts', ['account_key', 'occurred_at'])
    op.create_table(
        'tool_call_answers',
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('tool_call_id', sa.String(length=128), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('answer', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('call_id', 'tool_call_id'),
    )
    op.create_index('ix_tool_call_answers_created_at', 'tool_call_answers', ['created_at'])

    conn = op.get_bind()
    conn.execute(sa.text("update api_tokens set expires_at = now() + interval '90 days' "
                         "where expires_at is null and revoked_at is null"))
    secrets_at_rest.migrate_clear_secrets(conn, [("staff_users", "id", "totp_secret")])  # at this revision


def downgrade() -> None:
    op.drop_index('ix_tool_call_answers_created_at', table_name='tool_call_answers')
    op.drop_table('tool_call_answers')
    op.drop_index('ix_login_attempts_account_time', table_name='login_attempts')
    op.drop_column('login_attempts', 'account_key')
    op.drop_column('staff_users', 'failures_reset_at')
    op.drop_column('staff_sessions', 'reauth_at')
    op.drop_column('api_tokens', 'expires_at')
    op.drop_column('staff_users', 'must_change_password')
    # Encrypted TOTP secrets and keyed recovery hashes are not turned back into clear values.
