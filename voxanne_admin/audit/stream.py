"""Streaming the audit trail to a SIEM (a flow: it commits its own short transactions around the POSTs).

With AUDIT_STREAM_URL set, the scheduler calls `deliver()` every AUDIT_STREAM_INTERVAL_SECONDS in every worker;
one of them takes the session try-lock `locks.AUDIT_STREAM` on a dedicated autocommit connection (no transaction
is held across a POST) and the others skip, so exactly one process streams at a time across the fleet.

Each batch holds the next sealed events (id order, up to AUDIT_STREAM_BATCH, each with its chain position and link)
and the checkpoints signed since the last batch:

    {"source": "voxanne-admin", "batch": "<first id>-<last id>", "events": [<event>...], "checkpoints": [...]}

The cursor (`audit_stream_cursor`) moves only after the endpoint answered 2xx. A failed POST is retried with
exponential backoff (tenacity); when a run gives up, the cursor stays and the next run sends the same batch again:
delivery is at least once and nothing is skipped; receivers deduplicate by event `id` (and checkpoint `seq`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from voxanne_admin import db, locks
from voxanne_admin.audit import chain
from voxanne_admin.audit.models import AuditEvent, AuditSeal
from voxanne_admin.audit.page_schema import AuditStreamCursor
from voxanne_admin.audit.query import to_event
from voxanne_admin.providers import siem
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
NAME = "siem"
MAX_RUN_BATCHES = 200  # one run sends at most this many batches, then lets the next tick continue


@dataclass(frozen=True)
class StreamStatus:
    """How far the stream is behind, for the page and the API."""

    configured: bool
    last_event_id: int
    backlog_events: int
    lag_s: float | None
    delivered_events: int
    delivered_at: datetime | None
    failing_since: datetime | None
    last_error: str
    attempts: int

    @property
    def summary(self) -> str:
        """One sentence for the page."""
        if not self.configured:
            return "Not configured: set AUDIT_STREAM_URL to stream the trail to your SIEM."
        if self.failing_since is not None:
            return (f"Failing since {self.failing_since:%Y-%m-%d %H:%M:%S} UTC ({self.last_error}); "
                    f"{self.backlog_events:,} events queued, nothing is lost: they are sent when it answers again.")
        if self.backlog_events:
            return f"Catching up: {self.backlog_events:,} sealed events waiting to be sent."
        return "Up to date: every sealed event has been delivered."


@dataclass(frozen=True)
class DeliveryResult:
    """What one `deliver()` run did."""

    sent_events: int = 0
    sent_checkpoints: int = 0
    batches: int = 0
    skipped: str = ""   # why nothing ran (not configured, another worker streams)
    error: str = ""     # why the run stopped early (the batch is sent again next run)


def _cursor(session: Session) -> AuditStreamCursor:
    row = session.get(AuditStreamCursor, NAME)
    return row if row is not None else AuditStreamCursor(name=NAME)


def status(session: Session) -> StreamStatus:
    """The stream's cursor against the sealed head: backlog and how long its oldest event has waited."""
    cursor = _cursor(session)
    if not get_settings().audit_stream_url:
        # Not streaming: no backlog to count (counting the whole trail would cost the page at 1M rows).
        return StreamStatus(configured=False, last_event_id=cursor.last_event_id, backlog_events=0, lag_s=None,
                            delivered_events=cursor.delivered_events, delivered_at=cursor.delivered_at,
                            failing_since=cursor.failing_since, last_error=cursor.last_error or "",
                            attempts=cursor.attempts)
    through = chain.sealed_through(session)
    backlog, oldest = session.execute(sa.select(sa.func.count(), sa.func.min(col(AuditEvent.occurred_at))).where(
        col(AuditEvent.id) > cursor.last_event_id, col(AuditEvent.id) <= through)).one()
    return StreamStatus(
        configured=True, last_event_id=cursor.last_event_id,
        backlog_events=int(backlog), lag_s=(utcnow() - oldest).total_seconds() if oldest else 0.0,
        delivered_events=cursor.delivered_events, delivered_at=cursor.delivered_at,
        failing_since=cursor.failing_since, last_error=cursor.last_error or "", attempts=cursor.attempts)


