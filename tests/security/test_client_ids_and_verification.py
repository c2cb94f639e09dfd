"""Findings 11 and 12.

11: handlers trusting client-supplied ids. The Reflex handlers are called as Reflex calls them (through the role
guard, with the session cookie of the connection) with the arguments an attacker would send over the websocket:
another organization's id, a number that was never in the page's search, a purchase never confirmed.

12: forwarding verification must not accept a call whose caller ID is our number on its own (caller ID is
spoofable). Over real HTTP to the API server with the sandbox Twilio and carrier: the clinic never forwarded, so
our test call rings out; meanwhile a (correctly signed, since Twilio really delivers it) call arrives on our
number claiming our number as its caller.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import select

from tests.integration.conftest import _api_server_process, api_server, tel_server  # noqa: F401  (fixtures)
from tests.integration.test_telephony_provisioning import ACTOR, _actions, _org, _pick
from tests.unit.factories import make_staff, open_session
from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.appointments.models import Appointment
from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import ratelimit
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.flows import provisioning
from voxanne_admin.telephony.flows import verification as verify_flow
from voxanne_admin.timeutil import utcnow
from voxanne_admin.ui.pages.organizations import OrganizationsState
from voxanne_admin.ui.pages.telephony import TelephonyState
from voxanne_admin.webhooks.signatures import twilio_signature

CLINIC = "+12015550143"


class _Page:
    """The page state a handler reads, as the server holds it for one browser tab (org `shown` in scope)."""

    def __init__(self, cookie: str, shown: int):
        self.router = SimpleNamespace(headers=SimpleNamespace(cookie=cookie, user_agent="pytest-browser"),
                                      session=SimpleNamespace(client_ip="203.0.113.9"))
        self.selected_org = str(shown)
        self.sandbox = True
        self.numbers, self.searched_type, self.number_type, self.number_country = [], "local", "local", "US"
        self.setup = SimpleNamespace(country="US")
        self.caveats_ok, self.buying, self.buy_error = False, False, ""
        self.simulating, self.simulated = False, False
        self.verifying, self.verify_seq, self.verify_error = False, 1, ""
        self.appointments: list = []
        self.refreshed = 0

    # The page's own re-check, run on this state (the code before the fixes had none: its handlers then run on
    # this page as they did, and the test fails on what they did).
    _buy_refusal = getattr(TelephonyState, "_buy_refusal", None)

    def _org_id(self) -> int:
        return int(self.selected_org)

    @staticmethod
    def follow_verification(org_id: int, seq: int):
        """What run_verify chains to once the call started (Reflex would queue this event)."""
        return ("follow_verification", org_id, seq)

    def _apply_setup(self, setup) -> None:
        self.setup = setup

    def _refresh_overview(self) -> None:
        pass

    def _refresh(self) -> None:
        self.refreshed += 1

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def _run(coro):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def _operator_cookie() -> str:
    with db.transaction() as session:
        return f"vx_session={open_session(session, make_staff(session, role='operator'))}"


@pytest.fixture(autouse=True)
def _limits():
    ratelimit.reset()
    yield
    store.clear_faults()


def _bought(e164: str) -> bool:
    with db.read_only() as session:
        return session.exec(select(PhoneNumber).where(PhoneNumber.e164 == e164)).first() is not None


def test_run_buy_sent_on_its_own_buys_nothing(tel_server):  # noqa: F811
    shown, other = _org("buy-shown"), _org("buy-other")
    found = _run(provisioning.search_numbers(org_id=shown, country="US", number_type="local", limit=3))
    page = _Page(_operator_cookie(), shown)
    page.numbers = found
    handler = TelephonyState.event_handlers["run_buy"].fn

    # Never confirmed in the dialog (buying is False): refused.
    _run(handler(page, shown, found[0].e164, "local"))
    assert not _bought(found[0].e164), "run_buy bought a number that was never confirmed"
    assert "Confirm the purchase" in page.buy_error
    # Confirmed, but for another organization than the page shows: refused.
    page.buying = True
    _run(handler(page, other, found[0].e164, "local"))
    assert not _bought(found[0].e164) and "another organization" in page.buy_error
    # A number that was never in this page's search: refused.
    page.buying = True
    _run(handler(page, shown, "+12015550999", "local"))
    assert not _bought("+12015550999") and "not in the list" in page.buy_error
    # A number abroad without the forwarding caveats ticked: refused.
    page.buying, page.number_country = True, "GB"
    page.setup = SimpleNamespace(country="NG")
    _run(handler(page, shown, found[0].e164, "local"))
    assert not _bought(found[0].e164) and "caveats" in page.buy_error
    with db.read_only() as session:
        assert tel.get_setup(session, org_id=other).number_e164 == ""
        assert tel.get_setup(session, org_id=shown).number_e164 == ""


def _ready_to_verify(org_id: int) -> None:
    """A number bought and forwarding configured: verification and the sandbox's dialled code can run."""
    asyncio.run(provisioning.provision_number(org_id=org_id, e164=_pick(), number_type="local", actor=ACTOR,
                                              actor_role="operator"))
    with db.transaction() as session:
        tel.configure_forwarding(session, org_id=org_id, clinic_number=CLINIC, carrier="Verizon",
                                 forwarding_type="unconditional", ring_timer=0, actor=ACTOR, actor_role="operator")


