"""Dates of birth: a date near a birth word ("born", "date of birth", "DOB" ...), a full date too old to be an
appointment, compact (19850304) and spoken ("one twelve seventy nine") dates after a birth question."""

from __future__ import annotations

import re

from voxanne_admin.privacy.spans import Span

OLDEST_APPOINTMENT_YEAR = 2013  # a full date before this year, with no other context, is a date of birth

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
BIRTH = re.compile(r"(?i)\b(?:date\s+of\s+birth|birth\s*date|birthdate|birthday|d\.?o\.?b\b\.?|born|"
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


def find_dates(text: str, spans: list[Span]) -> None:
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
        birth = BIRTH.search(before) or BIRTH.search(text, end, min(len(text), end + 30))
        if birth:
            # "born" words far back count only when nothing else (an appointment, a visit) sits between
            last_birth = max((b.end() for b in BIRTH.finditer(before)), default=-1)
            if last_birth < 0 or not _NOT_BIRTH.search(before[last_birth:]):
                if _year_of(value) is None:
                    # "born 4 March 85": a bare two-digit year after a birth date is its year
                    short_year = _SHORT_YEAR_AFTER.match(text, end)
                    end = short_year.end() if short_year else end
                spans.append(Span("DOB", start, end))
                continue
        full = m.group("num") or m.group("iso") or (
            (m.group("mdy") or m.group("dmy")) and _year_of(value) is not None)
        year = _year_of(value)
        if full and year is not None and 1900 <= year < OLDEST_APPOINTMENT_YEAR \
                and not _NOT_BIRTH.search(text, max(0, start - 40), start):
            spans.append(Span("DOB", start, end))


def find_compact_birth_dates(text: str, spans: list[Span]) -> None:
    """"DOB 19850304": eight digits (YYYYMMDD or DDMMYYYY / MMDDYYYY) right after a birth word."""
    for m in _COMPACT_DATE.finditer(text):
        if BIRTH.search(text, max(0, m.start() - 30), m.start()):
            spans.append(Span("DOB", m.start(), m.end()))


def find_spoken_dates(text: str, spans: list[Span]) -> None:
    for m in _SPOKEN_DATE.finditer(text):
        if BIRTH.search(text, max(0, m.start() - 60), m.start()):
            spans.append(Span("DOB", m.start(), m.end()))


