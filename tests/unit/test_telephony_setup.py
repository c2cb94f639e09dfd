"""Telephony setup (read/config side): countries, the clinic-line traps, codes from the seeded rules table,
rule edits with validation and audited diffs, and the step/status the page shows."""

from __future__ import annotations

import pytest

from tests.unit.factories import actor_of, audit_events, make_staff
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.errors import InvalidInput, PermissionDenied
from voxanne_admin.orgs import service as org_service
from voxanne_admin.telephony import ratelimit
from voxanne_admin.telephony import rules as fwd_rules
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.forwarding import ForwardingRefused


@pytest.fixture(autouse=True)
def _fresh_limits():
    ratelimit.reset()
    yield
    ratelimit.reset()


@pytest.fixture
def operator(session):
    return make_staff(session, role="operator")


def _org(session, operator, country="US", slug="harbor"):
    return org_service.create(session, name=f"Clinic {slug}", slug=slug, country=country,
                              timezone="UTC", actor=actor_of(operator), actor_role="founder")


def _number(session, org, e164="+12015550123", country="US"):
    number = PhoneNumber(org_id=org.id, e164=e164, country=country, twilio_sid="PN" + "1" * 32,
                         vapi_phone_number_id="4f1c8a52-9f39-4c55-9d42-3f8f1d2c0a11")
    session.add(number)
    session.flush()
    return number


def _ready(session, operator, country="US", number=("+12015550123", "US"), slug="harbor"):
    org = _org(session, operator, country=country, slug=slug)
    tel.set_country(session, org_id=org.id, country=country, actor=actor_of(operator), actor_role="operator")
    phone = _number(session, org, *number)
    setup = tel._setup_for_update(session, org.id)
    setup.number_id = phone.id
    session.add(setup)
    session.flush()
    return org


def test_countries_are_the_allow_list_and_ng_tr_get_suggestions_with_caveats():
    by_iso = {c.iso: c for c in tel.list_countries()}
    assert set(by_iso) == {"US", "GB", "NG", "TR"}
    assert by_iso["US"].suggested_number_countries == []
    assert by_iso["NG"].suggested_number_countries == ["US", "GB"]
    assert by_iso["TR"].suggested_number_countries == ["US", "GB"]
    assert "international rates" in by_iso["NG"].guidance and "refuse to forward" in by_iso["TR"].guidance
    assert by_iso["GB"].needs_bundle and by_iso["GB"].needs_address


def test_set_country_refuses_unsupported_and_audits(session, operator):
    org = _org(session, operator)
    with pytest.raises(InvalidInput, match="FR is not supported yet. Supported: United States"):
        tel.set_country(session, org_id=org.id, country="FR", actor=actor_of(operator), actor_role="operator")
    setup = tel.set_country(session, org_id=org.id, country="ng", actor=actor_of(operator), actor_role="operator")
    assert (setup.country, setup.step, setup.status) == ("NG", 2, "not_started")
    assert setup.suggested_number_countries == ["US", "GB"]
    (event,) = audit_events(session, "telephony_country_set")
    assert event.diff["country"] == {"before": "", "after": "NG"} and event.org_id == org.id


def test_viewer_cannot_change_the_setup(session, operator):
    org = _org(session, operator)
    with pytest.raises(PermissionDenied):
        tel.set_country(session, org_id=org.id, country="US", actor=actor_of(operator), actor_role="viewer")


def test_get_setup_of_an_untouched_org_is_not_started_at_step_one(session, operator):
    org = _org(session, operator, country="TR", slug="moda")
    setup = tel.get_setup(session, org_id=org.id)
    assert (setup.status, setup.step, setup.country, setup.org_country) == ("not_started", 1, "", "TR")
    assert setup.status_label == "Not started"
    rows = {r.org_id: r for r in tel.list_overview(session)}
    assert rows[org.id].status == "not_started" and rows[org.id].country == "TR"


@pytest.mark.parametrize("raw, country, message", [
    ("+447700900123", "GB", "Ofcom reserves for TV and film"),
    ("+447911123456", "GB", r"Guernsey \(GG\) number, not a United Kingdom one"),
    ("07911 123456", "GB", r"Guernsey \(GG\) number"),
    ("+23412345678", "NG", "old landline form"),
    ("not a number", "US", "is not a phone number"),
    ("+12015550143", "GB", "is a United States number, but this setup is for United Kingdom"),
    ("+18005550199", "US", "toll-free number"),
])
def test_clinic_number_traps_are_refused_with_the_reason(raw, country, message):
    with pytest.raises(InvalidInput, match=message):
        tel.inspect_clinic_number(raw=raw, country=country)


