"""feature flags: flags, per-organization overrides, schedules, change requests; API token scopes

Seeds the platform's 10 flags with their states. Existing API tokens get every scope their owner's role allows
(what they could do before scopes existed).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)

SEED = [
    # key, name, type, enabled, rollout, owner, description
    ("advanced_analytics", "Advanced analytics", "release", False, 0, "analytics",
     "Deeper call analytics for clinics."),
    ("outbound_calling", "Outbound calling", "kill_switch", True, 100, "voice",
     "The outbound agent may place calls. Turn off to stop every outbound call of an organization at once."),
    ("sms_campaigns", "SMS campaigns", "release", False, 0, "messaging", "Bulk SMS campaigns to patients."),
    ("ai_voice_cloning", "AI voice cloning", "experiment", False, 0, "voice", "Agents speak in a cloned voice."),
    ("multi_language", "Multi-language agents", "release", False, 0, "voice",
     "Agents answer in the caller's language."),
    ("appointment_reminders", "Appointment reminders", "permission", True, 100, "scheduling",
     "Booked appointments get a reminder the day before; the booking tool tells the caller."),
    ("call_recording", "Call recording", "permission", True, 100, "voice",
     "Recording links of calls are stored and shown. Off: neither stored nor shown."),
    ("knowledge_base", "Knowledge base", "release", True, 100, "voice", "Agents answer from the clinic's documents."),
    ("calendar_integration", "Calendar integration", "permission", True, 100, "scheduling",
     "The agents' check_availability and book_appointment tools use the clinic's calendar."),
    ("lead_scoring", "Lead scoring", "experiment", False, 50, "growth", "Score callers as leads after each call."),
]


def upgrade() -> None:
    op.create_table(
        'feature_flags',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('key', sa.String(length=63), nullable=False, unique=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.String(length=1000), nullable=False),
        sa.Column('owner', sa.String(length=120), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('rollout', sa.Integer(), nullable=False),
        sa.Column('protected', sa.Boolean(), nullable=False),
        sa.Column('constraints', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('archived_at', TZ, nullable=True),
        sa.Column('evaluation_count', sa.BigInteger(), nullable=False),
        sa.Column('last_evaluated_at', TZ, nullable=True),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('updated_at', TZ, nullable=False),
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]{1,62}$'", name='ck_feature_flags_key'),
        sa.CheckConstraint('rollout between 0 and 100', name='ck_feature_flags_rollout'),
        sa.CheckConstraint("type in ('release', 'experiment', 'operational', 'kill_switch', 'permission')",
                           name='ck_feature_flags_type'),
    )
    op.create_table(
        'org_feature_flags',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('flag_id', sa.Integer(), sa.ForeignKey('feature_flags.id', ondelete='CASCADE'), nullable=False),
        sa.Column('org_id', sa.Integer(), sa.ForeignKey('organizations.id', ondelete='CASCADE'), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('created_by', sa.String(length=254), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.UniqueConstraint('flag_id', 'org_id', name='uq_org_feature_flags_flag_org'),
    )
    op.create_index('ix_org_feature_flags_flag_id', 'org_feature_flags', ['flag_id'])
    op.create_index('ix_org_feature_flags_org_id', 'org_feature_flags', ['org_id'])
    op.create_table(
        'flag_schedules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('flag_id', sa.Integer(), sa.ForeignKey('feature_flags.id', ondelete='CASCADE'), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('rollout', sa.Integer(), nullable=True),
        sa.Column('run_at', TZ, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.String(length=64), nullable=True),
        sa.Column('created_by_email', sa.String(length=254), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('applied_at', TZ, nullable=True),
        sa.Column('result', sa.String(length=500), nullable=False),
        sa.CheckConstraint("status in ('pending', 'applied', 'cancelled', 'failed')", name='ck_flag_schedules_status'),
        sa.CheckConstraint("action in ('enable', 'disable', 'rollout')", name='ck_flag_schedules_action'),
    )
    op.create_index('ix_flag_schedules_flag_id', 'flag_schedules', ['flag_id'])
    op.create_index('ix_flag_schedules_due', 'flag_schedules', ['run_at'], postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        'flag_change_requests',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('flag_id', sa.Integer(), sa.ForeignKey('feature_flags.id', ondelete='CASCADE'), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('comment', sa.String(length=1000), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), sa.ForeignKey('staff_users.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('requested_by_email', sa.String(length=254), nullable=False),
        sa.Column('approved_by_id', sa.Integer(), sa.ForeignKey('staff_users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('approved_by_email', sa.String(length=254), nullable=True),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('updated_at', TZ, nullable=False),
        sa.CheckConstraint("state in ('draft', 'in_review', 'approved', 'applied', 'rejected', 'cancelled')",
                           name='ck_flag_change_requests_state'),
    )
    op.create_index('ix_flag_change_requests_flag_id', 'flag_change_requests', ['flag_id'])
    # A flag's history timeline reads the audit trail by target.
    op.create_index('ix_audit_events_target', 'audit_events', ['target_type', 'target_id'])

    flags = sa.table('feature_flags', *[sa.column(c) for c in (
        'key', 'name', 'description', 'owner', 'type', 'enabled', 'rollout', 'protected', 'constraints', 'version',
        'evaluation_count', 'created_at', 'updated_at')])
    now = datetime.now(UTC)
    op.bulk_insert(flags, [
        {'key': key, 'name': name, 'type': kind, 'enabled': enabled, 'rollout': rollout, 'owner': owner,
         'description': description, 'protected': False, 'constraints': [], 'version': 1, 'evaluation_count': 0,
         'created_at': now, 'updated_at': now}
        for key, name, kind, enabled, rollout, owner, description in SEED
    ])

    op.add_column('api_tokens', sa.Column('scopes', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.execute("""
        update api_tokens t set scopes = case u.role
            when 'viewer' then '["flags", "monitoring", "calls", "compliance"]'::jsonb
            when 'operator' then '["flags", "monitoring", "calls", "compliance"]'::jsonb
            else '["flags", "flags:write", "monitoring", "calls", "compliance"]'::jsonb end
        from staff_users u where u.id = t.staff_id
    """)
    op.execute("update api_tokens set scopes = '[]'::jsonb where scopes is null")
    op.alter_column('api_tokens', 'scopes', nullable=False)


def downgrade() -> None:
    op.drop_column('api_tokens', 'scopes')
    op.drop_index('ix_audit_events_target', table_name='audit_events')
    op.drop_table('flag_change_requests')
    op.drop_table('flag_schedules')
    op.drop_table('org_feature_flags')
    op.drop_table('feature_flags')
