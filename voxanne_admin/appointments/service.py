"""Slots, bookings and cancellations; the agents' check_availability and book_appointment tools.

Double booking is impossible: a booking is ONE statement that takes a transaction-scoped advisory lock on
(organization, slot) and inserts with `ON CONFLICT DO NOTHING` on the partial unique index of booked slots, so the
database refuses a second booked row for the same slot even if the lock were bypassed. No other lock is taken. The
same statement returns the fortnight's booked slots when the slot was taken, for the nearest free times.

The rules and the SQL here are shared with `appointments/tools.py`, the same tools on an async connection (what
the webhook route runs); the SQL is written for the driver (`%(name)s`), so both run the same statements.
"""

from __future__ import annotations

import functools
import heapq
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import phonenumbers
from sqlmodel import Session, col, select

from voxanne_admin import locks
from voxanne_admin.appointments.models import Appointment, AppointmentRead
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs.models import Organization
from voxanne_admin.providers.vapi_payloads import message_metadata
from voxanne_admin.timeutil import utcnow

SLOT_MINUTES = 30
OPEN = time(9, 0)
CLOSE = time(17, 0)
WORKDAYS = {0, 1, 2, 3, 4}


class Clinic(NamedTuple):
    """What the booking rules need of an organization (read by one statement on the tools' hot path)."""

    id: int
    status: str
    timezone: str
    country: str


Place = Organization | Clinic


def _org(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None or org.status != "active":
        raise NotFound("This clinic is not taking bookings.")
    return org


def day_slots(org: Place, day: date) -> list[datetime]:
    """Every slot start of a working day, in UTC."""
    return list(_day_slots(org.timezone, day))


@functools.lru_cache(maxsize=4096)
def _day_slots(timezone: str, day: date) -> tuple[datetime, ...]:
    # A pure function of (timezone, day), asked for a fortnight of days by every "just taken" answer: cached.
    if day.weekday() not in WORKDAYS:
        return ()
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, OPEN, tz)
    end = datetime.combine(day, CLOSE, tz)
    slots = []
    while start + timedelta(minutes=SLOT_MINUTES) <= end:
        slots.append(start.astimezone(UTC))
        start += timedelta(minutes=SLOT_MINUTES)
    return tuple(slots)


BOOKED_BETWEEN_SQL = """
    select coalesce(array_agg(starts_at), '{}') from appointments
     where org_id = %(org_id)s and status = 'booked' and starts_at >= %(lo)s and starts_at < %(hi)s
"""


def _booked(session: Session, org_id: int, starts: list[datetime]) -> set[datetime]:
    if not starts:
        return set()
    rows = session.exec(select(Appointment.starts_at).where(
        Appointment.org_id == org_id, Appointment.status == "booked",
        Appointment.starts_at.in_(starts))).all()  # type: ignore[attr-defined]
    return {r.astimezone(UTC) for r in rows}


def free_slots(session: Session, *, org_id: int, day: date) -> list[datetime]:
    """Free slot starts (UTC) on a day, future ones only."""
    org = _org(session, org_id)
    now = utcnow()
    slots = [s for s in day_slots(org, day) if s > now]
    taken = _booked(session, org_id, slots)
    return [s for s in slots if s not in taken]


def _local(org: Place, when: datetime) -> str:
    return when.astimezone(ZoneInfo(org.timezone)).strftime("%A %-d %B at %H:%M")


def fortnight(org: Place, around: datetime) -> tuple[datetime, datetime]:
    """A UTC window holding every slot of the week either side of `around` (wide enough for any timezone)."""
    base = around.astimezone(ZoneInfo(org.timezone)).date()
    lo = datetime.combine(base - timedelta(days=8), time(0), UTC)
    return lo, lo + timedelta(days=17)


def nearest(org: Place, around: datetime, taken: set[datetime], count: int = 3) -> list[datetime]:
    """The free slots closest to a wanted time, a week either side, given the slots taken (UTC) in `fortnight`."""
    base = around.astimezone(ZoneInfo(org.timezone)).date()
    now = utcnow()
    free = [slot for offset in range(-7, 8) for slot in _day_slots(org.timezone, base + timedelta(days=offset))
            if slot > now and slot not in taken]
    return heapq.nsmallest(count, free, key=lambda s: abs((s - around).total_seconds()))


