"""First run -> TOTP enrolment -> recovery codes -> overview, then sign out and sign in again.

The first-run page only exists while the staff table is empty, so this module runs before every other e2e
test (see E2E_ORDER and tests/e2e/conftest.py); the others make their accounts directly in the database.
"""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect

from tests.e2e.conftest import SERVER_LOG
from tests.e2e.helpers import scalar, wait_until
from tests.e2e.test_accessibility import _report, _scan

E2E_ORDER = "first"
EMAIL = "Founder@Harbor-Clinic.example"
PASSWORD = "violet harbor lantern 2026"


def _totp_after(secret: str, last: str | None) -> str:
    """A fresh TOTP code different from the last one used (replays are refused by design): the next
    step's code when the current one was just used (the server accepts one step either side)."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    if code == last:
        code = totp.at(time.time() + totp.interval)
    return code


def _setup_code_from_log() -> str:
    """The one-time code `voxanne-admin serve` printed (the server listens on 0.0.0.0, beyond loopback)."""
    found = wait_until(lambda: re.search(r"setup code: ([A-Z0-9-]+)", SERVER_LOG.read_text()),
                       what="the setup code in the server log")
    return found.group(1)


def test_first_run_founder_totp_and_overview(browser_page, live_server, e2e_db):
    assert scalar(e2e_db, "select count(*) from staff_users") == 0, (
        "the first-run test needs an empty staff table: it must run before any test that creates accounts"
    )
    page = browser_page
    page.goto("/")
    expect(page.get_by_role("heading", name="Create the first founder account")).to_be_visible()
    page.shot("setup-form")
    problems: list[str] = []  # axe-core findings, reported at the end so the flow runs through
    _scan(page, "first run", problems)

    page.fill("#name", "Ada Founder")
    page.fill("#email", EMAIL)
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.get_by_label("Setup code").fill("WRONG-CODE-0000")
    page.get_by_role("button", name="Create founder account").click()
    expect(page.get_by_text("That setup code is not right")).to_be_visible()
    assert scalar(e2e_db, "select count(*) from staff_users") == 0
    page.get_by_label("Setup code").fill(_setup_code_from_log())
    page.get_by_role("button", name="Create founder account").click()
    expect(page.get_by_text("Use at least 12 characters")).to_be_visible()
    page.shot("password-too-short")
    _scan(page, "first run with an error", problems)

    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.get_by_role("button", name="Create founder account").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.locator("#totp-qr")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.shot("totp-enrolment")
    _scan(page, "first run two-factor enrolment", problems)

    page.fill("#code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()

    code = _totp_after(secret, None)
    page.fill("#code", code)
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{5}-[0-9a-f]{5}", c) for c in codes)
    page.shot("recovery-codes")
    _scan(page, "first run recovery codes", problems)

    page.get_by_role("button", name="I saved them: continue to the console").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#recent-activity")).to_contain_text("mfa_enabled")
    expect(page.get_by_text("Sandbox mode")).to_be_visible()
    page.shot("overview")

    # The session cookie is HttpOnly: page scripts cannot read it.
    cookies = page.context.cookies()
    session_cookie = next(c for c in cookies if c["name"] == "vx_session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    assert "vx_session" not in page.evaluate("document.cookie")

    # The first-run page is closed now.
    page.goto("/setup")
    expect(page).to_have_url(re.compile(r"/(login|overview)/?$"))

    # Sign out, then sign in with TOTP.
    page.goto("/overview")
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.shot("signed-out")
    page.goto("/overview")
    expect(page).to_have_url(re.compile(r"/login/?$"))

    page.fill("#email", "  founder@harbor-clinic.EXAMPLE ")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.fill("#code", _totp_after(secret, code))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.shot("signed-in-again")
    _report(problems)
