"""The durable webhook inbox, its rules: parse, store before answering, apply, replay, monitoring queries.

A service: every function takes the caller's session and never commits. Claiming, processing (apply + mark
completed in one transaction), retries, dead letters and tool-call answers are the flow, `webhooks/flows.py`.

At-least-once delivery (providers retry, duplicates arrive, workers die) gives exactly-once effects because:
  * every accepted event is inserted under a unique (provider, dedupe_key) before the route answers 2xx;
  * an event is applied and marked completed in ONE transaction, so a crash leaves it unapplied and its lease
    expires, after which another worker claims it again;
  * the apply handlers are idempotent and never move a status backwards.

PHI never stays in the inbox: an applied event's payload is rewritten redacted (voxanne_admin.privacy.redaction) in
the same transaction as the apply, and events stored already final at ingest (ignored, rejected, answered) are
redacted before they are stored. Only events still waiting to be applied (pending, failed, dead letters) hold the
raw payload, because applying needs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.calls import service as call_service
from voxanne_admin.calls.models import EventLine
from voxanne_admin.errors import InvalidInput
from voxanne_admin.messaging import service as sms_service
from voxanne_admin.privacy import redaction as phi
from voxanne_admin.privacy import secrets
from voxanne_admin.privacy.masking import mask
from voxanne_admin.providers.vapi_payloads import message_metadata
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import service as voice_service
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks.models import WebhookEvent, WebhookEventRead

log = logging.getLogger(__name__)
PROCESSED_VAPI = {"status-update", "end-of-call-report", "transcript"}
ANSWERED_VAPI = {"tool-calls", "assistant-request"}
FINAL_TRANSCRIPT = 'transcript[transcriptType="final"]'


# ------------------------------------------------------------------ parsing


@dataclass
class Parsed:
    """What the route needs to store an event."""

    kind: str
    dedupe_key: str
    call_id: str | None
    status: str  # initial inbox status: pending | ignored | rejected | completed
    reason: str = ""
    org_id: int | None = None


# Fields of messages we do not use (conversation-update, speech-update, partial transcripts ...) or answer at once
# (tool-calls, assistant-request: Vapi sends the whole conversation so far with every tool call) that carry the
# conversation: dropped rather than redacted at ingest, which keeps the webhook route cheap. The conversation is
# kept from the end-of-call report.
BULKY_UNUSED = ("messages", "messagesOpenAIFormatted", "conversation", "artifact", "transcript", "analysis")


def _final_payload(payload: dict[str, Any], parsed: Parsed, region: str) -> Any:
    message = payload.get("message") if isinstance(payload, dict) else None
    if parsed.status in ("ignored", "completed") and isinstance(message, dict):
        dropped = [key for key in BULKY_UNUSED if key in message]
        if dropped:
            slim = {key: value for key, value in message.items() if key not in BULKY_UNUSED}
            used = "is answered at once" if parsed.status == "completed" else "is not used"
            slim["_dropped"] = f"{', '.join(dropped)} not stored: this message type {used}"
            payload = {**payload, "message": slim}
    return phi.redact_payload(payload, region=region)


def payload_org_id(payload: Any) -> int | None:
    """The organization a message names in its assistant metadata, if any (it decides the redaction region)."""
    message = payload.get("message") if isinstance(payload, dict) else None
    org = message_metadata(message).get("org_id") if isinstance(message, dict) else None
    text = str(org or "")
    return int(text) if text.isdigit() and len(text) < 12 else None


def _ingest_region(session: Session | sa.Connection, payload: Any) -> str:
    """The organization's country when the message names it (assistant metadata); else US.

    Not cached: a primary-key lookup is cheap, and a cached country would redact with the wrong region for minutes
    after an organization's country changes (or, in tests, after ids are reused)."""
    org_id = payload_org_id(payload)
    if org_id is None:
        return "US"
    country = session.execute(sa.text("select country from organizations where id = :id"), {"id": org_id}).scalar()
    return str(country or "US").upper()


def needs_region(parsed: Parsed) -> bool:
    """Events stored final at ingest are redacted before they are stored, which needs the organization's region."""
    return parsed.status != "pending"