def nearest_free(session: Session, org: Place, around: datetime, count: int = 3) -> list[datetime]:
    """The free slots closest to a wanted time, searching a week either side (one query for the fortnight)."""
    lo, hi = fortnight(org, around)
    booked = session.connection().exec_driver_sql(BOOKED_BETWEEN_SQL, {"org_id": org.id, "lo": lo, "hi": hi}).scalar()
    return nearest(org, around, {b.astimezone(UTC) for b in booked or []}, count)


def taken_answer(org: Place, start: datetime, booked: list[datetime]) -> str:
    """The answer when `start` was just taken: the nearest free times (`booked`: the fortnight's booked slots)."""
    taken = {b.astimezone(UTC) for b in booked} | {start}  # taken even if the statement's snapshot predates it
    options = ", ".join(_local(org, s) for s in nearest(org, start, taken))
    return f"That time was just taken, the nearest free times are {options or 'not available this week'}."


def parse_local_start(org: Place, raw: str) -> datetime:
    """A slot start written in the clinic's local time (or with an offset) to UTC."""
    text = str(raw or "").strip().replace(" ", "T")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{raw}' is not a date and time like 2026-12-01T10:00.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(org.timezone))
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def _e164(raw: str, country: str) -> str | None:
    """A valid phone number in E.164, else None (cached: parsing and validating cost more than the booking's SQL)."""
    try:
        phone = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(phone):
        return None
    return phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164)


# The new id, or (taken) NULL and the fortnight's booked slots. The array is read from the statement's snapshot,
# which may predate the booking that took the slot (committed while this one waited on the lock): `taken_answer`
# counts the wanted slot as taken whatever the array says.
BOOK_SQL = """
    with slot_lock as (select pg_advisory_xact_lock(%(ns)s, %(key)s)),
    ins as (
        insert into appointments (org_id, starts_at, ends_at, contact_name, contact_phone, status, vapi_call_id,
                                  created_at)
        select %(org_id)s, %(starts_at)s, %(ends_at)s, %(name)s, %(phone)s, 'booked', %(call_id)s, %(now)s
          from slot_lock
        on conflict (org_id, starts_at) where status = 'booked' do nothing
        returning id
    )
    select (select id from ins),
           case when exists (select 1 from ins) then null else
             array(select starts_at from appointments
                    where org_id = %(org_id)s and status = 'booked' and starts_at >= %(lo)s and starts_at < %(hi)s)
           end
"""


def booking_params(org: Place, *, contact_name: str, contact_phone: str, slot_start: str,
                   duration_minutes: int, vapi_call_id: str | None) -> dict[str, Any]:
    """Check a booking request against the rules; the parameters of BOOK_SQL. Raises InvalidInput."""
    name = " ".join(str(contact_name or "").split())
    if not name or len(name) > 120:
        raise InvalidInput("A contact name (up to 120 characters) is needed to book.")
    e164 = _e164(str(contact_phone or "")[:40], org.country)
    if e164 is None:
        raise InvalidInput(f"'{contact_phone}' is not a valid phone number.")
    start = parse_local_start(org, slot_start)
    if duration_minutes != SLOT_MINUTES:
        raise InvalidInput(f"Appointments are {SLOT_MINUTES} minutes long.")
    if start not in _day_slots(org.timezone, start.astimezone(ZoneInfo(org.timezone)).date()):
        raise InvalidInput(f"{_local(org, start)} is not a bookable time: slots are every {SLOT_MINUTES} minutes, "
                           f"{OPEN:%H:%M}-{CLOSE:%H:%M} Monday to Friday.")
    now = utcnow()
    if start <= now:
        raise InvalidInput("That time has already passed.")
    namespace, key = locks.appointment_slot(org.id or 0, start.isoformat())
    lo, hi = fortnight(org, start)
    return {"ns": namespace, "key": key, "org_id": org.id, "starts_at": start,
            "ends_at": start + timedelta(minutes=SLOT_MINUTES), "name": name, "phone": e164, "call_id": vapi_call_id,
            "now": now, "lo": lo, "hi": hi}


def booked_audit(params: dict[str, Any]) -> dict[str, Any]:
    """The appointment_booked audit event's diff."""
    return {"starts_at": params["starts_at"].isoformat(), "vapi_call_id": params["call_id"]}


