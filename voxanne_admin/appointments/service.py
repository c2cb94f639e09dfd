"""Slots, bookings and cancellations; the agents' check_availability and book_appointment tools.

Double booking is impossible: a booking is ONE statement that takes a transaction-scoped advisory lock on
(organization, slot) and inserts with `ON CONFLICT DO NOTHING` on the partial unique index of booked slots, so the
database refuses a second booked row for the same slot even if the lock were bypassed. No other lock is taken.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import sqlalchemy as sa
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


def _org(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None or org.status != "active":
        raise NotFound("This clinic is not taking bookings.")
    return org


def day_slots(org: Organization, day: date) -> list[datetime]:
    """Every slot start of a working day, in UTC."""
    if day.weekday() not in WORKDAYS:
        return []
    tz = ZoneInfo(org.timezone)
    start = datetime.combine(day, OPEN, tz)
    end = datetime.combine(day, CLOSE, tz)
    slots = []
    while start + timedelta(minutes=SLOT_MINUTES) <= end:
        slots.append(start.astimezone(UTC))
        start += timedelta(minutes=SLOT_MINUTES)
    return slots


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


def _local(org: Organization, when: datetime) -> str:
    return when.astimezone(ZoneInfo(org.timezone)).strftime("%A %-d %B at %H:%M")


def nearest_free(session: Session, org: Organization, around: datetime, count: int = 3) -> list[datetime]:
    """The free slots closest to a wanted time, searching a week either side."""
    tz = ZoneInfo(org.timezone)
    base = around.astimezone(tz).date()
    now = utcnow()
    candidates = [slot for offset in range(-7, 8) for slot in day_slots(org, base + timedelta(days=offset))
                  if slot > now]
    taken = _booked(session, org.id or 0, candidates)  # one query for the whole fortnight
    free = [slot for slot in candidates if slot not in taken]
    return sorted(free, key=lambda s: abs((s - around).total_seconds()))[:count]


def parse_local_start(org: Organization, raw: str) -> datetime:
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


BOOK_SQL = sa.text("""
    with slot_lock as (select pg_advisory_xact_lock(:ns, :key))
    insert into appointments (org_id, starts_at, ends_at, contact_name, contact_phone, status, vapi_call_id,
                              created_at)
    select :org_id, :starts_at, :ends_at, :name, :phone, 'booked', :call_id, :now from slot_lock
    on conflict (org_id, starts_at) where status = 'booked' do nothing
    returning id
""")


def book(session: Session, *, org_id: int, contact_name: str, contact_phone: str, slot_start: str,
         duration_minutes: int = SLOT_MINUTES, vapi_call_id: str | None = None,
         actor: Actor | None = None) -> Appointment:
    """Book one slot. Raises Conflict naming the nearest free times when it was just taken."""
    org = _org(session, org_id)
    name = " ".join(str(contact_name or "").split())
    if not name or len(name) > 120:
        raise InvalidInput("A contact name (up to 120 characters) is needed to book.")
    e164 = _e164(str(contact_phone or "")[:40], org.country)
    if e164 is None:
        raise InvalidInput(f"'{contact_phone}' is not a valid phone number.")
    start = parse_local_start(org, slot_start)
    if duration_minutes != SLOT_MINUTES:
        raise InvalidInput(f"Appointments are {SLOT_MINUTES} minutes long.")
    if start not in day_slots(org, start.astimezone(ZoneInfo(org.timezone)).date()):
        raise InvalidInput(f"{_local(org, start)} is not a bookable time: slots are every {SLOT_MINUTES} minutes, "
                           f"{OPEN:%H:%M}-{CLOSE:%H:%M} Monday to Friday.")
    now = utcnow()
    if start <= now:
        raise InvalidInput("That time has already passed.")
    namespace, key = locks.appointment_slot(org_id, start.isoformat())
    ends = start + timedelta(minutes=SLOT_MINUTES)
    new_id = session.execute(BOOK_SQL, {
        "ns": namespace, "key": key, "org_id": org_id, "starts_at": start, "ends_at": ends, "name": name,
        "phone": e164, "call_id": vapi_call_id, "now": now}).scalar()
    if new_id is None:
        options = ", ".join(_local(org, s) for s in nearest_free(session, org, start))
        raise Conflict(f"That time was just taken, the nearest free times are {options or 'not available this week'}.")
    appointment = Appointment(id=int(new_id), org_id=org_id, starts_at=start, ends_at=ends, contact_name=name,
                              contact_phone=e164, vapi_call_id=vapi_call_id, created_at=now)
    audit.record(session, actor=actor or Actor(type="provider", id="vapi-tool"), action="appointment_booked",
                 target_type="appointment", target_id=appointment.id, org_id=org_id,
                 diff={"starts_at": start.isoformat(), "vapi_call_id": vapi_call_id})
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


def _tool_org(message: dict[str, Any]) -> int:
    org_id = message_metadata(message).get("org_id")
    if not str(org_id or "").isdigit():
        raise InvalidInput("This call is not linked to a clinic, so I cannot check the calendar.")
    return int(str(org_id))


AVAILABILITY_SQL = sa.text("""
    select o.id, o.status, o.timezone, o.country,
           array(select a.starts_at from appointments a
                  where a.org_id = o.id and a.status = 'booked' and a.starts_at >= :lo and a.starts_at < :hi)
             as booked
      from organizations o where o.id = :org_id
