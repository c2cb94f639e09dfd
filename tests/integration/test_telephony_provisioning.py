"""Provisioning over real HTTP against the sandbox providers: records, webhook URLs, rollback when anything after
the purchase fails (Vapi import fault, database failure at the record step, a process SIGKILLed between purchase
and record), and zero orphans after reconcile_numbers. Provider errors map to clear messages."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from tests.conftest import ROOT
from voxanne_admin import db
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import Agent, PhoneNumber
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import Actor
from voxanne_admin.errors import InvalidInput, ProviderError, RateLimited
from voxanne_admin.orgs import service as org_service
from voxanne_admin.sandbox import store
from voxanne_admin.telephony import ratelimit
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.flows import provisioning, reconciliation
from voxanne_admin.telephony.models import NumberProvisioning

ACTOR = Actor(type="staff", id="1", email="ops@voxanne.example", ip="198.51.100.9")


def _org(slug: str, country: str = "US", agents: bool = False) -> int:
    with db.transaction() as session:
        org = org_service.create(session, name=f"Clinic {slug}", slug=slug, country=country, timezone="UTC",
                                 actor=ACTOR, actor_role="founder")
        if agents:
            for role in ("inbound", "outbound"):
                agent_service.save(session, org_id=org.id, role=role, raw=agent_service.default_config(org, role),
                                   actor=ACTOR, actor_role="founder")
        tel.set_country(session, org_id=org.id, country=country, actor=ACTOR, actor_role="operator")
        return org.id


def _pick(country: str = "US", kind: str = "local") -> str:
    found = asyncio.run(provisioning.search_numbers(org_id=0, country=country, number_type=kind, limit=3))
    assert found and found[0].display.startswith("+")
    return found[0].e164


def _provider_numbers() -> set[str]:
    return {n["phone_number"] for n in store.list_kind("twilio", "incoming_number")}


def _vapi_numbers() -> set[str]:
    return {n["number"] for n in store.list_kind("vapi", "phone_number")}


def _recorded() -> set[str]:
    with db.read_only() as session:
        return set(session.exec(select(PhoneNumber.e164)).all())


def _actions(action: str) -> list[AuditEvent]:
    with db.read_only() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _orphans() -> set[str]:
    return (_provider_numbers() | _vapi_numbers()) - _recorded()


@pytest.fixture(autouse=True)
def _clean_limits():
    ratelimit.reset()


def test_provision_buys_with_our_webhooks_imports_records_and_points_agents(tel_server):
    org_id = _org("harbor", agents=True)
    e164 = _pick()
    setup = asyncio.run(provisioning.provision_number(org_id=org_id, e164=e164, number_type="local", actor=ACTOR,
                                             actor_role="operator"))
    assert (setup.number_e164, setup.number_country, setup.step) == (e164, "US", 3)
    (bought,) = [n for n in store.list_kind("twilio", "incoming_number") if n["phone_number"] == e164]
    assert bought["voice_url"] == f"{tel_server.replace('127.0.0.1', 'localhost')}/webhooks/twilio/voice"
    assert bought["status_callback"].endswith("/webhooks/twilio/voice-status")
    assert bought["sms_url"].endswith("/webhooks/twilio/sms")
    with db.read_only() as session:
        phone = session.exec(select(PhoneNumber).where(PhoneNumber.e164 == e164)).one()
        assert phone.twilio_sid == bought["sid"] and phone.org_id == org_id
        agents = session.exec(select(Agent).where(Agent.org_id == org_id)).all()
        assert {a.vapi_phone_number_id for a in agents} == {phone.vapi_phone_number_id}
        journal = session.exec(select(NumberProvisioning).where(NumberProvisioning.e164 == e164)).one()
        assert journal.state == "recorded"
    assert store.get(phone.vapi_phone_number_id, "phone_number")["number"] == e164
    (event,) = _actions("telephony_number_provisioned")
    assert event.org_id == org_id and event.diff["number"] == e164 and event.diff["agents_pointed_at_it"] == 2


def test_vapi_import_failure_releases_the_number_and_says_so(tel_server):
    org_id = _org("camden")
    e164 = _pick()
    store.add_fault("vapi", "fail", operation="POST /phone-number", status=400,
                    message="property twilioAuthToken is invalid")
    with pytest.raises(provisioning.ProvisioningFailed) as failed:
        asyncio.run(provisioning.provision_number(org_id=org_id, e164=e164, number_type="local", actor=ACTOR,
                                         actor_role="operator"))
    assert "importing it into Vapi failed" in str(failed.value) and "so it was released again" in str(failed.value)
    assert failed.value.released
    assert e164 not in _provider_numbers() and e164 not in _recorded()
    (event,) = _actions("telephony_number_rolled_back")
    assert event.diff["released"] is True and event.diff["number"] == e164
    with db.read_only() as session:
        assert session.exec(select(NumberProvisioning.state)).all() == ["rolled_back"]
        assert tel.get_setup(session, org_id=org_id).number_id == 0


def test_database_failure_at_record_releases_number_and_deletes_vapi_import(tel_server, monkeypatch):
    org_id = _org("lekki", country="NG")
    e164 = _pick("US")
    record = provisioning._record

    def broken_database(session, **kwargs):
        session.execute(sa.text("select 1 / 0"))  # a real error from PostgreSQL inside the record transaction
        return record(session, **kwargs)

    monkeypatch.setattr(provisioning, "_record", broken_database)
    with pytest.raises(provisioning.ProvisioningFailed, match="saving it in our database failed"):
        asyncio.run(provisioning.provision_number(org_id=org_id, e164=e164, number_type="local", actor=ACTOR,
                                         actor_role="operator"))
    assert e164 not in _provider_numbers() | _vapi_numbers() | _recorded()
    assert _actions("telephony_number_rolled_back")[0].diff["vapi_phone_number_id"]


KILLED = textwrap.dedent("""
    import asyncio, os, signal, sys
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.telephony.flows import provisioning

    class Dies:  # the process dies after the purchase, before the Vapi import
        async def import_phone_number(self, body):
            os.kill(os.getpid(), signal.SIGKILL)

    provisioning.vapi_client = Dies
    asyncio.run(provisioning.provision_number(org_id=int(sys.argv[1]), e164=sys.argv[2], number_type="local",
                                     actor=Actor.system("crash-test"), actor_role="founder"))
