"""Street addresses (US, GB, NG and Turkish styles), streets named after "I live on ...", PO boxes, UK postcodes."""

from __future__ import annotations

import re

from voxanne_admin.privacy.spans import Span

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
TR_ADDRESS = re.compile(
    r"(?:\b(?!(?:Adres\w*|Address|Evim|My|Our|The|At|In|On|Is)\b)[A-ZÇĞİÖŞÜ0-9][\wçğıöşüÇĞİÖŞÜ.]*\s+){1,3}"
    r"(?:Caddesi|Cad\.|Cd\.|Sokak|Sokağı|Sok\.|Sk\.|Bulvarı|Blv\.|Mahallesi|Mah\.)"
    r"(?:,?\s*(?:No\s*:?\s*\d+[A-Za-z]?(?:/\d+)?|\d+(?:/\d+)?))?"
    r"(?:,?\s*(?:Daire|D)\s*:?\s*\d+)?"
    r"(?:,?\s*(?:Kat)\s*:?\s*\d+)?")


def find_addresses(text: str, spans: list[Span]) -> None:
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
    for pattern in (_PO_BOX, _UK_POSTCODE, TR_ADDRESS):
        for m in pattern.finditer(text):
            spans.append(Span("ADDRESS", m.start(), m.end()))


def find_living_addresses(text: str, spans: list[Span], has_digits: bool) -> None:
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


