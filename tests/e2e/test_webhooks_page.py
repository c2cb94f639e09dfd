"""Webhooks page: an operator reads a dead letter's error and payload and replays it; the server's inbox worker
applies it. A viewer is refused the page and does not see it in the sidebar."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import last_audit_id, rows, scalar, signed_in, wait_until
from tests.unit.factories import make_dead_letter

DEAD_ERROR = "RuntimeError: database hiccup"
NO_DEAD_LETTERS = "No dead letters. Every accepted event was applied."


def _insert_dead_letter(engine, call_id: str) -> int:
    """A Vapi status-update that failed three times, as the inbox leaves it."""
    with engine.begin() as conn:
        return make_dead_letter(conn, call_id=call_id, error=DEAD_ERROR)


def test_operator_replays_a_dead_letter(browser_page, e2e_db, make_account):
    page = browser_page
    call_id = "e2e-dead-1"  # the server's database is fresh for every run
    event_id = _insert_dead_letter(e2e_db, call_id)
    operator = make_account("operator", "webhooks-operator")
    since = last_audit_id(e2e_db)
    signed_in(page, e2e_db, operator)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    table = page.locator("#dead-letters-table")
    checkbox = page.get_by_role("checkbox", name=f"Select event {event_id}")
    row = table.locator("tbody tr").filter(has=checkbox)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("status-update")
    expect(row).to_contain_text(DEAD_ERROR)
    expect(row.locator("td").nth(4)).to_have_text("3")  # attempts
    expect(page.locator("#replay-selected")).to_be_disabled()
    page.shot("dead-letter-listed")

    # The payload viewer shows what the provider sent.
    row.get_by_role("button", name="View").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Event {event_id}")).to_be_visible()
    expect(dialog).to_contain_text(call_id)
    expect(dialog).to_contain_text('"ringing"')
    page.shot("payload-viewer")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    # Tick it and replay.
    checkbox.click()
    expect(checkbox).to_be_checked()
    expect(page.locator("#replay-selected")).to_be_enabled()
    page.shot("dead-letter-selected")
    page.locator("#replay-selected").click()
    expect(page.get_by_text("1 event queued again; they are applied within seconds")).to_be_visible()
    page.shot("replayed")

    # The server's inbox worker applies it: the call row appears with the event's status.
    wait_until(lambda: scalar(e2e_db, "select status from webhook_events where id = :id", id=event_id)
               == "completed", timeout=30, what="the replayed event to be applied")
    call = rows(e2e_db, "select status from calls where vapi_call_id = :c", c=call_id)
    assert [r.status for r in call] == ["ringing"]
    replays = [r for r in rows(e2e_db, "select actor_id, diff from audit_events where action = 'webhook_replayed' "
                                       "and id > :since", since=since)]
    assert len(replays) == 1
    assert replays[0].actor_id == str(operator.id) and replays[0].diff["events"] == [event_id]

    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#dead-letters-table")).to_have_count(0)
    expect(page.get_by_text(NO_DEAD_LETTERS)).to_be_visible()
    expect(page.locator("#replay-selected")).to_be_disabled()
    page.shot("after-refresh-no-dead-letters")


def test_viewer_is_refused_the_webhooks_page(browser_page, e2e_db, make_account):
    page = browser_page
    viewer = make_account("viewer", "webhooks-viewer")
    signed_in(page, e2e_db, viewer)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Overview")).to_be_visible()
    expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
    page.shot("viewer-sidebar")

    page.goto("/webhook-events")
    denied = page.locator("#access-denied")
    expect(denied).to_be_visible()
    expect(denied).to_contain_text("This page is for the operator role and above; you are signed in as viewer.")
    expect(page.get_by_role("heading", name="Dead letters")).to_have_count(0)
    expect(page.locator("#dead-letters-table")).to_have_count(0)
    page.shot("viewer-refused")
