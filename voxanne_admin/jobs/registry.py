"""The jobs the embedded scheduler runs, with their schedules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Session

from voxanne_admin.auth import service as auth_service


@dataclass(frozen=True)
class JobSpec:
    """A named job: what it does (in the caller's transaction), when, and its tick length."""

    name: str
    title: str
    description: str
    schedule: str  # human readable
    trigger: Callable[[], CronTrigger]
    period: timedelta
    run: Callable[[Session], str]

    def tick_for(self, when: datetime) -> datetime:
        """The scheduled tick `when` belongs to (runs in the same tick are one execution)."""
        epoch = datetime(2000, 1, 1, tzinfo=when.tzinfo)
        periods = (when - epoch) // self.period
        return epoch + periods * self.period


def _purge_sessions(session: Session) -> str:
    return f"{auth_service.purge_expired_sessions(session)} expired or revoked sessions deleted"


def _purge_login_attempts(session: Session) -> str:
    deleted = auth_service.purge_login_attempts(session, older_than_days=90)
    return f"{deleted} sign-in attempts older than 90 days deleted"


def _purge_webhooks(session: Session) -> str:
    from voxanne_admin.webhooks import service as inbox

    return inbox.purge(session)


def _purge_job_runs(session: Session) -> str:
    from voxanne_admin.jobs import service as job_service

    return f"{job_service.purge_runs(session, older_than_days=30)} job runs older than 30 days deleted"


def _redact_phi_backfill(session: Session) -> str:
    from voxanne_admin.calls import backfill

    return backfill.backfill(session)


def _call_retention(session: Session) -> str:
    from voxanne_admin import retention

    return retention.retention(session)


def _audit_retention(session: Session) -> str:
    from voxanne_admin import db
    from voxanne_admin.audit import archive

    # As the owner, in its own transaction: the app role may not delete audit rows (the job's session is unused).
    with db.owner_transaction() as owner:
        result = archive.archive_and_purge(owner)
    if not result["segment"]:
        return "nothing past its retention period"
    return (f"{result['archived']} events archived to {result['segment']}, "
            f"{result['deleted']} past their retention period deleted")


def _refresh_call_stats(session: Session) -> str:
    from voxanne_admin.calls import stats

    return f"{stats.refresh_stats(session, days_back=2)} rollup rows rewritten for the last 2 days"


def _rebuild_call_stats(session: Session) -> str:
    from voxanne_admin.calls import stats

    return f"{stats.refresh_stats(session, days_back=None)} rollup rows rebuilt"


def _sync_agents(session: Session) -> str:
    import asyncio

    from voxanne_admin.agents import flows as agent_flows

    synced = asyncio.run(agent_flows.sync_pending())
    return f"{synced} agents synced to Vapi"


def _reconcile_numbers(session: Session) -> str:
    import asyncio

    from voxanne_admin.telephony import service as telephony_service
    from voxanne_admin.telephony.flows import reconciliation

    # Reconciliation makes provider calls in its own short transactions; the job's session is used only after.
    summary = reconciliation.summary(asyncio.run(reconciliation.reconcile_numbers()))
    expired = telephony_service.expire_verifications(session)
    return f"{summary}; {expired} forwarding verifications timed out"


def _dr_backup(session: Session) -> str:
    from voxanne_admin.dr import flows

    # Runs the tools outside any transaction (the job's session is never used, so none is opened).
    row = flows.run_backup(trigger="schedule")
    return f"{row.label}: {(row.size_bytes or 0) / 2**20:.1f} MB, {'verified' if row.verified_ok else 'NOT verified'}"


def _dr_verify(session: Session) -> str:
    from voxanne_admin.dr import flows

    row = flows.run_verify(trigger="schedule")
    if row.status == "failure":
        raise RuntimeError(f"backup verification failed: {row.error_details}")
    return f"verification {row.status}: {row.checks_passed} passed, {row.checks_failed} not passed"


def _dr_drill(session: Session) -> str:
    from voxanne_admin.dr import flows

    row = flows.run_drill(trigger="schedule")
    return f"drill {row.id}: RTO {row.rto_s:.1f} s, RPO {row.rpo_s} s"


def _dr_retention(session: Session) -> str:
    from voxanne_admin.dr import flows

    return flows.apply_retention()


def _credential_grace(session: Session) -> str:
    from voxanne_admin.credentials import flows as credential_flows

    return f"{credential_flows.wipe_expired()} previous webhook secrets past their grace window wiped"


def _credential_reminders(session: Session) -> str:
    from voxanne_admin.credentials import flows as credential_flows

    lines = credential_flows.remind_old()
    return f"{len(lines)} credentials past their age limit reminded on Slack" + (f": {'; '.join(lines)}"
                                                                                   if lines else "")


def _spend_guard(session: Session) -> str:
    from voxanne_admin.calls import spend_guard

    reasons = spend_guard.enforce_all()
    return f"{len(reasons)} new pauses" + (f": {'; '.join(reasons)}" if reasons else "")


def _apply_flag_schedules(session: Session) -> str:
    from voxanne_admin.flags import schedules

    return schedules.apply_due(session)


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in [
        JobSpec(
            name="purge_expired_sessions",
            title="Purge expired sessions",
            description="Deletes staff sessions that expired, went idle or were revoked.",
            schedule="Hourly at :05",
            trigger=lambda: CronTrigger(minute=5, timezone="UTC"),
            period=timedelta(hours=1),
            run=_purge_sessions,
        ),
        JobSpec(
            name="purge_login_attempts",
            title="Purge old sign-in attempts",
            description="Deletes sign-in attempt records older than 90 days.",
            schedule="Daily at 03:30 UTC",
            trigger=lambda: CronTrigger(hour=3, minute=30, timezone="UTC"),
            period=timedelta(days=1),
            run=_purge_login_attempts,
        ),
        JobSpec(
            name="purge_job_runs",
            title="Purge old job runs",
            description="Deletes job run records older than 30 days (the minute-by-minute agent sync adds many).",
            schedule="Daily at 03:45 UTC",
            trigger=lambda: CronTrigger(hour=3, minute=45, timezone="UTC"),
            period=timedelta(days=1),
            run=_purge_job_runs,
        ),
        JobSpec(
            name="sync_pending_agents",
            title="Sync pending agents",
            description="Pushes agents whose last save was not synced to Vapi yet (e.g. interrupted syncs, demo data).",
            schedule="Every minute",
            trigger=lambda: CronTrigger(minute="*", timezone="UTC"),
            period=timedelta(minutes=1),
            run=_sync_agents,
        ),
        JobSpec(
            name="purge_webhook_inbox",
            title="Purge processed webhooks",
            description="Deletes processed inbox events after 24 h and delivery history after 7 days "
                        "(settings); dead letters stay until replayed.",
            schedule="Daily at 04:00 UTC",
            trigger=lambda: CronTrigger(hour=4, minute=0, timezone="UTC"),
            period=timedelta(days=1),
            run=_purge_webhooks,
        ),
        JobSpec(
            name="redact_phi_backfill",
            title="Redact PHI in older rows",
            description="Redacts transcripts, summaries, messages and inbox payloads stored before PHI redaction "
                        "existed, in batches, once per row; idle when nothing is left.",
            schedule="Every 5 minutes",
            trigger=lambda: CronTrigger(minute="*/5", timezone="UTC"),
            period=timedelta(minutes=5),
            run=_redact_phi_backfill,
        ),
        JobSpec(
            name="call_retention",
            title="Call retention",
            description="Deletes calls of organizations closed more than 30 days ago (audited per organization), "
                        "clears recording links older than RECORDING_RETENTION_DAYS and old CSV exports.",
            schedule="Daily at 04:15 UTC",
            trigger=lambda: CronTrigger(hour=4, minute=15, timezone="UTC"),
            period=timedelta(days=1),
            run=_call_retention,
        ),
        JobSpec(
            name="audit_retention",
            title="Audit retention",
            description="Archives audit events past their period (sign-ins 90 days, others AUDIT_RETENTION_DAYS) "
                        "to a signed segment with its checkpoint, then deletes them as the owner role.",
            schedule="Daily at 04:30 UTC",
            trigger=lambda: CronTrigger(hour=4, minute=30, timezone="UTC"),
            period=timedelta(days=1),
            run=_audit_retention,
        ),
        JobSpec(
            name="refresh_call_stats",
            title="Refresh call statistics",
            description="Re-totals the last two days of the call statistics rollup (late end-of-call reports, "
                        "bookings) and moves it up to today; today itself is always counted live.",
            schedule="Every 5 minutes",
            trigger=lambda: CronTrigger(minute="*/5", timezone="UTC"),
            period=timedelta(minutes=5),
            run=_refresh_call_stats,
        ),
        JobSpec(
            name="rebuild_call_stats",
            title="Rebuild call statistics",
            description="Rebuilds the whole call statistics rollup (catches cancelled appointments and any "
                        "change to older calls).",
            schedule="Daily at 03:15 UTC",
            trigger=lambda: CronTrigger(hour=3, minute=15, timezone="UTC"),
            period=timedelta(days=1),
            run=_rebuild_call_stats,
        ),
        JobSpec(
            name="reconcile_numbers",
            title="Reconcile phone numbers",
            description="Compares the numbers Twilio holds with our records: adopts a number a crash left unrecorded "
                        "when its organization still needs it, releases every other orphan (audited); fails "
                        "forwarding verifications nobody watched past their timeout.",
            schedule="Every 15 minutes",
            trigger=lambda: CronTrigger(minute="*/15", timezone="UTC"),
            period=timedelta(minutes=15),
            run=_reconcile_numbers,
        ),
        JobSpec(
            name="dr_base_backup",
            title="Daily base backup",
            description="pg_basebackup with a manifest, checked by pg_verifybackup (pg_dump -Fc when the database "
                        "role has no REPLICATION); then retention.",
            schedule="Daily at 02:00 UTC",
            trigger=lambda: CronTrigger(hour=2, minute=0, timezone="UTC"),
            period=timedelta(days=1),
            run=_dr_backup,
        ),
        JobSpec(
            name="dr_verify",
            title="Backup verification",
            description="The six database checks and the backup checks (age, pg_verifybackup, WAL continuity, "
                        "pg_amcheck), recorded in backup_verification_log; Slack alert unless all pass.",
            schedule="Daily at 05:00 UTC",
            trigger=lambda: CronTrigger(hour=5, minute=0, timezone="UTC"),
            period=timedelta(days=1),
            run=_dr_verify,
        ),
        JobSpec(
            name="dr_drill",
            title="Restore drill",
            description="Restores the latest backup and WAL into a scratch cluster, checks it, compares row counts, "
                        "tears it down; records the measured RTO and RPO.",
            schedule="Weekly, Sunday 03:00 UTC",
            trigger=lambda: CronTrigger(day_of_week="sun", hour=3, minute=0, timezone="UTC"),
            period=timedelta(days=7),
            run=_dr_drill,
        ),
        JobSpec(
            name="dr_retention",
            title="Backup retention",
            description="Keeps VOXANNE_BACKUP_RETENTION backups of each kind, prunes older WAL with "
                        "pg_archivecleanup, deletes verification records older than 90 days.",
            schedule="Daily at 02:45 UTC",
            trigger=lambda: CronTrigger(hour=2, minute=45, timezone="UTC"),
            period=timedelta(days=1),
            run=_dr_retention,
        ),
        JobSpec(
            name="apply_flag_schedules",
            title="Apply scheduled flag changes",
            description="Applies scheduled feature-flag changes and ramp steps that are due, once each, audited as "
                        "the person who scheduled them (every worker's snapshot reloads on the NOTIFY).",
            schedule="Every minute",
            trigger=lambda: CronTrigger(minute="*", timezone="UTC"),
            period=timedelta(minutes=1),
            run=_apply_flag_schedules,
        ),
        JobSpec(
            name="credential_grace",
            title="End webhook-secret grace windows",
            description="After a Vapi webhook-secret rotation, the old secret is refused and wiped once "
                        "CREDENTIAL_GRACE_HOURS have passed (audited).",
            schedule="Every minute",
            trigger=lambda: CronTrigger(minute="*", timezone="UTC"),
            period=timedelta(minutes=1),
            run=_credential_grace,
        ),
        JobSpec(
            name="credential_reminders",
            title="Credential age reminders",
            description="Posts to Slack about stored credentials older than CREDENTIAL_MAX_AGE_DAYS (once a day "
                        "each) until they are rotated.",
            schedule="Daily at 09:00 UTC",
            trigger=lambda: CronTrigger(hour=9, minute=0, timezone="UTC"),
            period=timedelta(days=1),
            run=_credential_reminders,
        ),
        JobSpec(
            name="spend_guard",
            title="Spend guard",
            description="Pauses outbound calling for an organization (or all) that reached its calls-per-hour or "
                        "cost-per-day limit, and alerts Slack (calls are also checked as they are placed).",
            schedule="Every minute",
            trigger=lambda: CronTrigger(minute="*", timezone="UTC"),
            period=timedelta(minutes=1),
            run=_spend_guard,
        ),
    ]
}
