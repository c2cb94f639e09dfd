"""Credentials page (founders): the Vapi webhook secret is rotated while a sandbox call is in flight and no event
is lost or refused (the call keeps signing with the old secret, accepted in the grace window, and the Webhooks page
says so); the page never carries a full secret, in its HTML or in what the websocket sends; a key Vapi rejects is
refused with Vapi's message; admins neither see nor open the page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import last_audit_id, open_from_sidebar, rows, scalar, signed_in, wait_until
from tests.e2e.test_agents_and_console import HARBOR, SUMMARY, _choose

KNOWN_SECRET = "e2e-typed-webhook-secret-7Qm2Zx9Lp4Vb"


def _capture_frames(page) -> list[str]:
    """Everything the server sends this page over its websockets (Reflex state deltas)."""
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
    return frames


def _open_rotate(page, label: str) -> None:
    page.get_by_role("button", name=f"Rotate: {label}").click()
    expect(page.get_by_role("dialog").get_by_role("heading", name=f"Rotate: {label}")).to_be_visible()


def test_founder_rotates_the_webhook_secret_during_a_sandbox_call_and_no_event_is_lost(
        new_page, e2e_db, make_account):
    founder = make_account("founder", "creds-inflight")
    console, creds = new_page("console"), new_page("credentials")
    signed_in(console, e2e_db, founder)
    signed_in(creds, e2e_db, founder)
    since = last_audit_id(e2e_db)
    # Stretch the call: every server message of it is delayed a little (the sandbox's webhook latency fault).
    with e2e_db.begin() as conn:
        conn.exec_driver_sql("insert into sandbox_faults (provider, operation, mode, remaining, latency_ms, "
                             "created_at) values ('vapi', 'webhook', 'latency', 14, 700, now())")

    open_from_sidebar(creds, "/credentials")
    expect(creds.get_by_role("heading", name="Credentials", exact=True)).to_be_visible()
    row = creds.locator("#credentials-table tbody tr").filter(has_text="Vapi webhook secret")
    expect(row).to_contain_text("sandbox secret")
    _open_rotate(creds, "Vapi webhook secret")
    creds.shot("rotate-dialog-open")

    open_from_sidebar(console, "/console")
    expect(console.get_by_role("heading", name="Founder console", exact=True)).to_be_visible()
    _choose(console, console.locator("#console-org"), HARBOR)
    console.fill("#console-number", "2015550143")
    console.locator("#run-preflight").click()
    expect(console.locator("#place-call")).to_be_enabled()
    console.locator("#place-call").click()
    status = console.locator("#call-status")
    expect(status).to_have_text("in-progress", timeout=30_000)
    console.shot("call-in-progress")

    # While the call is in progress: rotate (sandbox: the console generates the new secret).
    creds.locator("#rotate-submit").click()
    expect(creds.get_by_text(re.compile(r"Vapi webhook secret rotated: now ••••"))).to_be_visible()
    expect(row).to_contain_text("accepted until")  # the old secret, by its last 4, and the end of the window
    creds.shot("rotated-during-call")
    assert scalar(e2e_db, "select status from calls where placed_by = :e", e=founder.email) != "ended"

    expect(status).to_have_text("ended", timeout=90_000)
    expect(console.locator("#call-report")).to_contain_text(SUMMARY, timeout=30_000)
    console.shot("call-ended")

    call = rows(e2e_db, "select vapi_call_id, status, report_received from calls where placed_by = :e",
                e=founder.email)[0]
    assert (call.status, call.report_received) == ("ended", True)
    events = wait_until(lambda: (r := rows(e2e_db, "select kind, status, signed_with from webhook_events "
                                                   "where call_id = :c", c=call.vapi_call_id))
                        and all(e.status == "completed" for e in r) and r, timeout=30, what="events applied")
    kinds = [e.kind for e in events]
    assert "end-of-call-report" in kinds and kinds.count("status-update") >= 4 and "transcript" in kinds
    # The call started before the rotation: its later messages were signed with the old secret and accepted.
    assert any(e.signed_with == "previous" for e in events), events
    assert scalar(e2e_db, "select count(*) from audit_events where id > :s and action = 'webhook_auth_failed'",
                  s=since) == 0
    actions = [r.action for r in rows(e2e_db, "select action from audit_events where id > :s and "
                                              "target_type = 'credential' order by id", s=since)]
    assert actions == ["credential_rotation_started", "credential_activated"]

    # The Webhooks page says which secret signed each event.
    open_from_sidebar(creds, "/webhook-events")
    recent = creds.locator("#recent-events-table")
    expect(recent.locator("tbody tr").filter(has_text=call.vapi_call_id).filter(
        has_text="previous secret (grace window)").first).to_be_visible()
    creds.shot("webhooks-signed-with")


def test_the_credentials_page_never_carries_a_full_secret(browser_page, e2e_db, make_account):
    page = browser_page
    frames = _capture_frames(page)
    founder = make_account("founder", "creds-never-full")
    signed_in(page, e2e_db, founder)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credentials").click()
    expect(page.get_by_role("heading", name="Credentials", exact=True)).to_be_visible()
    table = page.locator("#credentials-table")
    expect(table.locator("tbody tr")).to_have_count(5)

    # A key Vapi rejects: refused with Vapi's message, and nothing changes.
    _open_rotate(page, "Vapi private key")
    page.fill("#credential-value", "sk-e2e-not-a-real-vapi-key-0000")
    page.locator("#rotate-submit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Invalid Key")
    page.shot("rejected-key")
    page.keyboard.press("Escape")
    assert scalar(e2e_db, "select count(*) from provider_credentials where name = 'vapi_key'") == 0

    # A secret typed in: afterwards only its last 4 characters exist anywhere in the browser.
    _open_rotate(page, "Vapi webhook secret")
    page.fill("#credential-value", KNOWN_SECRET)
    page.locator("#rotate-submit").click()
    expect(page.get_by_text(f"Vapi webhook secret rotated: now ••••{KNOWN_SECRET[-4:]}.")).to_be_visible()
    row = table.locator("tbody tr").filter(has_text="Vapi webhook secret")
    expect(row).to_contain_text("••••" + KNOWN_SECRET[-4:])
    expect(row).to_contain_text("stored (encrypted at rest)")
    page.shot("secret-stored")
    page.reload()
    expect(row).to_contain_text("••••" + KNOWN_SECRET[-4:])
    html = page.content()
    for needle in (KNOWN_SECRET, KNOWN_SECRET[:-4], "sk-e2e-not-a-real-vapi-key-0000"):
        assert needle not in html
        assert not any(needle in f for f in frames), "a websocket frame carried a secret"
    assert any("••••" + KNOWN_SECRET[-4:] in f for f in frames)  # the capture did see the page's data
    stored = scalar(e2e_db, "select value_enc from provider_credentials where name = 'vapi_webhook_secret'")
    assert KNOWN_SECRET not in stored
    diffs = " ".join(str(r.diff) for r in rows(e2e_db, "select diff from audit_events where target_type = "
                                                       "'credential'"))
    assert KNOWN_SECRET not in diffs


def test_an_admin_does_not_see_or_open_the_credentials_page(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "creds-admin")
    signed_in(page, e2e_db, admin)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Staff")).to_be_visible()
    expect(nav.get_by_role("link", name="Credentials")).to_have_count(0)
    page.goto("/credentials")
    expect(page.get_by_text("This page is for the founder role and above").first).to_be_visible()
    expect(page.locator("#credentials-table tbody tr")).to_have_count(0)


def test_overview_warns_about_old_credentials_and_a_pause_and_a_founder_turns_calling_back_on(
        browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "creds-overview")
    with e2e_db.begin() as conn:
        conn.exec_driver_sql(
            "insert into provider_credentials (name, value_enc, last4, sandbox, activated_at, updated_by) "
            "values ('slack_webhook_url', 'not-opened-here', 'ab12', true, now() - interval '100 days', 'e2e') "
            "on conflict (name) do update set activated_at = now() - interval '100 days'")
        trip_id = conn.exec_driver_sql(
            "insert into spend_guard_trips (org_id, metric, observed, limit_value, reason, tripped_at) values "
            "(null, 'calls_per_hour', 500, 500, '500 outbound calls in the last hour for all organizations "
            "reached the spend guard''s limit of 500', now()) returning id").scalar()
    since = last_audit_id(e2e_db)
    signed_in(page, e2e_db, founder)
    expect(page.locator("#spend-guard-alert")).to_contain_text("reached the spend guard's limit of 500")
    expect(page.locator("#credentials-age-alert")).to_contain_text("Slack webhook URL (alerts) (100 days)")
    page.shot("overview-alerts")

    open_from_sidebar(page, "/credentials")
    expect(page.locator("#credentials-age-warning")).to_contain_text("days old or older")
    row = page.locator("#credentials-table tbody tr").filter(has_text="Slack webhook URL")
    expect(row).to_contain_text("rotation due")
    page.get_by_role("button", name="Turn outbound calling back on: All organizations").click()
    expect(page.get_by_text("Outbound calling is on again for All organizations.")).to_be_visible()
    expect(page.get_by_text("Outbound calling is not paused anywhere.")).to_be_visible()
    page.shot("resumed")
    assert scalar(e2e_db, "select cleared_by from spend_guard_trips where id = :i", i=trip_id) == founder.email
    assert [r.action for r in rows(e2e_db, "select action from audit_events where id > :s and "
                                           "target_type = 'spend_guard'", s=since)] == ["spend_guard_resumed"]
    with e2e_db.begin() as conn:
        conn.exec_driver_sql("delete from provider_credentials where name = 'slack_webhook_url'")
