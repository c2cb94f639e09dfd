"""Call logs in the browser: an operator picks an organization, searches a word said on a call, filters, sees the
filter in the address bar (a reload keeps it), opens the call (turns, tool call, summary, cost, the recording
plays), follows a webhook event, exports the filter as CSV with progress, and the Overview shows today's figures."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.helpers import open_from_sidebar, rows, scalar, signed_in, wait_until

HARBOR = "Harbor Dental Care"
LEKKI = "Lekki Family Clinic"


def _org_id(engine, name: str) -> int:
    return scalar(engine, "select id from organizations where name = :n", n=name)


def _insert_call(engine, *, org_id: int, word: str, direction: str, ended_reason: str, minutes_ago: int,
                 base: str, cost: str = "0.1234", is_test: bool = False) -> tuple[int, str]:
    """A finished call as the webhook pipeline leaves it (redacted transcript, messages, costs, recording)."""
    vapi_id = f"e2e-{secrets.token_hex(6)}"
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    messages = [
        {"role": "system", "message": "You are the clinic's receptionist.", "secondsFromStart": 0},
        {"role": "bot", "message": "Thank you for calling, how can I help?", "secondsFromStart": 1.2},
        {"role": "user", "message": f"I need a cleaning, my {word} appointment, my number is [PHONE].",
         "secondsFromStart": 4.8},
        {"role": "tool_calls", "toolCalls": [{"function": {"name": "book_appointment",
                                                            "arguments": {"start": "2026-11-24T10:00"}}}],
         "secondsFromStart": 9.0},
        {"role": "tool_call_result", "name": "book_appointment", "result": "booked Tuesday 10:00",
         "secondsFromStart": 9.6},
        {"role": "bot", "message": "You are booked for Tuesday at ten.", "secondsFromStart": 11.0},
    ]
    transcript = "\n".join(f"{'AI' if m['role'] == 'bot' else 'User'}: {m['message']}" for m in messages
                           if m["role"] in ("bot", "user"))
    with engine.begin() as conn:
        call_id = conn.execute(sa.text(
            "insert into calls (vapi_call_id, org_id, agent_id, direction, status, status_rank, ended_reason, "
            "customer_number, started_at, ended_at, duration_s, cost, costs, transcript, summary, messages, "
            "analysis, recording_url, report_received, is_test, created_at, updated_at) values (:vid, :org, "
            "(select id from agents where org_id = :org and role = :dir), :dir, "
            "'ended', 5, :reason, '+12015550143', :started, :ended, 42, :cost, cast(:costs as jsonb), :transcript, "
            ":summary, cast(:messages as jsonb), cast(:analysis as jsonb), :rec, true, :test, :started, :started) "
            "returning id"),
            dict(vid=vapi_id, org=org_id, dir=direction, reason=ended_reason, started=started,
                 ended=started + timedelta(seconds=42), cost=cost,
                 costs=json.dumps([{"type": "transport", "provider": "twilio", "cost": 0.0134},
                                   {"type": "model", "model": {"model": "gpt-4o"}, "cost": 0.11}]),
                 transcript=transcript, summary=f"The caller booked a cleaning ({word}) for Tuesday at 10:00.",
                 messages=json.dumps(messages), analysis=json.dumps({"successEvaluation": "true",
                                                                      "structuredData": {"booked": True}}),
                 rec=f"{base}/sandbox/vapi/recordings/{vapi_id}.wav", test=is_test)).scalar_one()
        conn.execute(sa.text(
            "insert into webhook_events (provider, kind, dedupe_key, org_id, call_id, payload, received_at, status, "
            "attempts, next_attempt_at, processed_at, duplicates) values ('vapi', 'end-of-call-report', :key, :org, "
            ":vid, cast(:payload as jsonb), :at, 'completed', 1, :at, :at, 0)"),
            dict(key=f"e2e:{vapi_id}", org=org_id, vid=vapi_id,
                 payload=json.dumps({"message": {"type": "end-of-call-report", "call": {"id": vapi_id},
                                                 "endedReason": ended_reason}}), at=started + timedelta(seconds=45)))
    return call_id, vapi_id


def _choose(page, trigger, option: str) -> None:
    trigger.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(trigger).to_have_text(option)


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_operator_searches_filters_opens_call_and_exports(browser_page, e2e_db, make_account, live_server):
    page = browser_page
    base = live_server["base"]
    harbor, lekki = _org_id(e2e_db, HARBOR), _org_id(e2e_db, LEKKI)
    word = "periwinkle"  # said on exactly one call
    target, vapi_id = _insert_call(e2e_db, org_id=harbor, word=word, direction="inbound",
                                   ended_reason="customer-ended-call", minutes_ago=30, base=base)
    _insert_call(e2e_db, org_id=harbor, word="routine", direction="outbound", ended_reason="voicemail",
                 minutes_ago=20, base=base, cost="0.0500")
    _insert_call(e2e_db, org_id=harbor, word="checkup", direction="inbound", ended_reason="customer-ended-call",
                 minutes_ago=10, base=base, is_test=True)
    _insert_call(e2e_db, org_id=lekki, word=word, direction="inbound", ended_reason="customer-ended-call",
                 minutes_ago=5, base=base)  # same word, other organization: must not show for Harbor
    operator = make_account("operator", "calllogs-operator")
    signed_in(page, e2e_db, operator)

    # The Overview shows today's calls per organization, each linking to its calls.
    today = page.locator("#calls-today tbody tr").filter(has_text=HARBOR)
    expect(today).to_have_count(1)
    # The UTC day's calls (shortly after midnight UTC, some of the calls above were yesterday's).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since_midnight = scalar(e2e_db, "select count(*) from calls where org_id = :o and listed_at >= :m",
                            o=harbor, m=midnight)
    assert int(today.locator("td").nth(0).inner_text()) == since_midnight
    today_date = datetime.now(UTC).date().isoformat()
    assert today.get_by_role("link", name=HARBOR).get_attribute("href") == (
        f"/calls?org={harbor}&from={today_date}&to={today_date}")
    page.shot("overview-calls-today")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Call logs").click()
    expect(page.get_by_role("heading", name="Call logs", exact=True)).to_be_visible()
    # An operator with "All organizations" in the switcher is asked to pick one.
    expect(page.locator("#needs-org")).to_be_visible()
    page.shot("pick-an-organization")

    _choose(page, page.locator("#filter-org"), HARBOR)
    expect(page.locator("#calls-table tbody tr")).to_have_count(
        scalar(e2e_db, "select count(*) from calls where org_id = :o", o=harbor))
    expect(page).to_have_url(re.compile(rf"[?&]org={harbor}\b"))
    expect(page.locator("#org-switcher")).to_have_text(HARBOR)
    expect(page.locator("#call-stats")).to_contain_text("Calls")
    page.shot("harbor-calls")

    # Full-text search over the (redacted) transcripts: Enter searches.
    page.fill("#call-search", word)
    page.press("#call-search", "Enter")
    table_rows = page.locator("#calls-table tbody tr")
    expect(table_rows).to_have_count(1)
    expect(table_rows.first).to_contain_text("«" + word + "»")
    expect(page).to_have_url(re.compile(rf"[?&]q={word}\b"))
    page.shot("searched")

    # A filter: inbound only (the match is inbound, so it stays), then the URL carries both.
    _choose(page, page.locator("#filter-direction"), "Inbound")
    expect(page).to_have_url(re.compile(r"[?&]direction=inbound\b"))
    expect(table_rows).to_have_count(1)
    q = _query(page)
    assert q["org"] == [str(harbor)] and q["q"] == [word] and q["direction"] == ["inbound"]
    page.shot("filtered")

    # Outbound: nothing matches, and the page says what to do.
    _choose(page, page.locator("#filter-direction"), "Outbound")
    expect(page.get_by_text("No calls match this filter.")).to_be_visible()
    page.shot("no-match")
    _choose(page, page.locator("#filter-direction"), "Inbound")
    expect(table_rows).to_have_count(1)

    # A bad value is explained next to its field and nothing is searched.
    page.fill("#filter-min-dur", "abc")
    page.press("#filter-min-dur", "Enter")
    expect(page.get_by_text("Whole seconds, e.g. 30 (leave empty for no limit).")).to_be_visible()
    page.shot("bad-duration")
    page.fill("#filter-min-dur", "")
    page.press("#filter-min-dur", "Enter")
    expect(page.get_by_text("Whole seconds, e.g. 30 (leave empty for no limit).")).to_have_count(0)

    # A date range (UTC days, inclusive): yesterday to today keeps the call; the address carries it.
    day_to = datetime.now(UTC).date()
    day_from = day_to - timedelta(days=1)
    page.fill("#filter-from", day_from.isoformat())
    page.fill("#filter-to", day_to.isoformat())
    page.locator("#apply-filters").click()
    expect(page).to_have_url(re.compile(rf"[?&]from={day_from.isoformat()}&to={day_to.isoformat()}\b"))
    expect(table_rows).to_have_count(1)

    # A reload (or a shared link) shows the same view.
    page.reload()
    expect(page.locator("#call-search")).to_have_value(word)
    expect(page.locator("#filter-direction")).to_have_text("Inbound")
    expect(page.locator("#filter-from")).to_have_value(day_from.isoformat())
    expect(table_rows).to_have_count(1)
    expect(table_rows.first).to_contain_text(HARBOR)
    page.shot("reloaded")

    # Open the call.
    table_rows.first.get_by_role("link", name="Open call").click()
    expect(page).to_have_url(re.compile(rf"/calls/{target}/?$"))
    expect(page.get_by_role("heading", name=f"Call {target}")).to_be_visible()
    facts = page.locator("#call-facts")
    expect(facts).to_contain_text(HARBOR)
    expect(facts).to_contain_text(scalar(e2e_db, "select name from agents where org_id = :o and role = 'inbound'",
                                         o=harbor))
    expect(facts).to_contain_text("Caller hung up")
    expect(facts).to_contain_text("$0.12")
    expect(facts).not_to_contain_text("5550143")  # the caller's number is masked
    turns = page.locator("#call-transcript .turn")
    expect(turns).to_have_count(5)  # system prompt left out; tool call and result inline
    expect(turns.nth(0)).to_contain_text("Agent")
    expect(turns.nth(0)).to_contain_text("0:01")
    expect(turns.nth(1)).to_contain_text("Caller")
    expect(turns.nth(1)).to_contain_text(word)
    expect(page.locator("#call-transcript .turn-tool")).to_have_count(2)
    expect(turns.nth(2)).to_contain_text("book_appointment(start=2026-11-24T10:00)")
    expect(page.locator("#call-summary")).to_contain_text(f"The caller booked a cleaning ({word})")
    expect(page.locator("#cost-breakdown")).to_contain_text("transport (twilio)")
    expect(page.locator("#call-analysis")).to_contain_text("successEvaluation")
    audio = page.locator("audio#call-recording")
    expect(audio).to_have_count(1)
    assert audio.get_attribute("src") == f"{base}/sandbox/vapi/recordings/{vapi_id}.wav"
    # The player loads the (sandbox) recording: its duration becomes known.
    page.evaluate("document.querySelector('audio#call-recording').load()")
    wait_until(lambda: page.evaluate("document.querySelector('audio#call-recording').duration") > 0,
               what="the recording to load")
    events = page.locator("#call-events tbody tr")
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("end-of-call-report")
    page.shot("call-detail")

    # The webhook event opens on the Webhooks page with its payload.
    event_id = scalar(e2e_db, "select id from webhook_events where call_id = :v", v=vapi_id)
    events.first.get_by_role("link", name=f"#{event_id}").click()
    expect(page).to_have_url(re.compile(rf"/webhook-events/?\?event={event_id}$"))
    expect(page.get_by_role("dialog")).to_contain_text(f"Event {event_id}")
    expect(page.get_by_role("dialog")).to_contain_text(vapi_id)
    page.shot("webhook-event")
    page.go_back()
    expect(page.get_by_role("heading", name=f"Call {target}")).to_be_visible()

    # Back to the same filtered list, then export it.
    page.locator("#back-to-list").click()
    expect(page.locator("#call-search")).to_have_value(word)
    expect(table_rows).to_have_count(1)
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
        expect(page.locator("#export-done")).to_be_visible(timeout=30_000)
    download = download_info.value
    csv_text = Path(download.path()).read_text(encoding="utf-8")
    lines = [line for line in csv_text.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("call_id,") and lines[1].startswith(f"{target},")
    assert "5550143" not in csv_text
    expect(page.locator("#export-done")).to_contain_text("Export done: 1 call.")
    page.shot("exported")
    audit = rows(e2e_db, "select actor_id, diff from audit_events where action = 'calls_exported' "
                         "order by id desc limit 1")
    assert audit and audit[0].actor_id == str(operator.id) and audit[0].diff["rows"] == 1

    # The header's switcher changes the scope (the address's organization follows it; search and filters stay).
    _choose(page, page.locator("#org-switcher"), LEKKI)
    expect(page.locator("#filter-org")).to_have_text(LEKKI)
    expect(table_rows).to_have_count(1)
    expect(table_rows.first).to_contain_text(LEKKI)
    q = _query(page)
    assert q["org"] == [str(lekki)] and q["q"] == [word]
    page.shot("switched-organization")


def test_export_progress_reaches_done_on_many_calls(browser_page, e2e_db, make_account, live_server):
    """Enough rows for the progress bar to move (the export writes in batches)."""
    page = browser_page
    lekki = _org_id(e2e_db, LEKKI)
    started = datetime.now(UTC) - timedelta(hours=1)
    with e2e_db.begin() as conn:
        conn.execute(sa.text(
            "insert into calls (org_id, direction, status, status_rank, ended_reason, started_at, duration_s, cost, "
            "summary, is_test, created_at, updated_at, report_received) "
            "select :org, 'inbound', 'ended', 5, 'customer-ended-call', :s - make_interval(secs => g), 30, 0.01, "
            "'bulk e2e call', false, :s, :s, true from generate_series(1, 5000) g"), dict(org=lekki, s=started))
    admin = make_account("admin", "calllogs-admin")
    signed_in(page, e2e_db, admin)
    page.goto(f"/calls?org={lekki}&q=bulk")
    expect(page.locator("#calls-table tbody tr")).to_have_count(50)
    expect(page.locator("#call-stats")).to_contain_text("5,000")
    # Keyset pages: next, then previous shows the same first row again.
    first_link = page.locator("#calls-table tbody tr").first.get_by_role("link", name="Open call")
    first_href = first_link.get_attribute("href")
    page.locator("#next-page").click()
    expect(page.locator("#page-number")).to_have_text("Page 2")
    expect(first_link).not_to_have_attribute("href", first_href)
    page.shot("page-2")
    page.locator("#previous-page").click()
    expect(page.locator("#page-number")).to_have_text("Page 1")
    expect(first_link).to_have_attribute("href", first_href)
    # Sort by duration (the address says so), then show the Test column: remembered after a reload.
    page.locator("#sort-duration").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=duration\b"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Duration")
    page.locator("#columns-button").click()
    page.locator("#column-test").click()
    page.keyboard.press("Escape")
    expect(page.locator("#calls-table thead")).to_contain_text("Test")
    page.reload()
    expect(page.locator("#calls-table thead")).to_contain_text("Test")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Duration")
    assert scalar(e2e_db, "select value from staff_preferences where staff_id = :s", s=admin.id) is not None
    page.shot("sorted-with-test-column")
    # The bar may come and go within a second: a MutationObserver notes that it was shown.
    page.evaluate("""() => { window.__sawProgress = false; new MutationObserver(() => {
        if (document.querySelector('#export-progress')) window.__sawProgress = true; })
        .observe(document.body, {childList: true, subtree: true}); }""")
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
        expect(page.locator("#export-done")).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__sawProgress === true"), "the progress bar never showed"
    lines = Path(download_info.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5001
    expect(page.locator("#export-done")).to_contain_text("5,000 calls")
    page.shot("export-done")

    # A link with a bad value: that part is left out and explained at its field; the rest of the link applies.
    page.goto(f"/calls?org={lekki}&q=bulk&dmin=abc")
    expect(page.locator("#link-error")).to_contain_text("Duration 'abc' must be a whole number of seconds")
    expect(page.locator("#call-filters")).to_contain_text("Duration 'abc' must be a whole number of seconds")
    expect(page.locator("#call-search")).to_have_value("bulk")
    expect(page.locator("#call-stats")).to_contain_text("5,000")
    page.shot("bad-link")

    # A search the index cannot answer is refused at the search box.
    page.fill("#call-search", "-bulk")
    page.press("#call-search", "Enter")
    expect(page.locator("#call-filters")).to_contain_text("Add at least one word to find")
    expect(page.get_by_text("Nothing searched: fix the highlighted field above")).to_be_visible()
    expect(page.locator("#link-error")).to_have_count(0)  # the link's note went with the new search
    page.shot("search-refused")

    # A call that does not exist is explained, not shown as an empty page.
    page.goto("/calls/99999999")
    expect(page.locator("#call-error")).to_contain_text("Call 99999999 does not exist")
    page.shot("missing-call")


def test_sandbox_test_call_shows_in_call_logs_with_its_webhook_events(browser_page, e2e_db, make_account):
    """A real (sandbox) call through the webhook pipeline: found with "Test calls only", opened, and every part of
    the record is there: turns, summary, cost, the recording, and the events that built it."""
    page = browser_page
    founder = make_account("founder", "calllogs-founder")
    signed_in(page, e2e_db, founder)
    open_from_sidebar(page, "/console")
    expect(page.get_by_role("heading", name="Founder console", exact=True)).to_be_visible()
    _choose(page, page.locator("#console-org"), HARBOR)
    page.fill("#console-number", "2015550188")
    page.locator("#run-preflight").click()
    expect(page.locator("#place-call")).to_be_enabled()
    page.locator("#place-call").click()
    expect(page.locator("#call-report")).to_contain_text("customer-ended-call", timeout=90_000)
    call_id = scalar(e2e_db, "select id from calls where placed_by = :e", e=founder.email)

    harbor = _org_id(e2e_db, HARBOR)
    page.goto(f"/calls?org={harbor}")
    page.locator("#filter-test-only").click()
    expect(page).to_have_url(re.compile(r"[?&]test=1\b"))
    row = page.locator("#calls-table tbody tr").filter(has=page.locator(f"a[href='/calls/{call_id}']"))
    expect(row).to_have_count(1)
    page.shot("test-calls-only")
    row.get_by_role("link", name="Open call").click()
    expect(page.get_by_role("heading", name=f"Call {call_id}")).to_be_visible()
    expect(page.locator("#call-facts")).to_contain_text("outbound")
    expect(page.locator("#call-facts")).to_contain_text("test call")
    expect(page.locator("#call-facts")).not_to_contain_text("5550188")
    expect(page.locator("#call-transcript .turn-speech").nth(2)).to_be_visible()
    expect(page.locator("#call-summary")).not_to_be_empty()
    assert "/sandbox/vapi/recordings/" in (page.locator("audio#call-recording").get_attribute("src") or "")
    kinds = page.locator("#call-events tbody tr")
    expect(kinds.filter(has_text="end-of-call-report")).to_have_count(1)
    expect(kinds.filter(has_text="status-update").first).to_be_visible()
    page.shot("sandbox-call-detail")
