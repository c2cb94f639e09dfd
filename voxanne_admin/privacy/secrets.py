"""Secret scrubbing for structured data: webhook payloads before they are stored, audit diffs before they are
written. One walk over dicts and lists; a value is replaced when its key names a credential."""

from __future__ import annotations

from typing import Any

SCRUBBED = "[redacted]"
# Key parts that name a credential anywhere (provider payloads: phoneNumber.twilioAuthToken, server.secret ...).
SECRET_KEY_PARTS = ("token", "secret", "password", "authorization", "credential", "apikey", "api_key")
# Key endings that name a credential (Twilio's account SID is half of its basic-auth pair).
SECRET_KEY_ENDINGS = ("accountsid",)
# What an audit diff also hides: password hashes, TOTP secrets, recovery and one-time codes.
AUDIT_KEY_PARTS = ("hash", "totp", "code")


def is_secret_key(key: Any, extra_parts: tuple[str, ...] = ()) -> bool:
    """Whether a key names a credential (case, dashes and underscores ignored where they matter)."""
    lowered = str(key).lower().replace("-", "_")
    return any(part in lowered for part in SECRET_KEY_PARTS + extra_parts) or lowered.endswith(SECRET_KEY_ENDINGS)


def scrub(value: Any, *, extra_parts: tuple[str, ...] = ()) -> Any:
    """`value` with every dict value under a credential key replaced by "[redacted]", through nested dicts and
    lists; `extra_parts` adds key parts for one caller (the audit trail passes AUDIT_KEY_PARTS)."""
    if isinstance(value, dict):
        return {key: SCRUBBED if is_secret_key(key, extra_parts) else scrub(item, extra_parts=extra_parts)
                for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, extra_parts=extra_parts) for item in value]
    return value