def next_batch(session: Session, *, after_id: int, after_seq: int, limit: int) -> dict[str, Any] | None:
    """The next batch to send (None when nothing is waiting): sealed events after `after_id`, checkpoints after
    checkpoint `after_seq`."""
    through = chain.sealed_through(session)
    rows = session.execute(
        sa.select(AuditEvent, col(AuditSeal.seq), col(AuditSeal.link))
        .join(AuditSeal, col(AuditSeal.event_id) == col(AuditEvent.id))
        .where(col(AuditEvent.id) > after_id, col(AuditEvent.id) <= through)
        .order_by(col(AuditEvent.id)).limit(limit)).all()
    checkpoints = chain.read_checkpoints(after_seq=after_seq)[:limit]
    if not rows and not checkpoints:
        return None
    events = [{**to_event(event), "chain": {"seq": seq, "link": link}} for event, seq, link in rows]
    first, last = (events[0]["id"], events[-1]["id"]) if events else (after_id, after_id)
    return {"source": "voxanne-admin", "batch": f"{first}-{last}", "events": events, "checkpoints": checkpoints}


def _advance(session: Session, batch: dict[str, Any]) -> None:
    cursor = _cursor(session)
    if batch["events"]:
        cursor.last_event_id = int(batch["events"][-1]["id"])
    if batch["checkpoints"]:
        cursor.last_checkpoint_seq = int(batch["checkpoints"][-1]["seq"])
    cursor.delivered_events += len(batch["events"])
    cursor.delivered_at, cursor.failing_since, cursor.last_error, cursor.attempts = utcnow(), None, None, 0
    session.add(cursor)


def _failed(session: Session, error: str, attempts: int) -> None:
    cursor = _cursor(session)
    cursor.failing_since = cursor.failing_since or utcnow()
    cursor.last_error, cursor.attempts = error[:500], cursor.attempts + attempts
    session.add(cursor)


def _post(url: str, token: str | None, batch: dict[str, Any]) -> int:
    """POST with exponential backoff; returns the attempts made, raises SiemUnavailable after the last."""
    s = get_settings()
    retrying = Retrying(stop=stop_after_attempt(s.audit_stream_attempts), reraise=True,
                        wait=wait_exponential(multiplier=s.audit_stream_backoff_seconds,
                                              max=s.audit_stream_backoff_max_seconds),
                        retry=retry_if_exception_type(siem.SiemUnavailable))
    for attempt in retrying:
        with attempt:
            siem.post_batch(url, batch, token=token)
    return retrying.statistics.get("attempt_number", 1)


def deliver(*, max_batches: int = MAX_RUN_BATCHES) -> DeliveryResult:
    """Send every waiting batch (one streamer across the fleet); stops at the first batch the SIEM refuses."""
    s = get_settings()
    if not s.audit_stream_url:
        return DeliveryResult(skipped="AUDIT_STREAM_URL is not set")
    token = s.audit_stream_token.get_secret_value() if s.audit_stream_token else None
    with db.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": locks.AUDIT_STREAM}).scalar():
            return DeliveryResult(skipped="another worker is streaming")
        try:
            return _deliver_locked(s.audit_stream_url, token, s.audit_stream_batch, max_batches)
        finally:
            conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.AUDIT_STREAM})


def _deliver_locked(url: str, token: str | None, limit: int, max_batches: int) -> DeliveryResult:
    events = checkpoints = batches = 0
    while batches < max_batches:
        with db.read_only() as session:
            cursor = _cursor(session)
            batch = next_batch(session, after_id=cursor.last_event_id, after_seq=cursor.last_checkpoint_seq,
                               limit=limit)
        if batch is None:
            break
        try:
            _post(url, token, batch)
        except siem.SiemUnavailable as exc:
            attempts = get_settings().audit_stream_attempts
            with db.transaction() as session:
                _failed(session, str(exc), attempts)
            log.warning("audit stream: batch not delivered, will retry", extra={"batch": batch["batch"]})
            return DeliveryResult(events, checkpoints, batches, error=str(exc))
        with db.transaction() as session:
            _advance(session, batch)
        events, checkpoints, batches = events + len(batch["events"]), checkpoints + len(batch["checkpoints"]), \
            batches + 1
    return DeliveryResult(events, checkpoints, batches)


def tick_once() -> DeliveryResult:
    """The scheduler's tick: deliver, never raise (a database restart must not stop the scheduler)."""
    try:
        return deliver()
    except Exception as exc:
        log.exception("audit stream tick failed")
        return DeliveryResult(error=type(exc).__name__)
