"""Agents page (edit an outbound agent, sync it to the Vapi sandbox, compare versions, refuse a long name) and
the Founder console (pre-flight, a sandbox test call watched live, and a pre-flight failure explained)."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.e2e.helpers import open_from_sidebar, rows, scalar, signed_in

HARBOR = "Harbor Dental Care"
# A customer number that is valid in each demo country, and how the pre-flight shows it.
CUSTOMER_NUMBERS = {"TR": ("0532 123 45 67", "+90 532 123 45 67 (TR)"),
                    "NG": ("0803 123 4567", "+234 803 123 4567 (NG)")}
SUMMARY = "The customer accepted Tuesday at 10:00 and the appointment was booked."


def _agent(engine, org: str, role: str):
    return rows(engine, "select a.id, a.name, a.version, a.sync_status, a.first_message from agents a "
                        "join organizations o on o.id = a.org_id where o.name = :org and a.role = :role",
                org=org, role=role)[0]


def _wait_for_synced_badge(page, row, timeout: float = 60) -> None:
    """The demo agents sync a few seconds after the server starts: reload until the row says so."""
    deadline = time.monotonic() + timeout
    while True:
        expect(row).to_have_count(1)
        if row.get_by_text("synced", exact=True).count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the agent did not show 'synced' within {timeout}s: {row.inner_text()}")
        time.sleep(2)
        page.reload()


def _choose(page, trigger, option: str) -> None:
    trigger.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(trigger).to_have_text(option)


def test_founder_edits_outbound_agent_and_syncs_it(browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "agents-founder")
    agent = _agent(e2e_db, HARBOR, "outbound")
    v1, v2 = agent.version, agent.version + 1  # 1 and 2 on the fresh demo server
    new_first = "Hi, this is Harbor Dental Care returning your call. Is now a good moment to book your visit?"
    signed_in(page, e2e_db, founder)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    row = page.locator("#agents-table tbody tr").filter(has_text=HARBOR).filter(has_text=agent.name)
    _wait_for_synced_badge(page, row)
    page.shot("agents-synced")

    row.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("heading", name=f"{HARBOR}: outbound agent")).to_be_visible()
    first = page.locator("#agent-first-message")
    expect(first).to_have_value(agent.first_message)
    expect(page.get_by_text("unsaved changes", exact=True)).to_have_count(0)
    expect(page.locator("#agent-save")).to_be_disabled()
    page.shot("editor-open")

    first.fill(new_first)
    expect(page.get_by_text("unsaved changes", exact=True)).to_be_visible()
    expect(page.locator("#vapi-preview")).to_contain_text(f'"firstMessage": "{new_first}"')
    expect(page.locator("#agent-save")).to_be_enabled()
    page.shot("first-message-changed")

    page.locator("#agent-save").click()
    expect(page.locator("#sync-message")).to_have_text("Vapi assistant updated.", timeout=30_000)
    expect(page.get_by_text("unsaved changes", exact=True)).to_have_count(0)
    versions = page.locator("#versions-table tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first.locator("td").first).to_have_text(str(v2))
    expect(versions.first).to_contain_text("First message")
    expect(versions.first).to_contain_text(founder.email)
    page.shot("saved-and-synced")

    _choose(page, page.get_by_role("combobox", name="First version"), str(v1))
    _choose(page, page.get_by_role("combobox", name="Second version"), str(v2))
    page.get_by_role("button", name="Compare").click()
    diff = page.locator("#diff-table tbody tr")
    expect(diff).to_have_count(1)
    expect(diff.locator("td").nth(0)).to_have_text("First message")
    expect(diff.locator("td").nth(1)).to_have_text(agent.first_message)
    expect(diff.locator("td").nth(2)).to_have_text(new_first)
    page.shot("versions-compared")

    saved = _agent(e2e_db, HARBOR, "outbound")
    assert (saved.version, saved.sync_status, saved.first_message) == (v2, "synced", new_first)
    assert scalar(e2e_db, "select config->>'first_message' from agent_versions where agent_id = :id "
                          "and version = :v", id=agent.id, v=v2) == new_first
    actions = rows(e2e_db, "select action, actor_id, diff from audit_events where target_type = 'agent' "
                           "and target_id = :id and action in ('agent_saved', 'agent_synced') order by id",
                   id=str(agent.id))
    mine = [(r.action, r.diff.get("version")) for r in actions if r.actor_id == str(founder.id)]
    assert mine == [("agent_saved", v2), ("agent_synced", v2)]

    # A name longer than Vapi's 40 characters is explained inline and nothing is saved.
    long_name = "Harbor Dental Care outbound callback agent"  # 42 characters
    page.fill("#agent-name", long_name)
    expect(page.get_by_text(f"{len(long_name)}/40")).to_be_visible()
    page.locator("#agent-save").click()
    expect(page.get_by_text(f"Vapi allows at most 40 characters; this name has {len(long_name)}.")).to_be_visible()
    expect(page.get_by_text("Fix the highlighted fields, then save again.")).to_be_visible()
    expect(page.get_by_text("unsaved changes", exact=True)).to_be_visible()
    page.shot("name-too-long")
    after = _agent(e2e_db, HARBOR, "outbound")
    assert (after.version, after.name) == (v2, agent.name)
    assert scalar(e2e_db, "select count(*) from agent_versions where agent_id = :id", id=agent.id) == 2
    assert scalar(e2e_db, "select count(*) from audit_events where action = 'agent_saved' and target_id = :id "
                          "and actor_id = :actor", id=str(agent.id), actor=str(founder.id)) == 1


def test_founder_places_test_call_and_watches_it_live(browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "console-founder")
    signed_in(page, e2e_db, founder)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Founder console").click()
    expect(page.get_by_role("heading", name="Founder console", exact=True)).to_be_visible()
    _choose(page, page.locator("#console-org"), HARBOR)
    page.fill("#console-number", "2015550143")
    expect(page.locator("#console-number")).to_have_value("(201) 555-0143")
    expect(page.locator("#place-call")).to_be_disabled()
    page.shot("number-typed")

    page.locator("#run-preflight").click()
    checks = page.locator("#preflight-checks > *")
    expect(checks).to_have_count(4)
    for name in ("Outbound agent", "Vapi assistant", "Vapi phone number", "Customer number"):
        expect(checks.filter(has_text=name)).to_have_count(1)
    expect(page.locator("#preflight-checks svg.lucide-circle-check")).to_have_count(4)
    expect(page.locator("#preflight-checks svg.lucide-circle-x")).to_have_count(0)
    expect(checks.filter(has_text="Customer number")).to_contain_text("+1 201-555-0143 (US)")
    expect(page.locator("#place-call")).to_be_enabled()
    page.shot("preflight-passed")

    # Mark the document: if the page reloaded while the call ran, the mark would be gone.
    page.evaluate("window.__e2eNoReload = true")
    page.locator("#place-call").click()
    status = page.locator("#call-status")
    expect(status).to_have_text("in-progress", timeout=30_000)
    page.shot("call-in-progress")
    expect(status).to_have_text("ended", timeout=60_000)
    report = page.locator("#call-report")
    expect(report).to_contain_text(SUMMARY, timeout=30_000)
    expect(report).to_contain_text("customer-ended-call")
    lines = page.locator("#live-transcript > *")
    expect(lines.nth(3)).to_be_visible()  # several lines, agent and caller
    agent_first = _agent(e2e_db, HARBOR, "outbound").first_message
    expect(lines.first).to_contain_text("Agent")
    expect(lines.first).to_contain_text(agent_first)
    expect(lines.nth(1)).to_contain_text("Caller")
    audio = report.locator("audio")
    expect(audio).to_have_count(1)
    assert "/sandbox/vapi/recordings/" in (audio.get_attribute("src") or "")
    recent = page.locator("#recent-calls tbody tr").first
    expect(recent).to_contain_text(HARBOR)
    expect(recent).to_contain_text("+1201555••••")
    expect(recent).to_contain_text("ended")
    expect(recent).to_contain_text(founder.email)
    assert page.evaluate("window.__e2eNoReload === true"), "the page reloaded during the call"
    page.shot("call-ended")

    call = rows(e2e_db, "select id, is_test, status, report_received, placed_by, customer_number from calls "
                        "where placed_by = :email order by id", email=founder.email)
    assert len(call) == 1
    assert (call[0].is_test, call[0].status, call[0].report_received, call[0].customer_number) == (
        True, "ended", True, "+12015550143")
    assert scalar(e2e_db, "select count(*) from audit_events where action = 'test_call_placed' and target_id = :id "
                          "and actor_id = :actor", id=str(call[0].id), actor=str(founder.id)) == 1


def test_preflight_failure_is_explained(browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "preflight-founder")
    signed_in(page, e2e_db, founder)
    # A demo organization that has agents but no number yet (telephony setups buy numbers for some of them).
    org, country = rows(e2e_db, "select o.name, o.country from organizations o where o.status = 'active' "
                                "and exists (select 1 from agents a where a.org_id = o.id and a.role = 'outbound') "
                                "and not exists (select 1 from phone_numbers p where p.org_id = o.id) "
                                "order by o.id limit 1")[0]
    typed, shown = CUSTOMER_NUMBERS[country]

    open_from_sidebar(page, "/console")
    expect(page.get_by_role("heading", name="Founder console", exact=True)).to_be_visible()
    _choose(page, page.locator("#console-org"), org)
    page.fill("#console-number", typed)
    expect(page.locator("#console-number")).to_have_value(typed)
    page.locator("#run-preflight").click()
    checks = page.locator("#preflight-checks > *")
    expect(checks).to_have_count(4)
    number_check = checks.filter(has_text="Vapi phone number")
    expect(number_check).to_contain_text(f"No Vapi phone number for {org}")
    expect(number_check.locator("svg.lucide-circle-x")).to_have_count(1)
    customer = checks.filter(has_text="Customer number")
    expect(customer).to_contain_text(shown)
    expect(customer.locator("svg.lucide-circle-check")).to_have_count(1)
    expect(page.locator("#place-call")).to_be_disabled()
    page.shot("preflight-failed")
    assert scalar(e2e_db, "select count(*) from calls where placed_by = :email", email=founder.email) == 0