VAPI_TOOL = Actor(type="provider", id="vapi-tool")


def book(session: Session, *, org_id: int, contact_name: str, contact_phone: str, slot_start: str,
         duration_minutes: int = SLOT_MINUTES, vapi_call_id: str | None = None,
         actor: Actor | None = None) -> Appointment:
    """Book one slot. Raises Conflict naming the nearest free times when it was just taken."""
    org = _org(session, org_id)
    params = booking_params(org, contact_name=contact_name, contact_phone=contact_phone, slot_start=slot_start,
                            duration_minutes=duration_minutes, vapi_call_id=vapi_call_id)
    new_id, booked = session.connection().exec_driver_sql(BOOK_SQL, params).one()
    if new_id is None:
        raise Conflict(taken_answer(org, params["starts_at"], booked or []))
    appointment = Appointment(id=int(new_id), org_id=org_id, starts_at=params["starts_at"], ends_at=params["ends_at"],
                              contact_name=params["name"], contact_phone=params["phone"], vapi_call_id=vapi_call_id,
                              created_at=params["now"])
    audit.record(session, actor=actor or VAPI_TOOL, action="appointment_booked", target_type="appointment",
                 target_id=appointment.id, org_id=org_id, diff=booked_audit(params))
    return appointment


def cancel(session: Session, *, appointment_id: int, actor: Actor, actor_role: str | None,
           org_id: int | None = None) -> Appointment:
    """Cancel a booking (operator and up); the slot becomes free. With `org_id`, only that organization's."""
    require_role(actor_role, "operator")
    row = session.get(Appointment, appointment_id, with_for_update=True)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise NotFound("That appointment does not exist.")
    if row.status != "booked":
        raise Conflict("That appointment is already cancelled.")
    row.status = "cancelled"
    row.cancelled_at = utcnow()
    session.add(row)
    audit.record(session, actor=actor, action="appointment_cancelled", target_type="appointment",
                 target_id=row.id, org_id=row.org_id, diff={"starts_at": row.starts_at.isoformat()})
    return row


def list_for_org(session: Session, *, org_id: int, limit: int = 100) -> list[AppointmentRead]:
    """Upcoming and recent appointments, soonest first."""
    org = session.get(Organization, org_id)
    if org is None:
        return []
    since = utcnow() - timedelta(days=7)
    rows = session.exec(select(Appointment).where(Appointment.org_id == org_id, Appointment.starts_at >= since)
                        .order_by(col(Appointment.starts_at)).limit(limit)).all()
    return [AppointmentRead(id=r.id or 0, starts_at=_local(org, r.starts_at), contact_name=r.contact_name,
                            contact_phone=r.contact_phone[:-4] + "••••" if len(r.contact_phone) > 6 else "••••",
                            status=r.status, source="phone agent" if r.vapi_call_id else "console") for r in rows]


# ------------------------------------------------------------------ the agents' tools


def tool_org(message: dict[str, Any]) -> int:
    """The clinic a tool call is for (the assistant's metadata). Raises InvalidInput."""
    org_id = message_metadata(message).get("org_id")
    if not str(org_id or "").isdigit():
        raise InvalidInput("This call is not linked to a clinic, so I cannot check the calendar.")
    return int(str(org_id))


AVAILABILITY_SQL = """
    select o.id, o.status, o.timezone, o.country,
           array(select a.starts_at from appointments a
                  where a.org_id = o.id and a.status = 'booked' and a.starts_at >= %(lo)s and a.starts_at < %(hi)s)
             as booked
      from organizations o where o.id = %(org_id)s
"""


def availability_day(args: dict[str, Any]) -> date | str:
    """check_availability's date, or the answer asking for a readable one."""
    try:
        return date.fromisoformat(str(args.get("date", "")).strip()[:10])
    except ValueError:
        return f"Please give the date as YYYY-MM-DD; '{args.get('date', '')}' was not understood."


def availability_params(org_id: int, day: date) -> dict[str, Any]:
    """AVAILABILITY_SQL's parameters: the clinic, and a UTC window around the day wide enough for any timezone."""
    lo = datetime.combine(day, time(0), UTC) - timedelta(days=1)
    return {"org_id": org_id, "lo": lo, "hi": lo + timedelta(days=3)}


