"""CSV exports as records: register one (token, file path) in the caller's transaction, look one up for the
download route, delete old ones. The file itself is written by `export_flow`."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin.calls.filters import CallFilter, check_scope
from voxanne_admin.calls.models import CallExport
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

EXPORT_KEEP_HOURS = 24


def export_dir() -> Path:
    """Where export files live (under the data directory, never served except through the download route)."""
    path = get_settings().data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def start_export(session: Session, *, flt: CallFilter, staff_id: int | None, role: str | None = None) -> CallExport:
    """Register an export (token, file path) in the caller's transaction; run_export writes it."""
    check_scope(flt, role)
    token = secrets.token_urlsafe(24)
    row = CallExport(token=token, staff_id=staff_id, filter=flt.model_dump(), status="running",
                     path=str(export_dir() / f"calls-{utcnow():%Y%m%d-%H%M%S}-{token[:8]}.csv"))
    session.add(row)
    session.flush()
    return row



def get_export(session: Session, *, token: str) -> CallExport | None:
    """The export with that token, if any."""
    return session.get(CallExport, token) if token and len(token) <= 64 else None


def purge_exports(session: Session, *, older_than_hours: int = EXPORT_KEEP_HOURS) -> int:
    """Delete export files (and their rows) older than `older_than_hours`; returns how many."""
    cutoff = utcnow() - timedelta(hours=older_than_hours)
    rows = session.execute(sa.select(CallExport).where(col(CallExport.created_at) < cutoff)).scalars().all()
    for row in rows:
        if row.path:
            Path(row.path).unlink(missing_ok=True)
            Path(row.path + ".part").unlink(missing_ok=True)
        session.delete(row)
    session.flush()
    return len(rows)


