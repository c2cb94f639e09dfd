"""Organizations page: an admin creates, edits and closes an organization; a viewer only reads."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect

from tests.e2e.helpers import rows, scalar, signed_in

SLUG_ERROR = "Use 1-63 lowercase letters, digits and dashes for the slug (not starting or ending with a dash)."


def test_admin_creates_edits_and_closes_an_organization(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "org-admin")
    suffix = secrets.token_hex(2)
    name, slug = f"Lakeside Dental {suffix}", f"lakeside-dental-{suffix}"
    signed_in(page, e2e_db, admin)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations").click()
    expect(page.get_by_role("heading", name="Organizations", exact=True)).to_be_visible()
    expect(page.locator("#orgs-table")).to_be_visible()
    page.shot("organizations")

    # Create: a bad slug is refused inline and the dialog stays open with what was typed.
    page.locator("#new-org").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="New organization")).to_be_visible()
    page.fill("#org-name", name)
    page.fill("#org-slug", "Lakeside Dental!")
    page.shot("new-org-bad-slug-typed")
    page.locator("#org-save").click()
    expect(dialog.get_by_text(SLUG_ERROR)).to_be_visible()
    expect(page.locator("#org-name")).to_have_value(name)
    page.shot("bad-slug-message")
    assert scalar(e2e_db, "select count(*) from organizations where name = :n", n=name) == 0

    page.fill("#org-slug", slug)
    page.locator("#org-save").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("Organization created.")).to_be_visible()
    row = page.locator("#orgs-table tbody tr").filter(has=page.locator("code", has_text=slug))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("America/New_York")
    expect(row).to_contain_text("active")
    page.shot("org-created")
    org_id = scalar(e2e_db, "select id from organizations where slug = :s", s=slug)
    assert org_id

    # Edit: new name and country; the time zone follows the country.
    row.get_by_role("button", name="Edit").click()
    expect(dialog.get_by_role("heading", name="Edit organization")).to_be_visible()
    expect(page.locator("#org-name")).to_have_value(name)
    expect(page.locator("#org-slug")).to_have_value(slug)
    new_name = f"Lakeside Dental & Ortho {suffix}"
    page.fill("#org-name", new_name)
    page.locator("#org-country").click()
    page.get_by_role("option", name="GB").click()
    expect(page.locator("#org-timezone")).to_have_value("Europe/London")
    page.shot("edit-dialog")
    page.locator("#org-save").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("Organization saved.")).to_be_visible()
    expect(row).to_contain_text(new_name)
    expect(row).to_contain_text("GB")
    expect(row).to_contain_text("Europe/London")
    page.shot("org-edited")

    # Close, through the confirmation dialog.
    row.get_by_role("button", name="Close").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm.get_by_role("heading", name="Close this organization?")).to_be_visible()
    page.shot("close-confirmation")
    confirm.get_by_role("button", name="Close organization").click()
    expect(confirm).to_have_count(0)
    expect(page.get_by_text("Organization closed.")).to_be_visible()
    expect(row).to_contain_text("closed")
    expect(row.get_by_role("button", name="Reopen")).to_be_visible()
    expect(row.get_by_role("button", name="Edit")).to_have_count(0)
    page.shot("org-closed")

    org = rows(e2e_db, "select name, country, timezone, status from organizations where id = :id", id=org_id)[0]
    assert tuple(org) == (new_name, "GB", "Europe/London", "closed")
    actions = [r.action for r in rows(e2e_db, "select action from audit_events where target_type = 'organization' "
                                              "and target_id = :id order by id", id=str(org_id))]
    assert actions == ["organization_created", "organization_updated", "organization_closed"]


def test_viewer_reads_organizations_without_admin_controls(browser_page, e2e_db, make_account):
    page = browser_page
    viewer = make_account("viewer", "org-viewer")
    signed_in(page, e2e_db, viewer)

    nav = page.get_by_role("navigation", name="Main")
    for label in ("Overview", "Organizations", "Account"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    expect(nav.get_by_role("link", name="Staff")).to_have_count(0)
    expect(nav.get_by_role("link", name="Jobs")).to_have_count(0)

    nav.get_by_role("link", name="Organizations").click()
    expect(page.get_by_role("heading", name="Organizations", exact=True)).to_be_visible()
    table = page.locator("#orgs-table")
    expect(table).to_be_visible()
    active = scalar(e2e_db, "select name from organizations where status = 'active' order by name limit 1")
    assert active, "the --demo server loads demo organizations"
    expect(table).to_contain_text(active)
    expect(page.locator("#new-org")).to_have_count(0)
    expect(page.get_by_role("button", name="New organization")).to_have_count(0)
    expect(table.get_by_role("button", name="Edit")).to_have_count(0)
    expect(table.get_by_role("button", name="Close")).to_have_count(0)
    page.shot("viewer-organizations")

    # Admin pages are refused on the server too, not just hidden.
    page.goto("/staff")
    expect(page.locator("#access-denied")).to_contain_text("This page is for the admin role and above")
    expect(page.locator("#staff-table")).to_have_count(0)
    page.shot("viewer-staff-refused")
