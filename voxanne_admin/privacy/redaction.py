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

Each kind has its module (`emails`, `phones`, `identifiers`, `dates`, `addresses`, `terms`); this one runs
them, resolves overlaps (`spans`) and writes the placeholders.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from voxanne_admin.privacy.addresses import TR_ADDRESS, find_addresses, find_living_addresses
from voxanne_admin.privacy.dates import BIRTH, find_compact_birth_dates, find_dates, find_spoken_dates
from voxanne_admin.privacy.emails import find_emails
from voxanne_admin.privacy.identifiers import find_cards, find_ids, find_spoken_digits, find_ssns
from voxanne_admin.privacy.phones import find_phone_shaped, find_phones
from voxanne_admin.privacy.secrets import scrub
from voxanne_admin.privacy.spans import DIGIT, Span, mask_placeholders, resolve
from voxanne_admin.privacy.terms import find_terms


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
    scan = mask_placeholders(text)
    spans: list[Span] = []
    if "@" in scan or " at " in scan.lower():
        find_emails(scan, spans)
    digit_count = len(DIGIT.findall(scan))
    if digit_count >= 3:
        find_ssns(scan, spans)
        find_ids(scan, spans, region)
    if digit_count >= 7:
        find_cards(scan, spans)
        find_phones(scan, spans, region)
        if digit_count >= 10:  # the shortest phone-shaped group has ten digits
            find_phone_shaped(scan, spans, region)
    find_spoken_digits(scan, spans, region)
    find_dates(scan, spans)
    if BIRTH.search(scan):
        find_spoken_dates(scan, spans)
        if digit_count >= 8:
            find_compact_birth_dates(scan, spans)
    find_living_addresses(scan, spans, digit_count > 0)
    if digit_count:
        find_addresses(scan, spans)
    elif "Cad" in scan or "Sok" in scan or "Mah" in scan or "Bulv" in scan:
        for m in TR_ADDRESS.finditer(scan):
            spans.append(Span("ADDRESS", m.start(), m.end()))
    spans.extend(find_terms(scan))
    return resolve(spans)


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


def redact_payload(payload: Any, *, region: str = "US") -> Any:
    """Credentials scrubbed and PHI replaced by typed placeholders (what the webhook inbox keeps once an event is
    final)."""
    return redact_value(scrub(payload), region=region)
