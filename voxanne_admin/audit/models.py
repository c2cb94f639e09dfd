"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    # A feature flag's history timeline (and any other per-target view) reads by target.
    __table_args__ = (sa.Index("ix_audit_events_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    actor_type: str = Field(max_length=16)  # staff | system | provider | anonymous
    actor_id: str | None = Field(default=None, max_length=64)
    actor_email: str | None = Field(default=None, max_length=254)
    action: str = Field(max_length=64, index=True)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    org_id: int | None = Field(default=None, index=True)
    diff: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=400)
    request_id: str | None = Field(default=None, max_length=64)
    # HMAC-SHA256 of the row's content (id included) under the MAC key `key_id`, computed at insert.
    key_id: str = Field(max_length=16)
    mac: str = Field(max_length=64)


class AuditSeal(SQLModel, table=True):
    """The chain: one insert-only row per sealed event, linking it to the previous sealed event."""

    __tablename__ = "audit_seals"

    event_id: int = Field(primary_key=True, sa_type=sa.BigInteger)
    seq: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"unique": True})  # 1-based position since genesis
    prev_id: int = Field(sa_type=sa.BigInteger)  # 0 at genesis
    key_id: str = Field(max_length=16)
    link: str = Field(max_length=64)  # HMAC(prev link, seq, event id, row MAC)
    sealed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AuditFloodWindow(SQLModel, table=True):
    """Refusals (bad webhook signatures, sign-ins) counted per source IP and minute; one audit row per window."""

    __tablename__ = "audit_flood_windows"

    kind: str = Field(primary_key=True, max_length=64)
    ip: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))
    count: int = Field(default=0)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSONB)


class AuditArchiveSegment(SQLModel, table=True):
    """A range of events archived to a signed segment file before retention deleted it."""

    __tablename__ = "audit_archive_segments"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    first_id: int = Field(sa_type=sa.BigInteger)
    last_id: int = Field(sa_type=sa.BigInteger)
    first_seq: int = Field(sa_type=sa.BigInteger)
    last_seq: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"unique": True})
    last_link: str = Field(max_length=64)  # the chain continues from here in the database
    rows: int
    deleted: int
    path: str = Field(max_length=400)
    sha256: str = Field(max_length=64)


class AuditEventRead(BaseModel):
    """An audit row as the UI shows it."""

    id: int
    occurred_at: str
    actor: str
    action: str
    target: str
    org_id: int | None
    summary: str
