"""telephony: carrier forwarding rules (seeded), per-organization setups, number provisioning journal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('country', 'carrier', 'line_type', 'unconditional', 'unconditional_cancel', 'unconditional_check', 'busy', 'busy_cancel', 'busy_check', 'no_answer', 'no_answer_cancel', 'no_answer_check', 'unreachable', 'unreachable_cancel', 'unreachable_check', 'number_format', 'forwards_international', 'domestic_only_reason', 'confidence', 'source')
# Literal seed data (contracts/telephony.md), not imported, so this migration never changes.
SEED = [
    ('US', 'Verizon', 'mobile', '*72{N}', '*73', '', '*71{N}', '*73', '', '*71{N}', '*73', '', '*71{N}', '*73', '', 'national_digits', False, 'Verizon forwards to 10-digit US numbers', 'confirmed', 'Verizon support (*72); *71/*73 from secondary sources'),
    ('US', 'AT&T', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'national_digits', False, 'AT&T has historically refused international and toll-free targets', 'unconfirmed', 'GSM codes; AT&T support (historical)'),
    ('US', 'T-Mobile', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'national_digits', False, 'T-Mobile only forwards to 10/11-digit domestic numbers', 'confirmed', 'T-Mobile support'),
    ('US', 'US landline', 'landline', '*72{N}', '*73', '', '*90{N}', '*91', '', '*92{N}', '*93', '', '', '', '', 'national_digits', False, 'most US telcos forward landlines to domestic numbers only', 'varies by telco', 'typical US telco codes'),
    ('GB', 'Vodafone UK', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', 'second-hand report; international format'),
    ('GB', 'EE', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('GB', 'O2', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('GB', 'Three', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('GB', 'BT', 'landline', '*21*{N}#', '#21#', '*#21#', '*67*{N}#', '#67#', '*#67#', '*61*{N}#', '#61#', '*#61#', '', '', '', 'national', True, '', 'third-party', 'third-party guides'),
    ('GB', 'Virgin Media', 'landline', '*21*{N}#', '#21#', '', '', '', '', '', '', '', '', '', '', 'national', False, 'Virgin Media landlines take national-format targets only', 'third-party', 'third-party guides'),
    ('NG', '9mobile', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'confirmed', '9mobile official page'),
    ('NG', 'MTN', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('NG', 'Airtel', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('NG', 'Glo', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('TR', 'Turkcell', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'national', False, 'Turkcell codes take the national 05xxxxxxxxx format', 'third-party', "third-party; also SMS 'YONLENDIR 5XXXXXXXXX TUMU' to 2222"),
    ('TR', 'Vodafone TR', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
    ('TR', 'Türk Telekom', 'mobile', '**21*{N}#', '##21#', '*#21#', '**67*{N}#', '##67#', '*#67#', '**61*{N}**{T}#', '##61#', '*#61#', '**62*{N}#', '##62#', '*#62#', 'international', True, '', 'unconfirmed', '3GPP TS 22.030 defaults'),
]


def upgrade() -> None:
    rules = op.create_table(
        'carrier_forwarding_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('carrier', sa.String(length=64), nullable=False),
        sa.Column('line_type', sa.String(length=16), nullable=False),
        *[sa.Column(f'{kind}{suffix}', sa.String(length=64 if not suffix else 32), nullable=False,
                    server_default='')
          for kind in ('unconditional', 'busy', 'no_answer', 'unreachable') for suffix in ('', '_cancel', '_check')],
        sa.Column('number_format', sa.String(length=16), nullable=False),
        sa.Column('forwards_international', sa.Boolean(), nullable=False),
        sa.Column('domestic_only_reason', sa.String(length=300), nullable=False, server_default=''),
        sa.Column('confidence', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=300), nullable=False, server_default=''),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column('updated_by', sa.String(length=254), nullable=False, server_default='migration 0004'),
        sa.CheckConstraint("number_format in ('international', 'national', 'national_digits')",
                           name='ck_carrier_forwarding_rules_format'),
        sa.CheckConstraint("line_type in ('mobile', 'landline')", name='ck_carrier_forwarding_rules_line_type'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('country', 'carrier', name='uq_carrier_forwarding_rules_country_carrier'),
    )
    op.create_index(op.f('ix_carrier_forwarding_rules_country'), 'carrier_forwarding_rules', ['country'])
    op.bulk_insert(rules, [dict(zip(COLUMNS, row, strict=True)) for row in SEED])

    op.create_table(
        'telephony_setups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('number_id', sa.Integer(), nullable=True),
        sa.Column('clinic_number', sa.String(length=20), nullable=False),
        sa.Column('clinic_line_type', sa.String(length=32), nullable=False),
        sa.Column('carrier', sa.String(length=64), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('forwarding_type', sa.String(length=16), nullable=False),
        sa.Column('ring_timer', sa.Integer(), nullable=False),
        sa.Column('activate_code', sa.String(length=80), nullable=False),
        sa.Column('check_code', sa.String(length=32), nullable=False),
        sa.Column('cancel_code', sa.String(length=32), nullable=False),
        sa.Column('target_as_dialled', sa.String(length=20), nullable=False),
        sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('status_reason', sa.String(length=500), nullable=False),
        sa.Column('verification_call_sid', sa.String(length=64), nullable=False),
        sa.Column('verification_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('codes_issued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=254), nullable=False),
        sa.CheckConstraint("status in ('not_started', 'codes_issued', 'verified', 'failed')",
                           name='ck_telephony_setups_status'),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['number_id'], ['phone_numbers.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['rule_id'], ['carrier_forwarding_rules.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('org_id'),
    )

    op.create_table(
        'number_provisionings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('e164', sa.String(length=20), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('number_type', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('twilio_sid', sa.String(length=64), nullable=False),
        sa.Column('vapi_phone_number_id', sa.String(length=64), nullable=False),
        sa.Column('phone_number_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=1000), nullable=False),
        sa.Column('actor', sa.String(length=254), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_number_provisionings_org_id'), 'number_provisionings', ['org_id'])
    op.create_index(op.f('ix_number_provisionings_state'), 'number_provisionings', ['state'])
    op.create_index('ix_number_provisionings_e164', 'number_provisionings', ['e164'])


def downgrade() -> None:
    op.drop_table('number_provisionings')
    op.drop_table('telephony_setups')
    op.drop_index(op.f('ix_carrier_forwarding_rules_country'), table_name='carrier_forwarding_rules')
    op.drop_table('carrier_forwarding_rules')
