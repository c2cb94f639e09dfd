"""Staff page (create an account, duplicate email, change role) and Jobs page (run a job now)."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect

from tests.e2e.helpers import make_confirmation_stale, reauthenticate, rows, scalar, signed_in


def test_admin_creates_staff_account_and_changes_role(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "staff-admin")
    email = f"nurse.joy-{secrets.token_hex(2)}@harbor-clinic.example"
    signed_in(page, e2e_db, admin)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff").click()
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    table = page.locator("#staff-table")
    expect(table).to_contain_text(admin.email)
    page.shot("staff")

    page.locator("#new-staff").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="New staff account")).to_be_visible()
    initial_password = page.locator("#staff-password").input_value()
    assert len(initial_password) >= 12
    page.fill("#staff-name", "Joy Nurse")
    page.fill("#staff-email", email.upper())
    page.shot("new-staff-dialog")
    page.locator("#staff-save").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("Staff account created.")).to_be_visible()
    expect(page.get_by_text(f"{email} can now sign in with the initial password")).to_be_visible()
    row = table.locator("tbody tr").filter(has_text=email)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Joy Nurse")
    expect(row).to_contain_text("not set up")
    expect(row.get_by_role("combobox")).to_have_text("viewer")
    page.shot("staff-created")
    staff_id = scalar(e2e_db, "select id from staff_users where email = :e", e=email)
    assert scalar(e2e_db, "select role from staff_users where id = :id", id=staff_id) == "viewer"

    # The same email again (different case): the conflict message, nothing created.
    page.locator("#new-staff").click()
    expect(dialog.get_by_role("heading", name="New staff account")).to_be_visible()
    page.fill("#staff-name", "Joy Again")
    page.fill("#staff-email", email)
    page.locator("#staff-save").click()
    expect(dialog.get_by_role("alert").filter(has_text=f"A staff account for {email} already exists.")).to_be_visible()
    page.shot("duplicate-email")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert scalar(e2e_db, "select count(*) from staff_users where email = :e", e=email) == 1

    # Change the role from the table (a sensitive action: the password again once over 5 minutes old).
    make_confirmation_stale(page, e2e_db, admin)
    row.get_by_role("combobox").click()
    page.get_by_role("option", name="operator").click()
    reauthenticate(page, admin)
    expect(page.get_by_text("Role changed to operator.")).to_be_visible()
    expect(row.get_by_role("combobox")).to_have_text("operator")
    page.shot("role-changed")
    assert scalar(e2e_db, "select role from staff_users where id = :id", id=staff_id) == "operator"
    changes = rows(e2e_db, "select actor_id, diff from audit_events where action = 'staff_role_changed' "
                           "and target_id = :id", id=str(staff_id))
    assert len(changes) == 1 and changes[0].actor_id == str(admin.id)
    assert "operator" in str(changes[0].diff)


def test_run_job_now_shows_succeeded_run(browser_page, e2e_db, founder):
    page = browser_page
    signed_in(page, e2e_db, founder)
    before = scalar(e2e_db, "select coalesce(max(id), 0) from job_runs")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    job = page.locator("#jobs-table tbody tr").filter(has_text="Purge expired sessions")
    expect(job).to_have_count(1)
    expect(job).to_contain_text("Hourly at :05")
    page.shot("jobs")

    job.get_by_role("button", name="Run now").click()
    expect(page.get_by_text("Purge expired sessions: done.")).to_be_visible()
    run = page.locator("#runs-table tbody tr").filter(has_text="Purge expired sessions").filter(has_text="manual")
    expect(run.first).to_contain_text("succeeded")
    expect(run.first).to_contain_text("expired or revoked sessions deleted")
    expect(job).to_contain_text("succeeded")
    page.shot("job-ran")

    runs = rows(e2e_db, "select job_name, trigger, outcome from job_runs where id > :id order by id", id=before)
    assert ("purge_expired_sessions", "manual", "succeeded") in [tuple(r) for r in runs]
    assert scalar(e2e_db, "select count(*) from audit_events where action = 'job_run_requested' and actor_id = :id "
                          "and target_id = 'purge_expired_sessions'", id=str(founder.id)) == 1