def availability_clinic(row: Any) -> Clinic:
    """The clinic of an AVAILABILITY_SQL (or CLINIC_SQL) row. Raises NotFound unless it takes bookings."""
    if row is None or row[1] != "active":
        raise NotFound("This clinic is not taking bookings.")
    return Clinic(int(row[0]), row[1], row[2], row[3])


def free_times(org: Place, day: date, booked: list[datetime]) -> list[datetime]:
    """The day's future slots not in `booked`."""
    taken = {b.astimezone(UTC) for b in booked}
    now = utcnow()
    return [s for s in _day_slots(org.timezone, day) if s > now and s not in taken]


def free_times_answer(org: Place, day: date, slots: list[datetime]) -> str:
    """check_availability's answer listing a day's free times."""
    tz = ZoneInfo(org.timezone)
    local = [s.astimezone(tz).strftime("%H:%M") for s in slots]
    return f"Free times on {day:%A %-d %B} ({org.timezone}): {', '.join(local)}."


def no_free_times_answer(org: Place, day: date, nearest_slots: list[datetime]) -> str:
    """check_availability's answer for a full (or closed) day: the nearest free times."""
    return (f"No free times on {day:%A %-d %B}. The nearest free times are "
            f"{', '.join(_local(org, s) for s in nearest_slots) or 'not available this week'}.")


def day_opening(org: Place, day: date) -> datetime:
    """The day's opening time in UTC (where the nearest free times are searched from)."""
    return datetime.combine(day, OPEN, ZoneInfo(org.timezone)).astimezone(UTC)


def booked_answer(org: Place, start: datetime, reminders: bool) -> str:
    """book_appointment's answer once booked."""
    if reminders:
        return f"Booked for {_local(org, start)}. A reminder will be sent the day before."
    return (f"Booked for {_local(org, start)}. Reminders are turned off for this clinic, so tell "
            "the caller no reminder will be sent.")


def tool_call_id(message: dict[str, Any]) -> str | None:
    """The Vapi call a tool call belongs to (stored with the appointment)."""
    return str((message.get("call") or {}).get("id") or message.get("callId") or "") or None


def tool_duration(args: dict[str, Any]) -> int:
    """book_appointment's duration_minutes (the slot length when missing or unreadable)."""
    try:
        return int(args.get("duration_minutes") or SLOT_MINUTES)
    except (TypeError, ValueError):
        return SLOT_MINUTES


def tool_check_availability(session: Session, args: dict[str, Any], message: dict[str, Any]) -> str:
    """check_availability(date) -> the free times that day in the clinic's timezone.

    One statement: the clinic and its booked slots of that day (a UTC window wide enough for any timezone)."""
    org_id = tool_org(message)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    day = availability_day(args)
    if isinstance(day, str):
        return day
    row = session.connection().exec_driver_sql(AVAILABILITY_SQL, availability_params(org_id, day)).first()
    org = availability_clinic(row)
    slots = free_times(org, day, row[4] if row is not None else [])
    if not slots:
        return no_free_times_answer(org, day, nearest_free(session, org, day_opening(org, day)))
    return free_times_answer(org, day, slots)


def tool_book_appointment(session: Session, args: dict[str, Any], message: dict[str, Any]) -> str:
    """book_appointment(contact_name, contact_phone, slot_start, duration_minutes) -> booked or nearest times."""
    org_id = tool_org(message)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    call_id = tool_call_id(message)
    duration = tool_duration(args)
    try:
        # No savepoint needed: a taken slot is `ON CONFLICT DO NOTHING`, not an error, and nothing is written
        # before the checks that raise.
        appointment = book(session, org_id=org_id, contact_name=args.get("contact_name") or args.get("name", ""),
                           contact_phone=args.get("contact_phone") or args.get("phone", ""),
                           slot_start=args.get("slot_start") or args.get("start", ""),
                           duration_minutes=duration, vapi_call_id=call_id)
    except (Conflict, InvalidInput, NotFound) as exc:
        return str(exc)
    return booked_answer(_org(session, org_id), appointment.starts_at, flag_gates.appointment_reminders(org_id))


# The agents' tools by name; the API edge registers them with the webhook inbox (webhooks.service.TOOL_HANDLERS).
TOOLS = {"check_availability": tool_check_availability, "book_appointment": tool_book_appointment}