def stored_payload(parsed: Parsed, payload: dict[str, Any], region: str) -> Any:
    """What the inbox keeps of a payload: secrets scrubbed from events still to be applied; events final at ingest
    (ignored, rejected, answered) slimmed and PHI-redacted for `region`."""
    if parsed.status == "pending":
        return secrets.scrub(payload)  # applied later from this payload, then rewritten redacted
    return _final_payload(payload, parsed, region)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def parse_vapi(envelope: Any) -> Parsed:
    """Classify a Vapi server message and compute its dedupe key (call id + type [+ status])."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
        raise InvalidInput('expected a JSON object with a "message" object')
    message = envelope["message"]
    kind = str(message.get("type") or "").strip()[:64]
    if not kind:
        return Parsed("unknown", f"no-type:{_digest(message)}", None, "rejected", "message has no type")
    call = message.get("call") if isinstance(message.get("call"), dict) else {}
    call_id = str(call.get("id") or message.get("callId") or "")[:64] or None
    if kind == FINAL_TRANSCRIPT:
        kind = "transcript"
    if call_id is None:
        if kind in ANSWERED_VAPI:
            return Parsed(kind, f"no-call:{kind}:{_digest(message)}", None, "completed")
        return Parsed(kind, f"no-call:{kind}:{_digest(message)}", None, "rejected",
                      "message has no call id (message.call.id or message.callId)")
    if kind == "status-update":
        key = f"{call_id}:{kind}:{message.get('status')}"
    elif kind == "end-of-call-report":
        key = f"{call_id}:{kind}"
    elif kind == "transcript":
        if str(message.get("transcriptType", "final")) != "final":
            return Parsed(kind, f"{call_id}:partial:{_digest(message)}", call_id, "ignored", "partial transcript")
        said = _digest(message.get("role"), message.get("transcript"), message.get("timestamp"))
        key = f"{call_id}:transcript:{said}"
    elif kind == "tool-calls":
        key = f"{call_id}:tool-calls:{_digest(tool_call_ids(message))}"
    else:
        key = f"{call_id}:{kind}:{_digest(message)}"
    if kind in PROCESSED_VAPI:
        status = "pending"
    elif kind in ANSWERED_VAPI:
        status = "completed"
    else:
        status = "ignored"
    return Parsed(kind, key[:255], call_id, status, "" if status != "ignored" else f"type {kind} is not used")


def tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool calls in any documented form, normalised to {id, name, arguments}."""
    raw: list[Any] = []
    if isinstance(message.get("toolCallList"), list):
        raw = message["toolCallList"]
    elif isinstance(message.get("toolCalls"), list):
        raw = message["toolCalls"]
    elif isinstance(message.get("toolWithToolCallList"), list):
        raw = [item.get("toolCall") for item in message["toolWithToolCallList"] if isinstance(item, dict)]
    calls = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        function: dict[str, Any] = item["function"] if isinstance(item.get("function"), dict) else {}
        name = function.get("name") or item.get("name") or ""
        args: Any = function.get("arguments", item.get("arguments", item.get("parameters", {})))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {"_raw": args}
        calls.append({"id": str(item.get("id") or ""), "name": str(name), "arguments": args or {}})
    return calls


def tool_call_ids(message: dict[str, Any]) -> list[str]:
    """The ids of a tool-calls message, in order."""
    return [c["id"] for c in tool_calls(message)]


def single_line(text: str, limit: int = 500) -> str:
    """Vapi needs single-line result strings."""
    return " ".join(str(text).split())[:limit]


ToolHandler = Callable[[Session, dict[str, Any], dict[str, Any]], str]
TOOL_HANDLERS: dict[str, ToolHandler] = {}
# Tools that run on the event loop: `await handler(conn, arguments, message)` on an async psycopg connection, inside
# the flow's transaction (never committing). Preferred over TOOL_HANDLERS for the same name.
AsyncToolHandler = Callable[[psycopg.AsyncConnection, dict[str, Any], dict[str, Any]], Awaitable[str]]
ASYNC_TOOL_HANDLERS: dict[str, AsyncToolHandler] = {}


def answer_assistant_request(message: dict[str, Any]) -> dict[str, Any]:
    """Which assistant takes an inbound call; agents arrive with the agents issue."""
    return {"error": "This number is not connected to an assistant yet. Please call back later."}


def parse_twilio(kind: str, form: dict[str, str]) -> Parsed:
    """Dedupe key: the SID plus status (and sequence number for voice)."""
    if kind == "sms-status":
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            return Parsed(kind, f"no-sid:{_digest(form)}", None, "rejected", "no MessageSid")
        status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        return Parsed(kind, f"{sid}:{status}"[:255], sid, "pending")
    sid = form.get("CallSid")
    if not sid:
        return Parsed(kind, f"no-sid:{_digest(form)}", None, "rejected", "no CallSid")
    return Parsed(kind, f"{sid}:{form.get('CallStatus', '')}:{form.get('SequenceNumber', '')}"[:255], sid, "pending")


# ------------------------------------------------------------------ storing


