"""Disaster-recovery records: base/logical backups, restore drills and the daily verification log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class BackupVerificationLog(SQLModel, table=True):
    """One verification run (the seed's columns); kept 90 days."""

    __tablename__ = "backup_verification_log"
    __table_args__ = (
        sa.CheckConstraint("status in ('success', 'warning', 'failure')", name="ck_backup_verification_log_status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    verified_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    backup_id: str | None = Field(default=None, max_length=64)
    backup_age_hours: float | None = Field(default=None)
    backup_size_mb: float | None = Field(default=None)
    status: str = Field(max_length=16)
    checks_passed: int = Field(default=0)
    checks_failed: int = Field(default=0)
    error_details: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    verification_details: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class DrBackup(SQLModel, table=True):
    """A base backup (pg_basebackup + manifest) or a logical dump (pg_dump -Fc)."""

    __tablename__ = "dr_backups"
    __table_args__ = (
        sa.CheckConstraint("kind in ('base', 'logical')", name="ck_dr_backups_kind"),
        sa.CheckConstraint("status in ('running', 'succeeded', 'failed', 'removed')", name="ck_dr_backups_status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    label: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=16)
    status: str = Field(default="running", max_length=16)
    trigger: str = Field(default="manual", max_length=16)  # schedule | manual
    requested_by: str | None = Field(default=None, max_length=254)
    started_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    duration_ms: int | None = Field(default=None)
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    path: str = Field(default="", max_length=1000)
    start_wal: str | None = Field(default=None, max_length=32)  # first WAL segment a PITR from it needs
    checksum: str | None = Field(default=None, max_length=64)  # sha256 of a logical dump
    row_counts: dict[str, Any] | None = Field(default=None, sa_type=JSONB)  # a dump's counts, same snapshot
    verified_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    verified_ok: bool | None = Field(default=None)
    error: str | None = Field(default=None, max_length=4000)


class DrDrill(SQLModel, table=True):
    """A restore drill (or a real restore): progress, measured RTO and achieved RPO."""

    __tablename__ = "dr_drills"
    __table_args__ = (
        sa.CheckConstraint("status in ('running', 'succeeded', 'failed')", name="ck_dr_drills_status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    kind: str = Field(default="drill", max_length=16)  # drill | restore
    status: str = Field(default="running", max_length=16)
    phase: str = Field(default="queued", max_length=200)
    trigger: str = Field(default="manual", max_length=16)
    requested_by: str | None = Field(default=None, max_length=254)
    started_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    backup_label: str | None = Field(default=None, max_length=64)
    target_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    recovered_to: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    rto_s: float | None = Field(default=None)
    rpo_s: float | None = Field(default=None)
    details: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    error: str | None = Field(default=None, max_length=4000)


class BackupRead(BaseModel):
    """A backup as the DR page lists it."""

    id: int
    label: str
    kind: str
    status: str
    started_at: str
    duration: str
    size: str
    verified: str
    error: str


class DrillRead(BaseModel):
    """A drill as the DR page lists it."""

    id: int
    kind: str
    status: str
    phase: str
    started_at: str
    target: str
    rto: str
    rpo: str
    error: str


class CheckRead(BaseModel):
    """One check of the latest verification."""

    name: str
    status: str
    detail: str
