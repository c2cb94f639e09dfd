"""Queries over the DR records (the caller owns the session): the latest backup, windows, the page's read models."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin.dr import archive
from voxanne_admin.dr.checks import LatestBackup
from voxanne_admin.dr.models import BackupRead, BackupVerificationLog, CheckRead, DrBackup, DrDrill, DrillRead
from voxanne_admin.timeutil import utcnow


def _latest(row: DrBackup) -> LatestBackup:
    return LatestBackup(label=row.label, kind=row.kind, path=Path(row.path),
                        finished_at=row.finished_at or row.started_at, size_bytes=row.size_bytes or 0,
                        start_wal=row.start_wal, checksum=row.checksum)


def _succeeded(session: Session, kind: str | None = None) -> list[DrBackup]:
    query = sa.select(DrBackup).where(col(DrBackup.status) == "succeeded")
    if kind:
        query = query.where(col(DrBackup.kind) == kind)
    return list(session.execute(query.order_by(col(DrBackup.started_at).desc())).scalars().all())


def latest_backup(session: Session) -> LatestBackup | None:
    """The newest succeeded backup (either kind)."""
    rows = _succeeded(session)
    return _latest(rows[0]) if rows else None


def baseline_counts(session: Session) -> dict[str, int] | None:
    """Row counts stored by the last verification that reached the database."""
    rows = session.execute(sa.select(col(BackupVerificationLog.verification_details))
                           .order_by(col(BackupVerificationLog.id).desc()).limit(10)).scalars().all()
    for details in rows:
        if details and details.get("row_counts"):
            return {k: int(v) for k, v in details["row_counts"].items()}
    return None


def running_drill(session: Session) -> DrDrill | None:
    """The drill or restore in progress, if any."""
    return session.execute(sa.select(DrDrill).where(col(DrDrill.status) == "running")
                           .order_by(col(DrDrill.id).desc()).limit(1)).scalars().first()


def window(session: Session, mode: str) -> tuple[datetime | None, datetime | None]:
    """The recoverable window: from the oldest kept backup to now (streaming) or the newest archived WAL."""
    rows = _succeeded(session, "base" if mode == "physical" else "logical")
    if not rows:
        return None, None
    start = min((r.finished_at or r.started_at) for r in rows)
    if mode == "logical":
        return start, max((r.finished_at or r.started_at) for r in rows)
    return start, utcnow()


def choose_backup(session: Session, target: datetime | None, *, mode: str
                  ) -> tuple[LatestBackup | None, tuple[datetime | None, datetime | None]]:
    """The backup to restore for `target` (None: the latest point) and the window; None when outside it."""
    start, end = window(session, mode)
    rows = _succeeded(session, "base" if mode == "physical" else "logical")
    if not rows or start is None or end is None:
        return None, (start, end)
    if target is None:
        return _latest(rows[0]), (start, end)
    if mode == "logical":
        # A dump restores to its own snapshot: the newest one at or before the target.
        fitting = [r for r in rows if (r.finished_at or r.started_at) <= target and target <= utcnow()]
        return (_latest(fitting[0]) if fitting else None), (start, utcnow())
    if target < start or target > end:
        return None, (start, end)
    fitting = [r for r in rows if (r.finished_at or r.started_at) <= target]
    return (_latest(fitting[0]) if fitting else None), (start, end)


def dump_counts(session: Session, label: str) -> dict[str, int]:
    """Row counts a dump recorded from its own snapshot."""
    row = session.execute(sa.select(DrBackup).where(col(DrBackup.label) == label)).scalars().first()
    return {k: int(v) for k, v in ((row.row_counts if row else None) or {}).items()}


# --- read models for the page and `dr status` ---------------------------------------------------------------

def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 2**20:.1f} MB" if n < 2**30 else f"{n / 2**30:.2f} GB"


def _secs(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def list_backups(session: Session, limit: int = 20) -> list[BackupRead]:
    """Newest backups first, with size, duration and verification."""
    rows = session.execute(sa.select(DrBackup).order_by(col(DrBackup.id).desc()).limit(limit)).scalars().all()
    return [BackupRead(
        id=r.id or 0, label=r.label, kind="base backup" if r.kind == "base" else "logical dump", status=r.status,
        started_at=_ts(r.started_at), duration=_secs(r.duration_ms / 1000 if r.duration_ms is not None else None),
        size=_size(r.size_bytes),
        verified="verified" if r.verified_ok else "FAILED verification" if r.verified_ok is False else "not verified",
        error=r.error or "") for r in rows]


def list_drills(session: Session, limit: int = 20) -> list[DrillRead]:
    """Newest drills and restores first."""
    rows = session.execute(sa.select(DrDrill).order_by(col(DrDrill.id).desc()).limit(limit)).scalars().all()
    return [DrillRead(
        id=r.id or 0, kind=r.kind, status=r.status, phase=r.phase, started_at=_ts(r.started_at),
        target=_ts(r.target_time) or "latest point", rto=_secs(r.rto_s), rpo=_secs(r.rpo_s), error=r.error or "")
        for r in rows]


def latest_verification(session: Session) -> BackupVerificationLog | None:
    """The newest verification record."""
    return session.execute(sa.select(BackupVerificationLog).order_by(col(BackupVerificationLog.id).desc())
                           .limit(1)).scalars().first()


def latest_checks(session: Session) -> list[CheckRead]:
    """Each check of the newest verification with its detail."""
    row = latest_verification(session)
    if row is None or not row.verification_details:
        return []
    return [CheckRead(name=c["name"], status=c["status"], detail=c["detail"])
            for c in row.verification_details.get("checks", [])]


def history(session: Session, days: int = 30) -> list[dict[str, Any]]:
    """Per day of the last `days`: verifications by status and drills by outcome (the page's chart)."""
    since = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days_shown = [(since + timedelta(days=i)).strftime("%m-%d") for i in range(days)]
    out: dict[str, dict[str, Any]] = {day: {"day": day, "success": 0, "warning": 0, "failure": 0, "drill_ok": 0,
                                            "drill_failed": 0} for day in days_shown}
    query = sa.select(col(BackupVerificationLog.verified_at), col(BackupVerificationLog.status))
    for verified_at, status in session.execute(query.where(col(BackupVerificationLog.verified_at) >= since)).all():
        key = verified_at.astimezone(UTC).strftime("%m-%d")
        if key in out:
            out[key][status] += 1
    drills = (sa.select(col(DrDrill.started_at), col(DrDrill.status))
              .where(col(DrDrill.started_at) >= since, col(DrDrill.kind) == "drill"))
    for started_at, status in session.execute(drills).all():
        key = started_at.astimezone(UTC).strftime("%m-%d")
        if key in out and status != "running":
            out[key]["drill_ok" if status == "succeeded" else "drill_failed"] += 1
    return list(out.values())


def headline(session: Session, mode: str | None) -> dict[str, str]:
    """RPO now, RTO of the last drill, last verification, and the mode's meaning, as display strings."""
    last_drill = session.execute(sa.select(DrDrill)
                                 .where(col(DrDrill.status) == "succeeded", col(DrDrill.kind) == "drill")
                                 .order_by(col(DrDrill.id).desc()).limit(1)).scalars().first()
    verification = latest_verification(session)
    rpo = ""
    if mode == "logical":
        dumps = _succeeded(session, "logical")
        if dumps:
            rpo = _secs((utcnow() - (dumps[0].finished_at or dumps[0].started_at)).total_seconds())
        meaning = ("Logical backups (pg_dump): the database role has no REPLICATION, so there is no WAL archive. "
                   "A disaster loses everything since the newest dump (up to a day).")
    else:
        newest = archive.newest_wal_mtime()
        status = archive.read_status()
        if newest is not None:
            age = max(0.0, time.time() - newest)
            rpo = "under 1 s (streaming)" if status.get("state") == "streaming" and age < 60 else _secs(age)
        meaning = ("Physical backups: daily pg_basebackup plus WAL streamed continuously by pg_receivewal, so a "
                   "restore can reach any second since the oldest kept backup (RPO of seconds).")
    receiver = archive.read_status() if mode != "logical" else {}
    return {
        "rpo_now": rpo or "no backup yet",
        "rto_last": _secs(last_drill.rto_s) if last_drill else "no drill yet",
        "rpo_last": _secs(last_drill.rpo_s) if last_drill else "",
        "last_drill_at": _ts(last_drill.started_at) if last_drill else "",
        "verification_status": verification.status if verification else "never run",
        "verification_at": _ts(verification.verified_at) if verification else "",
        "mode": mode or "",
        "mode_meaning": meaning,
        "receiver_state": receiver.get("state", ""),
        "receiver_error": receiver.get("error", "") if receiver.get("state") == "failing" else "",
    }