def ingest(session: Session | sa.Connection, *, provider: str, parsed: Parsed, payload: dict[str, Any],
           source_ip: str | None, signed_with: str | None = None) -> tuple[int, bool]:
    """Insert the event (or count a duplicate) in the caller's transaction; returns (event id, inserted)."""
    now = utcnow()
    table: sa.Table = WebhookEvent.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    region = _ingest_region(session, payload) if needs_region(parsed) else "US"
    stored = stored_payload(parsed, payload, region)
    stmt = sa.dialects.postgresql.insert(table).values(
        provider=provider, kind=parsed.kind, dedupe_key=parsed.dedupe_key, org_id=parsed.org_id,
        call_id=parsed.call_id, payload=stored, received_at=now, status=parsed.status, attempts=0,
        next_attempt_at=now, last_error=parsed.reason or None, source_ip=source_ip, duplicates=0,
        processed_at=now if parsed.status != "pending" else None, signed_with=signed_with,
    )
    upsert = stmt.on_conflict_do_update(
        constraint="uq_webhook_events_dedupe", set_={"duplicates": table.c.duplicates + 1}
    ).returning(table.c.id, sa.literal_column("(xmax = 0)").label("inserted"))
    row = session.execute(upsert).one()
    return int(row.id), bool(row.inserted)


# ------------------------------------------------------------------ processing


def apply_event(session: Session, event: WebhookEvent) -> None:
    """Apply one event through the domain services (idempotent), then keep only its redacted payload."""
    payload = event.payload
    if event.provider == "vapi":
        message = payload.get("message") or {}
        call_id = event.call_id or ""
        row = None
        if event.kind == "status-update":
            row = call_service.apply_status_update(session, vapi_call_id=call_id, message=message)
        elif event.kind == "end-of-call-report":
            row = call_service.apply_end_of_call_report(session, vapi_call_id=call_id, message=message)
        elif event.kind == "transcript":
            row = call_service.apply_transcript(session, vapi_call_id=call_id, message=message)
        org_id = row.org_id if row is not None else event.org_id
        event.payload = phi.redact_payload(payload, region=call_service.region_of(session, org_id))
    elif event.provider == "twilio":
        form = {k: str(v) for k, v in payload.items()}
        if event.kind == "sms-status":
            sms_service.apply_sms_status(session, form=form)
        elif event.kind == "voice-status":
            voice_service.apply_voice_status(session, form=form)
        event.payload = phi.redact_payload(payload, region=call_service.region_of(session, event.org_id))


# ------------------------------------------------------------------ operators


def replay(session: Session, *, event_ids: list[int], actor: Actor, actor_role: str | None) -> int:
    """Send dead letters (or failed events) back to the queue; audited."""
    require_role(actor_role, "operator")
    if not event_ids:
        raise InvalidInput("Select at least one event to replay.")
    rows = session.exec(
        select(WebhookEvent).where(WebhookEvent.id.in_(event_ids),  # type: ignore[union-attr]
                                   WebhookEvent.status.in_(("dead_letter", "failed"))).with_for_update()  # type: ignore[attr-defined]
    ).all()
    for event in rows:
        event.status = "pending"
        event.attempts = 0
        event.next_attempt_at = utcnow()
        event.lease_until = None
        session.add(event)
    if rows:
        audit.record(session, actor=actor, action="webhook_replayed", target_type="webhook_event",
                     target_id=",".join(str(e.id) for e in rows)[:64],
                     diff={"events": [e.id for e in rows], "count": len(rows)})
    return len(rows)


def to_read(event: WebhookEvent) -> WebhookEventRead:
    """Read model for tables."""
    return WebhookEventRead(id=event.id or 0, provider=event.provider, kind=event.kind, call_id=event.call_id or "",
                            status=event.status, attempts=event.attempts,
                            received_at=fmt.timestamp(event.received_at, seconds=True),
                            last_error=event.last_error or "",
                            signed_with={"current": "current secret", "previous": "previous secret (grace window)"}
                            .get(event.signed_with or "", "—" if event.provider == "vapi" else "Twilio signature"))


def list_events(session: Session, *, status: str | None = None, limit: int = 50) -> list[WebhookEventRead]:
    """Newest first, optionally one status."""
    query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)  # type: ignore[union-attr]
    if status:
        query = query.where(WebhookEvent.status == status)
    return [to_read(e) for e in session.exec(query).all()]


def masked_payload(session: Session, *, event_id: int) -> str:
    """The stored payload pretty-printed with secrets and personal data masked (PHI too, also for events that still
    hold their raw payload because they are not applied yet)."""
    event = session.get(WebhookEvent, event_id)
    if event is None:
        return ""
    shown = phi.redact_payload(event.payload, region=call_service.region_of(session, event.org_id))
    return mask(json.dumps(shown, indent=2, ensure_ascii=False, default=str))[:20000]


