"""audit log page and SIEM stream: keyset indexes per filter, a full-text index over the event's words, the stream
cursor

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Every filter of the Audit log page is an equality on an indexed column followed by `id`, so a page is one index
range read newest first (`where action = $1 and id < $cursor order by id desc limit 51`), whatever the table's
size. The full-text index matches `voxanne_admin.audit.query.SEARCH_VECTOR` character for character (PostgreSQL
uses an expression index only for the identical expression).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_VECTOR = ("(to_tsvector('simple'::regconfig, coalesce(action, '') || ' ' || coalesce(actor_email, '') "
                 "|| ' ' || coalesce(target_type, '') || ' ' || coalesce(target_id, '')) "
                 "|| jsonb_to_tsvector('simple'::regconfig, coalesce(diff, '{}'::jsonb), "
                 "'[\"string\", \"numeric\", \"key\"]'::jsonb))")

KEYSET = {
    'ix_audit_events_action_id': ('action', 'id'),
    'ix_audit_events_actor_email_id': ('actor_email', 'id'),
    'ix_audit_events_actor_id_id': ('actor_id', 'id'),
    'ix_audit_events_org_id_id': ('org_id', 'id'),
    'ix_audit_events_target_id_id': ('target_type', 'target_id', 'id'),
}


def upgrade() -> None:
    for name, columns in KEYSET.items():
        op.create_index(name, 'audit_events', list(columns))
    op.execute(f"create index ix_audit_events_search on audit_events using gin ({SEARCH_VECTOR})")
    op.create_table(
        'audit_stream_cursor',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('last_event_id', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('last_checkpoint_seq', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('delivered_events', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('audit_stream_cursor')
    op.execute("drop index if exists ix_audit_events_search")
    for name in KEYSET:
        op.drop_index(name, table_name='audit_events')
