"""Telephony page against the sandbox: the whole setup of a US and of a Nigerian organization in the browser
(country -> buy a number -> clinic line and carrier -> codes -> simulated dialling -> verified test call), what
the server wrote for each step, rapid country changes that must end on the LAST choice, and a viewer who reads
without controls."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect
from sqlmodel import Session

from tests.e2e.helpers import audit_actions, last_audit_id, rows, scalar, signed_in

COUNTRY_OPTION = {"US": "United States (US, +1)", "GB": "United Kingdom (GB, +44)", "NG": "Nigeria (NG, +234)",
                  "TR": "Türkiye (TR, +90)"}
COUNTRY_NAME = {"US": "United States", "GB": "United Kingdom", "NG": "Nigeria", "TR": "Türkiye"}
TIMEZONE = {"US": "America/New_York", "NG": "Africa/Lagos", "GB": "Europe/London", "TR": "Europe/Istanbul"}


def _make_org(engine, *, country: str, label: str) -> tuple[int, str]:
    """A fresh organization (telephony not started), made as the founder tooling would."""
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.orgs import service as org_service

    suffix = secrets.token_hex(2)
    name = f"{label} {suffix}"
    with Session(engine, expire_on_commit=False) as session:
        org = org_service.create(session, name=name, slug=f"{label.lower().replace(' ', '-')}-{suffix}",
                                 country=country, timezone=TIMEZONE[country], actor=Actor.system("e2e-tests"),
                                 actor_role="founder")
        session.commit()
        return org.id or 0, name


def _clinic_line(region: str, prefix: str, digits: int) -> str:
    """A valid clinic line no other organization uses (the sandbox carrier keeps forwarding state per line)."""
    import phonenumbers

    while True:
        raw = prefix + "".join(secrets.choice("0123456789") for _ in range(digits))
        if raw[len(prefix)] != "0" and phonenumbers.is_valid_number(phonenumbers.parse(raw, region)):
            return raw


def _choose(page: Page, trigger_id: str, option: str) -> None:
    page.locator(f"#{trigger_id}").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f"#{trigger_id}")).to_have_text(option)


def _open_setup(page: Page, org_name: str) -> None:
    """Telephony page from the navigation, then the organization in scope through the switcher."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Telephony").click()
    expect(page.get_by_role("heading", name="Telephony", exact=True)).to_be_visible()
    expect(page.locator("#telephony-overview")).to_contain_text(org_name)
    page.locator("#org-switcher").click()
    page.get_by_role("option", name=org_name, exact=True).click()
    expect(page.get_by_role("heading", name=f"Setup for {org_name}")).to_be_visible()
    expect(page.locator("#setup-status")).to_contain_text("Not started")


def _setup_row(engine, org_id: int):
    found = rows(engine, "select * from telephony_setups where org_id = :id", id=org_id)
    return found[0] if found else None


