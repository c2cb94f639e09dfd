"""PHI/PII redaction for call transcripts, summaries, messages and webhook payloads.

Every span found is replaced by a typed placeholder (`[SSN]`, `[CARD]`, `[PHONE]`, `[EMAIL]`, `[DOB]`, `[MRN]`,
`[INSURANCE_ID]`, `[ADDRESS]`, `[DIAGNOSIS]`, `[MEDICATION]`). Redaction is idempotent: placeholders contain
nothing any detector matches, so redacting redacted text changes nothing.

Where a maintained library does the job better than a pattern, it is used:
  * phone numbers: `phonenumbers`' PhoneNumberMatcher for the organization's region (valid numbers only, so
    prices, times and order numbers are not taken for phone numbers);
  * payment cards: `stdnum.luhn` (order and confirmation numbers fail the Luhn check and are kept);
  * national numbers: `stdnum.us.ssn` (unformatted SSNs), `stdnum.gb.nhs` (NHS numbers, mod 11),
    `stdnum.tr.tckimlik` (Turkish identity numbers, used as patient ids in Turkish clinics).
Everything else is context-driven: a date is a date of birth only near "born", "date of birth", "DOB" ... (or
when it is a full date too old to be an appointment), an id is a medical record or insurance member id only
after the words that introduce one. Diagnoses and medications come from the term list in `phi_terms.py`.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from stdnum import luhn
from stdnum.gb import nhs
from stdnum.tr import tckimlik
from stdnum.us import ssn as us_ssn

from voxanne_admin.calls.phi_terms import DIAGNOSES, MEDICATIONS

KINDS = ("SSN", "CARD", "PHONE", "EMAIL", "DOB", "MRN", "INSURANCE_ID", "ADDRESS", "DIAGNOSIS", "MEDICATION")
# When two findings overlap, the earlier kind wins (an id introduced as a member id is not a phone number).
PRIORITY = {kind: rank for rank, kind in enumerate(
    ("EMAIL", "CARD", "INSURANCE_ID", "MRN", "SSN", "DOB", "PHONE", "ADDRESS", "MEDICATION", "DIAGNOSIS"))}
OLDEST_APPOINTMENT_YEAR = 2013  # a full date before this year, with no other context, is a date of birth


@dataclass(frozen=True, order=True)
class Span:
    """One finding: `text[start:end]` is PHI of `kind` (one of KINDS)."""

    start: int
    end: int
    kind: str

    def __init__(self, kind: str, start: int, end: int) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


# ------------------------------------------------------------------ patterns

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# "jane dot doe at gmail dot com": the way callers say an address.
_SPOKEN_EMAIL = re.compile(
    r"(?i)\b[a-z0-9][a-z0-9._-]*(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+)*"
    r"\s+(?:at|@)\s+[a-z0-9-]+(?:\s+dot\s+[a-z]{2,10})+\b")

_SSN_FORMATTED = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:social(?:\s+security)?|ssn|s\.s\.n\.?|security\s+number)\b")
_LAST_FOUR_SSN = re.compile(
    r"(?i)\blast\s+(?:four|4)(?:\s+digits)?\s+of\s+(?:my|your|his|her|the|their)?\s*"
    r"(?:social(?:\s+security)?(?:\s+number)?|ssn)\b[^\d\n]{0,20}?(\d{4})\b")
_NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
_NATIONAL_ID_CONTEXT = re.compile(
    r"(?i)\b(?:nin|national\s+identi(?:ty|fication)\s+number|national\s+id|bvn|kimlik|tc\s+(?:no|number)|"
    r"t\.c\.|identity\s+number)\b")
_DIGITS_RUN = re.compile(r"(?<![\w])\d(?:[ -]?\d){8,18}(?![\w])")
_CARD_CANDIDATE = re.compile(r"(?<![\w.])\d{2,6}(?:[ -]\d{1,6}){1,5}(?![\w])|(?<![\w.])\d{13,19}(?![\w])")

# Ids introduced by the words that name them. The id itself: chunks holding a digit, joined by single
# spaces, dashes or slashes; an upper-case letter prefix (XEH 4481...) may stand apart.
_ID = (r"(?<![\w'’+])((?:[A-Z]{1,4}[ /-])?[A-Za-z]{0,4}\d[A-Za-z0-9]*"
       r"(?:(?:[ -]|/|\s-\s)[A-Za-z]{0,4}\d[A-Za-z0-9]*)*)")
_MRN_WORDS = (r"mrn|m\.r\.n\.?|m r n|medical\s+record(?:s)?(?:\s+(?:number|no\.?|#))?|record\s+number|"
              r"patient\s+(?:id|i\.d\.|number|no\.?|reference|ref)|chart\s+(?:number|no\.?|id)|"
              r"hospital\s+(?:card\s+)?(?:number|no\.?)|nhs\s+(?:number|no\.?)|folder\s+number|file\s+number|"
              r"case\s+number|unit\s+number|protokol\s+(?:no|numaras[ıi])|"
              r"dosya\s+(?:no|numaras[ıi])|hasta\s+(?:no|numaras[ıi])|protocol\s+number|registration\s+number")
_INSURANCE_WORDS = (r"member(?:ship)?\s+(?:id|i\.d\.|number|no\.?|#)|subscriber\s+(?:id|number|no\.?)|"
                    r"(?<!national )insurance(?:\s+(?!number\b)[a-z]+){0,3}?\s+(?:id|i\.d\.|number|no\.?|#)|"
                    r"policy\s+(?:number|no\.?|#|id)|"
                    r"group\s+(?:number|no\.?|#|id)|medicaid\s+(?:id|number|no\.?)|"
                    r"medicare\s+(?:id|number|no\.?|beneficiary\s+identifier)|mbi|"
                    r"nhis\s+(?:id|number|no\.?)|hmo\s+(?:id|number|no\.?)|enrol(?:l)?ee\s+(?:id|number|no\.?)|"
                    r"enrol(?:l)?ment\s+(?:id|number|no\.?)|plan\s+id|sgk\s+(?:no|number)|"
                    r"sigorta\s+(?:no|numaras[ıi])|beneficiary\s+(?:id|number)|bupa\s+(?:number|membership)|"
                    r"authori[sz]ation\s+(?:code|number)\s+for\s+(?:my|the)\s+insurance|"
                    # a payer's name followed by "ID" / "number": "the Cigna ID is ..."
                    r"(?:cigna|aetna|humana|anthem|kaiser|unitedhealthcare|united\s+healthcare|uhc|blue\s+cross|"
                    r"blue\s+shield|bcbs|tricare|oscar|molina|centene|ambetter|bupa|axa|vitality|aviva|allianz|"
                    r"hygeia|reliance|leadway|avon|nhia|acıbadem|anadolu\s+sigorta)"
                    r"(?:\s+(?:member|card|policy|insurance))?\s+(?:id|i\.d\.|number|no\.?|#)")
_FILLER = r"[^\d\n.?!]{0,28}?"
_MRN = re.compile(rf"(?i:\b(?:{_MRN_WORDS}))\b{_FILLER}{_ID}")
_INSURANCE = re.compile(rf"(?i:\b(?:{_INSURANCE_WORDS}))\b{_FILLER}{_ID}")
# Medicare Beneficiary Identifier (1EG4-TE5-MK73): distinctive enough to need no context.
_MBI_L = "AC-HJKMNP-RT-Y"
_MBI = re.compile(rf"\b[1-9][{_MBI_L}][{_MBI_L}0-9]\d-?[{_MBI_L}][{_MBI_L}0-9]\d-?[{_MBI_L}]{{2}}\d{{2}}\b")
# An id-shaped token (letters and at least five digits mixed, "AE247586067", "XJH-448-123-991", or a bare run of
# 8-15 digits) is an insurance member id when the words around it are about insurance ("Insurance check
# (AE247586067)", "Aetna, ID: ...", "my Cigna card says ..."), unless words naming another kind of code sit right
# before it ("order", "reference", "confirmation", "claim" ...).
_ID_SHAPED = re.compile(
    r"(?<![\w'’+$£€₦₺#/.:-])((?:[A-Za-z]{1,6}[-/]){0,3}(?:[A-Za-z]{1,6})?\d[A-Za-z0-9]*(?:[-/][A-Za-z0-9]+){0,4})(?![\w-]|[.:/]\w)")
# (a set of words, not one big alternation: this runs on every text with an id-shaped token, and a regex of 40
# alternatives scans ten times slower)
_INSURANCE_HINT_WORDS = frozenset((
    "insurance", "insurer", "insured", "coverage", "covered", "member", "members", "membership", "policy",
    "policies", "subscriber", "beneficiary", "enrollee", "enrolee", "payer", "medicaid", "medicare", "tricare",
    "hmo", "nhis", "nhia", "sgk", "sigorta", "sigortam", "cigna", "aetna", "humana", "anthem", "kaiser",
    "unitedhealthcare", "healthcare", "uhc", "bcbs", "oscar", "molina", "centene", "ambetter", "bupa", "axa",
    "vitality", "aviva", "allianz", "hygeia", "leadway", "acıbadem", "anadolu",
    # JSON keys as they come in structured data ("memberId", "policy_number", "insuranceId")
    "memberid", "membernumber", "policyid", "policynumber", "policyno", "groupid", "groupnumber",
    "insuranceid", "insurancenumber", "subscriberid", "subscribernumber", "payerid"))
_HINT_PHRASES = ("blue cross", "blue shield", "network")
_LOWER_WORD = re.compile(r"[a-zçğıöşü]+")


def _insurance_hint(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] has a word about insurance (a payer's name, coverage, policy, member ...)."""
    window = text[start:end].lower()
    return not _INSURANCE_HINT_WORDS.isdisjoint(_LOWER_WORD.findall(window)) \
        or any(phrase in window for phrase in _HINT_PHRASES)


