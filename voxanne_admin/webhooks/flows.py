"""The webhook inbox's flow: claim due events with SKIP LOCKED, apply them, mark them completed, retry with
backoff or dead-letter; answer Vapi tool calls.

Every unit of work here is one short transaction it commits itself: a claimed batch is applied and marked
completed in ONE transaction (a crash leaves it unapplied and its lease expires, after which another worker claims
it again). The rules (parsing, ingest, what applying an event does, replay, the monitoring queries) are in
`webhooks/service.py`, which never commits. Dead-letter alerts go to Slack through `providers/slack.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from voxanne_admin import db
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.privacy import redaction as phi
from voxanne_admin.privacy.masking import mask
from voxanne_admin.providers import slack
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks import service
from voxanne_admin.webhooks.models import ToolCallAnswer, WebhookAttempt, WebhookEvent
from voxanne_admin.webhooks.service import ASYNC_TOOL_HANDLERS, TOOL_HANDLERS, single_line, tool_calls

log = logging.getLogger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"
RETRY_BASE_S = 2  # 2 s, 4 s, 8 s ...
PARALLEL = 4  # groups of a claimed batch applied in parallel transactions


def _call_id(message: dict[str, Any]) -> str:
    call = message.get("call")
    call_id = call.get("id") if isinstance(call, dict) else None
    return str(call_id or message.get("callId") or "")[:64]


def _claim_answer(session: Any, call_id: str, tool_call_id: str, name: str) -> dict[str, Any] | None:
    """Claim this tool call in the caller's transaction, or return the answer it already got.

    The insert waits on the primary key while another transaction holds the same tool call, so two copies of one
    message arriving at once run the tool exactly once; the second then reads the first one's answer."""
    claimed = session.execute(
        pg_insert(ToolCallAnswer).values(call_id=call_id, tool_call_id=tool_call_id, name=name[:128], answer={},
                                         created_at=utcnow())
        .on_conflict_do_nothing().returning(col(ToolCallAnswer.call_id))).first()
    if claimed is not None:
        return None
    row = session.get(ToolCallAnswer, (call_id, tool_call_id))
    return dict(row.answer) if row is not None else {"error": "The tool call is being answered; retry."}


