"""The forwarding-code generator against a table of carriers, types, timers and refusals."""

from __future__ import annotations

import pytest

from voxanne_admin.errors import InvalidInput
from voxanne_admin.telephony import countries
from voxanne_admin.telephony.forwarding import ForwardingRefused, default_rules, generate

RULES = {(r.country, r.carrier): r for r in default_rules()}


@pytest.mark.parametrize(
    "country, carrier, kind, target, timer, activate, check, cancel",
    [
        ("US", "Verizon", "unconditional", "+12015550143", None, "*722015550143", None, "*73"),
        ("US", "T-Mobile", "busy", "+12015550143", None, "**67*2015550143#", "*#67#", "##67#"),
        ("US", "T-Mobile", "no_answer", "+12015550143", 15, "**61*2015550143**15#", "*#61#", "##61#"),
        ("US", "US landline", "no_answer", "+12015550143", None, "*922015550143", None, "*93"),
        ("GB", "Vodafone UK", "unconditional", "+447400123456", None, "**21*+447400123456#", "*#21#", "##21#"),
        ("GB", "EE", "unreachable", "+12015550143", None, "**62*+12015550143#", "*#62#", "##62#"),
        ("GB", "EE", "no_answer", "+447400123456", None, "**61*+447400123456**20#", "*#61#", "##61#"),
        ("GB", "BT", "busy", "+442079460958", None, "*67*02079460958#", "*#67#", "#67#"),
        ("NG", "MTN", "no_answer", "+12015550143", 30, "**61*+12015550143**30#", "*#61#", "##61#"),
        ("TR", "Turkcell", "unconditional", "+905321234567", None, "**21*05321234567#", "*#21#", "##21#"),
    ],
)
def test_codes_per_carrier_and_type(country, carrier, kind, target, timer, activate, check, cancel):
    codes = generate(RULES[(country, carrier)], kind, target, timer)
    assert (codes.activate, codes.check, codes.cancel) == (activate, check, cancel)


def test_t_mobile_refuses_international_target_with_alternative():
    with pytest.raises(ForwardingRefused) as refused:
        generate(RULES[("US", "T-Mobile")], "unconditional", "+447400123456")
    assert "cannot forward to a number in GB" in refused.value.reason
    assert "Provision a US number" in refused.value.alternative


def test_national_format_carrier_cannot_take_a_foreign_number():
    with pytest.raises(ForwardingRefused, match="cannot forward"):
        generate(RULES[("TR", "Turkcell")], "busy", "+12015550143")
    with pytest.raises(ForwardingRefused, match="national format"):
        generate(RULES[("GB", "BT")], "unconditional", "+12015550143")


def test_unsupported_forwarding_type_names_the_offered_ones():
    with pytest.raises(ForwardingRefused) as refused:
        generate(RULES[("GB", "BT")], "unreachable", "+442079460958")
    assert "does not offer forwarding when the phone is off" in str(refused.value)
    assert "all calls" in refused.value.alternative


@pytest.mark.parametrize("timer", [0, 4, 12, 35])
def test_ring_timer_must_be_5_to_30_in_steps_of_5(timer):
    with pytest.raises(InvalidInput, match="5 to 30 seconds"):
        generate(RULES[("GB", "EE")], "no_answer", "+447400123456", timer)


def test_international_forwarding_warns_about_billing_and_confidence():
    codes = generate(RULES[("NG", "MTN")], "unconditional", "+12015550143")
    assert any("international rates" in w for w in codes.warnings)
    assert any("unconfirmed" in w for w in codes.warnings)


@pytest.mark.parametrize("target", ["+447700900123", "not a number", "+23412345678"])
def test_invalid_targets_refused(target):
    with pytest.raises(InvalidInput):
        generate(RULES[("GB", "EE")], "unconditional", target)


def test_countries_allow_list():
    assert set(countries.COUNTRIES) == {"US", "GB", "NG", "TR"}
    assert countries.get("gb").needs_bundle and not countries.get("NG").self_serve
    assert "mobile" not in countries.get("US").number_types
    with pytest.raises(InvalidInput, match="FR is not supported yet"):
        countries.get("FR")
    # Every carrier a country lists has forwarding rules.
    for country in countries.COUNTRIES.values():
        for carrier in country.carriers:
            assert (country.iso, carrier) in RULES, (country.iso, carrier)


def test_ring_timer_is_kept_only_when_the_code_carries_it():
    with_timer = generate(RULES[("US", "T-Mobile")], "no_answer", "+12015550143", 15)
    assert with_timer.ring_timer == 15 and not any("ring-time" in w for w in with_timer.warnings)
    without = generate(RULES[("US", "US landline")], "no_answer", "+12015550143", 15)
    assert without.activate == "*922015550143" and without.ring_timer == 0
    assert any("no ring-time setting" in w for w in without.warnings)