_OTHER_CODE = re.compile(
    r"(?i)\b(?:order|reference|ref|confirmation|invoice|tracking|transaction|booking|receipt|claim|"
    r"authori[sz]ation|pre-?authori[sz]ation|prior\s+auth|ticket|case|account|acct|routing|serial|voucher|"
    r"coupon|promo|appointment|room|session|request|job|batch|lot|model|version)\b")
_INSURANCE_ID_WORD = re.compile(r"(?i)\b(?:member(?:ship)?|policy|subscriber|group|beneficiary|enrol(?:l)?ee)\b")
_PHONE_WORDS = re.compile(r"(?i)\b(?:phone|mobile|cell|landline|whatsapp|telephone|fax|numaram|tel)\b")
_UUID_LIKE = re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{12,}")


def _id_shaped(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    if letters:
        return digits >= 5 and letters <= 10 and not _UUID_LIKE.match(value)
    return value.isdigit() and 8 <= digits <= 15


def _contextual_insurance_ids(text: str, spans: list[Span], region: str) -> None:
    # cheap gates first (C-speed substring tests): most texts name no insurer at all
    low = text.lower()
    if not any(word in low for word in _INSURANCE_HINT_WORDS) and not any(p in low for p in _HINT_PHRASES):
        return
    candidates = [m for m in _ID_SHAPED.finditer(text) if _id_shaped(m.group(1))]
    if not candidates:
        return
    for m in candidates:
        value = m.group(1)
        start, end = m.start(1), m.end(1)
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        context_start = max(line_start, start - 80)
        if line_start and start - line_start <= 40:
            # an answer at the start of its turn: the question is the previous line ("AI: What's your member ID?")
            context_start = max(text.rfind("\n", 0, line_start - 1) + 1, start - 160)
        if not (_insurance_hint(text, context_start, start)
                or _insurance_hint(text, end, min(line_end, end + 40))):
            continue
        window = max(context_start, start - 50) if context_start >= line_start else context_start
        codes = list(_OTHER_CODE.finditer(text, window, start))
        if codes and not _INSURANCE_ID_WORD.search(text, codes[-1].end(), start):
            continue
        # introduced as another identifier ("His SSN is 401227719, ... the insurance"): that detector judges it
        if any(p.search(text, max(line_start, start - 30), start)
               for p in (_SSN_CONTEXT, _NATIONAL_ID_CONTEXT, _MRN_CONTEXT, _PHONE_WORDS)):
            continue
        if value.isdigit() and _is_valid_phone(value, region):
            continue  # the payer's phone line: the phone detector takes it
        spans.append(Span("INSURANCE_ID", start, end))


def _is_valid_phone(digits: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False


_NHS_CANDIDATE = re.compile(r"(?<![\w-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w-])")

# Dates.
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|"
           "ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz|ağustos|agustos|eylül|eylul|ekim|kasım|"
           "kasim|aralık|aralik")
_ORD_WORDS = ("first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|"
              "fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth")
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|(?:twenty|thirty)?[- ]?(?:{_ORD_WORDS}))"
_NUM_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
              "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety")