def _walk(page: Page, engine, *, org_id: int, org_name: str, country: str, number_country: str, clinic_raw: str,
          clinic_display: str, carrier: str, carrier_suggested: bool, area_code: str,
          refused: tuple[str, str] | None = None) -> None:
    """The five steps in the browser, checking the page and the database after each."""
    since = last_audit_id(engine)
    _open_setup(page, org_name)
    page.shot("not-started")

    # 1. Country.
    _choose(page, "tel-country", COUNTRY_OPTION[country])
    expect(page.locator("#country-guidance")).to_contain_text(COUNTRY_NAME[country])
    expect(page.locator("#step-1")).to_contain_text("done")
    assert _setup_row(engine, org_id).country == country
    page.shot("country-chosen")

    # 2. Number: searched in the country itself, or (NG/TR) in another one with the caveats shown BEFORE buying.
    expect(page.locator("#tel-number-country")).to_have_text(f"{COUNTRY_NAME[number_country]} ({number_country})")
    if number_country != country:
        caveats = page.locator("#forwarding-caveats")
        expect(caveats).to_be_visible()
        expect(caveats).to_contain_text("BEFORE buying")
        expect(caveats).to_contain_text("billed to the clinic's line")
    expect(page.locator("#numbers-table tbody tr").first).to_be_visible(timeout=30_000)
    page.get_by_label("Area code").fill(area_code)  # labels are tied to their fields
    page.locator("#tel-area-code").press("Enter")  # Enter submits the search
    expect(page.locator("#search-summary")).to_contain_text(f"with area code {area_code}", timeout=30_000)
    first = page.locator("#numbers-table tbody tr").first
    expect(first).to_be_visible()
    page.shot("numbers-found")
    if number_country != country:
        expect(first.get_by_role("button", name=re.compile("^Buy "))).to_be_disabled()
        page.locator("#caveats-ok").click()
    number_text = first.locator("th").inner_text().strip()
    first.get_by_role("button", name=re.compile("^Buy ")).click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text(f"Buy {number_text}?")
    page.shot("buy-confirmation")
    confirm.get_by_role("button", name="Buy this number").click()
    our = page.locator("#our-number")
    expect(our).to_contain_text(number_text, timeout=60_000)
    expect(our).to_contain_text(f"({number_country})")
    page.shot("number-bought")
    number = rows(engine, "select p.e164, p.vapi_phone_number_id, p.org_id from telephony_setups s "
                          "join phone_numbers p on p.id = s.number_id where s.org_id = :id", id=org_id)
    assert len(number) == 1 and number[0].org_id == org_id and number[0].vapi_phone_number_id, number
    assert scalar(engine, "select count(*) from number_provisionings where org_id = :id and state = 'recorded'",
                  id=org_id) == 1

    if refused is not None:
        # A carrier that cannot forward abroad: the codes are refused with the reason and an alternative, and
        # nothing is saved.
        refused_line, refused_carrier = refused
        page.get_by_label("Clinic's existing number").fill(refused_line)
        expect(page.locator("#tel-carrier")).to_have_text(refused_carrier)
        page.locator("#tel-generate").click()
        refusal = page.locator("#step-4").get_by_role("alert")
        expect(refusal).to_contain_text(refused_carrier)
        page.shot("carrier-refused")
        assert (_setup_row(engine, org_id).activate_code or "") == ""
        expect(page.locator("#code-activate")).to_have_count(0)

    # 3. Clinic line, checked as typed; the carrier is suggested where the numbering plan knows it.
    page.get_by_label("Clinic's existing number").fill(clinic_raw)
    check = page.locator("#clinic-check")
    expect(check).to_contain_text(clinic_display)
    if carrier_suggested:
        expect(check).to_contain_text(f"Its carrier looks like {carrier}")
        expect(page.locator("#tel-carrier")).to_have_text(carrier)
    else:
        _choose(page, "tel-carrier", carrier)
    page.shot("clinic-line")

    # 4. No-answer forwarding after 15 s; the codes come from the carrier's rule.
    expect(page.locator("#tel-forwarding-type")).to_contain_text("No answer")
    _choose(page, "tel-ring-timer", "15 s")
    page.locator("#tel-generate").click()
    activate = page.locator("#code-activate")
    expect(activate).to_be_visible(timeout=20_000)
    expect(page.locator("#setup-status")).to_contain_text("Codes issued")
    expect(page.locator("#rule-confidence")).to_contain_text(carrier)
    row = _setup_row(engine, org_id)
    # The ring time is stored only when the carrier's code carries one (Verizon's *71 has no timer).
    template = scalar(engine, "select no_answer from carrier_forwarding_rules where carrier = :carrier",
                      carrier=carrier)
    timer = 15 if "{T}" in template else 0
    assert (row.status, row.carrier, row.forwarding_type, row.ring_timer) == (
        "codes_issued", carrier, "no_answer", timer)
    expect(page.locator("#codes-summary")).to_contain_text("after 15 s of ringing" if timer else "when nobody answers")
    expect(activate).to_have_text(row.activate_code)
    expect(page.locator("#code-cancel")).to_have_text(row.cancel_code)
    digits = re.sub(r"\D", "", row.target_as_dialled)
    assert digits and digits in re.sub(r"\D", "", row.activate_code)
    page.shot("codes")

    # 5. The clinic "dials" the code (sandbox), then the test call proves the forwarding.
    page.locator("#tel-simulate").click()
    expect(page.get_by_text("Sandbox: the clinic's line now forwards")).to_be_visible(timeout=20_000)
    page.locator("#tel-verify").click()
    page.shot("verifying")
    expect(page.locator("#verify-ok")).to_be_visible(timeout=60_000)
    expect(page.locator("#setup-status")).to_contain_text("Verified")
    page.shot("verified")
    row = _setup_row(engine, org_id)
    assert row.status == "verified" and row.verified_at is not None

    # The overview says so too, and every change was audited.
    overview = page.locator("#telephony-overview tbody tr").filter(has_text=org_name)
    expect(overview).to_contain_text("Verified")
    expect(overview).to_contain_text(number_text)
    actions = [a.action for a in audit_actions(engine, since_id=since)]
    for expected in ("telephony_country_set", "telephony_codes_issued"):
        assert expected in actions, actions
    assert any("number" in a or "provision" in a for a in actions), actions
    assert any("verif" in a for a in actions), actions


