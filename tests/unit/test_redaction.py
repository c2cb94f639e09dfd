"""PHI redaction: corpus thresholds (the issue's targets) and focused behaviours."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from voxanne_admin.privacy.redaction import find, redact, redact_value
from voxanne_admin.privacy.spans import KINDS, Span

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("redaction_bench", ROOT / "benchmarks" / "redaction.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus():
    return _bench().load()


@pytest.fixture(scope="module")
def scores(corpus):
    return _bench().score(corpus)


def test_corpus_is_large_labelled_and_covers_every_kind_and_region(corpus):
    assert len(corpus) >= 200
    assert {item["region"] for item in corpus} == {"US", "GB", "NG", "TR"}
    kinds = {kind for item in corpus for kind, _, _ in item["labels"]}
    assert kinds == set(KINDS)
    assert sum(1 for item in corpus if not item["labels"]) >= 50  # hard negatives


@pytest.mark.parametrize("kind", ["SSN", "CARD", "PHONE", "EMAIL"])
def test_recall_of_identifiers_is_at_least_98_percent(scores, kind):
    row = scores["kinds"][kind]
    assert row["recall"] >= 0.98, scores["errors"]


def test_overall_recall_and_precision_meet_targets(scores):
    assert scores["total"]["recall"] >= 0.9, scores["errors"]
    assert scores["total"]["precision"] >= 0.9, scores["errors"]


def test_redaction_is_idempotent_over_the_corpus(corpus):
    for item in corpus:
        once = redact(item["text"], region=item["region"])
        assert redact(once, region=item["region"]) == once
        assert find(once, region=item["region"]) == []


def test_card_numbers_are_luhn_checked():
    assert redact("Pay with 4111 1111 1111 1111 please.") == "Pay with [CARD] please."
    order = "Your order number is 4111 1111 1111 1112."
    assert redact(order) == order
    assert redact("Reference 3307924402685995 for your records.") == "Reference 3307924402685995 for your records."


def test_placeholders_are_typed():
    text = ("SSN 512-44-9081, card 5105 1051 0510 5100, call (415) 555-2671, mail dana@example.com, "
            "date of birth 04/12/1979, MRN 00482913, member ID W271849306, at 1427 Maple Avenue, "
            "I have asthma and take albuterol.")
    assert redact(text) == ("SSN [SSN], card [CARD], call [PHONE], mail [EMAIL], date of birth [DOB], MRN [MRN], "
                            "member ID [INSURANCE_ID], at [ADDRESS], I have [DIAGNOSIS] and take [MEDICATION].")


@pytest.mark.parametrize(("region", "text", "number"), [
    ("US", "Call me at 617-482-3391 tonight.", "617-482-3391"),
    ("GB", "My mobile is 07911 123456.", "07911 123456"),
    ("NG", "It's 0803 123 4567, MTN.", "0803 123 4567"),
    ("TR", "Numaram 0532 123 45 67.", "0532 123 45 67"),
])
def test_phone_numbers_are_found_for_the_organizations_region(region, text, number):
    spans = find(text, region=region)
    assert [(s.kind, text[s.start:s.end]) for s in spans] == [("PHONE", number)]


def test_a_national_number_of_another_supported_region_is_a_phone():
    # callers give numbers from home: a Turkish mobile heard by a US clinic, a UK mobile by a Nigerian one
    assert [s.kind for s in find("Numaram 0532 123 45 67.", region="US")] == ["PHONE"]
    assert [s.kind for s in find("My UK mobile is 07619 391312.", region="NG")] == ["PHONE"]
    # international format is found whatever the region
    assert [s.kind for s in find("Call +90 532 123 45 67.", region="US")] == ["PHONE"]


@pytest.mark.parametrize(("region", "text", "expected"), [
    ("GB", "Sure, it's 07619 391312.", "Sure, it's [PHONE]."),  # a possible (not yet valid) GB mobile, no phone word
    ("GB", "07700 900123", "[PHONE]"),
    ("NG", "Sure, it's 0803 123 4567.", "Sure, it's [PHONE]."),
    ("NG", "08031234567 is fine.", "[PHONE] is fine."),
    ("TR", "Tabii, (0532) 123 45 67.", "Tabii, [PHONE]."),
    ("US", "Sure, 415.555.2671.", "Sure, [PHONE]."),
    ("US", "Sure, it's 07619 391312.", "Sure, it's [PHONE]."),
])
def test_digit_groups_shaped_like_a_phone_number_need_no_phone_word(region, text, expected):
    assert redact(text, region=region) == expected


def test_digit_groups_named_as_codes_or_amounts_are_not_phones():
    for region, text in (("US", "Your confirmation number is 5512884122."),
                         ("US", "Ticket 4155552671 has been closed."),
                         ("NG", "My account is 0123456789, please refund 25000 naira."),
                         ("TR", "Fiyat 1.250.000 TL, fatura 12.500,00 TL."),
                         ("US", "Invoice 2026-1122-0042 is paid, lot 20261122, NPI 1234567893."),
                         ("GB", "Sort code 12-34-56, account 12345678."),
                         ("US", "Appointment 2026-12-01 10:30, room 12, 1200 dollars, years 1998 2001 2005."),
                         ("US", '"time": 1763820000, "secondsFromStart": 12.5'),
                         ("GB", "Account number 9749 4577 9677, for the refund."),
                         ("TR", "Please quote 2413837176 when you pay."),
                         ("US", "Your appointment ID is 5512884122.")):
        assert redact(text, region=region) == text


def test_appointment_dates_times_prices_and_dosages_are_kept():
    text = ("Your appointment is on 03/14/2027 at 3:30 pm in room 204; the copay is $35.00. "
            "Take 2 tablets every 6 hours, 500 mg. We're open 8 to 6.")
    assert redact(text) == text


def test_dates_of_birth_need_a_birth_context_or_an_old_year():
    assert redact("I was born on June 2nd, 2016.") == "I was born on [DOB]."
    assert redact("Can we do June 2nd, 2027 instead?") == "Can we do June 2nd, 2027 instead?"
    assert redact("Agent: Date of birth?\nUser: 11-08-1990.") == "Agent: Date of birth?\nUser: [DOB]."


def test_find_returns_spans_in_order():
    text = "Email jo@example.com or call 212-555-0147."
    spans = find(text)
    assert spans == sorted(spans, key=lambda s: s.start)
    assert [(s.kind, text[s.start:s.end]) for s in spans] == [("EMAIL", "jo@example.com"),
                                                              ("PHONE", "212-555-0147")]
    assert Span("EMAIL", 6, 20) == spans[0]


def test_redact_value_keeps_keys_structure_and_operational_values():
    value = {
        "summary": "Patient on metformin, call back 415-555-2671.",
        "structuredData": {"dateOfBirth": "1985-03-03", "memberId": "W271849306", "booked": True,
                           "callbackNumber": 4155552671},
        "messages": [{"role": "user", "message": "My SSN is 512-44-9081", "time": 1763820000123,
                      "secondsFromStart": 12.5}],
        "recordingUrl": "https://storage.example/rec/4155552671.wav",
        "phone_number": None,
    }
    out = redact_value(value)
    assert out.keys() == value.keys()
    assert out["summary"] == "Patient on [MEDICATION], call back [PHONE]."
    assert out["structuredData"] == {"dateOfBirth": "[DOB]", "memberId": "[INSURANCE_ID]", "booked": True,
                                     "callbackNumber": "[PHONE]"}
    assert out["messages"] == [{"role": "user", "message": "My SSN is [SSN]", "time": 1763820000123,
                                "secondsFromStart": 12.5}]
    assert out["recordingUrl"] == value["recordingUrl"]
    assert out["phone_number"] is None
    assert redact_value(out) == out


def test_empty_and_placeholder_only_text():
    assert redact("") == ""
    assert find("") == []
    assert redact("[SSN] [CARD] [PHONE] [DOB]") == "[SSN] [CARD] [PHONE] [DOB]"


@pytest.mark.parametrize(("region", "text", "expected"), [
    ("GB", "My NHS number is 943 476 5919.", "My NHS number is [MRN]."),
    ("GB", "Ring me on oh seven nine one one, one two three, four five six.", "Ring me on [PHONE]."),
    ("GB", "I'm at flat 2, 19 Victoria Road, Glasgow G42 7AD.", "I'm at [ADDRESS]."),
    ("NG", "My HMO ID is HYG/22/118734.", "My HMO ID is [INSURANCE_ID]."),
    ("NG", "My NIN is 44819203374.", "My NIN is [SSN]."),
    ("TR", "Adresim Bağdat Caddesi No: 210 Daire 5, Kadıköy.", "Adresim [ADDRESS], Kadıköy."),
    ("TR", "TC kimlik numaram 10345678970.", "TC kimlik numaram [SSN]."),
    ("US", "it's jenny underscore lee at icloud dot com", "it's [EMAIL]"),
    ("US", "the member number is u h c 9 9 2 0 3 1 4 7", "the member number is [INSURANCE_ID]"),
    ("US", "Agent: Date of birth?\nUser: one twelve seventy nine", "Agent: Date of birth?\nUser: [DOB]"),
])
def test_region_and_spoken_forms(region, text, expected):
    assert redact(text, region=region) == expected


def test_ids_and_numbers_that_are_not_phi_are_kept():
    for text in ("Your prior authorization reference is PA-2026-118274.",
                 "My account number is 0123456789, Access Bank, for the refund.",
                 "Confirmation code 5513 1373 5379 9075, please keep it.",
                 "Room 312 is on the third floor; the MR costs 3,200 TL."):
        assert redact(text, region="NG" if "Access" in text else "US") == text


def test_logged_tracebacks_carry_no_phi():
    import io
    import logging

    from voxanne_admin import logging as vx_logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    vx_logging.configure("INFO")
    handler = next(h for h in root.handlers if getattr(h, "_voxanne", False))
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        try:
            raise ValueError('Failing row contains (7, "User: my SSN is 512-44-9081, I take metformin")')
        except ValueError:
            logging.getLogger("voxanne_admin.tests").exception("apply failed")
    finally:
        root.removeHandler(handler)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
    text = buffer.getvalue()
    assert "ValueError" in text and "[SSN]" in text and "[MEDICATION]" in text
    assert "512-44-9081" not in text and "metformin" not in text


@pytest.mark.parametrize(("text", "expected"), [
    ("Insurance check (AE247586067); caller volunteered an SSN, advised not to share it.",
     "Insurance check ([INSURANCE_ID]); caller volunteered an SSN, advised not to share it."),
    ("My insurance is Aetna, ID: XJH-448-123-991.", "My insurance is Aetna, ID: [INSURANCE_ID]."),
    ("Can you check my coverage? It's ab7731904.", "Can you check my coverage? It's [INSURANCE_ID]."),
    ('{"insurance": "Cigna", "id": "ZQ55102938"}', '{"insurance": "Cigna", "id": "[INSURANCE_ID]"}'),
    ("Policy number: pol-88123-44a", "Policy number: [INSURANCE_ID]"),
    ("My policy is POL/2026/44812.", "My policy is [INSURANCE_ID]."),
    ('{"memberId": "xq4481029"}', '{"memberId": "[INSURANCE_ID]"}'),
])
def test_id_shaped_codes_near_insurance_words_are_member_ids(text, expected):
    assert redact(text) == expected


def test_codes_named_as_orders_references_or_claims_are_kept_near_insurance_words():
    for text in ("Insurance verified; your order number is AE247586067.",
                 "The prior authorization reference for your insurance is PA-2026-118274.",
                 "Your insurance claim reference is CLM-2026-44812.",
                 "Insurance approved it, confirmation code ZX81-44219.",
                 "Your insurance copay is $35.00, visit on 12/03/2026 at 10:30 in room 204.",
                 "Does my insurance cover D1110 and the CPT 99213 visit?"):
        assert redact(text) == text
    # an SSN said near the word insurance stays an SSN
    assert redact("His SSN is 401227719, he's the primary on the insurance.") == \
        "His SSN is [SSN], he's the primary on the insurance."


@pytest.mark.parametrize(("text", "expected"), [
    ("I take it for gingivitis.", "I take it for [DIAGNOSIS]."),
    ("It's periodontitis and a tooth abscess.", "It's [DIAGNOSIS] and a [DIAGNOSIS]."),
    ("I've got TMJ disorder and bruxism.", "I've got [DIAGNOSIS] and [DIAGNOSIS]."),
    ("My son has croup and glue ear.", "My son has [DIAGNOSIS] and [DIAGNOSIS]."),
    ("The physio said tennis elbow.", "The physio said [DIAGNOSIS]."),
    ("Seborrheic dermatitis, so ketoconazole shampoo.", "[DIAGNOSIS], so [MEDICATION] shampoo."),
    ("An ovarian cyst; they gave me tranexamic acid.", "An [DIAGNOSIS]; they gave me [MEDICATION]."),
])
def test_dental_physio_skin_children_and_womens_health_terms(text, expected):
    assert redact(text) == expected


def test_ambiguous_everyday_words_are_not_diagnoses():
    for text in ("She has a cavity in her back tooth, can we book a filling?",
                 "There's a crack in the wall cavity; the fracture clinic is next door.",
                 "My phone is broken, and how much is a deep clean?"):
        assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("I live on Church Road.", "I live on [ADDRESS]."),
    ("Directions from Cedar Lane.", "Directions from [ADDRESS]."),
    ("my address is maple street", "my address is [ADDRESS]"),
    ("How do I get to you from 2366 Park Avenue?", "How do I get to you from [ADDRESS]?"),
    ("I live at 15 Elm Crescent.", "I live at [ADDRESS]."),
    ("I live at 221 Cedar Drive.", "I live at [ADDRESS]."),
    ("I live at 5 Cedar Dr. Smith is my landlord.", "I live at [ADDRESS] Smith is my landlord."),
    ("How do I get to you from 970 Kingsway?", "How do I get to you from [ADDRESS]?"),
    ("I live on Broadway.", "I live on [ADDRESS]."),
])
def test_streets_with_or_without_a_house_number_where_the_caller_lives(text, expected):
    assert redact(text) == expected


def test_the_clinics_own_street_and_everyday_phrases_are_kept():
    for text in ("The clinic is on Main Street, park on Church Road behind the building.",
                 "I'm coming from work on 5th Avenue.",
                 "I'm on my way, I'm on hold with the pharmacy.",
                 "Coming from Dr Patel's office, I'm at St Mary's now."):
        assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("DOB 3/4/85", "DOB [DOB]"),
    ("born on the 4th of March 1985", "born on [DOB]"),
    ("date of birth: 1985-03-04", "date of birth: [DOB]"),
    ("date of birth 1985/03/04", "date of birth [DOB]"),
    ("My DOB is 04-Mar-1985.", "My DOB is [DOB]."),
    ("I was born 4 March 85.", "I was born [DOB]."),
    ("DOB 19850304", "DOB [DOB]"),
])
def test_dates_of_birth_in_many_formats(text, expected):
    assert redact(text) == expected


def test_dates_that_are_not_birth_dates_are_kept():
    for text in ("Your appointment is on the 4th of March at 10.", "The invoice from March 4, 2025 is paid.",
                 "He was born in 1985.", "Sort code 12-34-56."):
        assert redact(text) == text


def test_a_parent_key_naming_phi_is_context_for_its_children():
    value = {"insurance": {"payer": "Cigna", "id": "AE247586067", "copay": 35},
             "patient": {"id": "PT-44812", "visits": 3},
             "call": {"id": "c8e1f7a2-44b1-4c1e-9a55-1f4d3e2b7a10", "cost": 0.1234}}
    assert redact_value(value) == {"insurance": {"payer": "Cigna", "id": "[INSURANCE_ID]", "copay": 35},
                                   "patient": {"id": "[MRN]", "visits": 3},
                                   "call": value["call"]}


def test_an_id_answering_the_previous_lines_insurance_question_is_a_member_id():
    assert redact("AI: What's the member ID on your card?\nUser: AE247586067.") == \
        "AI: What's the member ID on your card?\nUser: [INSURANCE_ID]."
    kept = "AI: Is your insurance still Aetna?\nUser: Yes. Order AB4417220 came today."
    assert redact(kept) == kept
