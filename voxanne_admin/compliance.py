"""The data-retention report auditors ask for: each retention rule with its setting, the job that applies it (last
run, next run) and the rows it purged, the organizations waiting for the 30-day closure purge, and the audit trail's
own retention. Read-only; above `jobs/`, `orgs/` and `audit/` (it reads all three), called by `api/compliance`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin.audit.models import AuditArchiveSegment, AuditEvent
from voxanne_admin.jobs.models import JobRun
from voxanne_admin.jobs.registry import JOBS
from voxanne_admin.orgs.models import Organization
from voxanne_admin.orgs.service import PURGE_AFTER_DAYS
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

AUDIT_RETENTION_JOB = "audit_retention"


@dataclass(frozen=True)
class Rule:
    """One retention rule: what it removes, its setting, the job applying it, and the audit actions counting it."""

    key: str
    data: str
    keep: str
    setting: str | None
    job: str | None
    counted_by: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (audit action, diff keys summed)


def _rules() -> list[Rule]:
    s = get_settings()
    recordings = (f"{s.recording_retention_days} days" if s.recording_retention_days else "forever")
    return [
        Rule("closed_organization_data", "Calls, webhook events and appointments of closed organizations",
             f"{PURGE_AFTER_DAYS} days after the organization is closed", None, "call_retention",
             (("organization_data_purged", ("calls", "webhook_events", "appointments")),)),
        Rule("call_recordings", "Recording links of calls", recordings, "RECORDING_RETENTION_DAYS",
             "call_retention", (("call_recordings_cleared", ("calls",)),)),
        Rule("call_exports", "CSV export files of call logs", "24 hours", None, "call_retention"),
        Rule("webhook_inbox", "Processed webhook events / their delivery history",
             f"{s.webhook_completed_retention_hours} hours / {s.webhook_history_retention_days} days",
             "WEBHOOK_COMPLETED_RETENTION_HOURS, WEBHOOK_HISTORY_RETENTION_DAYS", "purge_webhook_inbox"),
        Rule("staff_sessions", "Expired, idle or revoked staff sessions", "until they expire",
             "SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_DAYS", "purge_expired_sessions"),
        Rule("login_attempts", "Sign-in attempt records", "90 days", None, "purge_login_attempts"),
        Rule("job_runs", "Job run records", "30 days", None, "purge_job_runs"),
        # Archived to signed segments first (the proof is kept), then deleted by the owner role.
        Rule("audit_events", "Audit events: authentication / everything else",
             f"{s.audit_auth_retention_days} days / {s.audit_retention_days} days",
             "AUDIT_AUTH_RETENTION_DAYS, AUDIT_RETENTION_DAYS", AUDIT_RETENTION_JOB if AUDIT_RETENTION_JOB in JOBS
             else None),
    ]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _next_run(job: str | None, now: datetime) -> str | None:
    spec = JOBS.get(job) if job else None
    return _iso(spec.trigger().get_next_fire_time(None, now)) if spec else None


def _last_run(session: Session, job: str | None) -> dict[str, Any] | None:
    if job is None:
        return None
    row = session.execute(sa.select(JobRun).where(col(JobRun.job_name) == job, col(JobRun.outcome) != "running")
                          .order_by(col(JobRun.id).desc()).limit(1)).scalars().first()
    if row is None:
        return None
    return {"started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at), "outcome": row.outcome,
            "detail": row.detail or row.error or ""}


def _purged(session: Session, rule: Rule, since: datetime | None) -> dict[str, int] | None:
    """Rows the rule removed, summed from its audit events (all time, and in its last run)."""
    if not rule.counted_by:
        return None
    total = last = 0
    for action, keys in rule.counted_by:
        amount = sum((sa.cast(col(AuditEvent.diff)[k].astext, sa.BigInteger) for k in keys),
                     sa.literal(0, sa.BigInteger))
        everything, recent = session.execute(sa.select(
            sa.func.coalesce(sa.func.sum(amount), 0),
            sa.func.coalesce(sa.func.sum(amount).filter(col(AuditEvent.occurred_at) >= since), 0)
            if since else sa.literal(0)).where(col(AuditEvent.action) == action)).one()
        total, last = total + int(everything), last + int(recent)
    return {"total": total, "last_run": last}


def _archived(session: Session) -> dict[str, Any]:
    """What audit retention archived (signed segments) and then deleted."""
    segments, rows, deleted, last = session.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(col(AuditArchiveSegment.rows)), 0),
        sa.func.coalesce(sa.func.sum(col(AuditArchiveSegment.deleted)), 0),
        sa.func.max(col(AuditArchiveSegment.created_at)))).one()
    return {"segments": int(segments), "rows_archived": int(rows), "rows_deleted": int(deleted),
            "last_segment_at": _iso(last)}


def _pending_closures(session: Session, now: datetime) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(col(Organization.id), col(Organization.name), col(Organization.slug),
                                     col(Organization.closed_at))
                           .where(col(Organization.status) == "closed")
                           .order_by(col(Organization.closed_at), col(Organization.id))).all()
    out = []
    for org_id, name, slug, closed_at in rows:
        due = closed_at + timedelta(days=PURGE_AFTER_DAYS)
        out.append({"org_id": org_id, "name": name, "slug": slug, "closed_at": _iso(closed_at),
                    "purge_due_at": _iso(due), "next_purge_run": _next_run("call_retention", max(now, due)),
                    "overdue": due <= now})
    return out


def data_retention(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """The report `GET /api/compliance/data-retention` answers."""
    now = now or utcnow()
    rules = []
    for rule in _rules():
        last = _last_run(session, rule.job)
        since = datetime.fromisoformat(last["started_at"].replace("Z", "+00:00")) if last else None
        rules.append({"rule": rule.key, "data": rule.data, "keep": rule.keep, "setting": rule.setting,
                      "job": rule.job, "last_run": last, "next_run": _next_run(rule.job, now),
                      "rows_purged": _purged(session, rule, since),
                      **({"archive": _archived(session)} if rule.key == "audit_events" else {})})
    return {"generated_at": _iso(now), "rules": rules, "pending_closure_purges": _pending_closures(session, now)}