def test_us_organization_walks_to_verified_forwarding(browser_page, e2e_db, make_account):
    page = browser_page
    operator = make_account("operator", "tel-us")
    org_id, name = _make_org(e2e_db, country="US", label="Maple Smiles")
    signed_in(page, e2e_db, operator)
    _walk(page, e2e_db, org_id=org_id, org_name=name, country="US", number_country="US",
          clinic_raw=_clinic_line("US", "201", 7), clinic_display="+1 201-", carrier="Verizon",
          carrier_suggested=False,
          area_code="415")

    # Changing the country of a configured setup asks first (it would clear the line and codes); keeping it
    # changes nothing.
    since = last_audit_id(e2e_db)
    page.locator("#tel-country").click()
    page.get_by_role("option", name=COUNTRY_OPTION["GB"], exact=True).click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm.get_by_role("heading", name="Change the country?")).to_be_visible()
    page.shot("change-country-confirmation")
    confirm.get_by_role("button", name="Keep the current country").click()
    expect(confirm).to_have_count(0)
    expect(page.locator("#tel-country")).to_have_text(COUNTRY_OPTION["US"])
    expect(page.locator("#setup-status")).to_contain_text("Verified")
    row = _setup_row(e2e_db, org_id)
    assert (row.country, row.status) == ("US", "verified")
    assert [a.action for a in audit_actions(e2e_db, since_id=since) if a.action.startswith("telephony")] == []


def test_nigerian_organization_gets_a_us_number_and_walks_to_verified(browser_page, e2e_db, make_account):
    page = browser_page
    operator = make_account("operator", "tel-ng")
    org_id, name = _make_org(e2e_db, country="NG", label="Ikeja Dental")
    signed_in(page, e2e_db, operator)
    _walk(page, e2e_db, org_id=org_id, org_name=name, country="NG", number_country="US",
          clinic_raw=_clinic_line("NG", "0803", 7), clinic_display="+234 803", carrier="MTN", carrier_suggested=True,
          area_code="212")


def test_verification_without_the_code_dialled_fails_with_the_reason_then_succeeds(browser_page, e2e_db,
                                                                                   make_account):
    """The demo GB clinic has codes issued but never dialled them: the test call is not forwarded."""
    page = browser_page
    operator = make_account("operator", "tel-fail")
    org_id, name = scalar(e2e_db, "select o.id from organizations o join telephony_setups s on s.org_id = o.id "
                                  "where o.country = 'GB' and s.status = 'codes_issued' limit 1"), ""
    assert org_id, "the demo data has a GB organization with codes issued"
    name = scalar(e2e_db, "select name from organizations where id = :id", id=org_id)
    signed_in(page, e2e_db, operator)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Telephony").click()
    page.locator("#telephony-overview tbody tr").filter(has_text=name).get_by_role("button",
                                                                                    name=re.compile("^Open")).click()
    expect(page.get_by_role("heading", name=f"Setup for {name}")).to_be_visible()
    expect(page.locator("#setup-status")).to_contain_text("Codes issued")
    since = last_audit_id(e2e_db)

    page.locator("#tel-verify").click()
    failed = page.locator("#verify-failed")
    expect(failed).to_be_visible(timeout=60_000)
    row = _setup_row(e2e_db, org_id)
    assert row.status == "failed" and row.status_reason
    expect(failed).to_contain_text(row.status_reason)
    expect(page.locator("#setup-status")).to_contain_text("Failed")
    expect(page.locator("#telephony-overview tbody tr").filter(has_text=name)).to_contain_text("Failed")
    page.shot("failed-with-reason")

    # The clinic dials the code (sandbox), and the next test call verifies.
    page.locator("#tel-simulate").click()
    expect(page.get_by_text("Sandbox: the clinic's line now forwards")).to_be_visible(timeout=20_000)
    page.locator("#tel-verify").click()
    expect(page.locator("#verify-ok")).to_be_visible(timeout=60_000)
    expect(page.locator("#verify-failed")).to_have_count(0)
    assert _setup_row(e2e_db, org_id).status == "verified"
    actions = [a.action for a in audit_actions(e2e_db, since_id=since) if "verif" in a.action]
    assert len(actions) >= 2, actions
    page.shot("verified-after-dialling")


