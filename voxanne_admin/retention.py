"""Data retention across domains (the daily job): the calls, inbox events and appointments of long-closed
organizations, old recording links, old export files.

It sits above `calls/` and `webhooks/` (each owns the delete of its own rows) so neither imports the other
the wrong way; only `jobs/registry.py` calls it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin.appointments.models import Appointment
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls.exports import purge_exports
from voxanne_admin.calls.models import Call
from voxanne_admin.calls.stats import refresh_stats
from voxanne_admin.orgs.models import Organization
from voxanne_admin.orgs.service import PURGE_AFTER_DAYS
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks import service as inbox


def purge_closed_organizations(session: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Delete the calls (and their inbox events and appointments) of organizations closed more than
    PURGE_AFTER_DAYS ago, one audit event per organization with the row counts. Every DELETE is bound to one
    closed organization's id, so no other organization's rows can be touched."""
    cutoff = (now or utcnow()) - timedelta(days=PURGE_AFTER_DAYS)
    orgs = session.execute(sa.select(col(Organization.id), col(Organization.slug)).where(
        col(Organization.status) == "closed", col(Organization.closed_at) < cutoff)
        .order_by(col(Organization.id))).all()
    done = []
    for org_id, slug in orgs:
        # Recheck inside the statement: an organization reopened meanwhile keeps its data.
        still_closed = sa.exists(sa.select(1).where(col(Organization.id) == org_id,
                                                    col(Organization.status) == "closed",
                                                    col(Organization.closed_at) < cutoff))
        calls = _rowcount(session, sa.delete(Call).where(col(Call.org_id) == org_id, still_closed))
        events = inbox.purge_organization_events(session, org_id=org_id, where=still_closed)
        appointments = _rowcount(session, sa.delete(Appointment).where(col(Appointment.org_id) == org_id,
                                                                      still_closed))
        if calls or events or appointments:
            counts = {"calls": calls, "webhook_events": events, "appointments": appointments}
            audit.record(session, actor=Actor.system("retention"), action="organization_data_purged",
                         target_type="organization", target_id=org_id, org_id=org_id,
                         diff={"slug": slug, **counts, "closed_before": cutoff.isoformat()})
            done.append({"org_id": org_id, **counts})
    return done


def _rowcount(session: Session, statement: sa.Delete | sa.Update) -> int:
    """Rows a DELETE/UPDATE touched (DML runs on a cursor, whose result carries the row count)."""
    return cast("sa.CursorResult[Any]", session.execute(statement)).rowcount


def clear_old_recordings(session: Session, *, days: int, now: datetime | None = None) -> int:
    """Forget recording links of calls older than `days` (0 keeps them forever); audited when any were cleared."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    cleared = _rowcount(session, sa.update(Call).where(
        col(Call.listed_at) < cutoff, sa.or_(col(Call.recording_url).is_not(None),
                                             col(Call.stereo_recording_url).is_not(None)))
        .values(recording_url=None, stereo_recording_url=None))
    if cleared:
        audit.record(session, actor=Actor.system("retention"), action="call_recordings_cleared", target_type="calls",
                     target_id="recordings", diff={"calls": cleared, "older_than_days": days})
    return cleared


def retention(session: Session) -> str:
    """The daily retention job: closed organizations' calls, old recording links, old export files."""
    purged = purge_closed_organizations(session)
    recordings = clear_old_recordings(session, days=get_settings().recording_retention_days)
    exports = purge_exports(session)
    calls = sum(p["calls"] for p in purged)
    if calls:
        refresh_stats(session, days_back=None)  # purged days are in the rollup too
    return (f"{calls} calls of {len(purged)} closed organizations purged, {recordings} recording links cleared, "
            f"{exports} old exports deleted")
