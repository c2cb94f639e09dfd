"""Organizations: one per clinic or business that Voxanne runs agents for."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

COUNTRIES = {"US": "United States", "GB": "United Kingdom", "NG": "Nigeria", "TR": "Türkiye"}
DEFAULT_TIMEZONES = {"US": "America/New_York", "GB": "Europe/London", "NG": "Africa/Lagos", "TR": "Europe/Istanbul"}


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        sa.CheckConstraint("status in ('active', 'closed')", name="ck_organizations_status"),
        sa.CheckConstraint("(status = 'closed') = (closed_at is not null)", name="ck_organizations_closed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=63, sa_column_kwargs={"unique": True})
    country: str = Field(max_length=2)
    timezone: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class OrganizationRead(BaseModel):
    """What the UI shows of an organization."""

    id: int
    name: str
    slug: str
    country: str
    timezone: str
    status: str
    closed_at: str = ""
    created_at: str = ""