def test_demo_turkish_clinic_walks_to_verified_after_a_refused_carrier(browser_page, e2e_db, make_account):
    """The issue's "done when" on the fresh demo install: its Turkish organization, from country choice to a
    verified forwarding setup; a Turkcell line is refused first (domestic-only carrier, number abroad)."""
    page = browser_page
    operator = make_account("operator", "tel-tr")
    org_id = scalar(e2e_db, "select o.id from organizations o left join telephony_setups s on s.org_id = o.id "
                            "where o.country = 'TR' and coalesce(s.status, 'not_started') = 'not_started' "
                            "and s.number_id is null order by o.id limit 1")
    assert org_id, "the demo data has a Turkish organization whose telephony is not started"
    name = scalar(e2e_db, "select name from organizations where id = :id", id=org_id)
    signed_in(page, e2e_db, operator)
    _walk(page, e2e_db, org_id=org_id, org_name=name, country="TR", number_country="US",
          clinic_raw=_clinic_line("TR", "0542", 7), clinic_display="+90 542", carrier="Vodafone TR",
          carrier_suggested=True, area_code="646", refused=(_clinic_line("TR", "0532", 7), "Turkcell"))


def test_rapid_country_changes_end_on_the_last_choice(browser_page, e2e_db, make_account):
    page = browser_page
    operator = make_account("operator", "tel-rapid")
    org_id, name = _make_org(e2e_db, country="US", label="Quick Clinic")
    signed_in(page, e2e_db, operator)
    _open_setup(page, name)

    # Five choices as fast as the browser can make them; each starts a number search that may finish late.
    for iso in ("GB", "US", "TR", "NG", "US", "GB"):
        page.locator("#tel-country").click()
        page.get_by_role("option", name=COUNTRY_OPTION[iso], exact=True).click()
    expect(page.locator("#tel-country")).to_have_text(COUNTRY_OPTION["GB"])
    expect(page.locator("#country-guidance")).to_contain_text("United Kingdom")
    expect(page.locator("#tel-number-country")).to_have_text("United Kingdom (GB)")
    # The search result on screen is the one for the last choice, whatever order the searches finished in.
    expect(page.locator("#searching")).to_have_count(0, timeout=30_000)
    summary = page.locator("#search-summary")
    if summary.count():
        expect(summary).to_contain_text("numbers in GB")
    page.shot("last-choice-shown")
    assert _setup_row(e2e_db, org_id).country == "GB"
    # Stay on GB a moment: nothing late may overwrite it.
    page.wait_for_timeout(1500)
    expect(page.locator("#country-guidance")).to_contain_text("United Kingdom")
    if summary.count():
        expect(summary).to_contain_text("numbers in GB")
    sets = rows(e2e_db, "select diff from audit_events where action = 'telephony_country_set' and org_id = :id "
                        "order by id", id=org_id)
    assert len(sets) == 6


def test_viewer_reads_telephony_without_controls(browser_page, e2e_db, make_account):
    page = browser_page
    viewer = make_account("viewer", "tel-viewer")
    org_id, name = _make_org(e2e_db, country="GB", label="Viewer Clinic")
    signed_in(page, e2e_db, viewer)
    _open_setup(page, name)
    expect(page.locator("#tel-country")).to_be_disabled()
    expect(page.locator("#tel-search")).to_have_count(0)
    expect(page.locator("#tel-generate")).to_have_count(0)
    expect(page.locator("#tel-verify")).to_have_count(0)
    expect(page.locator("#rules-table")).to_be_visible()
    expect(page.locator("#rules-table").get_by_role("button", name=re.compile("^Edit"))).to_have_count(0)
    page.shot("viewer")


