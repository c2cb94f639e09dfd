"""About 90 days of history for the demo organizations, so a fresh `./voxanne run` opens on real content:
calls with redacted transcripts and their appointments (the `seed-calls` seeder), the inbox's last day of Vapi
events with a few retried failures and dead letters (rows as the inbox writes them, dead letters audited as the
inbox audits them), and the scheduler's recent job runs.

Loaded once: under a session-level advisory lock (two processes starting at once load it once), only when the
demo organizations exist and no call and no earlier load is on record. Never staff accounts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin import locks
from voxanne_admin.audit.service import Actor

log = logging.getLogger(__name__)
HISTORY_CALLS = 20_000
CALL_BATCH = 5_000  # one progress line and one commit per batch
POOL_SIZE = 800  # conversations redacted once and sampled (200 per demo organization)
ACTOR = Actor.system("seed-demo")
LOADED_ACTION = "demo_history_loaded"
SEED = 20_261_201  # the same history every time
WEBHOOK_CALLS = 60  # recent calls whose Vapi events are in the inbox (processed events are kept 24 h)
INBOX_WORKER = "demo-host:4711"
RETRIED_ERRORS = [
    "OperationalError: (psycopg.errors.LockNotAvailable) canceling statement due to lock timeout",
    "OperationalError: (psycopg.OperationalError) server closed the connection unexpectedly",
    "OperationalError: (psycopg.errors.QueryCanceled) canceling statement due to statement timeout",
]
DEAD_LETTER_ERRORS = [
    "OperationalError: (psycopg.OperationalError) connection to server at \"10.0.3.12\", port 5432 failed: "
    "Connection refused",
    "OperationalError: (psycopg.errors.QueryCanceled) canceling statement due to statement timeout",
    "DeadlockDetected: (psycopg.errors.DeadlockDetected) deadlock detected",
]
# How much of each job's schedule is shown (runs older than 30 days are purged by purge_job_runs anyway).
JOB_WINDOWS = {timedelta(minutes=1): timedelta(hours=6), timedelta(minutes=5): timedelta(days=1),
               timedelta(minutes=15): timedelta(days=2), timedelta(hours=1): timedelta(days=3),
               timedelta(days=1): timedelta(days=30)}
FAILED_RECONCILE = "ProviderError: Twilio did not answer in time (GET /IncomingPhoneNumbers.json); try again shortly"


@dataclass
class HistoryResult:
    """What one load wrote (every count 0 when nothing was loaded)."""

    calls: int = 0
    appointments: int = 0
    webhook_events: int = 0
    webhook_attempts: int = 0
    dead_letters: int = 0
    job_runs: int = 0
    seconds: float = 0.0
    skipped: str = ""

    def counts(self) -> dict[str, int]:
        return {"calls": self.calls, "appointments": self.appointments, "webhook_events": self.webhook_events,
                "webhook_attempts": self.webhook_attempts, "dead_letters": self.dead_letters,
                "job_runs": self.job_runs}


def load_demo(*, history: bool = True, calls: int = HISTORY_CALLS, pool_size: int = POOL_SIZE,
              progress: Callable[[str], None] | None = None) -> tuple[int, HistoryResult]:
    """Demo organizations (when there are none) and, with `history`, their history (when none is loaded), under
    one advisory lock; returns (organizations created, history written)."""
    from voxanne_admin import db, demo

    with db.get_engine().connect() as lock_conn:
        lock_conn.execute(sa.text("select pg_advisory_lock(:k)"), {"k": locks.DEMO_LOAD})
        lock_conn.commit()
        try:
            with db.transaction() as session:
                created = demo.seed(session)
            result = (load_history(calls=calls, pool_size=pool_size, progress=progress) if history
                      else HistoryResult(skipped="not asked"))
        finally:
            lock_conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.DEMO_LOAD})
            lock_conn.commit()
    return created, result


def _why_not(session: Session) -> str:
    from voxanne_admin.orgs.service import DEMO_ORGS

    slugs = [slug for _name, slug, _country, _tz in DEMO_ORGS]
    if session.execute(sa.text("select 1 from audit_events where action = :a limit 1"), {"a": LOADED_ACTION}).first():
        return "the demo history is loaded already"
    if session.execute(sa.text("select 1 from calls limit 1")).first():
        return "there are calls already"
    found = session.execute(sa.text("select count(*) from organizations where slug = any(:s)"), {"s": slugs}).scalar()
    if not found:
        return "there are no demo organizations"
    return ""


def load_history(*, calls: int = HISTORY_CALLS, pool_size: int = POOL_SIZE,
                 progress: Callable[[str], None] | None = None) -> HistoryResult:
    """Write the history unless it is loaded already or the database has calls of its own (call under locks.DEMO_LOAD:
    `load_demo` does)."""
    import time

    from voxanne_admin import db
    from voxanne_admin.audit import service as audit
    from voxanne_admin.calls import seed as call_seed

    say = progress or log.info
    with db.read_only() as session:
        skipped = _why_not(session)
    if skipped:
        return HistoryResult(skipped=skipped)
    started = time.monotonic()
    result = HistoryResult()
    say(f"Loading 90 days of demo history: {calls:,} calls with redacted transcripts...")

    def advance(written: int) -> None:
        say(f"  demo calls: {written:,}/{calls:,}")

    result.calls = call_seed.seed_calls(count=calls, progress=advance, seed=SEED, actor=ACTOR, batch=CALL_BATCH,
                                        pool_size=pool_size)
    say("  demo inbox events, dead letters and job runs...")
    now = datetime.now(UTC)
    r = random.Random(SEED)
    with db.transaction() as session:
        result.appointments = session.execute(sa.text("select count(*) from appointments")).scalar() or 0
        _webhook_history(session, r, now, result)
        result.job_runs = _job_runs(session, r, now)
        result.seconds = round(time.monotonic() - started, 1)
        audit.record(session, actor=ACTOR, action=LOADED_ACTION, target_type="demo", target_id="history",
                     diff={**result.counts(), "seconds": result.seconds})
    say(f"Demo history loaded in {result.seconds:.1f} s: " + ", ".join(f"{v:,} {k.replace('_', ' ')}"
                                                                      for k, v in result.counts().items()))
    return result


# ------------------------------------------------------------------ the inbox


def _envelope(call: Any, status: str, at: datetime) -> dict[str, Any]:
    """A Vapi status-update as the sandbox (and Vapi) sends it."""
    message: dict[str, Any] = {
        "type": "status-update", "status": status, "timestamp": int(at.timestamp() * 1000),
        "call": {"id": call.vapi_call_id, "type": "inboundPhoneCall" if call.direction == "inbound"
                 else "outboundPhoneCall", "assistantId": call.assistant_id, "phoneNumberId": call.phone_number_id,
                 "metadata": {"org_id": call.org_id}},
        "phoneNumber": {"id": call.phone_number_id}, "assistant": {"id": call.assistant_id}}
    if status == "ended":
        message["endedReason"] = call.ended_reason
    return {"message": message}


def _webhook_history(session: Session, r: random.Random, now: datetime, result: HistoryResult) -> None:
    """Each recent call's status updates, applied once; a few applied at the second attempt; three dead letters
    (three failed attempts, audited) that an operator can replay from the Webhooks page."""
    from voxanne_admin.audit import service as audit
    from voxanne_admin.privacy import redaction as phi
    from voxanne_admin.webhooks import flows as inbox_flows
    from voxanne_admin.webhooks import service as inbox
    from voxanne_admin.webhooks.models import WebhookAttempt, WebhookEvent

    recent = session.execute(sa.text(
        "select vapi_call_id, org_id, direction, assistant_id, phone_number_id, ended_reason, started_at, ended_at "
        "from calls where status = 'ended' and ended_at is not null and started_at > :since "
        "order by started_at desc limit :n"), {"since": now - timedelta(hours=20), "n": WEBHOOK_CALLS}).all()
    dead = set(r.sample(range(len(recent)), min(3, len(recent))))
    retried = set(r.sample(sorted(set(range(len(recent))) - dead), min(4, len(recent) - len(dead))))
    for index, call in enumerate(recent):
        steps = [("ringing", call.started_at), ("in-progress", call.started_at + timedelta(seconds=2)),
                 ("ended", call.ended_at)]
        for step, (status, at) in enumerate(steps):
            envelope = _envelope(call, status, at)
            event_id, _new = inbox.ingest(session, provider="vapi", parsed=inbox.parse_vapi(envelope),
                                          payload=envelope, source_ip="44.229.228.186")
            event = session.get(WebhookEvent, event_id)
            assert event is not None
            event.received_at = event.next_attempt_at = at
            failures = 0
            if step == len(steps) - 1 and index in dead:
                failures = 3
            elif step == len(steps) - 1 and index in retried:
                failures = 1
            attempt_at = at
            for attempt in range(1, failures + 1):
                error = (DEAD_LETTER_ERRORS[sorted(dead).index(index) % len(DEAD_LETTER_ERRORS)] if failures == 3
                         else r.choice(RETRIED_ERRORS))
                outcome = "dead_letter" if failures == 3 and attempt == 3 else "failed"
                session.add(WebhookAttempt(event_id=event_id, attempt=attempt, started_at=attempt_at,
                                           outcome=outcome, error=error, duration_ms=r.randint(30, 5000),
                                           worker=INBOX_WORKER))
                result.webhook_attempts += 1
                event.last_error = error
                attempt_at += timedelta(seconds=inbox_flows.RETRY_BASE_S ** attempt)
            event.attempts = failures + (0 if failures == 3 else 1)
            if failures == 3:
                event.status = "dead_letter"
                session.add(event)
                session.flush()
                audit.record(session, actor=Actor.system("webhook-inbox"), action="webhook_dead_lettered",
                             target_type="webhook_event", target_id=event_id, org_id=event.org_id,
                             diff={"provider": event.provider, "kind": event.kind, "attempts": event.attempts,
                                   "error": (event.last_error or "")[:300]})
                result.dead_letters += 1
            else:
                event.status, event.last_error = "completed", None
                event.processed_at = attempt_at + timedelta(milliseconds=r.randint(20, 400))
                session.add(WebhookAttempt(event_id=event_id, attempt=event.attempts, started_at=attempt_at,
                                           outcome="completed", duration_ms=r.randint(8, 120), worker=INBOX_WORKER))
                result.webhook_attempts += 1
            event.payload = phi.redact_payload(envelope) if event.status == "completed" else event.payload
            session.add(event)
            result.webhook_events += 1
    session.flush()


# ------------------------------------------------------------------ the scheduler


def _detail(name: str, r: random.Random) -> str:
    n = r.randint(0, 12)
    return {
        "purge_expired_sessions": f"{n} expired or revoked sessions deleted",
        "purge_login_attempts": f"{r.randint(0, 40)} sign-in attempts older than 90 days deleted",
        "purge_job_runs": f"{r.randint(200, 1500)} job runs older than 30 days deleted",
        "sync_pending_agents": f"{int(r.random() < 0.03)} agents synced to Vapi",
        "purge_webhook_inbox": f"{r.randint(150, 400)} processed inbox events and {r.randint(300, 900)} delivery "
                               "attempts deleted",
        "redact_phi_backfill": "0 rows redacted (nothing left from before redaction)",
        "call_retention": "0 organizations past retention; 0 recording links cleared",
        "refresh_call_stats": f"{r.randint(6, 12)} rollup rows rewritten for the last 2 days",
        "rebuild_call_stats": f"{r.randint(300, 460)} rollup rows rebuilt",
        "reconcile_numbers": "3 numbers match the providers; 0 forwarding verifications timed out",
        "apply_flag_schedules": "0 scheduled flag changes due",
    }.get(name, "done")


# Jobs whose runs stand for something on disk (a base backup, a verification record, a drill): a made-up
# "succeeded" run would claim a backup that does not exist, so the demo leaves them to the scheduler.
NOT_SIMULATED = frozenset({"dr_base_backup", "dr_verify", "dr_drill", "dr_retention"})


def _job_runs(session: Session, r: random.Random, now: datetime) -> int:
    """Every job's past scheduled ticks over its window (never the current tick: the scheduler takes that)."""
    from voxanne_admin.jobs.models import JobRun
    from voxanne_admin.jobs.registry import JOBS

    rows: list[dict[str, Any]] = []
    for spec in JOBS.values():
        if spec.name in NOT_SIMULATED:
            continue
        window = JOB_WINDOWS.get(spec.period, timedelta(days=1))
        tick = spec.tick_for(now) - spec.period
        first = now - window
        failed_at = {spec.tick_for(now - timedelta(hours=h)) for h in (7, 31)} if spec.name == "reconcile_numbers" \
            else set()
        while tick >= first:
            started = tick + timedelta(seconds=r.uniform(0.05, 1.5))
            ms = r.randint(15, 900) if spec.period >= timedelta(hours=1) else r.randint(4, 120)
            row = {"job_name": spec.name, "tick": tick, "trigger": "schedule", "started_at": started,
                   "finished_at": started + timedelta(milliseconds=ms), "outcome": "succeeded",
                   "detail": _detail(spec.name, r), "error": None, "duration_ms": ms, "worker": INBOX_WORKER}
            if tick in failed_at:
                row.update(outcome="failed", detail=None, error=FAILED_RECONCILE, duration_ms=30_000 + ms,
                           finished_at=started + timedelta(milliseconds=30_000 + ms))
            rows.append(row)
            tick -= spec.period
    session.execute(sa.insert(JobRun), rows)
    return len(rows)
