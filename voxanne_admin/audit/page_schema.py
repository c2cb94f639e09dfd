"""What the Audit log page and the SIEM stream add to the audit schema (migration 0011): one keyset index per
filter (the filter's column, then `id`, so a filtered page is one index range read newest first) and the stream's
cursor table. Kept apart from `models.py` (the chain's own table) so the two evolve independently."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from voxanne_admin.audit.models import AuditEvent

# The full-text search document: the action, actor, target, and every key and value of the diff. Its GIN index
# (ix_audit_events_search) is an expression index, written by hand in migration 0011.
SEARCH_VECTOR = ("(to_tsvector('simple'::regconfig, coalesce(action, '') || ' ' || coalesce(actor_email, '') "
                 "|| ' ' || coalesce(target_type, '') || ' ' || coalesce(target_id, '')) "
                 "|| jsonb_to_tsvector('simple'::regconfig, coalesce(diff, '{}'::jsonb), "
                 "'[\"string\", \"numeric\", \"key\"]'::jsonb))")

_columns = AuditEvent.__table__.c  # type: ignore[attr-defined]
PAGE_INDEXES = (
    sa.Index("ix_audit_events_action_id", _columns.action, _columns.id),
    sa.Index("ix_audit_events_actor_email_id", _columns.actor_email, _columns.id),
    sa.Index("ix_audit_events_actor_id_id", _columns.actor_id, _columns.id),
    sa.Index("ix_audit_events_org_id_id", _columns.org_id, _columns.id),
    sa.Index("ix_audit_events_target_id_id", _columns.target_type, _columns.target_id, _columns.id),
)


class AuditStreamCursor(SQLModel, table=True):
    """How far the SIEM stream has delivered (one row per destination; today only "siem")."""

    __tablename__ = "audit_stream_cursor"

    name: str = Field(primary_key=True, max_length=32)
    last_event_id: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    last_checkpoint_seq: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    delivered_events: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    failing_since: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_error: str | None = Field(default=None, max_length=500)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
