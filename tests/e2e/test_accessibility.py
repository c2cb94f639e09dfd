"""Accessibility in the browser: axe-core's WCAG 2.0/2.1 A and AA rules find nothing on sign-in, the two-factor
steps, recovery codes, every page of the navigation, a call's detail page and the open dialogs, in light and in
dark mode. (The first-run page is scanned by test_first_run, the only test that sees an empty staff table.)

Each test scans several views and reports all their violations together, so one run shows everything left."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect
from sqlmodel import Session

from tests.e2e import axe
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import PASSWORD, enter_password, open_from_sidebar, signed_in, totp_code, wrong_totp_code
from tests.e2e.test_call_logs import HARBOR, _choose, _insert_call, _org_id

NAV_PAGES = [  # (route, heading of the page)
    ("/overview", "Overview"),
    ("/organizations", "Organizations"),
    ("/agents", "Agents"),
    ("/calls", "Call logs"),
    ("/telephony", "Telephony"),
    ("/flags", "Feature flags"),
    ("/console", "Founder console"),
    ("/webhook-events", "Webhooks"),
    ("/staff", "Staff"),
    ("/jobs", "Jobs"),
    ("/audit-log", "Audit log"),
    ("/disaster-recovery", "Disaster recovery"),
    ("/credentials", "Credentials"),
    ("/account", "Account"),
]


def _scan(page, name: str, problems: list[str]) -> None:
    axe.scan_collecting(page, name, problems, ARTIFACTS / "axe-counts.json")


def _settle(page: Page, heading: str) -> None:
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    # Page data arrives over the websocket after the first paint; wait for the page's loading markers to go.
    page.wait_for_function("() => document.querySelectorAll('[aria-busy=\"true\"]').length === 0",
                           timeout=30_000)
    page.wait_for_timeout(500)


def _report(problems: list[str]) -> None:
    assert not problems, "\n\n".join(problems)


def test_sign_in_and_two_factor_steps_have_no_axe_violations(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("viewer", "axe-signin")
    problems: list[str] = []

    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _scan(page, "sign-in", problems)

    enter_password(page, account, password="not the password at all")
    expect(page.locator("#form-error")).to_be_visible()
    _scan(page, "sign-in with an error", problems)

    enter_password(page, account)
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    _scan(page, "two-factor code", problems)

    page.fill("#code", wrong_totp_code(account))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("not valid").first).to_be_visible()
    page.shot("code-error")
    _scan(page, "two-factor code with an error", problems)
    # The error is tied to the field: announced with it, and the field is marked invalid.
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    described = page.locator("#code").get_attribute("aria-describedby") or ""
    assert any("not valid" in page.locator(f"#{i}").inner_text() for i in described.split()), described

    page.fill("#code", totp_code(e2e_db, account))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"))
    _report(problems)


def test_enrolment_and_recovery_codes_have_no_axe_violations(browser_page, e2e_db):
    """An account without two-factor sets it up at first sign-in: the QR step, then the recovery codes."""
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service

    with Session(e2e_db, expire_on_commit=False) as session:
        user = auth_service.create_staff(session, email="axe-enrol@e2e.voxanne.example", name="E2E Axe Enrol",
                                         role="viewer", password=PASSWORD, actor=Actor.system("e2e-tests"),
                                         actor_role="founder", must_change_password=False)
        session.commit()
    page = browser_page
    problems: list[str] = []
    page.goto("/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    page.shot("enrol")
    _scan(page, "two-factor enrolment", problems)

    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    page.shot("codes")
    _scan(page, "recovery codes", problems)
    _report(problems)


def test_every_page_and_call_detail_have_no_axe_violations(browser_page, e2e_db, make_account, live_server):
    page = browser_page
    founder = make_account("founder", "axe-pages")
    call_id, _ = _insert_call(e2e_db, org_id=_org_id(e2e_db, HARBOR), word="axe", direction="inbound",
                              ended_reason="customer-ended-call", minutes_ago=30, base=live_server["base"])
    problems: list[str] = []
    signed_in(page, e2e_db, founder)
    for route, heading in NAV_PAGES:
        open_from_sidebar(page, route)
        _settle(page, heading)
        page.shot(route.strip("/"))
        _scan(page, route, problems)

    # With an organization chosen, pages show its rows (appointments, agents, numbers). Choosing reloads the page.
    open_from_sidebar(page, "/overview")
    _settle(page, "Overview")
    with page.expect_navigation():
        _choose(page, page.locator("#org-switcher"), HARBOR)
    for route, heading in NAV_PAGES[:5]:
        open_from_sidebar(page, route)
        _settle(page, heading)
        _scan(page, f"{route} for one organization", problems)

    page.goto(f"/calls/{call_id}")
    expect(page.get_by_text("The caller booked a cleaning (axe)").first).to_be_visible()
    page.wait_for_timeout(500)
    page.shot("call-detail")
    _scan(page, "call detail", problems)
    _report(problems)


def test_open_dialogs_have_no_axe_violations(browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "axe-dialogs")
    problems: list[str] = []
    signed_in(page, e2e_db, founder)

    page.goto("/staff")
    _settle(page, "Staff")
    page.locator("#new-staff").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.shot("staff-dialog")
    _scan(page, "new staff dialog", problems)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="User menu").click()
    expect(page.get_by_role("menu")).to_be_visible()
    _scan(page, "user menu", problems)
    page.keyboard.press("Escape")

    # Last: the confirmation closes with Escape (before the kit, it did not).
    page.goto("/organizations")
    _settle(page, "Organizations")
    page.locator("#new-org").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.shot("org-dialog")
    _scan(page, "new organization dialog", problems)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("button", name="Close", exact=True).first.click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    page.shot("close-org-confirm")
    _scan(page, "close organization confirmation", problems)
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_have_count(0)

    _report(problems)
