"""The agents' tools as the webhook route runs them: on the event loop, on the async pool, in one transaction with
the tool call's claim and stored answer (real PostgreSQL). Many copies racing for one slot book it once, with its
audit row in the booking's transaction; a replayed tool call gets the stored answer and books nothing more."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from voxanne_admin import db
from voxanne_admin.appointments import service as appointment_service
from voxanne_admin.appointments import tools as appointment_tools
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs import service as org_service
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import service as inbox


@pytest.fixture
def org_id(clean_db, monkeypatch):
    monkeypatch.setattr(inbox, "TOOL_HANDLERS", dict(appointment_service.TOOLS))
    monkeypatch.setattr(inbox_flows, "TOOL_HANDLERS", inbox.TOOL_HANDLERS)
    monkeypatch.setattr(inbox, "ASYNC_TOOL_HANDLERS", dict(appointment_tools.TOOLS))
    monkeypatch.setattr(inbox_flows, "ASYNC_TOOL_HANDLERS", inbox.ASYNC_TOOL_HANDLERS)
    with db.transaction() as session:
        org_service.seed_demo(session, actor=Actor(type="staff", id="1", email="ada@voxanne.example"))
    with db.read_only() as session:
        return org_service.list_organizations(session)[0].id


def _next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _message(call_id: str, tool_call_id: str, name: str, arguments: dict, org_id: int) -> dict:
    return {"type": "tool-calls", "call": {"id": call_id, "metadata": {"org_id": org_id}},
            "toolCallList": [{"id": tool_call_id, "type": "function",
                              "function": {"name": name, "arguments": arguments}}]}


async def _answers(messages: list[dict]) -> list[dict]:
    try:
        return await asyncio.gather(*(inbox_flows.answer_tool_calls_async(m) for m in messages))
    finally:
        await db.close_async_pool()


def _rows(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_twenty_tool_calls_on_the_loop_for_one_slot_book_it_once_with_its_audit_row(org_id):
    day = _next_weekday()
    args = {"contact_name": "Patient", "contact_phone": "+1 201 555 0199", "slot_start": f"{day}T10:00"}
    answers = asyncio.run(_answers([_message(f"loop-{i}", "t1", "book_appointment", args, org_id)
                                    for i in range(20)]))
    results = [a["results"][0]["result"] for a in answers]
    assert sum(r.startswith("Booked for") for r in results) == 1, results
    taken = [r for r in results if r.startswith("That time was just taken, the nearest free times are")]
    assert len(taken) == 19
    assert all("at 10:00" not in r for r in taken)  # the slot just taken is never offered back
    booked = _rows("select id, xmin::text as x from appointments where org_id = :o and status = 'booked'", o=org_id)
    audited = _rows("select target_id, xmin::text as x from audit_events where action = 'appointment_booked'")
    assert len(booked) == 1 and len(audited) == 1
    assert audited[0].target_id == str(booked[0].id) and audited[0].x == booked[0].x  # one transaction
    stored = _rows("select answer from tool_call_answers where call_id like 'loop-%'")
    assert sorted(r.answer["result"] for r in stored) == sorted(results)


def test_a_replayed_tool_call_on_the_loop_is_answered_from_the_stored_result(org_id):
    day = _next_weekday()
    args = {"contact_name": "Replay", "contact_phone": "+1 201 555 0199", "slot_start": f"{day}T11:00"}
    message = _message("replay-1", "t1", "book_appointment", args, org_id)
    first, again, concurrent_a, concurrent_b = asyncio.run(_answers([message, message, message, message]))
    assert first["results"][0]["result"].startswith("Booked for")
    assert again == first == concurrent_a == concurrent_b  # not "just taken": the same stored answer
    assert len(_rows("select id from appointments where vapi_call_id = 'replay-1'")) == 1


def test_availability_on_the_loop_leaves_booked_slots_out_and_bad_input_is_an_answer(org_id):
    day = _next_weekday()
    book = _message("avail-1", "t1", "book_appointment",
                    {"contact_name": "A", "contact_phone": "+1 201 555 0199", "slot_start": f"{day}T09:30"}, org_id)
    check = _message("avail-2", "t1", "check_availability", {"date": day.isoformat()}, org_id)
    bad_date = _message("avail-3", "t1", "check_availability", {"date": "next tuesday"}, org_id)
    bad_phone = _message("avail-4", "t1", "book_appointment",
                         {"contact_name": "A", "contact_phone": "12", "slot_start": f"{day}T12:00"}, org_id)
    booked, = asyncio.run(_answers([book]))
    free, date_answer, phone_answer = asyncio.run(_answers([check, bad_date, bad_phone]))
    assert booked["results"][0]["result"].startswith("Booked for")
    text = free["results"][0]["result"]
    assert text.startswith("Free times on") and "09:30" not in text and "09:00" in text
    assert date_answer["results"][0]["result"].startswith("Please give the date as YYYY-MM-DD")
    assert phone_answer["results"][0]["result"] == "'12' is not a valid phone number."
    # the sync tools (the same rules) agree with the loop's answer
    with db.read_only() as session:
        assert appointment_service.tool_check_availability(session, {"date": day.isoformat()},
                                                           check) == text


def test_a_tool_for_an_unknown_clinic_is_an_error_result_not_stored(org_id):
    message = _message("nowhere-1", "t1", "check_availability", {"date": _next_weekday().isoformat()}, 999999)
    answer, = asyncio.run(_answers([message]))
    assert answer["results"][0]["error"] == "The tool failed: This clinic is not taking bookings."
    assert _rows("select 1 from tool_call_answers where call_id = 'nowhere-1'") == []  # Vapi may retry
