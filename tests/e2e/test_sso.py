"""Single sign-on in Chromium through the real redirects: our sign-in page, the test OpenID Provider's login
form (node-oidc-provider on loopback), our callback, the TOTP step, the console."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import expect

from tests.e2e.helpers import audit_actions, last_audit_id, open_from_sidebar, rows, scalar, totp_code
from tests.oidc import op

BUTTON = f"Sign in with {op.PROVIDER_NAME}"
WAIT = 30_000  # ms: the machine is shared, pages can be slow to hydrate


def _through_the_idp(page, email: str, *, mfa: bool = False) -> None:
    """From our sign-in page, by keyboard, to the IdP; sign in there; come back."""
    page.goto("/login")
    link = page.get_by_role("link", name=BUTTON)
    expect(link).to_be_visible(timeout=WAIT)
    link.focus()
    page.shot("sso-button")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible(timeout=WAIT)
    assert page.url.startswith("http://127.0.0.1:")
    page.fill("#op-email", email)
    page.fill("#op-password", op.password_of(email))
    if mfa:
        page.check("#op-mfa")
    page.shot("at-the-idp")
    page.click("#op-submit")


def test_linked_user_signs_in_by_sso_and_is_still_asked_for_totp(browser_page, e2e_db, make_account):
    page = browser_page
    account = make_account("operator", "sso-linked")
    with e2e_db.begin() as conn:
        conn.exec_driver_sql("update staff_users set email = 'e2e-linked@clinic.test' where id = %s", (account.id,))
    since = last_audit_id(e2e_db)

    _through_the_idp(page, "e2e-linked@clinic.test", mfa=True)  # IdP MFA is not trusted by default
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text(f"Signed in with {op.PROVIDER_NAME}. Now confirm with your authenticator app."))\
        .to_be_visible(timeout=WAIT)
    page.shot("totp-after-sso")
    page.fill("#code", totp_code(e2e_db, account))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"), timeout=WAIT)
    expect(page.get_by_role("button", name="User menu")).to_contain_text(account.name, timeout=WAIT)
    page.shot("signed-in")

    open_from_sidebar(page, "/account")
    expect(page.get_by_text(f"via {op.PROVIDER_NAME}")).to_be_visible(timeout=WAIT)
    page.shot("account-session-names-provider")
    actions = [r.action for r in audit_actions(e2e_db, since_id=since) if r.actor_id == str(account.id)]
    assert actions[:2] == ["sso_linked", "sso_login"]
    assert "mfa_challenge_success" in actions and "login_success" in actions
    assert scalar(e2e_db, "select auth_provider from staff_sessions where staff_id = :id and revoked_at is null",
                  id=account.id) == op.PROVIDER_NAME


def test_unknown_user_of_another_domain_is_refused(browser_page, e2e_db):
    page = browser_page
    since = last_audit_id(e2e_db)
    _through_the_idp(page, "e2e-stranger@elsewhere.test")
    expect(page).to_have_url(re.compile(r"/login/?\?sso_error=wrong_domain"), timeout=WAIT)
    expect(page.get_by_role("alert")).to_have_text(
        "That account's domain is not allowed to sign in here. Use your work account.", timeout=WAIT)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=WAIT)  # the password form is still there
    page.shot("refused")
    failures = [r.diff for r in audit_actions(e2e_db, since_id=since) if r.action == "sso_login_failed"]
    assert [f["reason"] for f in failures] == ["wrong domain"]
    assert scalar(e2e_db, "select count(*) from staff_users where email = 'e2e-stranger@elsewhere.test'") == 0


def test_jit_user_is_created_as_viewer_and_must_set_up_totp(browser_page, e2e_db):
    page = browser_page
    _through_the_idp(page, "e2e-jit@clinic.test")
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible(timeout=WAIT)
    page.shot("jit-enrolment")
    created = rows(e2e_db, "select id, role, sso_only from staff_users where email = 'e2e-jit@clinic.test'")
    assert [(r.role, r.sso_only) for r in created] == [("viewer", True)]
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="I saved them: continue to the console").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"), timeout=WAIT)
    expect(page.get_by_role("button", name="User menu")).to_contain_text("E2E Newcomer", timeout=WAIT)
    page.shot("jit-signed-in")
    assert scalar(e2e_db, "select auth_provider from staff_sessions where staff_id = :id and revoked_at is null",
                  id=created[0].id) == op.PROVIDER_NAME
