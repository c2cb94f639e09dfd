"""The Flags page in the browser: an operator ramps a flag 10% -> 50% and the organizations the preview showed are
exactly those the API answers for; the kill-switch confirmation asks for the key; no axe violations."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from tests.e2e import axe
from tests.e2e.helpers import open_from_sidebar, rows, signed_in, wait_until


def _token(engine, email: str) -> str:
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import tokens
    from voxanne_admin.auth.models import StaffUser

    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == email)).one()
        token = tokens.create(session, staff_id=user.id, name="e2e flags", actor=Actor.system("e2e-tests"),
                              scopes=["flags"])
        session.commit()
    return token


def _badges(page: Page, box: str) -> list[str]:
    return sorted(page.locator(f"{box} .rt-Badge").all_inner_texts())


def _api_orgs_with(base: str, token: str, slugs: list[str], key: str) -> list[str]:
    on = []
    for slug in slugs:
        answer = httpx.get(f"{base}/api/feature-flags/evaluate", params={"org": slug},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert answer["org"] == slug
        if answer["flags"][key]:
            on.append(slug)
    return sorted(on)


def _no_toasts(page: Page) -> None:
    """Toasts fade after a few seconds; scan the page itself, not a passing notification."""
    page.wait_for_function("() => document.querySelectorAll('[data-sonner-toast]').length === 0", timeout=30_000)


def _save(page: Page) -> None:
    page.locator("#flag-save").click()
    expect(page.get_by_text("Saved.").first).to_be_visible(timeout=20_000)
    expect(page.locator("#flag-save")).to_be_disabled()


def test_operator_ramps_a_flag_and_the_preview_matches_the_api(browser_page, e2e_db, make_account, live_server):
    page = browser_page
    operator = make_account("operator", "flags-ramp")
    token = _token(e2e_db, operator.email)
    slugs = sorted(r[0] for r in rows(e2e_db, "select slug from organizations where status = 'active'"))
    signed_in(page, e2e_db, operator)

    open_from_sidebar(page, "/flags")
    expect(page.get_by_role("heading", name="Feature flags", exact=True)).to_be_visible()
    expect(page.locator("#flags-table")).to_contain_text("lead_scoring", timeout=30_000)
    page.locator("#flag-link-lead_scoring").click()
    expect(page.get_by_role("heading", name="lead_scoring", exact=True)).to_be_visible(timeout=30_000)

    page.locator("#flag-enabled").click()
    page.locator("#flag-rollout").fill("10")
    expect(page.locator("#preview-after-count")).to_be_visible()
    wait_until(lambda: page.locator("#flag-rollout").input_value() == "10", what="rollout typed")
    page.wait_for_timeout(600)  # the preview follows the debounced input
    previewed_10 = _badges(page, "#preview-after")
    _save(page)
    assert _badges(page, "#preview-now") == previewed_10
    assert _api_orgs_with(live_server["direct"], token, slugs, "lead_scoring") == previewed_10

    page.locator("#flag-rollout").fill("50")
    page.wait_for_timeout(600)
    expect(page.locator("#preview-after-count")).to_contain_text(f"of {len(slugs)}")
    previewed_50 = _badges(page, "#preview-after")
    assert set(previewed_10) <= set(previewed_50)  # raising the rollout never removes an organization
    _save(page)
    assert _badges(page, "#preview-now") == previewed_50
    assert _api_orgs_with(live_server["direct"], token, slugs, "lead_scoring") == previewed_50
    changes = rows(e2e_db, "select diff from audit_events where action = 'feature_flag_updated' and "
                           "target_id = 'lead_scoring' and actor_email = :e order by id", e=operator.email)
    assert [c[0]["rollout"]["after"] for c in changes] == [10, 50]
    expect(page.locator("#flag-history")).to_contain_text("feature_flag_updated")
    _no_toasts(page)
    axe.scan_both_modes(page, "flag detail")


def test_kill_switch_asks_for_the_key_and_the_list_has_no_axe_violations(browser_page, e2e_db, make_account):
    page = browser_page
    operator = make_account("operator", "flags-kill")
    signed_in(page, e2e_db, operator)
    open_from_sidebar(page, "/flags")
    expect(page.locator("#flags-table")).to_contain_text("outbound_calling", timeout=30_000)
    axe.scan_both_modes(page, "flags list")
    page.get_by_role("button", name="Turn off kill switch outbound_calling").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#kill-flag-confirm")).to_be_disabled()
    page.locator("#kill-flag-typed").fill("outbound")
    expect(page.locator("#kill-flag-confirm")).to_be_disabled()
    axe.scan_both_modes(page, "kill switch confirmation")
    # Other end-to-end tests place outbound calls: leave the switch on.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert rows(e2e_db, "select enabled from feature_flags where key = 'outbound_calling'")[0][0] is True