""")


def _buy_then_die(org_id: int, e164: str) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED, str(org_id), e164], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_process_killed_between_purchase_and_record_is_repaired_by_reconcile(tel_server):
    needs = _org("needs-number")
    has = _org("has-number")
    asyncio.run(provisioning.provision_number(org_id=has, e164=_pick(), number_type="local", actor=ACTOR,
                                     actor_role="operator"))
    wanted, surplus = _pick(), None
    _buy_then_die(needs, wanted)
    surplus = _pick()
    _buy_then_die(has, surplus)
    assert {wanted, surplus} <= _provider_numbers() and {wanted, surplus} <= _orphans()
    # A young journal row may belong to a provisioning still in flight: left alone.
    stats = asyncio.run(reconciliation.reconcile_numbers())
    assert stats["in_flight"] == 2 and stats["adopted"] == stats["released"] == 0
    stats = asyncio.run(reconciliation.reconcile_numbers(grace=timedelta(0)))
    assert (stats["adopted"], stats["released"]) == (1, 1)
    assert _orphans() == set()
    assert wanted in _recorded() and surplus not in _provider_numbers()
    with db.read_only() as session:
        assert tel.get_setup(session, org_id=needs).number_e164 == wanted
        states = dict(session.exec(select(NumberProvisioning.e164, NumberProvisioning.state)).all())
    assert (states[wanted], states[surplus]) == ("adopted", "released")
    assert _actions("telephony_number_adopted")[0].diff["number"] == wanted
    assert _actions("telephony_number_released")[0].diff["number"] == surplus


def test_reconcile_job_is_registered_and_runs(tel_server):
    from voxanne_admin.jobs import service as job_service

    assert job_service.run_now("reconcile_numbers", actor=ACTOR, actor_role="admin") == "succeeded"


def test_provider_errors_map_to_clear_messages(tel_server):
    org_id = _org("errors", country="GB")
    gb = _pick("GB", "mobile")
    with pytest.raises(ProviderError, match="address is required"):
        asyncio.run(provisioning.provision_number(org_id=org_id, e164=gb, number_type="mobile", actor=ACTOR,
                                         actor_role="operator"))
    with pytest.raises(ProviderError, match="number type is not offered"):
        asyncio.run(provisioning.twilio_client().available_numbers("US", "mobile"))
    with pytest.raises(ProviderError, match="No numbers are available in that area code") as none_there:
        asyncio.run(provisioning.search_numbers(org_id=org_id, country="US", number_type="local", area_code="533"))
    assert none_there.value.code == 21452 and none_there.value.status_code == 502
    with pytest.raises(InvalidInput, match="United States has no mobile numbers"):
        asyncio.run(provisioning.search_numbers(org_id=org_id, country="US", number_type="mobile"))
    taken = _pick()
    store.put("twilio", "incoming_number", "PN" + "9" * 32, {"sid": "PN" + "9" * 32, "phone_number": taken})
    with pytest.raises(ProviderError, match="just taken. Pick another"):
        asyncio.run(provisioning.provision_number(org_id=org_id, e164=taken, number_type="local", actor=ACTOR,
                                         actor_role="operator"))
    with db.read_only() as session:
        assert set(session.exec(select(NumberProvisioning.state)).all()) == {"abandoned"}


def test_provisioning_is_rate_limited_per_ip_with_a_429_message(tel_server, monkeypatch):
    org_id = _org("limited")
    for _ in range(100):
        ratelimit.check_rate(action="provision", ip="192.0.2.44", org_id=None)
    with pytest.raises(RateLimited, match=r"\(HTTP 429\)$"):
        asyncio.run(provisioning.provision_number(org_id=org_id, e164=_pick(), number_type="local", actor=ACTOR,
                                         actor_role="operator", ip="192.0.2.44"))
    with db.read_only() as session:
        assert session.exec(select(NumberProvisioning)).all() == []


def test_reconcile_sees_every_page_of_provider_numbers(tel_server):
    bought = set()
    for index in range(5):
        e164 = _pick()
        sid = f"PN{index:032d}"
        store.put("twilio", "incoming_number", sid, {"sid": sid, "phone_number": e164})
        bought.add(e164)
    listed = asyncio.run(provisioning.twilio_client().list_numbers(page_size=2))
    assert {n["phone_number"] for n in listed} == bought and len(listed) == 5
    # Not bought by this console (no journal, no marker): counted, never released.
    assert asyncio.run(reconciliation.reconcile_numbers(grace=timedelta(0)))["unmanaged"] == 5
