"""The durable webhook inbox and its delivery history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

STATUSES = ("pending", "processing", "completed", "failed", "dead_letter", "ignored", "rejected")


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "dedupe_key", name="uq_webhook_events_dedupe"),
        sa.CheckConstraint(
            "status in ('pending', 'processing', 'completed', 'failed', 'dead_letter', 'ignored', 'rejected')",
            name="ck_webhook_events_status",
        ),
        # The claim query: due pending events and expired leases, oldest first.
        sa.Index(
            "ix_webhook_events_due", "next_attempt_at", postgresql_where=sa.text("status in ('pending', 'processing')")
        ),
        sa.Index("ix_webhook_events_status_received", "status", "received_at"),
        # Rows the PHI backfill still has to redact (migration 0006).
        sa.Index("ix_webhook_events_redaction_todo", "id", postgresql_where=sa.text("redaction_version < 1")),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    provider: str = Field(max_length=16)  # vapi | twilio
    kind: str = Field(max_length=64)  # message type (vapi) or sms-status / voice-status (twilio)
    dedupe_key: str = Field(max_length=255)
    org_id: int | None = Field(default=None, index=True)
    call_id: str | None = Field(default=None, max_length=64, index=True)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    received_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_error: str | None = Field(default=None, max_length=2000)
    processed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    source_ip: str | None = Field(default=None, max_length=64)
    duplicates: int = Field(default=0)
    # 0: stored before PHI redaction existed (the backfill job redacts it); 1: written by the redacting pipeline.
    redaction_version: int = Field(default=1, sa_type=sa.SmallInteger, sa_column_kwargs={"server_default": "1"})
    # Which Vapi webhook secret authenticated it: "current", or "previous" during a rotation's grace window.
    signed_with: str | None = Field(default=None, max_length=16)


class WebhookAttempt(SQLModel, table=True):
    """One processing attempt of an inbox event (the delivery history)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.Index("ix_webhook_attempts_redaction_todo", "id", postgresql_where=sa.text("redaction_version < 1")),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    event_id: int = Field(sa_type=sa.BigInteger, index=True)
    attempt: int
    started_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    outcome: str = Field(max_length=16)  # completed | failed | dead_letter
    error: str | None = Field(default=None, max_length=2000)
    duration_ms: int = Field(default=0)
    worker: str = Field(default="", max_length=128)
    redaction_version: int = Field(default=1, sa_type=sa.SmallInteger, sa_column_kwargs={"server_default": "1"})


class WebhookEventRead(BaseModel):
    """An inbox event as the Webhooks page lists it."""

    id: int
    provider: str
    kind: str
    call_id: str
    status: str
    attempts: int
    received_at: str
    last_error: str
    signed_with: str = ""  # which Vapi webhook secret authenticated it (current / previous during a rotation)


class ToolCallAnswer(SQLModel, table=True):
    """What one Vapi tool call was answered, stored in the tool's own transaction: a replayed (or retried)
    `tool-calls` message gets this answer back and the tool does not run again (migration 0013)."""

    __tablename__ = "tool_call_answers"

    call_id: str = Field(max_length=64, primary_key=True)
    tool_call_id: str = Field(max_length=128, primary_key=True)
    name: str = Field(default="", max_length=128)
    answer: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