_YEAR = (rf"(?:\d{{4}}|'\d{{2}}|nineteen[- ](?:(?:oh[- ])?(?:{_NUM_WORDS})(?:[- ](?:{_NUM_WORDS}))?|hundred)|"
         rf"two[- ]thousand(?:[- ](?:and[- ])?(?:{_NUM_WORDS})(?:[- ](?:{_NUM_WORDS}))?)?|"
         rf"twenty[- ](?:oh[- ])?(?:{_NUM_WORDS}))")
_DATE = re.compile(
    rf"(?i)\b(?:"
    rf"(?P<num>\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}}))(?![\d/.-]\d)|"
    rf"(?P<iso>(?:19|20)\d{{2}}(?P<isep>[-/.])[01]?\d(?P=isep)[0-3]?\d)(?![\dT:])|"
    rf"(?P<dmon>\d{{1,2}}[-/ ](?:{_MONTHS})\.?[-/ ](?:\d{{4}}|\d{{2}}))(?![\d:])|"
    rf"(?P<mdy>(?:{_MONTHS})\.?\s+(?:the\s+)?{_DAY}(?:,?\s*(?:of\s+)?{_YEAR})?)|"
    rf"(?P<dmy>(?:the\s+)?{_DAY}\s+(?:of\s+)?(?:{_MONTHS})\.?(?:,?\s*{_YEAR})?)|"
    rf"(?P<my>(?:{_MONTHS})\.?,?\s+(?:of\s+)?(?:\d{{4}}|nineteen[- ][a-z]+(?:[- ][a-z]+)?))"
    rf")(?![\w])")
_SMALL = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
# "one twelve seventy nine" (1/12/79): only ever read as a date right after a birth question.
_SPOKEN_DATE = re.compile(
    rf"(?i)\b(?:{_SMALL}|ten|eleven|twelve)[\s/-]+(?:{_TEENS}|{_SMALL}|(?:twenty|thirty)(?:[- ](?:{_SMALL}))?)"
    rf"[\s/-]+(?:(?:nineteen|twenty)\s+)?(?:(?:{_TENS})(?:[- ](?:{_SMALL}))?|oh[- ](?:{_SMALL})|{_TEENS}|"
    rf"two\s+thousand(?:\s+(?:and\s+)?(?:{_SMALL}|{_TEENS}))?)\b")
_BIRTH = re.compile(r"(?i)\b(?:date\s+of\s+birth|birth\s*date|birthdate|birthday|d\.?o\.?b\b\.?|born|"
                    r"birth|doğum|dogum|age\s+verification)")
_NOT_BIRTH = re.compile(r"(?i)\b(?:appointment|appt|visit|seen|surgery|procedure|scan|test|tests|results?|"
                        r"admitted|discharged|started|since|until|expires?|expiry|expiration|valid|dated|"
                        r"invoice|bill|statement|paid|payment|service|booked|book|reschedul\w*|on\s+the|"
                        r"refill|prescri\w*|last\s+period|due|deadline|moved|starting|from|effective)\b")
_SHORT_YEAR_AFTER = re.compile(
    rf"(?i),?\s+(?:'?\d{{2}}(?![\d:])|(?:nineteen[- ])?(?:{_TENS})(?:[- ](?:{_SMALL}))?\b|oh[- ](?:{_SMALL})\b)"
    rf"(?!\s*(?:am|pm|a\.m|p\.m|mg|ml|years?|minutes?|o'clock)\b)")
_COMPACT_DATE = re.compile(r"(?<![\w-])(?:(?:19|20)\d{2}[01]\d[0-3]\d|[0-3]\d[0-3]\d(?:19|20)\d{2})(?![\w-])")
_YEAR_IN = re.compile(r"(\d{4})|'(\d{2})\b|(\d{1,2})[/.-]\d{1,2}[/.-](\d{2})\b")

# Street addresses (US, GB, NG styles; Turkish ones below).
_SUFFIX = ("street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|"
           "circle|cir|parkway|pkwy|highway|hwy|close|crescent|cres|gardens|grove|mews|square|sq|row|hill|"
           "walk|park|trail|trl|pike|expressway|estate|view|rise|green")
_STOP = ("the|a|an|on|at|in|of|to|for|my|your|and|or|is|by|from|off|near|with|it|its|that|this|take|"
         "takes|every|each|per|times|tablets?|pills?|mg|ml|minutes?|hours?|days?|weeks?|months?|years?|room|"
         "floor|suite|and|am|pm|o'clock")
