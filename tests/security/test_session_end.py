"""Finding 4: nothing of the previous person's visit survives sign-out or an ended session. Every state of the
client token is reset and the browser gets a new token; one-time secrets are forgotten once shown."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in
from tests.security.conftest import direct_url
from tests.security.sio import HYDRATE, EventSocket, event


def _codes(page) -> list[str]:
    text = page.locator("#new-codes").inner_text()
    return re.findall(r"[0-9a-f]{5}-[0-9a-f]{5}", text)


def _hydrate(server: dict, token: str, path: str) -> str:
    """What the server sends a client that presents `token` (no cookie): the hydrate delta and whatever follows."""
    sock = EventSocket(direct_url(server), token=token, origin=server["base"])
    try:
        sock.boot(event(HYDRATE, path))
        return sock.collect(8)
    finally:
        sock.close()


def test_sign_out_leaves_nothing_for_the_same_client_token(browser_page, live_server, e2e_db, make_account):
    page = browser_page
    account = make_account("viewer", "signout-wipe")
    sign_in(page, e2e_db, account)
    page.goto("/account")
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.locator("#new-codes")).to_be_visible()
    codes = _codes(page)
    assert len(codes) == 10
    page.shot("codes-shown")
    old_token = page.evaluate("window.sessionStorage.getItem('token')")

    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    new_token = page.evaluate("window.sessionStorage.getItem('token')")
    assert new_token and new_token != old_token, "the client token was not rotated"

    seen = _hydrate(live_server, old_token, "/account")
    assert "new_codes_rx_state_" in seen or "is_hydrated" in seen  # the server did answer the hydrate
    leaked = [c for c in codes if c in seen]
    assert leaked == [], "recovery codes came back to a client holding the old token"
    assert account.email not in seen and account.name not in seen


def test_an_ended_session_wipes_the_tab_that_still_holds_it(new_page, live_server, e2e_db, make_account):
    """Signed out everywhere from a second browser: the first tab's next event finds no session, and its state
    (email, sessions list) is gone for anyone replaying its token."""
    first, second = new_page("a"), new_page("b")
    account = make_account("viewer", "ended-wipe")
    sign_in(first, e2e_db, account)
    first.goto("/account")
    expect(first.get_by_text(account.email).first).to_be_visible()
    old_token = first.evaluate("window.sessionStorage.getItem('token')")

    sign_in(second, e2e_db, account)
    second.goto("/account")
    second.get_by_role("button", name="Sign out everywhere").click()
    confirm = second.get_by_role("alertdialog")
    if confirm.count():
        confirm.get_by_role("button", name=re.compile("Sign out everywhere")).click()
    expect(second.get_by_text("You are signed out.")).to_be_visible()

    first.goto("/account")  # its next guarded event: the session no longer resolves
    expect(first).to_have_url(re.compile(r"/login/?\?ended=1"))
    assert first.evaluate("window.sessionStorage.getItem('token')") != old_token

    seen = _hydrate(live_server, old_token, "/account")
    assert account.email not in seen and account.name not in seen


def test_an_action_refused_by_role_wipes_what_the_page_loaded_under_a_higher_role(browser_page, live_server, e2e_db,
                                                                                  make_account):
    """An administrator's role is lowered while their Staff page is open (it lists every colleague's email). Their
    next admin action is refused: the page loads again with a new client token, under the role they have now, says
    why, and the old token hydrates none of the list."""
    page = browser_page
    account = make_account("admin", "demoted")
    colleague = make_account("operator", "demoted-colleague")
    sign_in(page, e2e_db, account)
    page.goto("/staff")
    expect(page.get_by_text(colleague.email)).to_be_visible()
    old_token = page.evaluate("window.sessionStorage.getItem('token')")

    with e2e_db.begin() as conn:
        conn.execute(sa.text("update staff_users set role = 'viewer' where id = :id"), {"id": account.id})
    page.get_by_role("button", name="New staff account").click()

    expect(page.locator("#access-denied").first).to_contain_text("This page is for the admin role and above")
    expect(page.get_by_text("This needs the admin role or higher.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/staff/?$"))  # the address is tidied after the message
    expect(page.get_by_text(colleague.email)).to_have_count(0)
    assert page.evaluate("window.sessionStorage.getItem('token')") != old_token, "the client token was not rotated"
    page.shot("refused-and-reloaded")
    seen = _hydrate(live_server, old_token, "/staff")
    assert colleague.email not in seen, "the staff list came back to a client holding the old token"
