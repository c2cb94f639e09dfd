"""Email addresses, written or spoken ("jane dot doe at gmail dot com")."""

from __future__ import annotations

import re

from voxanne_admin.privacy.spans import Span

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# "jane dot doe at gmail dot com": the way callers say an address.
_SPOKEN_EMAIL = re.compile(
    r"(?i)\b[a-z0-9][a-z0-9._-]*(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+)*"
    r"\s+(?:at|@)\s+[a-z0-9-]+(?:\s+dot\s+[a-z]{2,10})+\b")


def find_emails(text: str, spans: list[Span]) -> None:
    """Written and spoken email addresses."""
    for pattern in (_EMAIL, _SPOKEN_EMAIL):
        spans.extend(Span("EMAIL", m.start(), m.end()) for m in pattern.finditer(text))