def test_admin_edits_a_carrier_rule_and_it_is_audited(browser_page, e2e_db, make_account):
    page = browser_page
    admin = make_account("admin", "tel-rules")
    signed_in(page, e2e_db, admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Telephony").click()
    expect(page.get_by_role("heading", name="Carrier forwarding rules")).to_be_visible()
    _choose(page, "rule-filter", "Nigeria")
    row = page.locator("#rules-table tbody tr").filter(has_text="Glo")
    expect(row).to_have_count(1)
    rule_id = scalar(e2e_db, "select id from carrier_forwarding_rules where country = 'NG' and carrier = 'Glo'")
    since = last_audit_id(e2e_db)

    row.get_by_role("button", name="Edit the rule for Glo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=re.compile("Edit rule: Glo"))).to_be_visible()
    # A template without the number placeholder is refused inline; nothing is written.
    page.fill("#rule-unconditional", "**21*#")
    page.locator("#rule-save").click()
    expect(dialog.get_by_role("alert").first).to_be_visible()
    expect(page.locator("#rule-unconditional")).to_have_value("**21*#")  # what was typed stays
    page.shot("rule-refused")
    assert scalar(e2e_db, "select unconditional from carrier_forwarding_rules where id = :id", id=rule_id) != "**21*#"

    page.fill("#rule-unconditional", "**21*{N}#")
    page.fill("#rule-confidence", "confirmed")
    page.fill("#rule-source", "Glo customer care, e2e check")
    page.locator("#rule-source").press("Enter")  # Enter submits
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("Rule for Glo saved")).to_be_visible()
    expect(row).to_contain_text("Glo customer care, e2e check")
    expect(row).to_contain_text(admin.email)
    page.shot("rule-saved")
    saved = rows(e2e_db, "select confidence, source, updated_by from carrier_forwarding_rules where id = :id",
                 id=rule_id)[0]
    assert (saved.confidence, saved.source) == ("confirmed", "Glo customer care, e2e check")
    events = [a for a in audit_actions(e2e_db, since_id=since) if a.action == "forwarding_rule_updated"]
    assert len(events) == 1 and events[0].target_id == str(rule_id) and events[0].actor_id == str(admin.id)
    assert "source" in events[0].diff and "confidence" in events[0].diff


# ---------------------------------------------------------------- state level (no browser): stale results


def _unwrapped(name: str):
    from voxanne_admin.ui.pages.telephony import TelephonyState

    fn = TelephonyState.event_handlers[name].fn
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


class _FakeState:
    """Just the fields run_search touches, and the `async with self` a background handler takes."""

    def __init__(self, seq: int):
        self.search_seq, self.searching, self.numbers, self.search_error, self.searched_for = seq, True, [], "", ""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def test_state_a_search_that_finishes_late_does_not_overwrite_the_newer_one(monkeypatch):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from voxanne_admin.telephony.flows import provisioning as provisioning_flow
    from voxanne_admin.telephony.models import AvailableNumberRead

    gates: dict[str, asyncio.Event] = {}

    async def provider_search(*, org_id, country, number_type, area_code, contains, limit):
        # The provider answers whenever the test opens the gate: the GB answer is made to arrive last.
        await gates[country].wait()
        return [AvailableNumberRead(e164="+15550000000", display=f"number in {country}", locality="", region="",
                                    address_requirements="none", capabilities="voice")]

    monkeypatch.setattr(provisioning_flow, "search_numbers", provider_search)
    run_search = _unwrapped("run_search")
    state = _FakeState(seq=2)  # the user chose GB (request 1), then US (request 2)

    async def scenario():
        gates.update(GB=asyncio.Event(), US=asyncio.Event())
        older = asyncio.create_task(run_search(state, 7, "GB", "local", "", "", 1))
        newer = asyncio.create_task(run_search(state, 7, "US", "local", "", "", 2))
        gates["US"].set()
        await newer
        assert [n.display for n in state.numbers] == ["number in US"] and not state.searching
        gates["GB"].set()
        await older

    # A thread of its own: Playwright's sync API keeps an event loop running in this one after browser tests.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert [n.display for n in state.numbers] == ["number in US"]
    assert state.searched_for == "local (geographic) numbers in US"


def test_state_rate_limit_refusal_reads_as_plain_words():
    from voxanne_admin.errors import RateLimited
    from voxanne_admin.ui.pages.telephony import friendly

    refusal = RateLimited("Too many country changes from this address: 100 in 15 minutes (HTTP 429)", retry_after_s=60)
    text = friendly(refusal)
    assert text.startswith("Too many requests:") and "nothing was changed" in text
