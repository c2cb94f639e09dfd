"""redaction markers: calls, webhook_events and webhook_attempts rows redacted by the PHI backfill

Existing rows get redaction_version 0 (stored before redaction existed); rows written from now on are written
redacted by the webhook pipeline and default to the current version (1). The backfill job (`redact_phi_backfill`)
redacts version-0 rows in batches by id and marks them, so it does the work once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("calls", "webhook_events", "webhook_attempts")


def upgrade() -> None:
    for table in TABLES:
        # Added with default 0 (a metadata-only change, no table rewrite), then new rows default to 1.
        op.add_column(table, sa.Column('redaction_version', sa.SmallInteger(), nullable=False, server_default='0'))
        op.alter_column(table, 'redaction_version', server_default='1')
        # The backfill walks the rows still to do by id; the partial index stays tiny once they are done.
        op.create_index(f'ix_{table}_redaction_todo', table, ['id'], postgresql_where=sa.text('redaction_version < 1'))


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'ix_{table}_redaction_todo', table_name=table)
        op.drop_column(table, 'redaction_version')
