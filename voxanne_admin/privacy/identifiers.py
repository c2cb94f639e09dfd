"""Numbers that identify a person: SSNs and national ids, payment cards (Luhn), medical record numbers,
insurance member ids (introduced by their words, or id-shaped near insurance words), Medicare MBIs, NHS numbers,
and ids said digit by digit."""

from __future__ import annotations

import re

from stdnum import luhn
from stdnum.gb import nhs
from stdnum.tr import tckimlik
from stdnum.us import ssn as us_ssn

from voxanne_admin.privacy.phones import NOT_PHONE_BEFORE, PHONE_WORDS, is_phone, is_valid_phone
from voxanne_admin.privacy.spans import Span, near

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
               for p in (_SSN_CONTEXT, _NATIONAL_ID_CONTEXT, _MRN_CONTEXT, PHONE_WORDS)):
            continue
        if value.isdigit() and is_valid_phone(value, region):
            continue  # the payer's phone line: the phone detector takes it
        spans.append(Span("INSURANCE_ID", start, end))



_NHS_CANDIDATE = re.compile(r"(?<![\w-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w-])")

# Spoken or spaced digits: "oh seven seven double oh nine..." or "0 8 0 3 1 2 3".
_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_SPOKEN = re.compile(
    r"(?i)(?<![\w])(?:\+\s*|plus\s+)?"
    r"(?:(?:double|triple)\s+)?(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d{1,4})"
    r"(?:(?:\s*[,.-]?\s+|-)(?:(?:double|triple)\s+)?(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|"
    r"\d{1,4})){3,}(?![\w])")


def _ssn_area_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"



def find_cards(text: str, spans: list[Span]) -> None:
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


def find_ssns(text: str, spans: list[Span]) -> None:
    for m in _SSN_FORMATTED.finditer(text):
        if _ssn_area_ok(m.group(1), m.group(3), m.group(4)):
            spans.append(Span("SSN", m.start(), m.end()))
    for m in _DIGITS_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        us = len(digits) == 9 and us_ssn.is_valid(digits) and near(_SSN_CONTEXT, text, m.start())
        national = len(digits) == 11 and (
            near(_NATIONAL_ID_CONTEXT, text, m.start())
            or (tckimlik.is_valid(digits) and not NOT_PHONE_BEFORE.search(text, max(0, m.start() - 60), m.start())))
        if us or national:
            spans.append(Span("SSN", m.start(), m.end()))
    for m in _LAST_FOUR_SSN.finditer(text):
        spans.append(Span("SSN", m.start(1), m.end(1)))
    for m in _NINO.finditer(text):
        spans.append(Span("SSN", m.start(), m.end()))


def find_ids(text: str, spans: list[Span], region: str) -> None:
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
                    near(_MRN_CONTEXT, text, m.start())
                    or not NOT_PHONE_BEFORE.search(text, max(0, m.start() - 60), m.start())):
                spans.append(Span("MRN", m.start(), m.end()))



def find_spoken_digits(text: str, spans: list[Span], region: str) -> None:
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
        elif len(digits) == 9 and near(_SSN_CONTEXT, text, start):
            spans.append(Span("SSN", start, end))
        elif near(_INSURANCE_CONTEXT, text, start, 60) or (
                _insurance_hint(text, max(0, start - 60), start) and not near(PHONE_WORDS, text, start, 30)):
            spans.append(Span("INSURANCE_ID", _spelled_prefix(text, start), end))
        elif near(_MRN_CONTEXT, text, start, 60):
            spans.append(Span("MRN", _spelled_prefix(text, start), end))
        elif is_phone(("+" if plus else "") + digits, region):
            spans.append(Span("PHONE", start, end))


_INSURANCE_CONTEXT = re.compile(rf"(?i)\b(?:{_INSURANCE_WORDS})\b")
_MRN_CONTEXT = re.compile(rf"(?i)\b(?:{_MRN_WORDS})\b")
_SPELLED_LETTERS = re.compile(r"(?:(?<![\w'’])[A-Za-z]\s+){1,4}$")


def _spelled_prefix(text: str, start: int) -> int:
    """Start of an id said letter by letter before its digits ("u h c 9 9 2 ...")."""
    m = _SPELLED_LETTERS.search(text, max(0, start - 12), start)
    return m.start() if m and not re.fullmatch(r"(?i)[ai]\s+", m.group(0)) else start


