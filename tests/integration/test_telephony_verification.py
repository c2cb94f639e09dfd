"""Forwarding verification end to end over real HTTP: the sandbox carrier keeps the clinic line's forwarding
state, the test call arrives (or not) on our number through the signed Twilio voice webhooks and the inbox."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlmodel import select

from tests.integration.test_telephony_provisioning import ACTOR, _actions, _org, _pick
from voxanne_admin import db
from voxanne_admin.errors import InvalidInput
from voxanne_admin.orgs import service as org_service
from voxanne_admin.sandbox import carrier
from voxanne_admin.telephony import ratelimit, verification
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.flows import provisioning
from voxanne_admin.telephony.flows import verification as verify_flow
from voxanne_admin.telephony.models import VoiceLeg

CLINIC = "+12015550143"


@pytest.fixture(autouse=True)
def _limits():
    ratelimit.reset()


def _codes_issued(slug: str, carrier_name: str = "Verizon", kind: str = "unconditional") -> int:
    org_id = _org(slug)
    asyncio.run(provisioning.provision_number(org_id=org_id, e164=_pick(), number_type="local", actor=ACTOR,
                                              actor_role="operator"))
    with db.transaction() as session:
        tel.configure_forwarding(session, org_id=org_id, clinic_number=CLINIC, carrier=carrier_name,
                                 forwarding_type=kind, ring_timer=0, actor=ACTOR, actor_role="operator")
    return org_id


def _wait(org_id: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.transaction() as session:
            setup = tel.verification_status(session, org_id=org_id)
        if setup.status in ("verified", "failed"):
            return setup
        time.sleep(0.3)
    raise AssertionError(f"verification still {setup.status_label}")


def test_dialled_code_forwards_the_test_call_and_verifies(tel_server):
    org_id = _codes_issued("verified")
    asyncio.run(verify_flow.sandbox_simulate_dialled(org_id=org_id, actor=ACTOR, actor_role="operator"))
    with db.read_only() as session:
        setup = tel.get_setup(session, org_id=org_id)
    assert carrier.forward_target(CLINIC) == setup.number_e164
    started = asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    assert started.verifying and started.status_label.startswith("Verifying") and started.step == 5
    done = _wait(org_id)
    assert (done.status, done.status_reason, done.step) == ("verified", "", 5) and done.verified_at
    (event,) = _actions("telephony_verified")
    assert event.diff["forwarded_from"] == CLINIC
    with db.read_only() as session:
        legs = session.exec(select(VoiceLeg).where(VoiceLeg.forwarded_from == CLINIC)).all()
    assert [leg.to_number for leg in legs] == [setup.number_e164]
    assert [e.action for e in _actions("telephony_sandbox_dialled")] == ["telephony_sandbox_dialled"]
    assert _actions("telephony_verification_started")


def test_code_never_dialled_rings_out_and_fails_with_the_reason(tel_server):
    org_id = _codes_issued("never-dialled")
    asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    done = _wait(org_id)
    assert done.status == "failed" and done.status_reason.startswith(verification.NO_FORWARDED_CALL)
    assert done.status_label.startswith("Failed: no forwarded call arrived")
    assert _actions("telephony_verification_failed") and not _actions("telephony_verified")


def test_forwarding_to_another_number_or_cancelled_does_not_verify(tel_server):
    org_id = _codes_issued("elsewhere")
    carrier.dial(CLINIC, "*722015550199")  # the clinic forwarded to some other number
    asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    assert _wait(org_id).status == "failed"
    asyncio.run(verify_flow.sandbox_simulate_dialled(org_id=org_id, actor=ACTOR, actor_role="operator"))
    carrier.dial(CLINIC, "*73")  # ...and cancelled again
    asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    assert _wait(org_id).status == "failed"


def test_forged_voice_callback_is_refused_and_verifies_nothing(tel_server):
    org_id = _codes_issued("forged")
    with db.read_only() as session:
        ours = tel.get_setup(session, org_id=org_id).number_e164
    asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    response = httpx.post(f"{tel_server}/webhooks/twilio/voice-status", data={
        "CallSid": "CA" + "f" * 32, "CallStatus": "ringing", "From": ours, "To": ours, "ForwardedFrom": CLINIC,
        "Direction": "inbound"}, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert response.status_code == 401
    assert _wait(org_id).status == "failed"


def test_unknown_code_is_refused_by_the_sandbox_network(tel_server):
    org_id = _codes_issued("bad-code")
    with db.transaction() as session:
        row = tel._setup(session, org_id, lock=True)
        row.activate_code = "*99#"
        session.add(row)
    with pytest.raises(InvalidInput, match="invalid MMI code"):
        asyncio.run(verify_flow.sandbox_simulate_dialled(org_id=org_id, actor=ACTOR, actor_role="operator"))


def test_demo_setups_are_backed_by_sandbox_state_and_the_gb_one_verifies(tel_server):
    from voxanne_admin import demo

    with db.transaction() as session:
        demo.seed(session)
    with db.read_only() as session:
        rows = {r.org_name: r for r in tel.list_overview(session)}
        by_slug = {o.slug: o.id for o in org_service.list_organizations(session)}
        us = tel.get_setup(session, org_id=by_slug["harbor-dental"])
        gb = tel.get_setup(session, org_id=by_slug["camden-physio"])
        ng = tel.get_setup(session, org_id=by_slug["lekki-family"])
        tr = tel.get_setup(session, org_id=by_slug["moda-goz"])
    assert (us.status, gb.status, ng.status, tr.status) == ("verified", "codes_issued", "not_started", "not_started")
    assert (us.step, gb.step, ng.step, tr.step) == (5, 4, 3, 1)
    assert ng.number_country == "US" and ng.country == "NG" and ng.suggested_number_countries == ["US", "GB"]
    assert carrier.forward_target(us.clinic_number) == us.number_e164
    assert carrier.forward_target(gb.clinic_number) == ""
    assert len(rows) == 4
    # Nothing is a dummy: the GB clinic dials its code on the sandbox network and the test call arrives.
    asyncio.run(verify_flow.sandbox_simulate_dialled(org_id=gb.org_id, actor=ACTOR, actor_role="operator"))
    asyncio.run(verify_flow.start_verification(org_id=gb.org_id, actor=ACTOR, actor_role="operator"))
    assert _wait(gb.org_id).status == "verified"
    # And the US clinic's line, already forwarding, verifies again.
    asyncio.run(verify_flow.start_verification(org_id=us.org_id, actor=ACTOR, actor_role="operator"))
    assert _wait(us.org_id).status == "verified"


def test_cli_dials_codes_on_the_sandbox_carrier(clean_db):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    def cli(*args):
        env = {**os.environ}
        env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
        return subprocess.run([sys.executable, "-m", "voxanne_admin.cli", "sandbox", "dial", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    on = cli("+447400123456", "**21*+12015550123#")
    assert on.returncode == 0 and "to +12015550123 activated" in on.stdout
    assert carrier.forward_target("+447400123456") == "+12015550123"
    bad = cli("+447400123456", "*99#")
    assert bad.returncode == 1 and "invalid MMI code" in bad.stderr
    off = cli("+447400123456", "##21#")
    assert off.returncode == 0 and carrier.forward_target("+447400123456") == ""