_WORD = rf"(?!(?i:{_STOP})\b)(?:[A-Za-z][A-Za-z'’.-]*|\d+(?i:st|nd|rd|th))"
_ADDRESS = re.compile(
    rf"(?:\b(?i:flat|apt|apartment|unit)\.?\s*\w+,?\s+)?"
    rf"(?:\b(?i:plot|block|no\.?)\s*)?(?<![\w$£€₦₺.:/-])\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?,?"
    rf"(?:\s+{_WORD}){{1,4}}\s+(?i:{_SUFFIX})\b\.?"
    rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    rf"(?:,?\s+(?i:apt|apartment|unit|suite|ste|flat|#)\.?\s*[A-Za-z0-9-]+)?"
    rf"(?:,\s*[A-Z][a-z][A-Za-z']*(?:\s+[A-Z][a-z][A-Za-z']*)?){{0,2}}"
    rf"(?:,?\s+(?:[A-Z]{{1,2}}\d[A-Z\d]?\s*\d[A-Z]{{2}}\b|[A-Z]{{2}}(?:\s+\d{{5}}(?:-\d{{4}})?)?\b))?")
# A street named without a house number right after words that say where the caller lives or comes from:
# "I live on Church Road", "directions from Cedar Lane". (The clinic's own street, "we're on Main Street", "park on
# Church Road", is not the caller's address and is kept.)
_LIVING_INTRO = (
    r"(?i:\b(?:i|we|he|she|they|mum|mom|dad|my\s+\w+)\s+(?:live|lives|lived|living|stay|stays|staying|reside|"
    r"resides)\s+(?:at|on|in|off)|\bmy\s+(?:home\s+|postal\s+|new\s+)?address\s+is|\baddress\s*:|"
    r"\b(?:i'm|i\s+am)\s+(?:at|on|off)|\bmoved\s+to|\bdirections\s+from|\bget\s+to\s+you\s+from|"
    r"\bcoming\s+from|\bpick\s+(?:me|him|her|us)\s+up\s+(?:at|from))")
_LIVING_ADDRESS = re.compile(
    rf"{_LIVING_INTRO}\s+(?i:the\s+corner\s+of\s+)?((?:{_WORD}\s+){{1,3}}(?i:{_SUFFIX})\b"
    rf"(?:\s+(?i:and|&)\s+(?:{_WORD}\s+){{1,3}}(?i:{_SUFFIX})\b)?)")
# the intro right before a numbered address: "I live at 5 Cedar Dr. Smith ..." is a street, not Dr. Smith
_LIVING_INTRO_BEFORE = re.compile(rf"{_LIVING_INTRO}\s+(?i:number\s+|no\.?\s*)?$")
# Streets named in one word or with "The" and no other name ("970 Kingsway", "3 The Mews", "I live on Broadway").
_ONE_WORD_STREETS = (r"(?:The\s+(?:Mews|Green|Crescent|Avenue|Drive|Close|Grove|Parade|Mall|Strand|Square|Ridgeway|"
                     r"Broadway|Causeway|Walk|Rise|Paddock|Spinney|Glebe|Maltings|Chase)|Broadway|Kingsway|Queensway|"
                     r"Ridgeway|Strand|Causeway|Headrow|Fairway)\b")
_NUMBERED_ONE_WORD_ADDRESS = re.compile(rf"(?<![\w$£€₦₺.:/-])\d{{1,5}}[A-Za-z]?,?\s+{_ONE_WORD_STREETS}")
_LIVING_ONE_WORD_ADDRESS = re.compile(rf"{_LIVING_INTRO}\s+({_ONE_WORD_STREETS})")
_LIVING_HINTS = ("live", "living", "stay", "resid", "address", "i'm", "i am", "moved", "directions", "get to you",
                 "coming from", "pick")
_ABBREVIATED_SUFFIX = re.compile(r"(?i)\b(?:st|ave|rd|blvd|ln|dr|ct|pl|cir|pkwy|hwy|cres|sq|trl)\.$")
_ADDRESS_CASE = re.compile(rf"(?:{_SUFFIX})\b", re.I)
_PO_BOX = re.compile(r"(?i)\bP\.?\s?O\.?\s+Box\s+\d+\b")
_UK_POSTCODE = re.compile(r"\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?)\s*\d[ABD-HJLNP-UW-Z]{2}\b")
_TR_ADDRESS = re.compile(
    r"(?:\b(?!(?:Adres\w*|Address|Evim|My|Our|The|At|In|On|Is)\b)[A-ZÇĞİÖŞÜ0-9][\wçğıöşüÇĞİÖŞÜ.]*\s+){1,3}"
    r"(?:Caddesi|Cad\.|Cd\.|Sokak|Sokağı|Sok\.|Sk\.|Bulvarı|Blv\.|Mahallesi|Mah\.)"
    r"(?:,?\s*(?:No\s*:?\s*\d+[A-Za-z]?(?:/\d+)?|\d+(?:/\d+)?))?"
    r"(?:,?\s*(?:Daire|D)\s*:?\s*\d+)?"
    r"(?:,?\s*(?:Kat)\s*:?\s*\d+)?")

# Spoken or spaced digits: "oh seven seven double oh nine..." or "0 8 0 3 1 2 3".
_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_SPOKEN = re.compile(
    r"(?i)(?<![\w])(?:\+\s*|plus\s+)?"
    r"(?:(?:double|triple)\s+)?(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d{1,4})"
    r"(?:(?:\s*[,.-]?\s+|-)(?:(?:double|triple)\s+)?(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|"
    r"\d{1,4})){3,}(?![\w])")
_DIGIT = re.compile(r"\d")
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")


# ------------------------------------------------------------------ term list matcher


