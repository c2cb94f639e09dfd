"""State of the built-in sandbox providers (in PostgreSQL so every worker and replica sees the same)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class SandboxObject(SQLModel, table=True):
    """An assistant, phone number, call, incoming number or message held by a sandbox provider."""

    __tablename__ = "sandbox_objects"
    __table_args__ = (sa.Index("ix_sandbox_objects_kind_created", "provider", "kind", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    data: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SandboxFault(SQLModel, table=True):
    """A fault to inject into the next matching sandbox requests or webhooks."""

    __tablename__ = "sandbox_faults"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)  # vapi | twilio
    operation: str = Field(default="*", max_length=64)  # e.g. "POST /call", "*", or "webhook"
    mode: str = Field(max_length=16)  # fail | latency | drop | duplicate | reorder
    remaining: int = Field(default=1)
    status: int | None = Field(default=None)
    code: str | None = Field(default=None, max_length=32)
    message: str | None = Field(default=None, max_length=500)
    latency_ms: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
