"""Calls as the webhook pipeline builds them (the call-logs issue adds redaction and search)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

# Status order: a status only ever moves forward (a late `ringing` after `ended` is ignored).
STATUS_RANK = {"dialing": 0, "scheduled": 0, "queued": 1, "ringing": 2, "in-progress": 3, "forwarding": 4,
               "ended": 5, "failed": 6}


class Call(SQLModel, table=True):
    __tablename__ = "calls"
    __table_args__ = (sa.UniqueConstraint("idempotency_key", name="uq_calls_idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    # Null until Vapi accepted the call: outbound calls are recorded before dialling.
    vapi_call_id: str | None = Field(default=None, max_length=64, sa_column_kwargs={"unique": True})
    org_id: int | None = Field(default=None, index=True)
    agent_id: int | None = Field(default=None, index=True)
    placed_by: str | None = Field(default=None, max_length=254)
    is_test: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A double click or a retried request carries the same key and never dials twice.
    idempotency_key: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, max_length=1000)
    direction: str | None = Field(default=None, max_length=16)  # inbound | outbound
    status: str = Field(default="queued", max_length=32)
    status_rank: int = Field(default=0)
    ended_reason: str | None = Field(default=None, max_length=128)
    customer_number: str | None = Field(default=None, max_length=32)
    phone_number_id: str | None = Field(default=None, max_length=64)
    assistant_id: str | None = Field(default=None, max_length=64)
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    duration_s: float | None = Field(default=None)
    cost: Decimal | None = Field(default=None, sa_type=sa.Numeric(12, 4))
    costs: list[Any] | None = Field(default=None, sa_type=JSONB)
    # Stored in its own columns so the call-logs issue can redact them in place.
    transcript: str | None = Field(default=None, sa_type=sa.Text)
    summary: str | None = Field(default=None, sa_type=sa.Text)
    messages: list[Any] | None = Field(default=None, sa_type=JSONB)
    analysis: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    recording_url: str | None = Field(default=None, max_length=2000)
    stereo_recording_url: str | None = Field(default=None, max_length=2000)
    live_transcript: list[Any] | None = Field(default=None, sa_type=JSONB)
    report_received: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
