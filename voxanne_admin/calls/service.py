"""Apply Vapi server messages to the `calls` table. Idempotent, and statuses never move backwards.

What callers said is redacted (voxanne_admin.privacy.redaction) BEFORE it is stored: transcripts, summaries,
messages, analysis and live transcript lines never reach the database with PHI in the clear."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from voxanne_admin.calls.models import STATUS_RANK, Call
from voxanne_admin.errors import NotFound
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs.models import Organization
from voxanne_admin.privacy import redaction
from voxanne_admin.providers.vapi_payloads import message_metadata
from voxanne_admin.timeutil import utcnow


def parse_time(value: Any) -> datetime | None:
    """ISO strings or epoch milliseconds (older payloads) to aware datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # NaN, inf and out-of-range epochs are not times: refused, never an exception in the worker.
        if not math.isfinite(value):
            return None
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
    return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except (InvalidOperation, ValueError):
        return None


def _lock_call(session: Session, vapi_call_id: str, message: dict[str, Any]) -> Call:
    """Get-or-create the call row and lock it for this transaction."""
    call = message.get("call") or {}
    local_id = message_metadata(message).get("voxanne_call_id")
    if str(local_id or "").isdigit():
        # An outbound call we recorded before dialling: attach the Vapi id to that row.
        session.execute(sa.update(Call).where(col(Call.id) == int(str(local_id)), col(Call.vapi_call_id).is_(None))
                        .values(vapi_call_id=vapi_call_id))
    customer = message.get("customer") or call.get("customer") or {}
    meta_org = message_metadata(message).get("org_id")
    org_id = int(str(meta_org)) if str(meta_org or "").isdigit() else None
    direction = None
    call_type = str(call.get("type") or "")
    if "outbound" in call_type.lower():
        direction = "outbound"
    elif "inbound" in call_type.lower():
        direction = "inbound"
    session.execute(
        insert(Call)
        .values(vapi_call_id=vapi_call_id, org_id=org_id, direction=direction, status="queued", status_rank=0,
                customer_number=(customer.get("number") or None), phone_number_id=call.get("phoneNumberId"),
                assistant_id=call.get("assistantId"), created_at=utcnow(), updated_at=utcnow(),
                report_received=False)
        .on_conflict_do_nothing(index_elements=["vapi_call_id"])
    )
    row = session.exec(select(Call).where(Call.vapi_call_id == vapi_call_id).with_for_update()).one()
    if row.org_id is None and org_id is not None:
        row.org_id = org_id
    if row.direction is None and direction is not None:
        row.direction = direction
    return row


def region_of(session: Session, org_id: int | None) -> str:
    """The organization's country (phone number region for redaction); US when unknown."""
    if org_id is None:
        return "US"
    org = session.get(Organization, org_id)
    return (org.country or "US").upper() if org is not None else "US"


def _advance(row: Call, status: str) -> bool:
    rank = STATUS_RANK.get(status)
    if rank is None or rank <= row.status_rank:
        return False
    row.status, row.status_rank = status, rank
    return True


def apply_status_update(session: Session, *, vapi_call_id: str, message: dict[str, Any]) -> Call:
    """status-update: the message's own status wins over the (possibly stale) call snapshot."""
    row = _lock_call(session, vapi_call_id, message)
    status = str(message.get("status") or "")
    if _advance(row, status):
        if status == "in-progress" and row.started_at is None:
            row.started_at = parse_time(message.get("timestamp")) or utcnow()
        if status == "ended":
            row.ended_reason = row.ended_reason or message.get("endedReason")
            row.ended_at = row.ended_at or parse_time(message.get("timestamp")) or utcnow()
    row.updated_at = utcnow()
    session.add(row)
    return row


def apply_end_of_call_report(session: Session, *, vapi_call_id: str, message: dict[str, Any]) -> Call:
    """end-of-call-report: transcript, summary, recording, cost, times; reads both new and old layouts."""
    row = _lock_call(session, vapi_call_id, message)
    artifact = message.get("artifact") or {}
    analysis = message.get("analysis") or {}
    _advance(row, "ended")
    row.ended_reason = message.get("endedReason") or row.ended_reason
    row.started_at = parse_time(message.get("startedAt")) or row.started_at
    row.ended_at = parse_time(message.get("endedAt")) or row.ended_at
    duration = message.get("durationSeconds")
    if duration is None and row.started_at and row.ended_at:
        duration = (row.ended_at - row.started_at).total_seconds()
    row.duration_s = float(duration) if duration is not None else row.duration_s
    row.cost = _decimal(message.get("cost")) if message.get("cost") is not None else row.cost
    row.costs = message.get("costs") or message.get("costBreakdown") or row.costs
    region = region_of(session, row.org_id)
    transcript = artifact.get("transcript") or message.get("transcript")
    row.transcript = redaction.redact(str(transcript), region=region) if transcript else row.transcript
    messages = artifact.get("messages") or message.get("messages")
    row.messages = redaction.redact_value(messages, region=region) if messages else row.messages
    summary = analysis.get("summary") or message.get("summary")
    row.summary = redaction.redact(str(summary), region=region) if summary else row.summary
    row.analysis = redaction.redact_value(analysis, region=region) if analysis else row.analysis
    recording = artifact.get("recording") or {}
    if flag_gates.call_recording(row.org_id):  # feature flag: off means recording links are never stored
        row.recording_url = (artifact.get("recordingUrl") or message.get("recordingUrl")
                             or (recording.get("mono") or {}).get("combinedUrl") or row.recording_url)
        row.stereo_recording_url = (artifact.get("stereoRecordingUrl") or message.get("stereoRecordingUrl")
                                    or row.stereo_recording_url)
    row.report_received = True
    row.updated_at = utcnow()
    session.add(row)
    return row


def apply_transcript(session: Session, *, vapi_call_id: str, message: dict[str, Any]) -> Call:
    """transcript (final): appended to the live transcript the Founder console shows."""
    row = _lock_call(session, vapi_call_id, message)
    if str(message.get("transcriptType", "final")) == "final" and message.get("transcript"):
        text = redaction.redact(str(message.get("transcript")), region=region_of(session, row.org_id))
        entry = {"role": message.get("role"), "text": text, "at": str(message.get("timestamp") or "")}
        live = list(row.live_transcript or [])
        if entry not in live:
            live.append(entry)
            row.live_transcript = live
            row.updated_at = utcnow()
            session.add(row)
    return row


def get_by_vapi_id(session: Session, *, vapi_call_id: str) -> Call | None:
    """The call with that Vapi id, if any."""
    return session.exec(select(Call).where(Call.vapi_call_id == vapi_call_id)).first()


def count_by_status(session: Session) -> dict[str, int]:
    """Calls per status."""
    return dict(session.exec(select(Call.status, sa.func.count()).group_by(Call.status)).all())


def get(session: Session, *, call_id: int) -> Call:
    """The call with that id (a detached copy, safe to read after the session closes), or NotFound."""
    row = session.get(Call, call_id)
    if row is None:
        raise NotFound("That call does not exist.")
    return row.model_copy()


def list_test_calls(session: Session, *, limit: int = 10) -> list[tuple[Call, str]]:
    """The newest test calls (placed from the founder console) with their organization's name, newest first."""
    rows = session.exec(
        select(Call, Organization.name)
        .join(Organization, Organization.id == Call.org_id)  # type: ignore[arg-type]
        .where(Call.is_test)
        .order_by(Call.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    ).all()
    return [(call.model_copy(), name) for call, name in rows]
