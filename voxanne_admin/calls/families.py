"""Ended-reason families: Vapi's open set of endedReason values grouped for filters, statistics and exports."""

from __future__ import annotations

from sqlalchemy.orm import Mapped
from sqlmodel import col

from voxanne_admin.calls.models import Call

# Vapi's endedReason is an open set (hundreds of values, growing): exact names and prefixes group the ones we
# know; anything else is "other", so a new reason is still listed and counted.
_FAMILY_RULES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    # key, label, exact reasons, prefixes
    ("customer-ended", "Caller hung up", ("customer-ended-call",), ()),
    ("assistant-ended", "Agent ended the call",
     ("assistant-ended-call", "assistant-said-end-call-phrase", "assistant-ended-call-after-message-spoken",
      "assistant-ended-call-with-hangup-task"), ()),
    ("forwarded", "Forwarded to a person",
     ("assistant-forwarded-call", "assistant-request-returned-forwarding-phone-number"), ()),
    ("no-answer", "Not answered or busy", ("customer-busy", "customer-did-not-answer"), ()),
    ("voicemail", "Voicemail", ("voicemail",), ()),
    ("silence", "Nobody spoke (silence timeout)", ("silence-timed-out",), ()),
    ("max-duration", "Reached maximum length", ("exceeded-max-duration",), ()),
    ("canceled", "Cancelled", ("manually-canceled",), ()),
    ("start-error", "Call could not start",
     ("assistant-not-found", "assistant-not-valid", "assistant-request-failed", "assistant-request-returned-error",
      "assistant-join-timed-out"), ("call.start.error-", "assistant-request-returned-")),
    ("telephony-error", "Phone network error", ("twilio-failed-to-connect-call",),
     ("twilio-", "vonage-", "telnyx-", "phone-call-provider-", "call.in-progress.error-sip",
      "call.in-progress.error-providerfault")),
    ("pipeline-error", "Voice pipeline error", (), ("pipeline-error-", "call.in-progress.error-")),
]
ENDED_FAMILIES: list[tuple[str, str]] = [(key, label) for key, label, _, _ in _FAMILY_RULES] + [("other", "Other")]
FAMILY_LABELS = dict(ENDED_FAMILIES) | {"": "Not ended yet"}
# Families where nobody took the call (for answered vs missed).
MISSED_FAMILIES = ("no-answer", "voicemail", "start-error", "telephony-error", "canceled")


def family_of(ended_reason: str | None) -> str:
    """The family key of an ended reason ("" when the call has not ended, "other" when unknown)."""
    if not ended_reason:
        return ""
    for key, _label, exact, prefixes in _FAMILY_RULES:
        if ended_reason in exact or ended_reason.startswith(prefixes):
            return key
    return "other"


def family_label(ended_reason: str | None) -> str:
    """The label of the family of an ended reason."""
    return FAMILY_LABELS[family_of(ended_reason)]


def family_case_sql(column: str = "ended_reason") -> str:
    """family_of() as SQL text: the expression of the stored `calls.ended_family` column (migration 0005 holds a
    copy; a test checks they agree, so changing the rules above means a migration that re-creates the column)."""
    whens = []
    for key, _label, exact, prefixes in _FAMILY_RULES:
        conds = []
        if exact:
            conds.append(f"{column} in ({', '.join(repr(e) for e in exact)})")
        conds += [f"starts_with({column}, {p!r})" for p in prefixes]
        whens.append(f"when {' or '.join(conds)} then {key!r}")
    return f"case when {column} is null then '' {' '.join(whens)} else 'other' end"


def family_column() -> Mapped[str | None]:
    """The family of a call: a stored generated column, so filtering and grouping by it costs nothing per row."""
    return col(Call.ended_family)