""")


def tool_check_availability(session: Session, args: dict[str, Any], message: dict[str, Any]) -> str:
    """check_availability(date) -> the free times that day in the clinic's timezone.

    One statement: the clinic and its booked slots of that day (a UTC window wide enough for any timezone)."""
    org_id = _tool_org(message)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    try:
        day = date.fromisoformat(str(args.get("date", "")).strip()[:10])
    except ValueError:
        return f"Please give the date as YYYY-MM-DD; '{args.get('date', '')}' was not understood."
    lo = datetime.combine(day, time(0), UTC) - timedelta(days=1)
    row = session.execute(AVAILABILITY_SQL, {"org_id": org_id, "lo": lo, "hi": lo + timedelta(days=3)}).first()
    if row is None or row.status != "active":
        raise NotFound("This clinic is not taking bookings.")
    org = Organization(id=row.id, name="", slug="", status=row.status, timezone=row.timezone, country=row.country)
    taken = {b.astimezone(UTC) for b in row.booked}
    now = utcnow()
    slots = [s for s in day_slots(org, day) if s > now and s not in taken]
    if not slots:
        nearest = nearest_free(session, org, datetime.combine(day, OPEN, ZoneInfo(org.timezone)).astimezone(UTC))
        return (f"No free times on {day:%A %-d %B}. The nearest free times are "
                f"{', '.join(_local(org, s) for s in nearest) or 'not available this week'}.")
    local = [s.astimezone(ZoneInfo(org.timezone)).strftime("%H:%M") for s in slots]
    return f"Free times on {day:%A %-d %B} ({org.timezone}): {', '.join(local)}."


def tool_book_appointment(session: Session, args: dict[str, Any], message: dict[str, Any]) -> str:
    """book_appointment(contact_name, contact_phone, slot_start, duration_minutes) -> booked or nearest times."""
    org_id = _tool_org(message)
    if not flag_gates.calendar_integration(org_id):
        return flag_gates.BOOKING_OFF
    call_id = str((message.get("call") or {}).get("id") or message.get("callId") or "") or None
    try:
        duration = int(args.get("duration_minutes") or SLOT_MINUTES)
    except (TypeError, ValueError):
        duration = SLOT_MINUTES
    try:
        # No savepoint needed: a taken slot is `ON CONFLICT DO NOTHING`, not an error, and nothing is written
        # before the checks that raise.
        appointment = book(session, org_id=org_id, contact_name=args.get("contact_name") or args.get("name", ""),
                           contact_phone=args.get("contact_phone") or args.get("phone", ""),
                           slot_start=args.get("slot_start") or args.get("start", ""),
                           duration_minutes=duration, vapi_call_id=call_id)
    except (Conflict, InvalidInput, NotFound) as exc:
        return str(exc)
    org = _org(session, org_id)
    if flag_gates.appointment_reminders(org_id):
        return f"Booked for {_local(org, appointment.starts_at)}. A reminder will be sent the day before."
    return (f"Booked for {_local(org, appointment.starts_at)}. Reminders are turned off for this clinic, so tell "
            "the caller no reminder will be sent.")


# The agents' tools by name; the API edge registers them with the webhook inbox (webhooks.service.TOOL_HANDLERS).
TOOLS = {"check_availability": tool_check_availability, "book_appointment": tool_book_appointment}
