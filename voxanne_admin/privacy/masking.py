"""Masks for text that leaves the database: log lines, the call list, CSV exports.

Emails keep their first letter and domain (a***@harbor-dental.example), phone numbers their last two digits
(***58); secrets after their names and URL passwords become ***.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{6,}(\d{2})(?!\w)")
_SECRET = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|auth[_-]?token|cookie|bearer)"
    # "name: value" / "name=value", or "Bearer value"; plain prose ("the API key is wrong") stays readable.
    r"(\"?\s*[:=]\s*\"?|(?<=bearer)\s+|(?<=Bearer)\s+|(?<=BEARER)\s+)((?:(?:bearer|basic)\s+)?[^\s\",;&]+)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def mask(text: str) -> str:
    """Mask emails (a***@domain), phone numbers (***12), secrets and URL passwords in free text."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _PHONE.sub(lambda m: f"***{m.group(1)}", text)
    return text


def mask_number(number: str | None) -> str:
    """A phone number masked as the logs mask it (***67); "" when there is none."""
    if not number:
        return ""
    # E.164 (what Vapi sends) masks to "***" + the last two digits, exactly like mask(); skip its regexes on the
    # hot path (a million rows in an export).
    if number[:1] == "+" and number[1:].isdigit() and len(number) >= 9:
        return "***" + number[-2:]
    return mask(number)
