"""Booking under contention on real PostgreSQL: many tool calls for one slot at once make exactly one booking
(one row, one audit event), the others are told the nearest free times; availability then leaves the slot out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import sqlalchemy as sa

from voxanne_admin import db
from voxanne_admin.appointments import service as appointment_service
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs import service as org_service


def _next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_twelve_tool_calls_for_one_slot_book_it_once(clean_db):
    with db.transaction() as session:
        org_service.seed_demo(session, actor=Actor(type="staff", id="1", email="ada@voxanne.example"))
    with db.read_only() as session:
        org = org_service.list_organizations(session)[0]
    day = _next_weekday()

    def attempt(i: int) -> str:
        message = {"call": {"id": f"contend-{i}", "metadata": {"org_id": org.id}}}
        args = {"contact_name": f"Patient {i}", "contact_phone": "+1 201 555 0199", "slot_start": f"{day}T10:00"}
        with db.transaction() as session:
            return appointment_service.tool_book_appointment(session, args, message)

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(attempt, range(12)))

    assert sum(a.startswith("Booked for") for a in answers) == 1, answers
    assert sum(a.startswith("That time was just taken, the nearest free times are") for a in answers) == 11
    with db.get_engine().connect() as conn:
        booked = conn.execute(sa.text("select contact_name, vapi_call_id from appointments where org_id = :o "
                                      "and status = 'booked'"), {"o": org.id}).all()
        audited = conn.execute(sa.text("select target_id from audit_events where action = 'appointment_booked'")
                               ).all()
    assert len(booked) == 1 and booked[0].vapi_call_id.startswith("contend-")
    assert len(audited) == 1
    message = {"call": {"id": "contend-check", "metadata": {"org_id": org.id}}}
    with db.read_only() as session:
        free = appointment_service.tool_check_availability(session, {"date": day.isoformat()}, message)
    assert free.startswith("Free times on") and "10:00" not in free and "10:30" in free