def test_clinic_number_national_input_is_read_and_carrier_suggested():
    line = tel.inspect_clinic_number(raw="07400 123456", country="GB")
    assert (line.e164, line.display, line.line_type, line.carrier_hint) == (
        "+447400123456", "+44 7400 123456", "mobile", "Three")
    assert "read as +44 7400 123456" in line.warning
    assert "Vodafone UK" in line.carrier_choices
    assert tel.inspect_clinic_number(raw="+905321234567", country="TR").carrier_hint == "Turkcell"
    assert tel.inspect_clinic_number(raw="+2348031234567", country="NG").carrier_hint == "MTN"


def test_turkish_0850_is_voip_and_warned():
    line = tel.inspect_clinic_number(raw="+908501234567", country="TR")
    assert line.line_type == "VoIP" and "VoIP" in line.warning and line.carrier_hint == ""


def test_configure_forwarding_issues_codes_from_the_rules_table_and_audits(session, operator):
    org = _ready(session, operator)
    setup = tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="T-Mobile",
                                     forwarding_type="no_answer", ring_timer=15, actor=actor_of(operator),
                                     actor_role="operator")
    assert (setup.activate_code, setup.check_code, setup.cancel_code) == ("**61*2015550123**15#", "*#61#", "##61#")
    assert (setup.status, setup.step, setup.ring_timer, setup.clinic_display) == (
        "codes_issued", 4, 15, "+1 201-555-0143")
    assert setup.number_display == "+1 201-555-0123"
    (event,) = audit_events(session, "telephony_codes_issued")
    assert event.diff["activate"]["after"] == "**61*2015550123**15#"


def test_configure_forwarding_refuses_with_alternative_for_tr_clinic_on_domestic_only_rule(session, operator):
    org = _ready(session, operator, country="TR", number=("+12015550123", "US"), slug="moda")
    with pytest.raises(ForwardingRefused) as refused:
        tel.configure_forwarding(session, org_id=org.id, clinic_number="+905321234567", carrier="Turkcell",
                                 forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                                 actor_role="operator")
    assert "take the national 05xxxxxxxxx format. Ask the clinic" in str(refused.value)
    assert refused.value.alternative == ("Ask the clinic whether another of its lines can forward abroad, or use a "
                                         "carrier that does (Türk Telekom, Vodafone TR).")


def test_configure_forwarding_abroad_warns_about_international_billing(session, operator):
    org = _ready(session, operator, country="NG", number=("+12015550123", "US"), slug="lekki")
    setup = tel.configure_forwarding(session, org_id=org.id, clinic_number="08031234567", carrier="MTN",
                                     forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                                     actor_role="operator")
    assert setup.activate_code == "**21*+12015550123#"
    assert any("international rates" in w for w in setup.warnings)


def test_configure_forwarding_needs_a_number_first(session, operator):
    org = _org(session, operator)
    tel.set_country(session, org_id=org.id, country="US", actor=actor_of(operator), actor_role="operator")
    with pytest.raises(InvalidInput, match="Provision a number first"):
        tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="Verizon",
                                 forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                                 actor_role="operator")


def test_codes_follow_an_edited_rule_and_the_edit_is_audited_with_a_diff(session, operator):
    admin = make_staff(session, role="admin")
    rule = next(r for r in fwd_rules.list_rules(session, country="US") if r.carrier == "Verizon")
    assert rule.unconditional == "*72{N}" and rule.cancel_codes.startswith("unconditional=*73")
    with pytest.raises(PermissionDenied):
        fwd_rules.update_rule(session, rule_id=rule.id, changes={"unconditional": "*72{N}#"}, actor=actor_of(operator),
                        actor_role="operator")
    with pytest.raises(InvalidInput, match="needs \\{N\\}"):
        fwd_rules.update_rule(session, rule_id=rule.id, changes={"unconditional": "*72"}, actor=actor_of(admin),
                        actor_role="admin")
    with pytest.raises(InvalidInput, match="keypad"):
        fwd_rules.update_rule(session, rule_id=rule.id, changes={"busy": "*71{N}x"}, actor=actor_of(admin),
                        actor_role="admin")
    with pytest.raises(InvalidInput, match="only no-answer"):
        fwd_rules.update_rule(session, rule_id=rule.id, changes={"busy": "*71{N}*{T}"}, actor=actor_of(admin),
                        actor_role="admin")
    updated = fwd_rules.update_rule(session, rule_id=rule.id,
                                    changes={"unconditional": "*72{N}#", "confidence": "confirmed",
                                             "check_codes": "unconditional=*#72#"},
                                    actor=actor_of(admin), actor_role="admin")
    assert updated.unconditional == "*72{N}#" and updated.unconditional_check == "*#72#"
    (event,) = audit_events(session, "forwarding_rule_updated")
    assert event.diff["unconditional"] == {"before": "*72{N}", "after": "*72{N}#"}
    assert event.diff["unconditional_check"] == {"before": "", "after": "*#72#"}
    assert "confidence" not in event.diff
    org = _ready(session, operator)
    setup = tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="Verizon",
                                     forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                                     actor_role="operator")
    assert (setup.activate_code, setup.check_code) == ("*722015550123#", "*#72#")