def test_run_verify_and_run_simulate_refuse_another_organizations_id(tel_server):  # noqa: F811
    shown, other = _org("verify-shown"), _org("verify-other")
    # The other organization is ready for both actions, so an id the handler trusted would really act on it
    # (with nothing set up there, both would fail on their own and the test would prove nothing).
    _ready_to_verify(other)
    page = _Page(_operator_cookie(), shown)
    page.verifying, page.simulating = True, True
    _run(TelephonyState.event_handlers["run_verify"].fn(page, other, page.verify_seq))
    _run(TelephonyState.event_handlers["run_simulate"].fn(page, other))
    assert not _actions("telephony_verification_started"), "run_verify acted on another organization"
    assert not _actions("telephony_sandbox_dialled"), "run_simulate acted on another organization"
    assert page.verifying is False and page.simulating is False
    # follow_verification for another organization writes nothing into this page.
    page.setup = "untouched"
    _run(TelephonyState.event_handlers["follow_verification"].fn(page, other, page.verify_seq))
    assert page.setup == "untouched"


def test_cancel_appointment_refuses_an_appointment_of_another_organization(clean_db):
    shown, other = _org("appt-shown"), _org("appt-other")
    with db.transaction() as session:
        starts = utcnow() + timedelta(days=3)
        theirs = Appointment(org_id=other, starts_at=starts, ends_at=starts + timedelta(minutes=30),
                             contact_name="Pat", contact_phone="+12015550111", status="booked")
        session.add(theirs)
        session.flush()
        theirs_id = theirs.id
    page = _Page(_operator_cookie(), shown)
    OrganizationsState.event_handlers["cancel_appointment"].fn(page, theirs_id)
    with db.read_only() as session:
        assert session.get(Appointment, theirs_id).status == "booked"
    assert not _actions("appointment_cancelled")


def _wait(org_id: int, timeout: float = 40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.transaction() as session:
            setup = tel.verification_status(session, org_id=org_id)
        if setup.status in ("verified", "failed"):
            return setup
        time.sleep(0.3)
    raise AssertionError(f"verification still {setup.status_label}")


def test_a_call_spoofing_our_number_as_caller_id_does_not_verify(tel_server):  # noqa: F811
    org_id = _org("spoofed")
    asyncio.run(provisioning.provision_number(org_id=org_id, e164=_pick(), number_type="local", actor=ACTOR,
                                              actor_role="operator"))
    with db.transaction() as session:
        tel.configure_forwarding(session, org_id=org_id, clinic_number=CLINIC, carrier="Verizon",
                                 forwarding_type="unconditional", ring_timer=0, actor=ACTOR, actor_role="operator")
    with db.read_only() as session:
        ours = tel.get_setup(session, org_id=org_id).number_e164
    # The clinic never dialled the code: our test call will ring out.
    asyncio.run(verify_flow.start_verification(org_id=org_id, actor=ACTOR, actor_role="operator"))
    path = "/webhooks/twilio/voice"
    for status in ("ringing", "completed"):
        params = {"CallSid": "CA" + "5" * 32, "AccountSid": "AC" + "0" * 32, "From": ours, "To": ours,
                  "Caller": ours, "Called": ours, "Direction": "inbound", "CallStatus": status}
        sig = twilio_signature(get_settings().public_url + path, params, get_settings().twilio_token)
        response = httpx.post(f"{tel_server}{path}", data=params, headers={"X-Twilio-Signature": sig}, timeout=10)
        assert response.status_code == 200
    done = _wait(org_id)
    assert done.status == "failed"
    assert not _actions("telephony_verified")
