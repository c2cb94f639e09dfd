"""The forwarding-code generator fed from the seeded carrier_forwarding_rules table (what production reads), over
a table of carriers, types, timers, international-format carriers and refused combinations."""

from __future__ import annotations

import pytest

from voxanne_admin.errors import InvalidInput
from voxanne_admin.telephony import rules as fwd_rules
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.forwarding import ForwardingRefused, default_rules, generate


def _rule(session, country, carrier):
    return tel.rule_from_row(tel.get_rule(session, country=country, carrier=carrier))


def test_seeded_table_holds_exactly_the_contract_rules(session):
    rows = {(r.country, r.carrier): tel.rule_from_row(tel.get_rule(session, country=r.country, carrier=r.carrier))
            for r in default_rules()}
    assert len(fwd_rules.list_rules(session)) == len(default_rules()) == 17
    for expected in default_rules():
        assert rows[(expected.country, expected.carrier)] == expected


@pytest.mark.parametrize(
    "country, carrier, kind, target, timer, activate, check, cancel",
    [
        # US: Verizon's own codes (10 digits, no #), GSM carriers, landline star codes
        ("US", "Verizon", "unconditional", "+12015550143", None, "*722015550143", None, "*73"),
        ("US", "Verizon", "busy", "+12015550143", None, "*712015550143", None, "*73"),
        ("US", "AT&T", "unconditional", "+12015550143", None, "**21*2015550143#", "*#21#", "##21#"),
        ("US", "AT&T", "no_answer", "+12015550143", 5, "**61*2015550143**5#", "*#61#", "##61#"),
        ("US", "T-Mobile", "unreachable", "+12015550143", None, "**62*2015550143#", "*#62#", "##62#"),
        ("US", "T-Mobile", "no_answer", "+12015550143", 30, "**61*2015550143**30#", "*#61#", "##61#"),
        ("US", "US landline", "unconditional", "+12015550143", None, "*722015550143", None, "*73"),
        ("US", "US landline", "busy", "+12015550143", None, "*902015550143", None, "*91"),
        # GB: international-format GSM carriers (abroad allowed), BT national format
        ("GB", "Vodafone UK", "unconditional", "+12015550143", None, "**21*+12015550143#", "*#21#", "##21#"),
        ("GB", "O2", "no_answer", "+447400123456", 25, "**61*+447400123456**25#", "*#61#", "##61#"),
        ("GB", "Three", "busy", "+447400123456", None, "**67*+447400123456#", "*#67#", "##67#"),
        ("GB", "BT", "no_answer", "+442079460958", None, "*61*02079460958#", "*#61#", "#61#"),
        ("GB", "Virgin Media", "unconditional", "+442079460958", None, "*21*02079460958#", None, "#21#"),
        # NG: GSM, international format, forwarding to a US number
        ("NG", "9mobile", "unconditional", "+12015550143", None, "**21*+12015550143#", "*#21#", "##21#"),
        ("NG", "Airtel", "no_answer", "+12015550143", 10, "**61*+12015550143**10#", "*#61#", "##61#"),
        ("NG", "Glo", "unreachable", "+447400123456", None, "**62*+447400123456#", "*#62#", "##62#"),
        # TR: Turkcell national 05xx format; others international
        ("TR", "Turkcell", "no_answer", "+905321234567", 20, "**61*05321234567**20#", "*#61#", "##61#"),
        ("TR", "Vodafone TR", "unconditional", "+12015550143", None, "**21*+12015550143#", "*#21#", "##21#"),
        ("TR", "Türk Telekom", "busy", "+905321234567", None, "**67*+905321234567#", "*#67#", "##67#"),
    ],
)
def test_codes_from_the_table(session, country, carrier, kind, target, timer, activate, check, cancel):
    codes = generate(_rule(session, country, carrier), kind, target, timer)
    assert (codes.activate, codes.check, codes.cancel) == (activate, check, cancel)


@pytest.mark.parametrize(
    "country, carrier, kind, target, reason",
    [
        ("US", "T-Mobile", "unconditional", "+447400123456", "cannot forward to a number in GB"),
        ("US", "AT&T", "busy", "+2348031234567", "cannot forward to a number in NG"),
        ("US", "Verizon", "unconditional", "+905321234567", "cannot forward to a number in TR"),
        ("US", "US landline", "unreachable", "+12015550143", "does not offer forwarding when the phone is off"),
        ("GB", "Virgin Media", "unconditional", "+12015550143", "cannot forward to a number in US"),
        ("GB", "Virgin Media", "busy", "+442079460958", "does not offer forwarding when the line is busy"),
        ("GB", "BT", "unconditional", "+12015550143", "national format"),
        ("TR", "Turkcell", "unconditional", "+12015550143", "cannot forward to a number in US"),
    ],
)
def test_refused_combinations_say_why_and_what_instead(session, country, carrier, kind, target, reason):
    with pytest.raises(ForwardingRefused) as refused:
        generate(_rule(session, country, carrier), kind, target)
    assert reason in str(refused.value) and refused.value.alternative


@pytest.mark.parametrize("timer", [1, 7, 31, 60])
def test_table_rule_timer_bounds(session, timer):
    with pytest.raises(InvalidInput, match="5 to 30 seconds"):
        generate(_rule(session, "NG", "MTN"), "no_answer", "+12015550143", timer)