def _answer_on_thread(handler: Any, call_id: str, call: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """One tool call of a sync handler, in its own transaction (claimed, run, answer stored)."""
    with db.transaction() as session:
        stored = _claim_answer(session, call_id, call["id"][:128], call["name"])
        if stored is not None:
            return stored
        result = single_line(handler(session, call["arguments"], message))
        session.execute(sa.update(ToolCallAnswer).where(
            col(ToolCallAnswer.call_id) == call_id,
            col(ToolCallAnswer.tool_call_id) == call["id"][:128]).values(answer={"result": result}))
        return {"result": result}


def _unanswerable(call: dict[str, Any], call_id: str) -> str | None:
    if call["name"] not in TOOL_HANDLERS and call["name"] not in ASYNC_TOOL_HANDLERS:
        return single_line(f"The tool {call['name'] or '(unnamed)'} is not available yet.")
    if not (call_id and call["id"]):
        return "The tool call has no call id or toolCallId, so it cannot be answered safely."
    return None


def answer_tool_calls(message: dict[str, Any]) -> dict[str, Any]:
    """Always 200 with one result per call, in order; unknown tools get an error result (sync handlers only: the
    route uses `answer_tool_calls_async`).

    Each tool runs once per (call id, toolCallId): its answer is stored in the tool's own transaction, and a
    replayed or retried message is answered from the stored result (webhook replays cannot re-run a booking)."""
    results = []
    call_id = _call_id(message)
    for call in tool_calls(message):
        entry: dict[str, Any] = {"toolCallId": call["id"], "name": call["name"]}
        refused = _unanswerable(call, call_id)
        if refused is not None:
            entry["error"] = refused
        else:
            try:
                entry.update(_answer_on_thread(TOOL_HANDLERS[call["name"]], call_id, call, message))
            except Exception as exc:  # a tool failure is an answer, never a 500 (and not stored: Vapi may retry)
                log.exception("tool failed", extra={"tool": call["name"]})
                entry["error"] = single_line(f"The tool failed: {exc}")
        results.append(entry)
    return {"results": results}


CLAIM_SQL = ("insert into tool_call_answers (call_id, tool_call_id, name, answer, created_at) "
             "values (%s, %s, %s, '{}', now()) on conflict do nothing returning true")
STORED_SQL = "select answer from tool_call_answers where call_id = %s and tool_call_id = %s"
ANSWER_SQL = "update tool_call_answers set answer = %s::jsonb where call_id = %s and tool_call_id = %s"


async def _answer_on_loop(handler: Any, call_id: str, call: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """One tool call of an async handler on the event loop: claim, run and store the answer in ONE transaction on
    the async pool, pipelined (the claim travels with BEGIN; the tool's last writes and the answer with COMMIT).

    The claim waits on the primary key while another transaction holds the same tool call, so two copies of one
    message arriving at once run the tool exactly once; the second then reads the first one's answer."""
    tool_call_id = call["id"][:128]
    pool = await db.async_pool()
    async with pool.connection() as conn, conn.pipeline(), conn.transaction():
        claimed = await (await conn.execute(CLAIM_SQL, (call_id, tool_call_id, call["name"][:128]))).fetchone()
        if claimed is None:
            row = await (await conn.execute(STORED_SQL, (call_id, tool_call_id))).fetchone()
            return dict(row[0]) if row is not None else {"error": "The tool call is being answered; retry."}
        result = single_line(await handler(conn, call["arguments"], message))
        await conn.execute(ANSWER_SQL, (json.dumps({"result": result}, ensure_ascii=False), call_id, tool_call_id))
    return {"result": result}


_tool_threads: ThreadPoolExecutor | None = None


async def answer_tool_calls_async(message: dict[str, Any]) -> dict[str, Any]:
    """`answer_tool_calls` for the route: tools with an async handler (the appointment tools) run on the event loop
    on the async pool; any other tool on the tool-call threads (TOOL_CALL_CONCURRENCY per process, not the default
    executor's handful). Neither blocks the event loop."""
    global _tool_threads
    results = []
    call_id = _call_id(message)
    for call in tool_calls(message):
        entry: dict[str, Any] = {"toolCallId": call["id"], "name": call["name"]}
        refused = _unanswerable(call, call_id)
        if refused is not None:
            entry["error"] = refused
            results.append(entry)
            continue
        try:
            handler = ASYNC_TOOL_HANDLERS.get(call["name"])
            if handler is not None:
                entry.update(await _answer_on_loop(handler, call_id, call, message))
            else:
                if _tool_threads is None:
                    _tool_threads = ThreadPoolExecutor(max_workers=get_settings().tool_call_concurrency,
                                                       thread_name_prefix="tool-call")
                entry.update(await asyncio.get_running_loop().run_in_executor(
                    _tool_threads, _answer_on_thread, TOOL_HANDLERS[call["name"]], call_id, call, message))
        except Exception as exc:  # a tool failure is an answer, never a 500 (and not stored: Vapi may retry)
            log.exception("tool failed", extra={"tool": call["name"]})
            entry["error"] = single_line(f"The tool failed: {exc}")
        results.append(entry)
    return {"results": results}


def claim_batch(limit: int = 50, lease_s: int | None = None, worker: str = WORKER) -> list[list[int]]:
    """Claim due events (pending, or processing with an expired lease) without blocking other workers.

    Returns the ids in up to PARALLEL groups; all events of one call are in the same group, so groups can be
    applied in parallel transactions without contending for the same call rows."""
    lease_s = lease_s or get_settings().webhook_lease_seconds
    with db.transaction() as session:
        rows = session.execute(
            sa.text(
                """
                update webhook_events e
                   set status = 'processing', lease_until = now() + make_interval(secs => :lease),
                       attempts = e.attempts + 1
                  from (select id from webhook_events
                         where (status = 'pending' and next_attempt_at <= now())
                            or (status = 'processing' and lease_until < now())
                         order by next_attempt_at, id
                         limit :limit
                         for update skip locked) due
                 where e.id = due.id
             returning e.id, e.call_id
                """
            ),
            {"lease": lease_s, "limit": limit},
        ).all()
    groups: list[list[int]] = [[] for _ in range(PARALLEL)]
    for row in sorted(rows, key=lambda r: int(r.id)):
        groups[zlib.crc32((row.call_id or str(row.id)).encode()) % PARALLEL].append(int(row.id))
    return [g for g in groups if g]


AFTER_APPLY: list[Callable[[WebhookEvent], None]] = []  # e.g. live pushes to the Founder console


def process(event_id: int, worker: str = WORKER) -> str:
    """Apply a claimed event and mark it completed in one transaction; on error retry later or dead-letter."""
    started = time.monotonic()
    settings = get_settings()
    try:
        with db.transaction() as session:
            # Wait for the row rather than skip it: another worker's claim query can hold a row lock for a
            # moment after re-checking its WHERE clause, and skipping here would strand the event until its
            # lease expired. A worker still processing the same event (lease expired) finishes first; we then
            # see it completed and stop.
            event = session.exec(select(WebhookEvent).where(WebhookEvent.id == event_id).with_for_update()).first()
            if event is None or event.status != "processing":
                return "skipped"
            service.apply_event(session, event)
            event.status = "completed"
            event.processed_at = utcnow()
            event.lease_until = None
            event.last_error = None
            session.add(event)
            session.add(WebhookAttempt(event_id=event_id, attempt=event.attempts, outcome="completed",
                                       duration_ms=int((time.monotonic() - started) * 1000), worker=worker))
            snapshot = event.model_copy()
    except Exception as exc:
        return _record_failure(event_id, exc, started, worker, settings.webhook_max_attempts)
    for hook in AFTER_APPLY:
        try:
            hook(snapshot)
        except Exception:
            log.exception("after-apply hook failed")
    return "completed"


def process_batch(event_ids: list[int], worker: str = WORKER) -> dict[int, str]:
    """Apply a claimed batch in ONE transaction (one commit instead of one per event).

    If any event fails, the whole batch rolls back and each event is processed on its own, so a failure is
    recorded against the right event and the others still complete. Events are applied in call order to keep
    lock order consistent across workers."""
    if not event_ids:
        return {}
    started = time.monotonic()
    try:
        with db.transaction() as session:
            events = session.exec(
                select(WebhookEvent).where(WebhookEvent.id.in_(event_ids))  # type: ignore[union-attr]
                .order_by(WebhookEvent.call_id, col(WebhookEvent.id)).with_for_update()
            ).all()
            outcomes: dict[int, str] = {}
            now = utcnow()
            for event in events:
                if event.status != "processing":
                    outcomes[event.id or 0] = "skipped"
                    continue
                service.apply_event(session, event)
                event.status = "completed"
                event.processed_at = now
                event.lease_until = None
                event.last_error = None
                session.add(event)
                session.add(WebhookAttempt(event_id=event.id or 0, attempt=event.attempts, outcome="completed",
                                           duration_ms=int((time.monotonic() - started) * 1000), worker=worker))
                outcomes[event.id or 0] = "completed"
            snapshots = [e.model_copy() for e in events if outcomes.get(e.id or 0) == "completed"]
    except Exception:
        log.info("batch failed; processing its events one by one", extra={"events": len(event_ids)})
        return {event_id: process(event_id, worker) for event_id in event_ids}
    for snapshot in snapshots:
        for hook in AFTER_APPLY:
            try:
                hook(snapshot)
            except Exception:
                log.exception("after-apply hook failed")
    return outcomes


def _record_failure(event_id: int, exc: Exception, started: float, worker: str, max_attempts: int) -> str:
    # Exception texts can quote what was being stored (a transcript line in a database error): redact them too.
    error = mask(phi.redact(f"{type(exc).__name__}: {exc}"))[:2000]
    with db.transaction() as session:
        event = session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None:
            return "skipped"
        dead = event.attempts >= max_attempts
        event.last_error = error
        event.lease_until = None
        if dead:
            event.status = "dead_letter"
            audit.record(session, actor=Actor.system("webhook-inbox"), action="webhook_dead_lettered",
                         target_type="webhook_event", target_id=event.id, org_id=event.org_id,
                         diff={"provider": event.provider, "kind": event.kind, "attempts": event.attempts,
                               "error": error[:300]})
        else:
            event.status = "pending"
            event.next_attempt_at = utcnow() + timedelta(seconds=RETRY_BASE_S ** event.attempts)
        session.add(event)
        session.add(WebhookAttempt(event_id=event_id, attempt=event.attempts,
                                   outcome="dead_letter" if dead else "failed", error=error,
                                   duration_ms=int((time.monotonic() - started) * 1000), worker=worker))
        summary = (event.provider, event.kind, event.id, event.attempts)
    if dead:
        log.error("webhook event moved to dead letter", extra={"event_id": summary[2], "provider": summary[0],
                                                                "kind": summary[1], "attempts": summary[3],
                                                                "error": error})
        alert_dead_letter(*summary, error)
        return "dead_letter"
    log.warning("webhook event failed; will retry", extra={"event_id": event_id, "error": error})
    return "failed"


def alert_dead_letter(provider: str, kind: str, event_id: int | None, attempts: int, error: str) -> None:
    """Slack incoming webhook when configured (best effort; the log line and audit event always exist)."""
    text = (f":rotating_light: Voxanne Admin: {provider} {kind} webhook event {event_id} moved to dead letter "
            f"after {attempts} attempts: {error[:300]}. Replay it from the Webhooks page.")
    slack.post(text)


def drain(max_batches: int | None = None, batch: int = 50) -> int:
    """Process due events until none are left (CLI, tests, benchmarks); returns how many were processed."""
    done = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        groups = claim_batch(limit=batch)
        if not groups:
            break
        if len(groups) == 1:
            process_batch(groups[0])
        else:
            with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                list(pool.map(process_batch, groups))
        done += sum(len(g) for g in groups)
        batches += 1
    return done
