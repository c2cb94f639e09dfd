"""Phone numbers: phonenumbers' matcher for the organization's region (valid numbers, or possible ones the
words before introduce), and digit groups shaped like a number of any supported region."""

from __future__ import annotations

import re

import phonenumbers

from voxanne_admin.privacy.spans import Span, near

PHONE_WORDS = re.compile(r"(?i)\b(?:phone|mobile|cell|landline|whatsapp|telephone|fax|numaram|tel)\b")


def is_valid_phone(digits: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False



_PHONE_CONTEXT = re.compile(r"(?i)\b(?:phone|mobile|cell|number|call|ring|text|reach|contact|landline|whatsapp|"
                            r"line|numaram|numara|tel)\b")


# Part of a longer code ("PA-2026-118274", "REF/4155552671"): not a phone number.
NOT_PHONE_BEFORE = re.compile(
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


def find_phones(text: str, spans: list[Span], region: str) -> None:
    # Valid numbers always (the VALID matcher also rejects digits glued to letters: "PA-2026-118274"); numbers
    # that are only possible (a reserved or brand-new range) when the words before introduce a phone number.
    # One pass of the matcher (it is most of the cost): POSSIBLE finds both; validity is checked here.
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        # (searched in a short window before the match: these patterns are anchored at its start)
        before = max(0, match.start - 60)
        if _GLUED_BEFORE.search(text, before, match.start) or NOT_PHONE_BEFORE.search(text, before, match.start) \
                or _GLUED_AFTER.match(text, match.end) or _DIGITS_BEFORE.search(text, before, match.start) \
                or _DIGITS_AFTER.match(text, match.end):
            continue  # the tail or head of a longer code ("Account number 9749 4577 9677")
        if phonenumbers.is_valid_number(match.number) or near(_PHONE_CONTEXT, text, match.start, 40):
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


def find_phone_shaped(text: str, spans: list[Span], region: str) -> None:
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
        if NOT_PHONE_BEFORE.search(text, before, start) or _AMOUNT_AFTER.match(text, end):
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



def is_phone(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
        return phonenumbers.is_valid_number(number) or phonenumbers.is_possible_number(number)
    except phonenumbers.NumberParseException:
        return False

