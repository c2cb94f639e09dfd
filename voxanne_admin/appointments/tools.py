"""The agents' check_availability and book_appointment tools on the event loop, on an async psycopg connection.

The same rules and statements as the sync tools in `service.py` (whose helpers they call), without a thread hop or
the ORM: the webhook route awaits them inside the tool-call transaction the flow owns (`webhooks/flows.py`), which
claims the tool call and stores its answer. Like a service, a tool never commits.

- check_availability: one statement (the clinic and the day's booked slots); a second one only for a full day.
- book_appointment: the clinic, then ONE statement that takes the slot's advisory lock and inserts (or returns the
  fortnight's booked slots when the slot was taken); the audit row is sent behind it in the same transaction.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import psycopg

from voxanne_admin.appointments import service
from voxanne_admin.audit import service as audit
from voxanne_admin.errors import Conflict, InvalidInput, NotFound
from voxanne_admin.flags import gates as flag_gates

CLINIC_SQL = "select id, status, timezone, country from organizations where id = %s"


async def _fetch(conn: psycopg.AsyncConnection, sql: str, params: Any) -> Any:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchone()


async def check_availability(conn: psycopg.AsyncConnection, args: dict[str, Any], message: dict[str, Any]) -> str:
    """check_availability(date) -> the free times that day in the clinic's timezone."""
    org_id = service.tool_org(message)
    await flag_gates.ready(org_id)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    day = service.availability_day(args)
    if isinstance(day, str):
        return day
    row = await _fetch(conn, service.AVAILABILITY_SQL, service.availability_params(org_id, day))
    org = service.availability_clinic(row)
    slots = service.free_times(org, day, row[4])
    if slots:
        return service.free_times_answer(org, day, slots)
    around = service.day_opening(org, day)
    lo, hi = service.fortnight(org, around)
    booked = (await _fetch(conn, service.BOOKED_BETWEEN_SQL, {"org_id": org_id, "lo": lo, "hi": hi}))[0]
    taken = {b.astimezone(UTC) for b in booked}
    return service.no_free_times_answer(org, day, service.nearest(org, around, taken))


async def book_appointment(conn: psycopg.AsyncConnection, args: dict[str, Any], message: dict[str, Any]) -> str:
    """book_appointment(contact_name, contact_phone, slot_start, duration_minutes) -> booked or nearest times."""
    org_id = service.tool_org(message)
    await flag_gates.ready(org_id)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    try:
        org = service.availability_clinic(await _fetch(conn, CLINIC_SQL, (org_id,)))
        params = service.booking_params(
            org, contact_name=args.get("contact_name") or args.get("name", ""),
            contact_phone=args.get("contact_phone") or args.get("phone", ""),
            slot_start=args.get("slot_start") or args.get("start", ""), duration_minutes=service.tool_duration(args),
            vapi_call_id=service.tool_call_id(message))
        new_id, booked = await _fetch(conn, service.BOOK_SQL, params)
        if new_id is None:
            raise Conflict(service.taken_answer(org, params["starts_at"], booked or []))
        await audit.record_async(conn, actor=service.VAPI_TOOL, action="appointment_booked",
                                 target_type="appointment", target_id=int(new_id), org_id=org_id,
                                 diff=service.booked_audit(params))
    except (Conflict, InvalidInput, NotFound) as exc:
        return str(exc)
    return service.booked_answer(org, params["starts_at"], flag_gates.appointment_reminders(org_id))


# The tools by name, registered by the API edge with the inbox (webhooks.service.ASYNC_TOOL_HANDLERS).
TOOLS = {"check_availability": check_availability, "book_appointment": book_appointment}