def test_changing_country_clears_the_clinic_line_and_codes(session, operator):
    org = _ready(session, operator)
    tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="AT&T",
                             forwarding_type="busy", ring_timer=0, actor=actor_of(operator), actor_role="operator")
    setup = tel.set_country(session, org_id=org.id, country="GB", actor=actor_of(operator), actor_role="operator")
    assert (setup.clinic_number, setup.activate_code, setup.status) == ("", "", "not_started")
    assert setup.number_e164 == "+12015550123"  # the bought number stays the org's


def test_verification_past_the_timeout_fails_when_polled(session, operator):
    from datetime import timedelta

    from voxanne_admin.timeutil import utcnow

    org = _ready(session, operator)
    tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="Verizon",
                             forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                             actor_role="operator")
    row = tel._setup_for_update(session, org.id)
    row.verification_started_at = utcnow() - timedelta(seconds=5)
    session.add(row)
    assert tel.verification_status(session, org_id=org.id).verifying
    row.verification_started_at = utcnow() - timedelta(seconds=31)
    session.add(row)
    setup = tel.verification_status(session, org_id=org.id)
    assert setup.status == "failed" and setup.status_reason.startswith("no forwarded call arrived")
    assert audit_events(session, "telephony_verification_failed")


def test_country_selection_is_rate_limited_per_ip_and_per_org(session, operator):
    org = _org(session, operator)
    for _ in range(100):
        tel.set_country(session, org_id=org.id, country="US", actor=actor_of(operator), actor_role="operator",
                        ip="192.0.2.1")
    with pytest.raises(ratelimit.RateLimited, match=r"from this address.*\(HTTP 429\)$"):
        tel.set_country(session, org_id=org.id, country="US", actor=actor_of(operator), actor_role="operator",
                        ip="192.0.2.1")
    other = _org(session, operator, slug="other")
    for i in range(1000 - 100):
        ratelimit.check_rate(action="country", ip="", org_id=other.id)
    for i in range(100):
        tel.set_country(session, org_id=other.id, country="US", actor=actor_of(operator), actor_role="operator",
                        ip=f"198.51.100.{i % 50}")
    with pytest.raises(ratelimit.RateLimited, match=r"for this organization.*\(HTTP 429\)$"):
        tel.set_country(session, org_id=other.id, country="US", actor=actor_of(operator), actor_role="operator",
                        ip="203.0.113.99")


def test_a_clinic_line_already_used_by_another_org_is_refused(session, operator):
    from voxanne_admin.errors import Conflict

    first = _ready(session, operator, slug="first")
    tel.configure_forwarding(session, org_id=first.id, clinic_number="+12015550143", carrier="Verizon",
                             forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                             actor_role="operator")
    second = _ready(session, operator, number=("+12015550124", "US"), slug="second")
    with pytest.raises(Conflict, match="already the clinic line of Clinic first"):
        tel.configure_forwarding(session, org_id=second.id, clinic_number="201-555-0143", carrier="Verizon",
                                 forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                                 actor_role="operator")


def test_unwatched_verifications_past_the_timeout_are_expired_by_the_job_step(session, operator):
    from datetime import timedelta

    from voxanne_admin.timeutil import utcnow

    org = _ready(session, operator)
    tel.configure_forwarding(session, org_id=org.id, clinic_number="+12015550143", carrier="Verizon",
                             forwarding_type="unconditional", ring_timer=0, actor=actor_of(operator),
                             actor_role="operator")
    row = tel._setup_for_update(session, org.id)
    row.verification_started_at = utcnow() - timedelta(minutes=5)
    session.add(row)
    session.flush()
    assert tel.expire_verifications(session) == 1
    assert tel.get_setup(session, org_id=org.id).status == "failed"