def stats(session: Session) -> dict[str, Any]:
    """Queue health and 24 h success rates, all computed in SQL."""
    counts = dict(session.execute(sa.text(
        "select status, count(*) from webhook_events group by status")).all())
    oldest = session.execute(sa.text(
        "select extract(epoch from now() - min(received_at)) from webhook_events where status = 'pending'"
    )).scalar()
    per_minute = [
        {"minute": fmt.clock(row.minute), "events": int(row.events)}
        for row in session.execute(sa.text(
            """select date_trunc('minute', received_at) as minute, count(*) as events from webhook_events
               where received_at > now() - interval '1 hour' group by 1 order by 1""")).all()
    ]
    rates = [
        {"provider": r.provider, "kind": r.kind, "total": int(r.total), "completed": int(r.completed),
         "failed": int(r.failed), "dead_letter": int(r.dead),
         "success_rate": round(100.0 * int(r.completed) / max(1, int(r.completed) + int(r.failed) + int(r.dead)), 1)}
        for r in session.execute(sa.text(
            """select provider, kind, count(*) as total,
                      count(*) filter (where status = 'completed') as completed,
                      count(*) filter (where status in ('failed', 'pending') and attempts > 0) as failed,
                      count(*) filter (where status = 'dead_letter') as dead
                 from webhook_events where received_at > now() - interval '24 hours'
                group by provider, kind order by provider, kind""")).all()
    ]
    return {
        "counts": {s: int(counts.get(s, 0)) for s in ("pending", "processing", "completed", "failed",
                                                       "dead_letter", "ignored", "rejected")},
        "oldest_pending_s": round(float(oldest), 1) if oldest is not None else None,
        "per_minute": per_minute,
        "success_24h": rates,
    }


def recent_failures(session: Session, *, limit: int = 20) -> list[dict[str, Any]]:
    """Latest failed attempts with their error."""
    rows = session.execute(sa.text(
        """select a.event_id, a.attempt, a.started_at, a.outcome, a.error, e.provider, e.kind
             from webhook_attempts a join webhook_events e on e.id = a.event_id
            where a.outcome <> 'completed' order by a.id desc limit :limit"""), {"limit": limit}).all()
    return [{"event_id": int(r.event_id), "attempt": int(r.attempt), "at": fmt.timestamp(r.started_at, seconds=True),
             "outcome": r.outcome, "error": r.error or "", "provider": r.provider, "kind": r.kind} for r in rows]


def purge_organization_events(session: Session, *, org_id: int, where: sa.ColumnElement[bool]) -> int:
    """Retention of a long-closed organization: delete its inbox events (all statuses) when `where` (the
    caller's "still closed" recheck) holds; the number deleted."""
    result = session.execute(sa.delete(WebhookEvent).where(col(WebhookEvent.org_id) == org_id, where))
    return cast("sa.CursorResult[Any]", result).rowcount


def call_events(session: Session, *, vapi_call_id: str) -> list[EventLine]:
    """The call detail's timeline: the inbox events that built one call, oldest first."""
    if not vapi_call_id:
        return []
    rows = session.execute(
        sa.select(col(WebhookEvent.id), col(WebhookEvent.kind), col(WebhookEvent.status),
                  col(WebhookEvent.received_at))
        .where(col(WebhookEvent.call_id) == vapi_call_id)
        .order_by(col(WebhookEvent.received_at), col(WebhookEvent.id))).all()
    return [EventLine(id=e.id, kind=e.kind, status=e.status, received_at=fmt.timestamp(e.received_at, seconds=True))
            for e in rows]


def purge(session: Session) -> str:
    """Retention: completed/ignored/rejected events after WEBHOOK_COMPLETED_RETENTION_HOURS, history and stored
    tool-call answers after WEBHOOK_HISTORY_RETENTION_DAYS; dead letters stay until resolved."""
    settings = get_settings()
    events = session.execute(sa.text(
        "delete from webhook_events where status in ('completed', 'ignored', 'rejected') "
        "and received_at < now() - make_interval(hours => :h)"), {"h": settings.webhook_completed_retention_hours}
    ).rowcount  # type: ignore[attr-defined]
    history = session.execute(sa.text(
        "delete from webhook_attempts where started_at < now() - make_interval(days => :d)"),
        {"d": settings.webhook_history_retention_days}).rowcount  # type: ignore[attr-defined]
    # Tool-call answers kept for replays (webhooks.flows.answer_tool_calls) live as long as the history.
    answers = session.execute(sa.text(
        "delete from tool_call_answers where created_at < now() - make_interval(days => :d)"),
        {"d": settings.webhook_history_retention_days}).rowcount  # type: ignore[attr-defined]
    return (f"{events} processed inbox events, {history} delivery attempts and {answers} stored tool-call answers "
            "deleted")
