"""Flags that gate the product: each test fails if its gate is removed."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from voxanne_admin import db
from voxanne_admin.appointments import service as appointment_service
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls import detail
from voxanne_admin.calls import flows as outbound
from voxanne_admin.calls import service as call_service
from voxanne_admin.flags import flows, gates
from voxanne_admin.orgs import service as org_service

ADMIN = Actor(type="staff", id="1", email="ada@voxanne.example")


@pytest.fixture
def two_orgs(clean_db):
    with db.transaction() as session:
        org_service.seed_demo(session, actor=ADMIN)
    with db.read_only() as session:
        orgs = org_service.list_organizations(session)
    return orgs[0], orgs[1]


def _off(key: str, slug: str) -> None:
    flows.set_override(key=key, org_slug=slug, value="off", reason="test", actor=ADMIN, actor_role="admin")


def test_outbound_calling_off_refuses_in_the_one_preflight(two_orgs):
    off, on = two_orgs
    _off("outbound_calling", off.slug)
    refused = asyncio.run(outbound.preflight(org_id=off.id, to="(201) 555-0143"))
    assert not refused.ok and refused.first_failure == "Outbound calling is turned off for this organization"
    allowed = asyncio.run(outbound.preflight(org_id=on.id, to="(201) 555-0143"))
    assert allowed.first_failure != "Outbound calling is turned off for this organization"
    with pytest.raises(outbound.CallFailed, match="Outbound calling is turned off for this organization"):
        asyncio.run(outbound.place_call(org_id=off.id, to="(201) 555-0143", idempotency_key="k-1",
                                        placed_by="ada@voxanne.example", actor=ADMIN, actor_role="founder"))


def _report(vapi_id: str, org_id: int) -> dict:
    return {"type": "end-of-call-report", "call": {"id": vapi_id, "metadata": {"org_id": org_id}},
            "endedReason": "customer-ended-call", "artifact": {"recordingUrl": f"https://storage.example/{vapi_id}.wav",
                                                                "transcript": "AI: Hello"}}


def test_call_recording_off_neither_stores_nor_shows_recordings(two_orgs):
    off, on = two_orgs
    with db.transaction() as session:
        kept = call_service.apply_end_of_call_report(session, vapi_call_id="rec-on", message=_report("rec-on", on.id))
        earlier = call_service.apply_end_of_call_report(session, vapi_call_id="rec-before",
                                                        message=_report("rec-before", off.id))
        kept_id, earlier_id = kept.id, earlier.id
    _off("call_recording", off.slug)
    with db.transaction() as session:
        dropped = call_service.apply_end_of_call_report(session, vapi_call_id="rec-off",
                                                        message=_report("rec-off", off.id))
        assert dropped.recording_url is None and dropped.transcript
    with db.read_only() as session:
        assert detail.get_call(session, call_id=kept_id, org_ids=[on.id], role="admin").recording_url.endswith(".wav")
        # Stored before the flag went off: kept in the database, no longer shown.
        assert detail.get_call(session, call_id=earlier_id, org_ids=[off.id], role="admin").recording_url == ""
    assert not gates.call_recording(off.id) and gates.call_recording(on.id)


def _next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_booking_tools_say_when_calendar_or_reminders_are_off(two_orgs):
    off, on = two_orgs
    message = {"call": {"id": "c-book", "metadata": {"org_id": on.id}}}
    day = _next_weekday()
    args = {"contact_name": "Jane Doe", "contact_phone": "+1 201 555 0199", "slot_start": f"{day}T10:00"}
    with db.transaction() as session:
        assert "A reminder will be sent" in appointment_service.tool_book_appointment(session, args, message)
    _off("appointment_reminders", on.slug)
    with db.transaction() as session:
        answer = appointment_service.tool_book_appointment(session, {**args, "slot_start": f"{day}T11:00"}, message)
    assert answer.startswith("Booked for") and "Reminders are turned off for this clinic" in answer
    _off("calendar_integration", off.slug)
    closed = {"call": {"id": "c-off", "metadata": {"org_id": off.id}}}
    with db.transaction() as session:
        assert appointment_service.tool_check_availability(session, {"date": day.isoformat()}, closed) == \
            gates.BOOKING_OFF
        assert appointment_service.tool_book_appointment(session, args, closed) == gates.BOOKING_OFF
        assert appointment_service.tool_check_availability(session, {"date": day.isoformat()}, message).startswith(
            "Free times")


def test_openfeature_client_answers_like_our_evaluator(two_orgs):
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    from voxanne_admin.flags.openfeature_provider import VoxanneProvider

    off, on = two_orgs
    flows.set_override(key="lead_scoring", org_slug=on.slug, value="on", reason="pilot", actor=ADMIN,
                       actor_role="admin")
    api.set_provider(VoxanneProvider())
    client = api.get_client()
    assert client.get_boolean_value("lead_scoring", False, EvaluationContext(targeting_key=str(on.id))) is True
    assert client.get_boolean_value("lead_scoring", True, EvaluationContext(targeting_key=str(off.id))) is False
    details = client.get_boolean_details("lead_scoring", False, EvaluationContext(attributes={"org": on.slug}))
    assert details.value is True and details.reason == "TARGETING_MATCH" and details.variant == "on"
    missing = client.get_boolean_details("no_such_flag", True, EvaluationContext(targeting_key=str(on.id)))
    assert missing.value is True and missing.error_code == "FLAG_NOT_FOUND"
