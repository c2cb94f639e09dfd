"""The PHI backfill: redact rows stored before redaction existed (calls text, inbox payloads, attempt errors).

Rows carry a `redaction_version` (migration 0006): 0 for rows stored before redaction, the current version for
rows the pipeline wrote redacted. The job takes the rows below the current version in batches by id, each batch in
its own short transaction (FOR UPDATE SKIP LOCKED, so it never waits on the webhook worker), rewrites them redacted
and marks them, until nothing is left or its time budget is spent; the next run carries on. Inbox events still
waiting to be applied keep their raw payload (applying needs it; the apply rewrites it redacted).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.privacy import redaction

REDACTION_VERSION = 1
FINAL_EVENT_STATUSES = ("completed", "ignored", "rejected")
_CALL_UPDATE = sa.text(
    "update calls set transcript = :transcript, summary = :summary, messages = :messages, analysis = :analysis,"
    " live_transcript = :live, redaction_version = :version where id = :id"
).bindparams(sa.bindparam("messages", type_=JSONB), sa.bindparam("analysis", type_=JSONB),
             sa.bindparam("live", type_=JSONB))
_EVENT_UPDATE = sa.text(
    "update webhook_events set payload = :payload, last_error = :error, redaction_version = :version where id = :id"
).bindparams(sa.bindparam("payload", type_=JSONB))


def _region(conn: sa.Connection, cache: dict[int | None, str], org_id: int | None) -> str:
    if org_id not in cache:
        country = conn.execute(sa.text("select country from organizations where id = :id"),
                               {"id": org_id}).scalar() if org_id is not None else None
        cache[org_id] = str(country or "US").upper()
    return cache[org_id]


def _text(value: Any, region: str) -> Any:
    return redaction.redact(value, region=region) if isinstance(value, str) else value


def redact_calls_batch(limit: int = 500) -> int:
    """Redact one batch of calls rows below the current version; returns how many were rewritten."""
    cache: dict[int | None, str] = {}
    with db.get_engine().begin() as conn:
        rows = conn.execute(sa.text(
            "select id, org_id, transcript, summary, messages, analysis, live_transcript from calls"
            " where redaction_version < :version order by id limit :limit for update skip locked"),
            {"version": REDACTION_VERSION, "limit": limit}).all()
        for row in rows:
            region = _region(conn, cache, row.org_id)
            conn.execute(_CALL_UPDATE, {
                "id": row.id, "version": REDACTION_VERSION, "transcript": _text(row.transcript, region),
                "summary": _text(row.summary, region),
                "messages": redaction.redact_value(row.messages, region=region),
                "analysis": redaction.redact_value(row.analysis, region=region),
                "live": redaction.redact_value(row.live_transcript, region=region),
            })
    return len(rows)


def redact_events_batch(limit: int = 500) -> int:
    """Redact one batch of final inbox events (payload and last error); returns how many were rewritten."""
    cache: dict[int | None, str] = {}
    with db.get_engine().begin() as conn:
        rows = conn.execute(sa.text(
            "select e.id, e.payload, e.last_error, coalesce(e.org_id, c.org_id) as org_id from webhook_events e"
            " left join calls c on c.vapi_call_id = e.call_id"
            " where e.redaction_version < :version and e.status in ('completed', 'ignored', 'rejected')"
            " order by e.id limit :limit for update of e skip locked"),
            {"version": REDACTION_VERSION, "limit": limit}).all()
        for row in rows:
            region = _region(conn, cache, row.org_id)
            conn.execute(_EVENT_UPDATE, {"id": row.id, "version": REDACTION_VERSION,
                                         "payload": redaction.redact_payload(row.payload, region=region),
                                         "error": _text(row.last_error, region)})
    return len(rows)


def redact_attempts_batch(limit: int = 2000) -> int:
    """Redact one batch of delivery-attempt errors; returns how many rows were marked."""
    with db.get_engine().begin() as conn:
        rows = conn.execute(sa.text(
            "select id, error from webhook_attempts where redaction_version < :version"
            " order by id limit :limit for update skip locked"),
            {"version": REDACTION_VERSION, "limit": limit}).all()
        for row in rows:
            conn.execute(sa.text("update webhook_attempts set error = :error, redaction_version = :version"
                                 " where id = :id"),
                         {"id": row.id, "error": _text(row.error, "US"), "version": REDACTION_VERSION})
    return len(rows)


def remaining() -> dict[str, int]:
    """Rows still to redact, per table (pending inbox events are not counted: the apply redacts them)."""
    with db.read_only() as session:
        return {
            "calls": int(session.execute(sa.text(
                "select count(*) from calls where redaction_version < :v"), {"v": REDACTION_VERSION}).scalar() or 0),
            "webhook_events": int(session.execute(sa.text(
                "select count(*) from webhook_events where redaction_version < :v"
                " and status in ('completed', 'ignored', 'rejected')"), {"v": REDACTION_VERSION}).scalar() or 0),
            "webhook_attempts": int(session.execute(sa.text(
                "select count(*) from webhook_attempts where redaction_version < :v"),
                {"v": REDACTION_VERSION}).scalar() or 0),
        }


def _audit(session: Session, done: dict[str, int], *, failed: bool) -> None:
    audit.record(session, actor=Actor.system("redaction-backfill"), action="phi_redaction_backfill",
                 target_type="job", target_id="redact_phi_backfill",
                 diff={**done, "version": REDACTION_VERSION, "interrupted": failed})


def backfill(session: Session, *, batch: int = 500, budget_s: float = 240.0) -> str:
    """Job body: redact old rows batch by batch within the time budget; audited with the counts."""
    started = time.monotonic()
    done = {"calls": 0, "webhook_events": 0, "webhook_attempts": 0}
    steps = (("calls", redact_calls_batch, batch), ("webhook_events", redact_events_batch, batch),
             ("webhook_attempts", redact_attempts_batch, batch * 4))
    try:
        for name, step, size in steps:
            while time.monotonic() - started < budget_s:
                count = step(size)
                done[name] += count
                if count < size:
                    break
    except Exception:
        if any(done.values()):  # the job's transaction rolls back: the batches already committed are audited apart
            with db.transaction() as own:
                _audit(own, done, failed=True)
        raise
    if any(done.values()):
        _audit(session, done, failed=False)
    left = remaining()
    return (f"{done['calls']} calls, {done['webhook_events']} inbox events and {done['webhook_attempts']} "
            f"delivery attempts redacted; left: {left['calls']} calls, {left['webhook_events']} inbox events, "
            f"{left['webhook_attempts']} attempts")
