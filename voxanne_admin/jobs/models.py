"""Records of scheduled job executions, shared by every worker and replica."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    __table_args__ = (
        # One execution per scheduled tick across the fleet; manual runs have no tick.
        sa.Index("uq_job_runs_tick", "job_name", "tick", unique=True, postgresql_where=sa.text("tick is not null")),
        sa.CheckConstraint(
            "outcome in ('running', 'succeeded', 'failed', 'skipped')", name="ck_job_runs_outcome"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    job_name: str = Field(max_length=64, index=True)
    tick: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    trigger: str = Field(max_length=16)  # schedule | manual
    started_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    outcome: str = Field(default="running", max_length=16)
    detail: str | None = Field(default=None, max_length=2000)
    error: str | None = Field(default=None, max_length=4000)
    duration_ms: int | None = Field(default=None)
    worker: str = Field(default="", max_length=128)


class JobRunRead(BaseModel):
    """A job run as the Jobs page lists it."""

    id: int
    job_name: str
    job_title: str = ""
    trigger: str
    started_at: str
    outcome: str
    duration: str
    detail: str
    error: str
