"""Feature flags: global state, per-organization overrides, schedules and change requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

# Unleash's flag types, with its expected lifetimes in days (None: never stale by age).
FLAG_TYPES: dict[str, int | None] = {"release": 40, "experiment": 40, "operational": 7, "kill_switch": None,
                                     "permission": None}
SCHEDULE_STATES = ("pending", "applied", "cancelled", "failed")
REQUEST_STATES = ("draft", "in_review", "approved", "applied", "rejected", "cancelled")


class FeatureFlag(SQLModel, table=True):
    __tablename__ = "feature_flags"
    __table_args__ = (
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]{1,62}$'", name="ck_feature_flags_key"),
        sa.CheckConstraint("rollout between 0 and 100", name="ck_feature_flags_rollout"),
        sa.CheckConstraint("type in ('release', 'experiment', 'operational', 'kill_switch', 'permission')",
                           name="ck_feature_flags_type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=63, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    owner: str = Field(default="", max_length=120)
    type: str = Field(max_length=16)
    enabled: bool = Field(default=False)
    rollout: int = Field(default=0)
    protected: bool = Field(default=False)
    # [{"attribute": "country"|"status"|"created_at", "operator": "in"|"not_in"|"before"|"after", "values": [...]}]
    constraints: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    version: int = Field(default=1)
    archived_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    evaluation_count: int = Field(default=0, sa_type=sa.BigInteger)
    last_evaluated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class OrgFeatureFlag(SQLModel, table=True):
    """An organization forced on or off for one flag, whatever the rollout says."""

    __tablename__ = "org_feature_flags"
    __table_args__ = (sa.UniqueConstraint("flag_id", "org_id", name="uq_org_feature_flags_flag_org"),)

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="feature_flags.id", index=True, ondelete="CASCADE")
    org_id: int = Field(foreign_key="organizations.id", index=True, ondelete="CASCADE")
    enabled: bool
    reason: str = Field(max_length=300)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class FlagSchedule(SQLModel, table=True):
    """A change applied by the scheduler at `run_at`, exactly once, as the person who scheduled it."""

    __tablename__ = "flag_schedules"
    __table_args__ = (
        sa.CheckConstraint("status in ('pending', 'applied', 'cancelled', 'failed')", name="ck_flag_schedules_status"),
        sa.CheckConstraint("action in ('enable', 'disable', 'rollout')", name="ck_flag_schedules_action"),
        sa.Index("ix_flag_schedules_due", "run_at", postgresql_where=sa.text("status = 'pending'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="feature_flags.id", index=True, ondelete="CASCADE")
    action: str = Field(max_length=16)
    rollout: int | None = Field(default=None)
    run_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    status: str = Field(default="pending", max_length=16)
    created_by_id: str | None = Field(default=None, max_length=64)
    created_by_email: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    applied_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    result: str = Field(default="", max_length=500)


class FlagChangeRequest(SQLModel, table=True):
    """A change to a protected flag: draft -> in_review -> approved -> applied (or rejected / cancelled)."""

    __tablename__ = "flag_change_requests"
    __table_args__ = (
        sa.CheckConstraint("state in ('draft', 'in_review', 'approved', 'applied', 'rejected', 'cancelled')",
                           name="ck_flag_change_requests_state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="feature_flags.id", index=True, ondelete="CASCADE")
    state: str = Field(default="draft", max_length=16)
    # {"enabled": bool, "rollout": int, "constraints": [...], "overrides": {slug: "on"|"off"|"none"}}
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    comment: str = Field(default="", max_length=1000)
    requested_by_id: int = Field(foreign_key="staff_users.id", ondelete="CASCADE")
    requested_by_email: str = Field(max_length=254)
    approved_by_id: int | None = Field(default=None, foreign_key="staff_users.id", ondelete="SET NULL")
    approved_by_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class FlagRead(BaseModel):
    """A flag as the list, the API and the CLI show it."""

    key: str
    name: str
    description: str
    owner: str
    type: str
    enabled: bool
    rollout: int
    protected: bool
    archived: bool
    constraints: list[dict[str, Any]]
    overrides: int
    version: int
    stale: bool
    stale_reason: str
    evaluation_count: int
    last_evaluated: str
    created_at: str
    updated_at: str


class OverrideRead(BaseModel):
    """One organization forced on or off."""

    org_id: int
    org_slug: str
    org_name: str
    enabled: bool
    reason: str
    created_by: str
    created_at: str


class ScheduleRead(BaseModel):
    """A scheduled change."""

    id: int
    action: str
    rollout: int | None
    run_at: str
    status: str
    created_by: str
    result: str


class RequestRead(BaseModel):
    """A change request."""

    id: int
    state: str
    changes: dict[str, Any]
    summary: str
    comment: str
    requested_by: str
    approved_by: str
    updated_at: str
