"""DR page: on a fresh install an admin takes a backup, runs a verification and a drill in the browser and sees
the measured RTO and RPO; each action is audited and recorded."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import make_confirmation_stale, reauthenticate, scalar, signed_in

SLOW = 240_000  # a base backup and a restore of the test cluster, on a shared machine


def test_admin_backs_up_verifies_and_drills_and_sees_rto_and_rpo(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "dr-admin")
    signed_in(page, e2e_db, admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Disaster recovery").click()
    expect(page.get_by_role("heading", name="Disaster recovery", exact=True)).to_be_visible()
    expect(page.locator("#dr-rto-last")).to_contain_text("no drill yet")
    page.shot("dr-fresh")

    page.locator("#dr-backup-now").click()
    expect(page.locator("#dr-progress")).to_contain_text(re.compile(r"Backup base-\S+ taken and verified"),
                                                         timeout=SLOW)
    expect(page.locator("#dr-backups tbody tr").first).to_contain_text("verified")

    page.locator("#dr-verify-now").click()
    expect(page.locator("#dr-progress")).to_contain_text("Verification", timeout=SLOW)
    expect(page.locator("#dr-checks")).to_contain_text("WAL continuity")
    expect(page.locator("#dr-checks")).to_contain_text("backup integrity")
    expect(page.locator("#dr-last-verification")).not_to_contain_text("never run")

    make_confirmation_stale(page, e2e_db, admin)  # a restore asks for the password again (over 5 minutes old)
    page.locator("#dr-drill-now").click()
    reauthenticate(page, admin)
    expect(page.locator("#dr-progress")).to_contain_text(re.compile(r"Drill \d+: RTO [\d.]+ s, RPO [\d.]+ s"),
                                                         timeout=SLOW)
    expect(page.locator("#dr-rto-last")).to_contain_text(re.compile(r"[\d.]+ (s|min)"))
    expect(page.locator("#dr-rpo-last")).to_contain_text(re.compile(r"[\d.]+ s"))
    expect(page.locator("#dr-rpo-now")).not_to_contain_text("no backup yet")
    expect(page.locator("#dr-drills tbody tr").first).to_contain_text("succeeded")
    page.shot("dr-after-drill")

    actor = str(admin.id)
    for action in ("dr_backup_started", "dr_verification_run", "dr_drill_started"):
        assert scalar(e2e_db, "select count(*) from audit_events where action = :a and actor_id = :id",
                      a=action, id=actor) == 1, action
    assert scalar(e2e_db, "select status from dr_drills order by id desc limit 1") == "succeeded"
    assert scalar(e2e_db, "select count(*) from backup_verification_log") >= 1


def test_viewer_cannot_open_the_dr_page(browser_page, e2e_db, make_account, live_server):
    page = browser_page
    viewer = make_account("viewer", "dr-viewer")
    signed_in(page, e2e_db, viewer)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Disaster recovery")).to_have_count(0)
    page.goto(live_server["base"] + "/disaster-recovery")
    expect(page.get_by_text("This page is for the admin role and above; you are signed in as viewer.")).to_be_visible()
    expect(page.locator("#dr-backup-now")).to_have_count(0)
    # The refused load explains itself once: no reload (a refused load reloaded the page again and again).
    page.wait_for_timeout(1500)
    assert "denied" not in page.url, page.url
    expect(page.locator("#dr-backup-now")).to_have_count(0)
