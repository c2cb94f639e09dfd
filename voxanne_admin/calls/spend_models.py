"""Spend-guard tables: the limits founders set (over the settings' defaults) and each time the guard tripped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class SpendLimit(SQLModel, table=True):
    """Limits of one scope: "org" (each organization) or "global" (all together); unset fields use settings."""

    __tablename__ = "spend_limits"

    scope: str = Field(primary_key=True, max_length=16)
    calls_per_hour: int | None = Field(default=None)
    cost_per_day: Decimal | None = Field(default=None, sa_type=sa.Numeric(12, 2))
    updated_by: str = Field(default="", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SpendGuardTrip(SQLModel, table=True):
    """The guard paused outbound calling for an organization (org_id) or everywhere (org_id None)."""

    __tablename__ = "spend_guard_trips"
    __table_args__ = (sa.Index("ix_spend_guard_trips_open", "org_id", postgresql_where=sa.text("cleared_at is null")),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None)
    metric: str = Field(max_length=24)  # calls_per_hour | cost_per_day | emergency
    observed: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(14, 4))
    limit_value: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(14, 4))
    reason: str = Field(max_length=500)
    tripped_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    cleared_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cleared_by: str | None = Field(default=None, max_length=200)


class LimitsRead(BaseModel):
    """The limits in force (founder-set or the settings' defaults)."""

    org_calls_per_hour: int
    org_cost_per_day: str
    global_calls_per_hour: int
    global_cost_per_day: str


class TripRead(BaseModel):
    """An open pause, as the Credentials page and the Overview show it."""

    id: int
    scope: str  # organization name or "All organizations"
    org_id: int
    reason: str
    tripped_at: str
