"""Twilio voice call legs from voice-status callbacks (forwarding verification uses ForwardedFrom)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

VOICE_STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "completed": 4, "busy": 4,
                     "failed": 4, "no-answer": 4, "canceled": 4}


class VoiceLeg(SQLModel, table=True):
    __tablename__ = "voice_legs"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    call_sid: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    org_id: int | None = Field(default=None, index=True)
    status: str = Field(max_length=32)
    status_rank: int = Field(default=0)
    sequence: int = Field(default=-1)
    direction: str | None = Field(default=None, max_length=32)
    from_number: str | None = Field(default=None, max_length=32)
    to_number: str | None = Field(default=None, max_length=32)
    forwarded_from: str | None = Field(default=None, max_length=32)
    duration_s: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
