"""call logs: search vector, list sort key and indexes, staff preferences, call exports, appointment call link

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept literal (not imported from the models) so this migration means the same thing forever.
LISTED_AT_SQL = "coalesce(started_at, created_at)"
SEARCH_SQL = ("setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'A') || "
              "setweight(to_tsvector('english'::regconfig, coalesce(transcript, '')), 'B')")
# calls.logs.family_case_sql() at the time of writing (Vapi ended reasons grouped into families; unknown: other).
ENDED_FAMILY_SQL = (
    "case when ended_reason is null then '' when ended_reason in ('customer-ended-call') then 'customer-"
    "ended' when ended_reason in ('assistant-ended-call', 'assistant-said-end-call-phrase', 'assistant-"
    "ended-call-after-message-spoken', 'assistant-ended-call-with-hangup-task') then 'assistant-ended' "
    "when ended_reason in ('assistant-forwarded-call', 'assistant-request-returned-forwarding-phone-"
    "number') then 'forwarded' when ended_reason in ('customer-busy', 'customer-did-not-answer') then "
    "'no-answer' when ended_reason in ('voicemail') then 'voicemail' when ended_reason in ('silence-"
    "timed-out') then 'silence' when ended_reason in ('exceeded-max-duration') then 'max-duration' when "
    "ended_reason in ('manually-canceled') then 'canceled' when ended_reason in ('assistant-not-found', "
    "'assistant-not-valid', 'assistant-request-failed', 'assistant-request-returned-error', 'assistant-"
    "join-timed-out') or starts_with(ended_reason, 'call.start.error-') or starts_with(ended_reason, "
    "'assistant-request-returned-') then 'start-error' when ended_reason in ('twilio-failed-to-connect-"
    "call') or starts_with(ended_reason, 'twilio-') or starts_with(ended_reason, 'vonage-') or "
    "starts_with(ended_reason, 'telnyx-') or starts_with(ended_reason, 'phone-call-provider-') or "
    "starts_with(ended_reason, 'call.in-progress.error-sip') or starts_with(ended_reason, 'call.in-"
    "progress.error-providerfault') then 'telephony-error' when starts_with(ended_reason, 'pipeline-"
    "error-') or starts_with(ended_reason, 'call.in-progress.error-') then 'pipeline-error' else 'other' "
    'end'
)


def upgrade() -> None:
    op.add_column('calls', sa.Column('listed_at', sa.DateTime(timezone=True),
                                     sa.Computed(LISTED_AT_SQL, persisted=True), nullable=True))
    op.add_column('calls', sa.Column('ended_family', sa.String(length=32),
                                     sa.Computed(ENDED_FAMILY_SQL, persisted=True), nullable=True))
    op.add_column('calls', sa.Column('search', postgresql.TSVECTOR(),
                                     sa.Computed(SEARCH_SQL, persisted=True), nullable=True))
    # (org_id, listed_at, id) serves every org-scoped page; the lone org_id index is then redundant.
    op.drop_index('ix_calls_org_id', table_name='calls')
    op.create_index('ix_calls_listed', 'calls', ['listed_at', 'id'])
    op.create_index('ix_calls_org_listed', 'calls', ['org_id', 'listed_at', 'id'])
    op.create_index('ix_calls_duration', 'calls', [sa.text('coalesce(duration_s, 0)'), 'id'])
    op.create_index('ix_calls_cost', 'calls', [sa.text('coalesce(cost, 0)'), 'id'])
    op.create_index('ix_calls_status_listed', 'calls', ['status', 'listed_at', 'id'])
    op.create_index('ix_calls_test_listed', 'calls', ['listed_at', 'id'], postgresql_where=sa.text('is_test'))
    op.create_index('ix_calls_search', 'calls', ['search'], postgresql_using='gin')
    # The booking tool stores the Vapi call id on the appointment: that is the call link; index it for the
    # booking-conversion join.
    op.create_index('ix_appointments_vapi_call_id', 'appointments', ['vapi_call_id'],
                    postgresql_where=sa.text('vapi_call_id is not null'))
    op.create_table(
        'staff_preferences',
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff_users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('staff_id', 'key'),
    )
    op.create_table(
        'call_exports',
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff_users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=1000), nullable=False),
        sa.Column('error', sa.String(length=1000), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('token'),
    )
    op.create_index('ix_call_exports_created_at', 'call_exports', ['created_at'])
    op.create_table(
        'call_stats_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('ended_family', sa.String(length=32), nullable=False),
        sa.Column('is_test', sa.Boolean(), nullable=False),
        sa.Column('calls', sa.Integer(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('missed', sa.Integer(), nullable=False),
        sa.Column('duration_sum', sa.Float(), nullable=False),
        sa.Column('cost_sum', sa.Numeric(16, 4), nullable=False),
        sa.Column('booked', sa.Integer(), nullable=False),
        sa.Column('hist', postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint('day', 'org_id', 'agent_id', 'direction', 'status', 'ended_family', 'is_test'),
    )
    op.create_table(
        'call_stats_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complete_before', sa.Date(), nullable=True),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('call_stats_state')
    op.drop_table('call_stats_daily')
    op.drop_index('ix_call_exports_created_at', table_name='call_exports')
    op.drop_table('call_exports')
    op.drop_table('staff_preferences')
    op.drop_index('ix_appointments_vapi_call_id', table_name='appointments')
    for name in ('ix_calls_search', 'ix_calls_test_listed', 'ix_calls_status_listed', 'ix_calls_cost',
                 'ix_calls_duration', 'ix_calls_org_listed', 'ix_calls_listed'):
        op.drop_index(name, table_name='calls')
    op.create_index('ix_calls_org_id', 'calls', ['org_id'])
    op.drop_column('calls', 'search')
    op.drop_column('calls', 'ended_family')
    op.drop_column('calls', 'listed_at')
