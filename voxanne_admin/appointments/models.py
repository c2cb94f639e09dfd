"""Appointments booked by the agents' tools."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class Appointment(SQLModel, table=True):
    __tablename__ = "appointments"
    __table_args__ = (
        # Slots are on a fixed grid, so a partial unique index is the double-booking guard the database enforces
        # (an exclusion constraint over tstzrange would need btree_gist, which the embedded PostgreSQL lacks).
        sa.Index("uq_appointments_org_slot", "org_id", "starts_at", unique=True,
                 postgresql_where=sa.text("status = 'booked'")),
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_range"),
        # Booking conversion in the call statistics joins appointments to the call that booked them (0005).
        sa.Index("ix_appointments_vapi_call_id", "vapi_call_id", postgresql_where=sa.text("vapi_call_id is not null")),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True, ondelete="CASCADE")
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    contact_name: str = Field(max_length=120)
    contact_phone: str = Field(max_length=20)
    status: str = Field(default="booked", max_length=16)
    vapi_call_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AppointmentRead(BaseModel):
    """An appointment as the organization page lists it."""

    id: int
    starts_at: str
    contact_name: str
    contact_phone: str
    status: str
    source: str
