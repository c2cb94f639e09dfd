"""SMS messages and their delivery status from Twilio callbacks."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

# Twilio status callbacks arrive out of order: the rank only grows.
SMS_STATUS_RANK = {
    "scheduled": 0, "accepted": 1, "queued": 2, "sending": 3, "sent": 4, "receiving": 4, "received": 5,
    "partially_delivered": 5, "delivered": 6, "read": 7, "undelivered": 6, "failed": 6, "canceled": 6,
}


class SmsMessage(SQLModel, table=True):
    __tablename__ = "sms_messages"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    message_sid: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    org_id: int | None = Field(default=None, index=True)
    status: str = Field(max_length=32)
    status_rank: int = Field(default=0)
    error_code: str | None = Field(default=None, max_length=16)
    from_number: str | None = Field(default=None, max_length=32)
    to_number: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
