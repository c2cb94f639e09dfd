"""Sign-in second factor and lockout, each on its own account: wrong TOTP code, one-time recovery codes,
and the lock after five wrong passwords."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import (
    audit_actions,
    enter_password,
    last_audit_id,
    open_from_sidebar,
    rows,
    scalar,
    totp_code,
    wait_until,
    wrong_totp_code,
)

CODE_ERROR = "That code is not valid. Check your authenticator app and try again."


def _sign_out(page) -> None:
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def test_wrong_totp_code_then_correct_code(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("operator", "totp")
    since = last_audit_id(e2e_db)

    enter_password(page, account)
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.shot("code-step")

    page.fill("#code", wrong_totp_code(account))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(CODE_ERROR)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.shot("wrong-code")

    page.fill("#code", totp_code(e2e_db, account))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("button", name="User menu")).to_contain_text(account.name)
    page.shot("signed-in")

    actions = [(r.action, r.diff) for r in audit_actions(e2e_db, since_id=since) if r.actor_id == str(account.id)]
    assert ("mfa_challenge_failed", {"reason": "wrong code"}) in actions
    assert ("mfa_challenge_success", {"method": "totp"}) in actions
    assert any(a == "login_success" for a, _ in actions)


def test_recovery_code_works_once(new_page, e2e_db, make_account):
    account = make_account("viewer", "recovery")
    code = account.recovery_codes[3]

    page = new_page()
    enter_password(page, account)
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.fill("#code", code)
    page.shot("recovery-code-entered")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.shot("signed-in-with-recovery-code")

    open_from_sidebar(page, "/account")
    expect(page.locator("#codes-left")).to_have_text("9 unused recovery codes left.")
    page.shot("account-nine-codes-left")
    _sign_out(page)
    page.shot("signed-out")

    # Same code again, from a fresh browser: refused with the generic code message.
    second = new_page("again")
    enter_password(second, account)
    expect(second.get_by_role("heading", name="Two-factor check")).to_be_visible()
    second.fill("#code", code.upper().replace("-", " "))
    second.get_by_role("button", name="Sign in").click()
    expect(second.get_by_text(CODE_ERROR)).to_be_visible()
    expect(second).to_have_url(re.compile(r"/login/?$"))
    second.shot("same-recovery-code-refused")

    assert scalar(e2e_db, "select count(*) from recovery_codes where staff_id = :id and used_at is not null",
                  id=account.id) == 1
    failures = rows(e2e_db, "select diff from audit_events where action = 'mfa_challenge_failed' and actor_id = :id",
                    id=str(account.id))
    assert [r.diff for r in failures] == [{"reason": "unknown or used recovery code"}]


def test_lockout_after_five_wrong_passwords(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("operator", "lockout")  # dedicated: the lock must not affect other tests

    def attempts() -> int:
        return scalar(e2e_db, "select count(*) from login_attempts where staff_id = :id", id=account.id)

    enter_password(page, account, password="not the right password")
    for n in range(1, 6):
        if n > 1:
            page.get_by_role("button", name="Continue").click()
        wait_until(lambda n=n: attempts() >= n, what=f"sign-in attempt {n} to be recorded")
        # Every failure, the one that locks included, gets the one generic answer (no account enumeration).
        expect(page.locator("#form-error")).to_have_text("Email or password is incorrect.")
    page.shot("after-five-wrong")

    locked_until = scalar(e2e_db, "select locked_until from staff_users where id = :id", id=account.id)
    assert locked_until is not None  # shown on the Staff page: this account is locked for a source
    locks = rows(e2e_db, "select diff from audit_events where action = 'account_locked' and target_id = :id",
                 id=str(account.id))
    assert len(locks) == 1 and locks[0].diff["stage"] == "password"

    # The right password is refused too, from this source, while the lock lasts: the lockout's one message.
    page.fill("#password", account.password)
    page.get_by_role("button", name="Continue").click()
    wait_until(lambda: attempts() >= 6, what="the sign-in attempt with the right password")
    expect(page.locator("#form-error")).to_contain_text("Too many failed sign-ins for this account. Wait ")
    expect(page.get_by_role("heading", name="Two-factor check")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/login/?$"))
    page.shot("right-password-refused-while-locked")
    assert scalar(e2e_db, "select reason from login_attempts where staff_id = :id order by id desc limit 1",
                  id=account.id) == "locked"


def test_prerendered_forms_take_no_input_before_the_app_is_live(browser, live_server):
    """The sign-in and first-run pages are prerendered, so their forms are on screen before the app is live
    (here it never is: JavaScript is off). Their fields are read-only and their button disabled then, so nothing
    typed is lost when the app takes over, and no native GET submit puts a password in the URL."""
    context = browser.new_context(java_script_enabled=False, base_url=live_server["base"])
    try:
        page = context.new_page()
        page.goto("/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        for field in ("#email", "#password"):
            expect(page.locator(field)).not_to_be_editable()
        expect(page.get_by_role("button", name="Continue")).to_be_disabled()
        page.goto("/setup")
        expect(page.get_by_role("button", name="Create founder account")).to_be_disabled()
        for field in ("#name", "#email", "#password", "#confirm"):
            expect(page.locator(field)).not_to_be_editable()
    finally:
        context.close()
