"""Audit log page (admin and up): filters and search kept in the URL, a row's before/after diff side by side with
a link to its target, CSV export of the filter (itself audited), "Verify now" with progress; the page and its
detail dialog pass axe in light and dark mode; a viewer is refused."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import expect
from sqlmodel import Session

from tests.e2e import axe
from tests.e2e.helpers import rows, scalar, signed_in, wait_until
from tests.e2e.test_call_logs import _choose


def _record_agent_change(engine, word: str) -> int:
    """An agent rename on the trail, written the way the app writes it (MAC under the server's key)."""
    from voxanne_admin.audit import service as audit
    from voxanne_admin.audit.service import Actor

    with Session(engine) as session:
        row = audit.record(session, actor=Actor(type="staff", id="1", email="editor@e2e.voxanne.example"),
                           action="agent_saved", target_type="agent", target_id=41,
                           diff={"name": {"before": "Front desk", "after": f"Night porter {word}"},
                                 "voice": {"before": "alloy", "after": "verse"}})
        session.commit()
        return int(row.id or 0)


def test_admin_filters_reads_a_diff_exports_and_verifies(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "audit-admin")
    event_id = _record_agent_change(e2e_db, "zephyr")
    signed_in(page, e2e_db, admin)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    expect(page.locator("#audit-table")).to_be_visible()
    expect(page.locator("#chain-panel")).to_contain_text("Sealed through")
    page.shot("audit-log")

    # Full-text search over the diff, applied on Enter, kept in the address bar.
    page.fill("#audit-search", "zephyr")
    page.press("#audit-search", "Enter")
    expect(page).to_have_url(re.compile(r"/audit-log\?q=zephyr$"))
    table_rows = page.locator("#audit-table tbody tr")
    expect(table_rows).to_have_count(1)
    expect(table_rows.first).to_contain_text("agent_saved")
    expect(table_rows.first).to_contain_text("name: Front desk → Night porter zephyr")

    # A shared link shows the same view.
    page.goto(page.url)
    expect(page.locator("#audit-search")).to_have_value("zephyr")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)

    # The detail: before and after side by side, and a link to the agent.
    page.get_by_role("button", name=f"Details of event {event_id}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Event {event_id}: agent_saved")).to_be_visible()
    diff = dialog.locator("#detail-diff tbody tr")
    expect(diff).to_have_count(2)
    expect(diff.nth(0).locator("td").nth(0)).to_have_text("Front desk")
    expect(diff.nth(0).locator("td").nth(1)).to_have_text("Night porter zephyr")
    expect(diff.nth(1)).to_contain_text("alloy")
    expect(dialog.locator("#detail-target-link")).to_have_attribute("href", "/agents")
    page.shot("detail")
    axe.scan_both_modes(page, "audit log detail dialog")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # A group filter applies at once, also into the URL; the search box clears first.
    page.locator("#audit-clear").click()
    expect(page).to_have_url(re.compile(r"/audit-log$"))
    _choose(page, page.locator("#audit-group"), "Staff")
    expect(page).to_have_url(re.compile(r"/audit-log\?group=staff$"))
    actions = page.locator("#audit-table tbody tr td:nth-child(3) code")
    expect(actions.first).to_be_visible()
    assert {a for a in actions.all_inner_texts()} <= {"staff_created", "staff_role_changed", "staff_disabled"}
    assert "staff_created" in actions.all_inner_texts()

    # Export the filter as CSV: streamed, the filter's rows only, and the export is on the record.
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    text = open(download_info.value.path(), encoding="utf-8").read()  # noqa: SIM115
    exported = list(csv.DictReader(io.StringIO(text)))
    assert exported and {r["action"] for r in exported} <= {"staff_created", "staff_role_changed", "staff_disabled"}
    assert len(exported) == scalar(e2e_db, "select count(*) from audit_events where action like 'staff\\_%'")
    wait_until(lambda: rows(e2e_db, "select diff from audit_events where action = 'audit_exported' and "
                                    "actor_email = :e", e=admin.email), what="the export's audit event")
    (recorded,) = rows(e2e_db, "select diff from audit_events where action = 'audit_exported' and actor_email = :e",
                       e=admin.email)
    assert recorded[0] == {"filter": {"group": "staff"}, "format": "csv", "via": "page"}

    # Verify now: progress, then the outcome; the run is audited.
    wait_until(lambda: scalar(e2e_db, "select count(*) from audit_events e where not exists "
                                      "(select 1 from audit_seals s where s.event_id = e.id)") == 0,
               what="the sealer to link every row", timeout=30)
    page.locator("#verify-now").click()
    expect(page.locator("#verify-ok")).to_be_visible(timeout=60_000)
    expect(page.locator("#verify-progress-text")).to_contain_text(" rows checked")
    expect(page.locator("#verify-ok")).to_contain_text("rows, their links and every checkpoint verified")
    page.shot("verified")
    wait_until(lambda: rows(e2e_db, "select diff from audit_events where action = 'audit_verified' and "
                                    "actor_email = :e", e=admin.email), what="the verification's audit event")
    axe.scan_both_modes(page, "audit log")
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=10_000)
    page.shot("verified-dark")
    page.emulate_media(color_scheme="light")

    # A bad value in a shared link is explained; the rest of its filter is kept.
    page.goto("/audit-log?org=abc&group=auth")
    expect(page.locator("#audit-link-error")).to_contain_text("Organization must be an organization id")
    expect(page.locator("#audit-group")).to_have_text("Sign-in, access and credentials")


def test_viewer_is_refused_the_audit_log(browser_page, e2e_db, make_account):
    page = browser_page
    viewer = make_account("viewer", "audit-viewer")
    signed_in(page, e2e_db, viewer)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")).to_have_count(0)
    page.goto("/audit-log")
    expect(page.locator("#access-denied")).to_contain_text("This page is for the admin role and above")
    expect(page.locator("#audit-table")).to_have_count(0)
    # The API refuses the viewer's session too (a fetch from the page, with its cookie).
    assert page.evaluate("async () => (await fetch('/api/compliance/audit-logs')).status") == 403