def _tokens(text: str) -> Iterable[re.Match[str]]:
    return _TOKEN.finditer(text)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*(?:['’](?![A-Za-z]))?")


def _norm(token: str) -> str:
    return token.lower().replace("’", "'")


def _build_terms() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kind, terms in (("DIAGNOSIS", DIAGNOSES), ("MEDICATION", MEDICATIONS)):
        for term in terms:
            words = tuple(_norm(m.group(0)) for m in _TOKEN.finditer(term))
            if words:
                index.setdefault(words[0], []).append((words, kind))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))  # longest phrase first
    return index


_TERMS = _build_terms()


# Terms that are idioms when these words follow them.
_TERM_IDIOMS = {"stroke": re.compile(r"(?i)\s+of\s+(?:luck|genius|midnight|the\s+pen|fate)\b")}


def _variants(token: str) -> tuple[str, ...]:
    """The token and its singular / non-possessive forms."""
    out = [token]
    if token.endswith("'s"):
        out.append(token[:-2])
    elif token.endswith("s") and len(token) > 3:
        out.append(token[:-1])
        if token.endswith("es"):
            out.append(token[:-2])
    return tuple(out)


def _find_terms(text: str) -> list[Span]:
    tokens = list(_tokens(text))
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        matched = 0
        for variant in _variants(_norm(tokens[i].group(0))):
            for words, kind in _TERMS.get(variant, ()):
                n = len(words)
                if i + n > len(tokens):
                    continue
                ok = True
                for k in range(1, n):
                    candidate = _norm(tokens[i + k].group(0))
                    if words[k] != candidate and (k < n - 1 or words[k] not in _variants(candidate)):
                        ok = False
                        break
                    # a phrase does not jump over punctuation other than a space or hyphen
                    gap = text[tokens[i + k - 1].end():tokens[i + k].start()]
                    if gap.strip(" -"):
                        ok = False
                        break
                if ok and words[-1] in _TERM_IDIOMS and _TERM_IDIOMS[words[-1]].match(text, tokens[i + n - 1].end()):
                    ok = False  # "a stroke of luck"
                if ok:
                    spans.append(Span(kind, tokens[i].start(), tokens[i + n - 1].end()))
                    matched = n
                    break
            if matched:
                break
        i += matched or 1
    return spans


# ------------------------------------------------------------------ detectors


def _ssn_area_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _near(pattern: re.Pattern[str], text: str, start: int, before: int = 60, after: int = 0) -> bool:
    return pattern.search(text, max(0, start - before), min(len(text), start + after)) is not None


def _cards(text: str, spans: list[Span]) -> None:
    for m in _CARD_CANDIDATE.finditer(text):
        groups = [(g.start() + m.start(), g.end() + m.start(), g.group(0)) for g in re.finditer(r"\d+", m.group(0))]
        best: tuple[int, int] | None = None
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > 19:
                    break
                longer = best is None or groups[j][1] - groups[i][0] > best[1] - best[0]
                if len(digits) >= 13 and digits[0] in "23456" and longer and luhn.is_valid(digits):
                    best = (groups[i][0], groups[j][1])
        if best:
            spans.append(Span("CARD", *best))


def _ssns(text: str, spans: list[Span]) -> None:
    for m in _SSN_FORMATTED.finditer(text):
        if _ssn_area_ok(m.group(1), m.group(3), m.group(4)):
            spans.append(Span("SSN", m.start(), m.end()))
    for m in _DIGITS_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        us = len(digits) == 9 and us_ssn.is_valid(digits) and _near(_SSN_CONTEXT, text, m.start())
        national = len(digits) == 11 and (
            _near(_NATIONAL_ID_CONTEXT, text, m.start())
            or (tckimlik.is_valid(digits) and not _NOT_PHONE_BEFORE.search(text, max(0, m.start() - 60), m.start())))
        if us or national:
            spans.append(Span("SSN", m.start(), m.end()))
    for m in _LAST_FOUR_SSN.finditer(text):
        spans.append(Span("SSN", m.start(1), m.end(1)))
    for m in _NINO.finditer(text):
        spans.append(Span("SSN", m.start(), m.end()))


def _ids(text: str, spans: list[Span], region: str) -> None:
    for kind, pattern in (("MRN", _MRN), ("INSURANCE_ID", _INSURANCE)):
        for m in pattern.finditer(text):
            value = m.group(1)
            if sum(c.isdigit() for c in value) >= 3:
                spans.append(Span(kind, m.start(1), m.end(1)))
    _contextual_insurance_ids(text, spans, region)
    for m in _MBI.finditer(text):
        spans.append(Span("INSURANCE_ID", m.start(), m.end()))
    if region == "GB":
        for m in _NHS_CANDIDATE.finditer(text):
            if nhs.is_valid(re.sub(r"\D", "", m.group(0))) and (
                    _near(_MRN_CONTEXT, text, m.start())
                    or not _NOT_PHONE_BEFORE.search(text, max(0, m.start() - 60), m.start())):
                spans.append(Span("MRN", m.start(), m.end()))


_PHONE_CONTEXT = re.compile(r"(?i)\b(?:phone|mobile|cell|number|call|ring|text|reach|contact|landline|whatsapp|"
                            r"line|numaram|numara|tel)\b")


# Part of a longer code ("PA-2026-118274", "REF/4155552671"): not a phone number.
_NOT_PHONE_BEFORE = re.compile(
    r"(?i)\b(?:account|acct|order|reference|ref|confirmation|invoice|tracking|transaction|booking|receipt|"
    r"claim|routing|sort\s+code|iban|serial|ticket|case|voucher|coupon|npi|isbn|lot|batch|"
    r"prior\s+auth(?:ori[sz]ation)?|teller|rrr|remita|fatura|sipariş|siparis|referans|dekont|makbuz|hesap|"
    r"quote|quoting|iban|takip|randevu\s+(?:no|numaras[ıi])|"
    r"(?:appointment|appt|visit|encounter|session|request)\s+(?:id|number|no\.?|#|ref(?:erence)?|code))"
    r"\b[^\d\n]{0,25}$")
