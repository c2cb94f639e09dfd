"""The outbound-call invariants, agent sync, idempotency, provider faults, tools and the CLI, against the sandbox
providers over real HTTP. Each invariant test fails if its protection is removed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.conftest import ROOT
from tests.integration.conftest import _scalar
from voxanne_admin import db, demo
from voxanne_admin.agents import flows as sync
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import Agent, PhoneNumber
from voxanne_admin.agents.service import is_vapi_uuid
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls import flows as outbound
from voxanne_admin.errors import ProviderError
from voxanne_admin.orgs import service as org_service
from voxanne_admin.providers import resilience
from voxanne_admin.providers.resilience import CircuitOpen
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks.signatures import vapi_hmac

FOUNDER = Actor(type="staff", id="1", email="ada@voxanne.example")
US_NUMBER = "(201) 555-0143"


def _vapi(base: str, **kw) -> VapiClient:
    kw.setdefault("waits", (0.01, 0.02, 0.04))
    return VapiClient(base_url=f"{base}/sandbox/vapi", api_key=store.sandbox_vapi_key(), **kw)


@pytest.fixture
def demo_orgs(api_server):
    """The demo organizations, agents and sandbox numbers, with every agent synced to the sandbox."""
    with db.transaction() as session:
        demo.seed(session)
    asyncio.run(sync.sync_pending(vapi=_vapi(api_server)))
    with db.read_only() as session:
        return {o.slug: o.id for o in org_service.list_organizations(session)}


def _agent(org_id: int, role: str = "outbound") -> Agent:
    with db.read_only() as session:
        return agent_service.get_for_org(session, org_id=org_id, role=role)


def _sandbox_count(kind: str) -> int:
    return _scalar("select count(*) from sandbox_objects where kind = :k", k=kind)


def _place(base: str, org_id: int, to: str = US_NUMBER, key: str | None = None):
    return outbound.place_call(
        org_id=org_id,
        to=to,
        idempotency_key=key or uuid.uuid4().hex,
        placed_by="ada@voxanne.example",
        actor=FOUNDER,
        actor_role="founder",
        vapi=_vapi(base),
    )


# ---------------------------------------------------------------- invariant 1: sync writes the phone-number id


def test_sync_always_writes_the_vapi_phone_number_id(api_server, demo_orgs):
    org_id = demo_orgs["harbor-dental"]
    expected = _scalar("select vapi_phone_number_id from phone_numbers where org_id = :o", o=org_id)
    assert _agent(org_id).vapi_phone_number_id == expected
    with db.transaction() as session:  # the id gets dropped somehow
        session.execute(sa.update(Agent).where(Agent.org_id == org_id).values(vapi_phone_number_id=None))
    agent = _agent(org_id)
    result = asyncio.run(sync.sync_agent(agent.id, actor=FOUNDER, vapi=_vapi(api_server)))
    assert result.ok
    assert _agent(org_id).vapi_phone_number_id == expected


# ---------------------------------------------------------------- invariant 2: missing outbound agent


def test_missing_outbound_agent_is_a_clear_message_not_an_error(api_server, demo_orgs):
    org_id = demo_orgs["harbor-dental"]
    with db.transaction() as session:
        session.execute(sa.delete(Agent).where(Agent.org_id == org_id, Agent.role == "outbound"))
    result = asyncio.run(outbound.preflight(org_id=org_id, to=US_NUMBER, vapi=_vapi(api_server)))
    assert not result.ok
    assert result.first_failure == "Outbound agent not configured for Harbor Dental Care"
    with pytest.raises(outbound.CallFailed, match="Outbound agent not configured for Harbor Dental Care"):
        asyncio.run(_place(api_server, org_id))
    assert _sandbox_count("call") == 0


# ---------------------------------------------------------------- invariants 3 and 5: the single pre-flight


def test_e164_phone_number_id_is_never_sent_to_vapi(api_server, demo_orgs):
    org_id = demo_orgs["moda-goz"]  # no Vapi number anywhere (the demo's NG clinic now has a US number)
    with db.transaction() as session:
        session.execute(
            sa.update(Agent)
            .where(Agent.org_id == org_id, Agent.role == "outbound")
            .values(vapi_phone_number_id="+905321234567")
        )
    result = asyncio.run(outbound.preflight(org_id=org_id, to="0532 123 45 67", vapi=_vapi(api_server)))
    number_check = next(c for c in result.checks if c.name == "Vapi phone number")
    assert not number_check.ok and result.phone_number_id is None
    with pytest.raises(outbound.CallFailed):
        asyncio.run(_place(api_server, org_id, to="0532 123 45 67"))
    assert _sandbox_count("call") == 0
    assert not is_vapi_uuid("+14155550100") and is_vapi_uuid(str(uuid.uuid4()))


@pytest.mark.parametrize(
    "number, reason",
    [
        ("+447700900123", "not a valid number"),  # Ofcom drama range
        ("+33 1 23 45 67 89", "calls are allowed to"),  # France is not an allowed country
        ("hello", "not a phone number"),
        ("", "Enter the number"),
    ],
)
def test_customer_number_checked_before_dialling(api_server, demo_orgs, number, reason):
    with pytest.raises(outbound.CallFailed, match=reason):
        asyncio.run(_place(api_server, demo_orgs["harbor-dental"], to=number))
    assert _sandbox_count("call") == 0
    assert _scalar("select count(*) from calls") == 0


def test_national_input_parsed_with_the_organizations_country(api_server, demo_orgs):
    result = asyncio.run(
        outbound.preflight(org_id=demo_orgs["camden-physio"], to="07911 123456", vapi=_vapi(api_server))
    )
    assert result.customer_e164 is None  # +447911123456 belongs to Guernsey (GG), not an allowed country
    result = asyncio.run(
        outbound.preflight(org_id=demo_orgs["camden-physio"], to="020 7946 0958", vapi=_vapi(api_server))
    )
    assert result.customer_e164 == "+442079460958" and result.ok


# ---------------------------------------------------------------- invariant 4: resolve and backfill


def test_missing_phone_number_id_is_resolved_and_backfilled(api_server, demo_orgs):
    org_id = demo_orgs["harbor-dental"]
    with db.transaction() as session:
        session.execute(sa.update(Agent).where(Agent.org_id == org_id).values(vapi_phone_number_id=None))
        # Only Vapi knows the number: the local record lost its Vapi id.
        session.execute(sa.update(PhoneNumber).where(PhoneNumber.org_id == org_id).values(vapi_phone_number_id=None))
    placed = asyncio.run(_place(api_server, org_id))
    assert placed.vapi_call_id
    agent = _agent(org_id)
    assert is_vapi_uuid(agent.vapi_phone_number_id)
    assert _scalar("select count(*) from audit_events where action = 'agent_number_backfilled'") == 1


# ---------------------------------------------------------------- invariant 6: never create in an error path


def test_vapi_error_on_update_keeps_config_and_never_creates_an_assistant(api_server, demo_orgs):
    org_id = demo_orgs["harbor-dental"]
    agent = _agent(org_id)
    assistants_before = _sandbox_count("assistant")
    with db.transaction() as session:
        agent_service.save(
            session,
            org_id=org_id,
            role="outbound",
            raw={**agent_service.config_of(agent), "first_message": "Hi, it's Harbor Dental."},
            actor=FOUNDER,
            actor_role="operator",
        )
    store.add_fault(
        "vapi", "fail", operation="PATCH /assistant", status=400, message="property voicemail should not exist"
    )
    result = asyncio.run(sync.sync_agent(agent.id, actor=FOUNDER, vapi=_vapi(api_server)))
    assert not result.ok and "property voicemail should not exist" in result.message
    after = _agent(org_id)
    assert after.sync_status == "failed" and after.first_message == "Hi, it's Harbor Dental."
    assert after.vapi_assistant_id == agent.vapi_assistant_id
    assert _sandbox_count("assistant") == assistants_before
    # The assistant vanished in Vapi: still no replacement is created.
    asyncio.run(_vapi(api_server).delete_assistant(agent.vapi_assistant_id))
    result = asyncio.run(sync.sync_agent(agent.id, actor=FOUNDER, vapi=_vapi(api_server)))
    assert not result.ok and "no new assistant was created" in result.message
    assert _sandbox_count("assistant") == assistants_before - 1


def test_two_quick_saves_create_one_assistant(api_server, demo_orgs):
    org_id = demo_orgs["moda-goz"]
    with db.transaction() as session:
        session.execute(sa.delete(Agent).where(Agent.org_id == org_id, Agent.role == "inbound"))
        org = org_service.get(session, org_id=org_id)
        config = agent_service.default_config(org, "inbound")
    before = _sandbox_count("assistant")
    ids = []
    for text in ("First draft", "Second draft"):
        with db.transaction() as session:
            saved = agent_service.save(
                session,
                org_id=org_id,
                role="inbound",
                raw={**config, "first_message": text},
                actor=FOUNDER,
                actor_role="operator",
            )
            ids.append(saved.id)

    async def both():
        vapi = _vapi(api_server)
        return await asyncio.gather(
            sync.sync_agent(ids[0], actor=FOUNDER, vapi=vapi), sync.sync_agent(ids[1], actor=FOUNDER, vapi=vapi)
        )

    results = asyncio.run(both())
    assert all(r.ok for r in results)
    assert _sandbox_count("assistant") == before + 1
    assistant = store.get(_agent(org_id, "inbound").vapi_assistant_id, "assistant")
    assert assistant["firstMessage"] == "Second draft"


# ---------------------------------------------------------------- idempotency and faults


def test_double_click_dials_once(api_server, demo_orgs):
    key = uuid.uuid4().hex

    async def twice():
        return await asyncio.gather(
            _place(api_server, demo_orgs["harbor-dental"], key=key),
            _place(api_server, demo_orgs["harbor-dental"], key=key),
        )

    first, second = asyncio.run(twice())
    assert first.call_id == second.call_id
    assert _sandbox_count("call") == 1
    assert _scalar("select count(*) from calls where idempotency_key = :k", k=key) == 1
    assert _scalar("select count(*) from audit_events where action = 'test_call_placed'") == 1


@pytest.mark.parametrize("status, message", [(401, None), (429, None), (500, None)])
def test_vapi_errors_on_dial_fail_clearly_without_retrying(api_server, demo_orgs, status, message):
    store.add_fault("vapi", "fail", operation="POST /call", status=status)
    with pytest.raises(outbound.CallFailed, match="Vapi did not place the call"):
        asyncio.run(_place(api_server, demo_orgs["harbor-dental"]))
    assert _sandbox_count("call") == 0
    row = _scalar("select status from calls")
    assert row == "failed"


def test_timeout_and_circuit_breaker_on_dial(api_server, demo_orgs):
    org_id = demo_orgs["harbor-dental"]
    resilience.reset_breakers()
    store.add_fault("vapi", "latency", operation="POST /call", latency_ms=1500)

    async def slow():
        return await outbound.place_call(
            org_id=org_id,
            to=US_NUMBER,
            idempotency_key=uuid.uuid4().hex,
            placed_by="ada",
            actor=FOUNDER,
            actor_role="founder",
            vapi=_vapi(api_server, timeout=0.5),
        )

    with pytest.raises(outbound.CallFailed, match="did not answer in time"):
        asyncio.run(slow())
    store.add_fault("vapi", "fail", operation="POST /call", status=503, count=2)
    for _ in range(2):
        with pytest.raises(outbound.CallFailed):
            asyncio.run(_place(api_server, org_id))
    # Three consecutive failures: the circuit is open and the next dial is refused without a request.
    assert resilience.breaker("vapi", "create_call").snapshot().state == "open"
    with pytest.raises((outbound.CallFailed, CircuitOpen), match="failing repeatedly"):
        asyncio.run(_place(api_server, org_id))
    resilience.reset_breakers()


# ---------------------------------------------------------------- the tools through /webhooks/vapi


def _next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() > 4:
        day += timedelta(days=1)
    return day


def _tool_message(org_id: int, items: list[dict], form: str = "toolCallList") -> dict:
    message = {"type": "tool-calls", "call": {"id": f"c-{uuid.uuid4().hex[:8]}", "metadata": {"org_id": org_id}}}
    message[form] = [{"toolCall": i} for i in items] if form == "toolWithToolCallList" else items
    return message


def _post(client: TestClient, message: dict):
    body = json.dumps({"message": message}).encode()
    return client.post(
        "/webhooks/vapi", content=body, headers={"x-vapi-signature": vapi_hmac(get_settings().webhook_secret, body)}
    )


@pytest.mark.parametrize("form", ["toolCallList", "toolCalls", "toolWithToolCallList"])
@pytest.mark.parametrize("as_string", [True, False])
def test_tools_answer_in_every_documented_shape(demo_orgs, form, as_string):
    from voxanne_admin.api.app import build_api

    org_id = demo_orgs["harbor-dental"]
    day = _next_weekday()
    args_check = {"date": day.isoformat()}
    args_book = {"contact_name": "Jane Doe", "contact_phone": "(201) 555-0199", "slot_start": f"{day}T10:00"}
    items = [
        {
            "id": "a1",
            "type": "function",
            "function": {
                "name": "check_availability",
                "arguments": json.dumps(args_check) if as_string else args_check,
            },
        },
        {
            "id": "b2",
            "name": "book_appointment",
            ("arguments" if as_string else "parameters"): json.dumps(args_book) if as_string else args_book,
        },
    ]
    with TestClient(build_api()) as client:
        response = _post(client, _tool_message(org_id, items, form))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["toolCallId"] for r in results] == ["a1", "b2"]
    assert "10:00" in results[0]["result"] and results[0]["result"].startswith("Free times on")
    assert results[1]["result"].startswith("Booked for") and "10:00" in results[1]["result"]
    assert all("\n" not in r["result"] for r in results)


def test_concurrent_bookings_of_one_slot_book_it_once(demo_orgs):
    from voxanne_admin.api.app import build_api

    org_id = demo_orgs["harbor-dental"]
    day = _next_weekday()
    answers: list[str] = []

    def attempt(i: int) -> None:
        item = {
            "id": f"t{i}",
            "name": "book_appointment",
            "arguments": {
                "contact_name": f"Patient {i}",
                "contact_phone": "+12015550199",
                "slot_start": f"{day}T11:00",
            },
        }
        with TestClient(build_api()) as client:
            answers.append(_post(client, _tool_message(org_id, [item])).json()["results"][0]["result"])

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a.startswith("Booked for") for a in answers) == 1
    assert sum(a.startswith("That time was just taken, the nearest free times are") for a in answers) == 11
    assert _scalar("select count(*) from appointments where status = 'booked'") == 1
    assert _scalar("select count(*) from audit_events where action = 'appointment_booked'") == 1


# ---------------------------------------------------------------- CLI


def test_cli_test_call_exit_codes(api_server, demo_orgs):
    port = api_server.rsplit(":", 1)[1]
    env = {**os.environ, "PORT": port}
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    ok = subprocess.run(
        [sys.executable, "-m", "voxanne_admin.cli", "test-call", "--org", "harbor-dental", "--to", US_NUMBER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for expected in (
        "ok    Outbound agent",
        "status: ringing",
        "status: ended",
        "ended reason: customer-ended-call",
        "recording:",
    ):
        assert expected in ok.stdout
    failed = subprocess.run(
        [sys.executable, "-m", "voxanne_admin.cli", "test-call", "--org", "moda-goz", "--to", "0532 123 45 67"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert "FAIL  Vapi phone number" in failed.stdout and "Not placed" in failed.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "voxanne_admin.cli", "test-call", "--org", "nope", "--to", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2 and "No organization with the slug 'nope'" in unknown.stderr


def test_provider_error_is_raised_for_unreachable_sandbox():
    vapi = VapiClient(base_url="http://127.0.0.1:9/sandbox/vapi", api_key="x", waits=())
    with pytest.raises(ProviderError, match="Could not reach Vapi"):
        asyncio.run(vapi.list_phone_numbers())
