"""The telephony page's number search and purchase, called as Reflex calls them (through the role guard) against the
sandbox Twilio over real HTTP: a provider refusal reaches the person as its actionable message in a toast, and the
busy flag (spinner) is cleared afterwards."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from sqlmodel import select

from tests.unit.factories import make_staff, open_session
from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs import service as org_service
from voxanne_admin.providers.twilio import ERROR_MESSAGES
from voxanne_admin.sandbox import store
from voxanne_admin.telephony import ratelimit
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.flows import provisioning
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.telephony import TelephonyState

ACTOR = Actor(type="staff", id="1", email="ops@voxanne.example", ip="198.51.100.9")


class _Page:
    """What run_search / run_buy read and write on the page, the connection the role guard reads, and the
    `async with self` a background handler takes."""

    def __init__(self, cookie: str, org_id: int):
        self.router = SimpleNamespace(headers=SimpleNamespace(cookie=cookie, user_agent="pytest-browser",
                                                              raw_headers={}),
                                      session=SimpleNamespace(client_ip="203.0.113.9"))
        self.selected_org = str(org_id)
        self.search_seq, self.searching, self.numbers, self.search_error = 1, True, [], ""
        self.searched_for, self.searched_type = "", ""
        self.buying, self.buy_error = True, ""
        self.number_type, self.number_country, self.caveats_ok = "local", "", False
        self.setup = SimpleNamespace(country="")

    _buy_refusal = TelephonyState._buy_refusal  # the handler re-checks the purchase on the page's state

    def _org_id(self) -> int:
        return int(self.selected_org)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def _run(coro):
    # A thread of its own: a Playwright test earlier in the session may keep an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def _toast(spec) -> tuple[str, str]:
    """(level, text) of the toast a handler returned."""
    toast = browser.command_of(spec) or {}
    return toast.get("level", ""), toast.get("text", "")


def _operator_page(org_id: int) -> _Page:
    with db.transaction() as session:
        user = make_staff(session, role="operator")
        cookie = f"vx_session={open_session(session, user)}"
    return _Page(cookie, org_id)


def _org(slug: str, country: str) -> int:
    with db.transaction() as session:
        org = org_service.create(session, name=f"Clinic {slug}", slug=slug, country=country, timezone="UTC",
                                 actor=ACTOR, actor_role="founder")
        tel.set_country(session, org_id=org.id, country=country, actor=ACTOR, actor_role="operator")
        return org.id


def _handler(name: str):
    return TelephonyState.event_handlers[name].fn


@pytest.fixture(autouse=True)
def _clean_limits():
    ratelimit.reset()
    yield
    store.clear_faults()


def test_search_with_no_numbers_in_area_code_shows_twilio_message_and_stops_spinner(tel_server):
    org_id = _org("harbor", "US")
    page = _operator_page(org_id)
    # The sandbox answers area code 533 as Twilio does when it has nothing there: 21452.
    result = _run(_handler("run_search")(page, org_id, "US", "local", "533", "", 1))
    assert page.searching is False
    assert page.search_error == ERROR_MESSAGES[21452]
    assert page.numbers == []
    level, text = _toast(result)
    assert level == "error" and ERROR_MESSAGES[21452] in text


def test_search_that_succeeds_lists_numbers_without_a_toast(tel_server):
    org_id = _org("camden", "US")
    page = _operator_page(org_id)
    result = _run(_handler("run_search")(page, org_id, "US", "local", "201", "", 1))
    assert result is None and page.searching is False and page.search_error == ""
    assert page.numbers and all(n.e164.startswith("+1201") for n in page.numbers)
    assert page.searched_for == "local (geographic) numbers in US with area code 201"


def test_search_refused_for_an_older_request_leaves_newer_spinner_running(tel_server):
    org_id = _org("dulwich", "US")
    page = _operator_page(org_id)
    page.search_seq = 2  # a newer search (request 2) is running: request 1's refusal must not touch the view
    _run(_handler("run_search")(page, org_id, "US", "local", "533", "", 1))
    assert page.searching is True and page.search_error == ""


@pytest.mark.parametrize(("country", "code", "fault"), [
    ("GB", 21631, False),  # no TWILIO_ADDRESS_SID: the sandbox refuses a GB number without an address
    ("GB", 21649, True),
    ("US", 21422, True),
])
def test_buy_refused_by_twilio_shows_actionable_message_and_clears_buying(tel_server, country, code, fault):
    org_id = _org(f"buy{code}", country)
    found = _run(provisioning.search_numbers(org_id=org_id, country=country, number_type="local", limit=3))
    e164 = found[0].e164
    if fault:
        store.add_fault("twilio", "fail", operation="buy_number", status=400, code=str(code),
                        message="refused by the test")
    page = _operator_page(org_id)
    page.numbers, page.searched_type = found, "local"  # bought from this page's own search
    result = _run(_handler("run_buy")(page, org_id, e164, "local"))
    assert page.buying is False
    assert page.buy_error.startswith(ERROR_MESSAGES[code])
    level, text = _toast(result)
    assert level == "error" and ERROR_MESSAGES[code] in text
    with db.read_only() as session:
        assert session.exec(select(PhoneNumber).where(PhoneNumber.e164 == e164)).first() is None
        assert tel.get_setup(session, org_id=org_id).number_e164 == ""
    assert e164 not in {n["phone_number"] for n in store.list_kind("twilio", "incoming_number")}