_GLUED_BEFORE = re.compile(r"(?:[A-Za-z0-9][-/]|[A-Za-z#])$")
_DIGITS_BEFORE = re.compile(r"\d[ .-]?$")
_DIGITS_AFTER = re.compile(r"[ .-]?\d")
_GLUED_AFTER = re.compile(r"[A-Za-z]|[-/][A-Za-z0-9]")


def _phones(text: str, spans: list[Span], region: str) -> None:
    # Valid numbers always (the VALID matcher also rejects digits glued to letters: "PA-2026-118274"); numbers
    # that are only possible (a reserved or brand-new range) when the words before introduce a phone number.
    # One pass of the matcher (it is most of the cost): POSSIBLE finds both; validity is checked here.
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        # (searched in a short window before the match: these patterns are anchored at its start)
        before = max(0, match.start - 60)
        if _GLUED_BEFORE.search(text, before, match.start) or _NOT_PHONE_BEFORE.search(text, before, match.start) \
                or _GLUED_AFTER.match(text, match.end) or _DIGITS_BEFORE.search(text, before, match.start) \
                or _DIGITS_AFTER.match(text, match.end):
            continue  # the tail or head of a longer code ("Account number 9749 4577 9677")
        if phonenumbers.is_valid_number(match.number) or _near(_PHONE_CONTEXT, text, match.start, 40):
            spans.append(Span("PHONE", match.start, match.end))


# A digit group shaped like a phone number of any supported country, found without the words "phone", "number":
# "Sure, it's 07619 391312." (a GB mobile range phonenumbers does not know yet), "0803 123 4567" in a US clinic's
# call. Shape: 10 digits in the NANP layout (area and exchange codes start 2-9), or 11 digits with a trunk 0 (GB, NG,
# TR) or a leading 1, or "+" and 11-15 digits; groups of 2-8 digits joined by one space, dash or dot (the first
# may be in parentheses). It must also be a possible number for one of the supported regions. Kept: codes named as
# order / reference / confirmation / account ... numbers, amounts (currency before or after) and longer digit runs.
SUPPORTED_REGIONS = ("US", "GB", "NG", "TR")
_PHONE_SHAPED = re.compile(
    r"(?<![\w$£€₦₺#/.,:+-])(\+\s?)?(\(?\d{1,15}\)?(?:(?:[ .-]|(?<=\))\s)\(?\d{2,8}\)?){0,5})(?![\w%]|[.,:/-]\d)")
_AMOUNT_AFTER = re.compile(r"\s*(?i:tl|try|lira|liras|naira|ngn|usd|gbp|dollars?|pounds?|kuruş|kobo|cents?|pence|"
                           r"mg|ml|units?|steps|calories|km|miles)\b")


def _phone_shaped(text: str, spans: list[Span], region: str) -> None:
    for m in _PHONE_SHAPED.finditer(text):
        raw = m.group(2)
        digits = re.sub(r"\D", "", raw)
        plus = bool(m.group(1))
        n = len(digits)
        if plus:
            if not 11 <= n <= 15:
                continue
        elif n == 10:
            if digits[0] in "01" or digits[3] in "01":
                continue  # not the NANP layout
        elif n == 11:
            if digits[0] not in "01":
                continue
        else:
            continue
        groups = re.findall(r"\d+", raw)
        if len(groups) > 1 and min(len(g) for g in groups[1:]) < 2:
            continue
        if raw.count("(") != raw.count(")"):
            continue
        start, end = m.start(), m.end(2)
        before = max(0, start - 60)
        if _NOT_PHONE_BEFORE.search(text, before, start) or _AMOUNT_AFTER.match(text, end):
            continue
        number_text = ("+" if plus else "") + digits
        regions = (region,) + tuple(r for r in SUPPORTED_REGIONS if r != region)
        if any(_is_possible_phone(number_text, r) for r in regions):
            spans.append(Span("PHONE", start, end))


