"""Compliance APIs for auditors and their tools (admin and up; the staff session or an admin's API token):
the audit trail with the page's filters and cursor pagination (JSON, or a streamed CSV/JSON export), one event,
and the data-retention report. Event shape and parameters: README "Compliance APIs"."""

from __future__ import annotations

import asyncio
import functools

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from voxanne_admin import compliance, db
from voxanne_admin.api.deps import require_staff
from voxanne_admin.audit import chain, export, query, stream
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.errors import InvalidInput
from voxanne_admin.logging import request_id_var

router = APIRouter(prefix="/api/compliance")
PAGING = ("limit", "cursor", "format", "via")


def bad_request_400(fn):
    """A bad filter, cursor or parameter answers 400 with the reason and the parameter (the compliance APIs'
    documented contract; elsewhere InvalidInput is 422)."""

    @functools.wraps(fn)
    async def handler(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, status_code=400)

    return handler


async def _admin(request: Request) -> CurrentStaff:
    # Any admin-or-higher session or token; a dedicated `compliance` token scope can narrow this later.
    return await require_staff(request, "admin")


def _actor(staff: CurrentStaff, request: Request) -> Actor:
    return Actor(type="staff", id=str(staff.id), email=staff.email,
                 ip=request.client.host if request.client else None,
                 user_agent=request.headers.get("user-agent"), request_id=request_id_var.get() or None)


def _filter(request: Request) -> query.AuditFilter:
    params = {k: v for k, v in request.query_params.items() if k not in PAGING}
    return query.AuditFilter.from_query(params)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50").strip()
    if not raw.isdigit():
        raise InvalidInput(f"limit must be a whole number between 1 and {query.MAX_LIMIT}.", field="limit")
    return int(raw)


def _format(request: Request, default: str = "json") -> str:
    fmt_name = request.query_params.get("format", default).strip().lower() or default
    if fmt_name not in export.FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(export.FORMATS)}.", field="format")
    return fmt_name


def _download(flt: query.AuditFilter, fmt_name: str, chunks) -> StreamingResponse:
    return StreamingResponse(chunks, media_type=export.FORMATS[fmt_name], headers={
        "Content-Disposition": f'attachment; filename="{export.filename(fmt_name)}"', "Cache-Control": "no-store"})


@router.get("/audit-logs")
@bad_request_400
async def audit_logs(request: Request):
    """A page of events, newest first: `{"events": [...], "next_cursor": ...}`; `format=csv` streams the whole
    filter as CSV instead (an audited export)."""
    staff = await _admin(request)
    flt, fmt_name = _filter(request), _format(request)
    if fmt_name == "csv":
        return _download(flt, "csv", await asyncio.to_thread(export.stream, flt, fmt_name="csv",
                                                             actor=_actor(staff, request), via="api"))
    limit, cursor = _limit(request), request.query_params.get("cursor", "").strip()
    page = await db.run_read_only(query.list_events, flt=flt, cursor=cursor, limit=limit)
    return JSONResponse({"events": [query.to_event(r) for r in page.rows], "next_cursor": page.next_cursor or None},
                        headers={"Cache-Control": "no-store"})


@router.get("/audit-logs/export")
@bad_request_400
async def audit_logs_export(request: Request) -> StreamingResponse:
    """The whole filter as one streamed file, `format=csv` (default) or `json` (what the page's Export uses)."""
    staff = await _admin(request)
    flt, fmt_name = _filter(request), _format(request, "csv")
    via = "page" if request.query_params.get("via") == "page" else "api"
    return _download(flt, fmt_name, await asyncio.to_thread(export.stream, flt, fmt_name=fmt_name,
                                                            actor=_actor(staff, request), via=via))


@router.get("/audit-logs/{event_id}")
@bad_request_400
async def audit_event(event_id: str, request: Request) -> JSONResponse:
    """One event in the documented shape."""
    await _admin(request)
    if not event_id.isdigit():
        raise InvalidInput("An event id is a positive whole number.", field="event_id")
    row = await db.run_read_only(query.get_event, event_id=int(event_id))
    if row is None:
        raise HTTPException(404, f"No audit event {event_id}.")
    return JSONResponse(query.to_event(row), headers={"Cache-Control": "no-store"})


@router.get("/data-retention")
@bad_request_400
async def data_retention(request: Request) -> JSONResponse:
    """Each retention rule with its setting, last run and rows purged; closed organizations awaiting the purge."""
    await _admin(request)
    return JSONResponse(await db.run_read_only(compliance.data_retention), headers={"Cache-Control": "no-store"})


def _chain(session) -> dict:
    status = chain.chain_status(session)
    siem = stream.status(session)
    return {
        "sealed_through": status.sealed_through, "unsealed": status.unsealed, "sealer_lag_s": status.sealer_lag_s,
        "last_checkpoint": status.last_checkpoint,
        "stream": {"configured": siem.configured, "delivered_through": siem.last_event_id,
                   "backlog_events": siem.backlog_events, "lag_s": siem.lag_s,
                   "delivered_events": siem.delivered_events,
                   "delivered_at": siem.delivered_at.isoformat() if siem.delivered_at else None,
                   "failing_since": siem.failing_since.isoformat() if siem.failing_since else None,
                   "last_error": siem.last_error or None, "status": siem.summary},
    }


@router.get("/audit-chain")
@bad_request_400
async def audit_chain(request: Request) -> JSONResponse:
    """The chain's state: sealed head, rows waiting for the sealer and its lag, the last signed checkpoint, and
    the SIEM stream's backlog."""
    await _admin(request)
    return JSONResponse(await db.run_read_only(_chain), headers={"Cache-Control": "no-store"})
