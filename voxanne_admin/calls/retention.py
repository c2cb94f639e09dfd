"""Data retention: calls of long-closed organizations, old recording links, old export files (the daily job)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

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
from voxanne_admin.webhooks.models import WebhookEvent


def purge_closed_organizations(session: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Delete the calls (and their inbox events and appointments) of organizations closed more than
    PURGE_AFTER_DAYS ago, one audit event per organization with the row counts. Every DELETE is bound to one
    closed organization's id, so no other organization's rows can be touched."""
    cutoff = (now or utcnow()) - timedelta(days=PURGE_AFTER_DAYS)
    orgs = session.execute(sa.select(Organization.id, Organization.slug).where(
        Organization.status == "closed", Organization.closed_at < cutoff).order_by(Organization.id)).all()
    done = []
    for org_id, slug in orgs:
        # Recheck inside the statement: an organization reopened meanwhile keeps its data.
        still_closed = sa.exists(sa.select(1).where(Organization.id == org_id, Organization.status == "closed",
                                                    Organization.closed_at < cutoff))
        calls = session.execute(sa.delete(Call).where(Call.org_id == org_id, still_closed)).rowcount
        events = session.execute(sa.delete(WebhookEvent).where(WebhookEvent.org_id == org_id, still_closed)).rowcount
        appointments = session.execute(sa.delete(Appointment).where(Appointment.org_id == org_id,
                                                                    still_closed)).rowcount
        if calls or events or appointments:
            counts = {"calls": calls, "webhook_events": events, "appointments": appointments}
            audit.record(session, actor=Actor.system("retention"), action="organization_data_purged",
                         target_type="organization", target_id=org_id, org_id=org_id,
                         diff={"slug": slug, **counts, "closed_before": cutoff.isoformat()})
            done.append({"org_id": org_id, **counts})
    return done


def clear_old_recordings(session: Session, *, days: int, now: datetime | None = None) -> int:
    """Forget recording links of calls older than `days` (0 keeps them forever); audited when any were cleared."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    cleared = session.execute(
        sa.update(Call).where(Call.listed_at < cutoff, sa.or_(Call.recording_url.is_not(None),
                                                              Call.stereo_recording_url.is_not(None)))
        .values(recording_url=None, stereo_recording_url=None)).rowcount
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