def _is_possible_phone(number_text: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(number_text, region)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_possible_number(number):
        return False
    # a trunk 0 is only read in a region that dials one (US numbers never start with 0 or 1)
    national = phonenumbers.national_significant_number(number)
    if not number_text.startswith("+") and len(number_text) == 11 and number_text[0] == "1":
        return number.country_code == 1 and len(national) == 10
    return number.country_code != 1 or (len(national) == 10 and national[0] not in "01")


def _spoken_digits(text: str, spans: list[Span], region: str) -> None:
    """Digits said one by one ("oh seven seven double oh ...", "4 1 5, 5 5 5 ...")."""
    for m in _SPOKEN.finditer(text):
        raw = m.group(0)
        words = re.findall(r"(?i)double|triple|zero|oh|one|two|three|four|five|six|seven|eight|nine|\d+|\+|plus",
                           raw)
        digits, repeat, plus = "", 1, False
        for word in words:
            low = word.lower()
            if low in ("double", "triple"):
                repeat = 2 if low == "double" else 3
                continue
            if low in ("+", "plus"):
                plus = True
                continue
            digits += (_DIGIT_WORDS.get(low) or word) * repeat
            repeat = 1
        if len(digits) < 7 or len(digits) > 19:
            continue
        if not any(w.lower() in _DIGIT_WORDS for w in words) and not re.search(r"\d\s+\d\s+\d", raw):
            continue  # an ordinary number written with digits: the other detectors judge it
        start, end = m.start(), m.end()
        if len(digits) >= 13 and luhn.is_valid(digits):
            spans.append(Span("CARD", start, end))
        elif len(digits) == 9 and _near(_SSN_CONTEXT, text, start):
            spans.append(Span("SSN", start, end))
        elif _near(_INSURANCE_CONTEXT, text, start, 60) or (
                _insurance_hint(text, max(0, start - 60), start) and not _near(_PHONE_WORDS, text, start, 30)):
            spans.append(Span("INSURANCE_ID", _spelled_prefix(text, start), end))
        elif _near(_MRN_CONTEXT, text, start, 60):
            spans.append(Span("MRN", _spelled_prefix(text, start), end))
        elif _is_phone(("+" if plus else "") + digits, region):
            spans.append(Span("PHONE", start, end))


_INSURANCE_CONTEXT = re.compile(rf"(?i)\b(?:{_INSURANCE_WORDS})\b")
_MRN_CONTEXT = re.compile(rf"(?i)\b(?:{_MRN_WORDS})\b")
_SPELLED_LETTERS = re.compile(r"(?:(?<![\w'’])[A-Za-z]\s+){1,4}$")


def _spelled_prefix(text: str, start: int) -> int:
    """Start of an id said letter by letter before its digits ("u h c 9 9 2 ...")."""
    m = _SPELLED_LETTERS.search(text, max(0, start - 12), start)
    return m.start() if m and not re.fullmatch(r"(?i)[ai]\s+", m.group(0)) else start


def _is_phone(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
        return phonenumbers.is_valid_number(number) or phonenumbers.is_possible_number(number)
    except phonenumbers.NumberParseException:
        return False


def _year_of(text: str) -> int | None:
    m = _YEAR_IN.search(text)
    if m is None:
        if re.search(r"(?i)nineteen", text):
            return 1950
        return None
    if m.group(1):
        return int(m.group(1))
    short = int(m.group(2) or m.group(4))
    return 1900 + short if short > 30 else 2000 + short


def _dates(text: str, spans: list[Span]) -> None:
    for m in _DATE.finditer(text):
        start, end = m.start(), m.end()
        value = m.group(0)
        if m.group("my") and not re.search(r"(?i)\d{4}|nineteen", value):
            continue
        if m.group("num"):
            first, second = (int(x) for x in re.findall(r"\d+", value)[:2])
            if not (1 <= first <= 31 and 1 <= second <= 31 and min(first, second) <= 12):
                continue  # not a calendar date ("sort code 12-34-56")
        # the birth context is before the date (or just after: "03/14/1972, that's my date of birth")
        line_start = text.rfind("\n", 0, max(0, start - 1))
        window_start = max(0, start - 70, line_start - 60 if line_start >= 0 else 0)
        before = text[window_start:start]
        birth = _BIRTH.search(before) or _BIRTH.search(text, end, min(len(text), end + 30))
        if birth:
            # "born" words far back count only when nothing else (an appointment, a visit) sits between
            last_birth = max((b.end() for b in _BIRTH.finditer(before)), default=-1)
            if last_birth < 0 or not _NOT_BIRTH.search(before[last_birth:]):
                if _year_of(value) is None:
                    # "born 4 March 85": a bare two-digit year after a birth date is its year
                    year = _SHORT_YEAR_AFTER.match(text, end)
                    end = year.end() if year else end
                spans.append(Span("DOB", start, end))
                continue
        full = m.group("num") or m.group("iso") or (
            (m.group("mdy") or m.group("dmy")) and _year_of(value) is not None)
        year = _year_of(value)
        if full and year is not None and 1900 <= year < OLDEST_APPOINTMENT_YEAR \
                and not _NOT_BIRTH.search(text, max(0, start - 40), start):
            spans.append(Span("DOB", start, end))


def _compact_birth_dates(text: str, spans: list[Span]) -> None:
    """"DOB 19850304": eight digits (YYYYMMDD or DDMMYYYY / MMDDYYYY) right after a birth word."""
    for m in _COMPACT_DATE.finditer(text):
        if _BIRTH.search(text, max(0, m.start() - 30), m.start()):
            spans.append(Span("DOB", m.start(), m.end()))


def _spoken_dates(text: str, spans: list[Span]) -> None:
    for m in _SPOKEN_DATE.finditer(text):
        if _BIRTH.search(text, max(0, m.start() - 60), m.start()):
            spans.append(Span("DOB", m.start(), m.end()))


def _addresses(text: str, spans: list[Span]) -> None:
    for m in _ADDRESS.finditer(text):
        value = m.group(0)
        # "Dr" / "St" right before a name is a title ("see 2 Dr. Patel"), not a street type
        suffix = list(_ADDRESS_CASE.finditer(value))
        if not suffix:
            continue
        last = suffix[-1]
        if re.fullmatch(r"(?i)dr|st", last.group(0)) and re.match(r"\.?\s+[A-Z][a-z]", text[m.start() + last.end():]) \
                and not _LIVING_INTRO_BEFORE.search(text, max(0, m.start() - 40), m.start()):
            continue
        end = m.end()
        if value.endswith(".") and not _ABBREVIATED_SUFFIX.search(value):
            end -= 1  # the full stop ends the sentence ("I live at 15 Elm Crescent."), not an abbreviation
        spans.append(Span("ADDRESS", m.start(), end))
    for pattern in (_PO_BOX, _UK_POSTCODE, _TR_ADDRESS):
        for m in pattern.finditer(text):
            spans.append(Span("ADDRESS", m.start(), m.end()))


def _living_addresses(text: str, spans: list[Span], has_digits: bool) -> None:
    low = text.lower()
    intro = any(word in low for word in _LIVING_HINTS)
    if has_digits:
        for m in _NUMBERED_ONE_WORD_ADDRESS.finditer(text):
            spans.append(Span("ADDRESS", m.start(), m.end()))
    if not intro:
        return  # the patterns below start with these words: no need to scan
    for m in _LIVING_ONE_WORD_ADDRESS.finditer(text):
        spans.append(Span("ADDRESS", m.start(1), m.end(1)))
    for m in _LIVING_ADDRESS.finditer(text):
        street = m.group(1)
        if re.fullmatch(r"(?i).*\b(?:dr|st)", street) and re.match(r"\.?\s+[A-Z][a-z]", text[m.end(1):]):
            continue  # "I'm at St Mary's", "coming from Dr Patel": a title, not a street
        spans.append(Span("ADDRESS", m.start(1), m.end(1)))


def _resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping findings: higher-priority kinds first, then longer spans."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.kind, s.start)):
        last = merged[-1] if merged else None
        if last is not None and last.kind == span.kind and span.start < last.end:
            merged[-1] = Span(span.kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    starts: list[int] = []  # chosen spans, kept sorted by start (they never overlap each other)
    chosen: list[Span] = []
    for span in sorted(merged, key=lambda s: (PRIORITY[s.kind], -(s.end - s.start), s.start)):
        if span.end <= span.start:
            continue
        at = bisect.bisect_left(starts, span.start)
        if at > 0 and chosen[at - 1].end > span.start:
            continue  # overlaps the chosen span that starts before it
        if at < len(chosen) and chosen[at].start < span.end:
            continue  # overlaps the chosen span that starts at or after it
        starts.insert(at, span.start)
        chosen.insert(at, span)
    return chosen


def _mask_placeholders(text: str) -> str:
    """Placeholders are blanked out so no detector reads them as context or content."""
    return _PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), text) if "[" in text else text


def find(text: str, *, region: str = "US") -> list[Span]:
    """Every PHI/PII span in `text` (non-overlapping, in order) for an organization in `region`."""
    if not text:
        return []
    region = (region or "US").upper()
    if len(text) <= CACHE_MAX_CHARS:
        return list(_find_cached(text, region))
    return _find(text, region)


CACHE_MAX_CHARS = 20_000


@functools.lru_cache(maxsize=512)
def _find_cached(text: str, region: str) -> tuple[Span, ...]:
    # The same strings come several times per call (the report's transcript and messages are stored in the calls
    # row and in the inbox payload, which repeats them in two layouts): each is scanned once. Bounded memory:
    # at most 512 strings of at most 20,000 characters.
    return tuple(_find(text, region))


def _find(text: str, region: str) -> list[Span]:
    scan = _mask_placeholders(text)
    spans: list[Span] = []
    if "@" in scan or " at " in scan.lower():
        for pattern in (_EMAIL, _SPOKEN_EMAIL):
            spans.extend(Span("EMAIL", m.start(), m.end()) for m in pattern.finditer(scan))
    digit_count = len(_DIGIT.findall(scan))
    if digit_count >= 3:
        _ssns(scan, spans)
        _ids(scan, spans, region)
    if digit_count >= 7:
        _cards(scan, spans)
        _phones(scan, spans, region)
        if digit_count >= 10:  # the shortest phone-shaped group has ten digits
            _phone_shaped(scan, spans, region)
    _spoken_digits(scan, spans, region)
    _dates(scan, spans)
    if _BIRTH.search(scan):
        _spoken_dates(scan, spans)
        if digit_count >= 8:
            _compact_birth_dates(scan, spans)
    _living_addresses(scan, spans, digit_count > 0)
    if digit_count:
        _addresses(scan, spans)
    elif "Cad" in scan or "Sok" in scan or "Mah" in scan or "Bulv" in scan:
        for m in _TR_ADDRESS.finditer(scan):
            spans.append(Span("ADDRESS", m.start(), m.end()))
    spans.extend(_find_terms(scan))
    return _resolve(spans)


def redact(text: str, *, region: str = "US") -> str:
    """`text` with every PHI/PII span replaced by its typed placeholder (`[SSN]`, `[PHONE]` ...)."""
    if not text:
        return text
    spans = find(text, region=region)
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for span in spans:
        out.append(text[last:span.start])
        out.append(f"[{span.kind}]")
        last = span.end
    out.append(text[last:])
    return "".join(out)


# Keys whose value is PHI by name: the key's words are read as context, and numbers under them are redacted.
_PHI_KEY = re.compile(r"(?i)(ssn|social|phone|mobile|number|email|birth|dob|mrn|record|member|insurance|policy|"
                      r"subscriber|address|street|postcode|zip|card|patient|nhs|medicaid|medicare|kimlik|nin)")


def _key_context(key: str) -> str:
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", key).replace("_", " ").replace("-", " ").lower()
    return words.replace("dob", "date of birth")


def _redact_string(value: str, key: str, region: str) -> str:
    if value.startswith(("http://", "https://")) and " " not in value:
        return value  # recording and storage links: nothing said on the call lives in them
    if key and _PHI_KEY.search(key):
        prefix = f"{_key_context(key)}: "
        spans = [s for s in find(prefix + value, region=region) if s.start >= len(prefix)]
        if not spans:
            return value
        out, last = [], 0
        for span in spans:
            start, end = span.start - len(prefix), span.end - len(prefix)
            out.append(value[last:start])
            out.append(f"[{span.kind}]")
            last = end
        out.append(value[last:])
        return "".join(out)
    return redact(value, region=region)


def redact_value(value: Any, *, region: str = "US", _key: str = "") -> Any:
    """`redact` over JSON-like values: strings inside dicts and lists are redacted; keys are left untouched."""
    if isinstance(value, str):
        return _redact_string(value, _key, region)
    if isinstance(value, dict):
        # a parent key that names PHI is context for its children: {"insurance": {"id": "AE247586067"}}
        parent = f"{_key} " if _key and _PHI_KEY.search(_key) else ""
        return {key: redact_value(item, region=region, _key=f"{parent}{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item, region=region, _key=_key) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and _key and _PHI_KEY.search(_key) \
            and abs(value) >= 1000:
        text = str(value)
        redacted = _redact_string(text, _key, region)
        return redacted if redacted != text else value
    return value
