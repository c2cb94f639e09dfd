"""The dialogs of the telephony, agents and credentials pages pass axe-core's WCAG 2.1 A/AA rules in light and
dark mode: the carrier rule editor (a form dialog), the unsaved-changes confirmation (Escape keeps editing), the
credential rotate dialog and the emergency-rotation confirmation."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e import axe
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import open_from_sidebar, signed_in


def _scan(page, name: str, problems: list[str]) -> None:
    axe.scan_collecting(page, name, problems, ARTIFACTS / "axe-counts.json")


def _dark_shot(page, name: str) -> None:
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=10_000)
    page.shot(f"{name}-dark")
    page.emulate_media(color_scheme="light")


def test_rule_editor_and_discard_confirmation_have_no_axe_violations(browser_page, e2e_db, make_account):
    page = browser_page
    founder = make_account("founder", "axe-page-dialogs")
    problems: list[str] = []
    signed_in(page, e2e_db, founder)

    open_from_sidebar(page, "/telephony")
    expect(page.get_by_role("heading", name="Carrier forwarding rules")).to_be_visible()
    page.locator("#rules-table").get_by_role("button", name="Edit the rule for AT&T").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Edit rule: AT&T (US, mobile)")).to_be_visible()
    page.shot("rule-editor")
    _dark_shot(page, "rule-editor")
    _scan(page, "carrier rule editor", problems)
    # The label of each code field focuses it (labels are bound to their inputs).
    dialog.get_by_text("Source", exact=True).click()
    expect(page.locator("#rule-source")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    open_from_sidebar(page, "/agents")
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    page.locator("#agents-table tbody tr").first.get_by_role("button", name="Edit").click()
    expect(page.locator("#agent-editor")).to_be_visible()
    page.get_by_label("First message").fill("Hello from the accessibility check.")
    expect(page.get_by_text("unsaved changes", exact=True)).to_be_visible()
    _dark_shot(page, "agent-editor")
    page.get_by_role("button", name="Close the editor").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm.get_by_role("heading", name="Discard unsaved changes?")).to_be_visible()
    page.shot("discard-confirm")
    _scan(page, "discard unsaved changes confirmation", problems)
    page.keyboard.press("Escape")  # keeps editing: the changes stay
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(page.locator("#agent-first-message")).to_have_value("Hello from the accessibility check.")

    open_from_sidebar(page, "/console")
    expect(page.get_by_role("heading", name="Founder console", exact=True)).to_be_visible()
    _dark_shot(page, "console")

    # Credentials: the rotate form dialog and the typed emergency confirmation (cancelled: nothing rotates).
    open_from_sidebar(page, "/credentials")
    expect(page.get_by_role("heading", name="Credentials", exact=True)).to_be_visible()
    page.get_by_role("button", name="Rotate: Vapi private key").click()
    expect(page.get_by_role("dialog").get_by_role("heading", name="Rotate: Vapi private key")).to_be_visible()
    page.get_by_role("dialog").get_by_text("New value", exact=True).click()
    expect(page.locator("#credential-value")).to_be_focused()
    page.shot("rotate-dialog")
    _scan(page, "credential rotate dialog", problems)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.locator("#emergency-rotate").click()
    expect(page.get_by_role("alertdialog").get_by_role("heading", name="Emergency rotation")).to_be_visible()
    page.shot("emergency-confirm")
    _scan(page, "emergency rotation confirmation", problems)
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert not problems, "\n\n".join(problems)
