"""What every part of the telephony page shares: option labels, timings, blank read models and the wording of
errors."""

from __future__ import annotations

from typing import Any, get_origin

from pydantic import BaseModel

from voxanne_admin.errors import DomainError, ProviderError
from voxanne_admin.telephony import forwarding

TYPE_LABELS = {key: f"{key.replace('_', ' ').capitalize()}: {text}" for key, text in forwarding.TYPES.items()}
TIMER_OPTIONS = [str(t) for t in forwarding.TIMERS]
NUMBER_TYPE_LABELS = {"local": "Local (geographic)", "mobile": "Mobile", "toll-free": "Toll-free"}
FORMAT_LABELS = {"international": "International (+ and country code)", "national": "National with trunk 0 (07...)",
                 "national_digits": "National digits only (10 digits)"}
RULE_TYPES = ("unconditional", "busy", "no_answer", "unreachable")
RULE_TEXT_FIELDS = (*RULE_TYPES, *(f"{t}_cancel" for t in RULE_TYPES), *(f"{t}_check" for t in RULE_TYPES),
                    "domestic_only_reason", "confidence", "source")
VERIFY_POLL_S = 1.0
VERIFY_POLL_LIMIT = 180  # three minutes: a real test call rings for at most a minute or two
FOREIGN_CAVEATS = [
    "The clinic keeps its own number; patients still dial it. Its carrier forwards each call abroad to this number.",
    "The forwarded leg is billed to the clinic's line at international rates: ask the clinic to check its plan.",
    "Some carriers refuse to forward to international numbers (T-Mobile US, historically AT&T, some UK MVNOs): "
    "the carrier rules below say which, and step 4 refuses such a combination with an alternative.",
]
# What a handler shows as a message instead of letting it escape: our rules and the providers' refusals (Twilio
# 21452, 21631, 21649, 21422 ...). Both are named so this holds whether or not ProviderError is a DomainError.
SHOWN_ERRORS = (DomainError, ProviderError)


def blank(model: type[BaseModel]) -> Any:
    """An empty read model (no organization in scope yet): '' / 0 / False / [] for every field."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            continue
        kind = info.annotation
        if get_origin(kind) is list:
            values[name] = []
        else:
            values[name] = {bool: False, int: 0}.get(kind, "")
    return model(**values)


def friendly(exc: Exception) -> str:
    """The message staff see; a rate-limit refusal says plainly what to do."""
    text = str(exc)
    if text.rstrip().endswith("(HTTP 429)"):
        return f"Too many requests: {text} Wait a little, then try again; nothing was changed."
    return text
