"""Re-authentication in a real browser (finding 7, ASVS 3.7.1): a sensitive action asks for the password again
in the shell's dialog once the last confirmation is over 5 minutes old; confirming runs the action. The dialog
passes axe-core in light and dark mode. And an administrator's initial password is replaced at first sign-in."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e import axe
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import enter_password, open_from_sidebar, rows, scalar, signed_in, totp_code

NEW_PASSWORD = "harbour-violet-engine-42-quiet"


def test_new_token_asks_for_the_password_again_then_creates_it(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("operator", "reauth")
    signed_in(page, e2e_db, account)
    with e2e_db.begin() as conn:  # the sign-in was a while ago
        conn.execute(sa.text("update staff_sessions set reauth_at = now() - interval '6 minutes' "
                             "where staff_id = :id"), {"id": account.id})
    open_from_sidebar(page, "/account")
    expect(page.get_by_role("heading", name="API tokens for monitoring")).to_be_visible()
    page.get_by_label("Token name").fill("Grafana")
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(dialog).to_contain_text("creating an API token")
    assert scalar(e2e_db, "select count(*) from api_tokens where staff_id = :id", id=account.id) == 0
    page.shot("reauth-dialog")
    problems: list[str] = []
    axe.scan_collecting(page, "re-authentication dialog", problems, ARTIFACTS / "axe-counts.json")
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=10_000)
    page.shot("reauth-dialog-dark")
    page.emulate_media(color_scheme="light")
    assert problems == []

    dialog.get_by_label("Password or authenticator code").fill("not-my-password")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_contain_text("not your current password")
    dialog.get_by_label("Password or authenticator code").fill(account.password)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#new-token")).to_contain_text("vxt_")
    page.shot("token-created-after-reauth")
    actions = [r.action for r in rows(e2e_db, "select action from audit_events where actor_id = :id and action in "
                                              "('reauth_failed', 'reauthenticated', 'api_token_created') "
                                              "order by id", id=str(account.id))]
    assert actions == ["reauth_failed", "reauthenticated", "api_token_created"]


def test_an_administrators_initial_password_is_replaced_at_first_sign_in(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("viewer", "initial-password")
    with e2e_db.begin() as conn:  # as if an administrator had just created it with this password
        conn.execute(sa.text("update staff_users set must_change_password = true where id = :id"),
                     {"id": account.id})
    enter_password(page, account)
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.fill("#code", totp_code(e2e_db, account))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    page.shot("choose-password")
    assert scalar(e2e_db, "select count(*) from staff_sessions where staff_id = :id", id=account.id) == 0
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"))
    assert scalar(e2e_db, "select must_change_password from staff_users where id = :id", id=account.id) is False
