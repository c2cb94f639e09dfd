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
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})


class AuditEventRead(BaseModel):
    """An audit row as the UI shows it."""

    id: int
    occurred_at: str
    actor: str
    action: str
    target: str
    org_id: int | None
    summary: str
