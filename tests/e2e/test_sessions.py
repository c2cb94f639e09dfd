"""Sessions on the Account page: one browser signs another out, then signs out everywhere."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import last_audit_id, rows, scalar, sign_in


def test_revoke_other_session_then_sign_out_everywhere(new_page, e2e_db, make_account):
    account = make_account("operator", "sessions")
    a = new_page("a")
    b = new_page("b")
    sign_in(a, e2e_db, account)
    sign_in(b, e2e_db, account)
    b.shot("b-signed-in")

    session_ids = [r.id for r in rows(e2e_db, "select id from staff_sessions where staff_id = :id and "
                                              "revoked_at is null order by created_at", id=account.id)]
    assert len(session_ids) == 2
    b_session = str(session_ids[1])
    b_session_id = session_ids[1]

    a.goto("/account")
    expect(a.get_by_role("heading", name="Active sessions")).to_be_visible()
    table_rows = a.locator("#sessions-table tbody tr")
    current_badge = a.get_by_text("this session", exact=True)  # the badge, not "Sign out this session"
    expect(table_rows).to_have_count(2)
    expect(table_rows.filter(has=current_badge)).to_have_count(1)
    a.shot("account-two-sessions")

    since = last_audit_id(e2e_db)
    other = table_rows.filter(has_not=current_badge)
    other.get_by_role("button", name="Sign out this session").click()
    expect(a.get_by_text("That session is signed out.")).to_be_visible()
    expect(table_rows).to_have_count(1)
    expect(table_rows.filter(has=current_badge)).to_have_count(1)
    a.shot("b-session-signed-out")
    assert scalar(e2e_db, "select revoked_at is not null from staff_sessions where id = :id", id=b_session_id)
    revoked = rows(e2e_db, "select target_type, target_id, actor_id from audit_events "
                           "where id > :since and action = 'session_revoked'", since=since)
    assert [(r.target_type, r.target_id, r.actor_id) for r in revoked] == [("session", b_session, str(account.id))]

    # B's next action (a click in the sidebar, no page reload) lands on the sign-in page.
    b.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations").click()
    expect(b).to_have_url(re.compile(r"/login/?\?ended=1$"))
    expect(b.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(b.get_by_text("Your session ended")).to_be_visible()
    b.shot("b-back-at-sign-in")
    b.goto("/account")
    expect(b).to_have_url(re.compile(r"/login/?(\?ended=1)?$"))

    # A is still signed in; "Sign out everywhere" ends A's session too.
    a.goto("/overview")
    expect(a.get_by_role("heading", name="Overview")).to_be_visible()
    a.goto("/account")
    since = last_audit_id(e2e_db)
    a.get_by_role("button", name="Sign out everywhere").click()
    expect(a).to_have_url(re.compile(r"/login/?\?signed_out=1$"))
    expect(a.get_by_text("You are signed out.")).to_be_visible()
    a.shot("a-signed-out-everywhere")
    assert not any(c["name"] == "vx_session" for c in a.context.cookies())
    a.goto("/account")
    expect(a).to_have_url(re.compile(r"/login/?$"))
    assert scalar(e2e_db, "select count(*) from staff_sessions where staff_id = :id and revoked_at is null "
                          "and token_hash not like 'handoff:%'", id=account.id) == 0
    everywhere = rows(e2e_db, "select diff from audit_events where id > :since and action = 'session_revoked'",
                      since=since)
    assert [r.diff for r in everywhere] == [{"sessions": 1, "reason": "sign out everywhere"}]
