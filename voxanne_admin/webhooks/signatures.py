"""Webhook authentication exactly as the provider contracts describe (pure functions, no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from voxanne_admin.webhooks.parse_limits import finite_number

REPLAY_WINDOW_S = 300
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha512": 64}


class SignatureError(Exception):
    """Why a webhook was not authenticated (logged and audited, never echoed to the caller)."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    direct = headers.get(lowered)  # Starlette's headers are case-insensitive; a dict may hold it lowercased
    if direct is not None:
        return direct
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def vapi_hmac(secret: str, body: bytes, *, timestamp: str | None = None, algorithm: str = "sha256",
              encoding: str = "hex", prefix: str = "") -> str:
    """The signature Vapi sends: HMAC over the raw body, or over "{timestamp}.{body}" with a timestamp header."""
    message = f"{timestamp}.".encode() + body if timestamp is not None else body
    digest = hmac.digest(secret.encode(), message, getattr(hashlib, algorithm))  # one-shot, in C
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return prefix + text


def _verify_vapi_one(
    headers: Mapping[str, str],
    body: bytes,
    *,
    mode: str,
    secret: str,
    signature_header: str = "x-vapi-signature",
    timestamp_header: str = "",
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
    bearer_header: str = "authorization",
    now: float | None = None,
) -> None:
    """Raise SignatureError unless the request carries valid Vapi credentials made with `secret`."""
    if not secret:
        raise SignatureError("no webhook secret is configured")
    if mode == "secret":
        given = _header(headers, "x-vapi-secret")
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            raise SignatureError("missing or wrong X-Vapi-Secret")
        return
    if mode == "bearer":
        given = _header(headers, bearer_header) or ""
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not token or not hmac.compare_digest(token.encode(), secret.encode()):
            raise SignatureError(f"missing or wrong bearer token in {bearer_header}")
        return
    if mode != "hmac":
        raise SignatureError(f"unknown auth mode {mode!r}")
    signature = _header(headers, signature_header)
    if not signature:
        raise SignatureError(f"missing {signature_header}")
    if prefix:
        if not signature.startswith(prefix):
            raise SignatureError("signature has the wrong prefix")
        signature = signature[len(prefix):]
    size = DIGEST_SIZES[algorithm]
    # Reject malformed signatures before computing anything.
    if encoding == "hex":
        if len(signature) != size * 2 or not _HEX.match(signature):
            raise SignatureError("malformed signature (wrong length or not hex)")
        signature = signature.lower()
    else:
        if not _B64.match(signature) or len(signature) != len(base64.b64encode(b"\0" * size)):
            raise SignatureError("malformed signature (wrong length or not base64)")
    timestamp = None
    if timestamp_header:
        timestamp = _header(headers, timestamp_header)
        if not timestamp:
            raise SignatureError(f"missing {timestamp_header}")
        parsed_ts = finite_number(timestamp)
        if parsed_ts is None:  # NaN and inf would pass the window comparison below
            raise SignatureError("timestamp is not a finite number")
        ts = parsed_ts
        if ts > 1e11:  # milliseconds
            ts /= 1000
        current = time.time() if now is None else now
        if abs(current - ts) > REPLAY_WINDOW_S:
            raise SignatureError("timestamp outside the 5-minute window (replayed or clock skew)")
    expected = vapi_hmac(secret, body, timestamp=timestamp, algorithm=algorithm, encoding=encoding)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("signature does not match the body")


def verify_vapi(
    headers: Mapping[str, str],
    body: bytes,
    *,
    mode: str,
    secret: str = "",
    accepted: Sequence[tuple[str, str]] = (),
    **options: Any,
) -> str:
    """Raise SignatureError unless the request carries valid Vapi credentials for the configured mode.

    `accepted` lists (label, secret) pairs tried in order: during a rotation's grace window the current and the
    previous secret, so Vapi can be switched over without losing an event. Returns the label of the secret that
    matched ("current" / "previous"; "" for a single `secret`).
    """
    candidates = list(accepted) or [("", secret)]
    first: SignatureError | None = None
    for label, candidate in candidates:
        try:
            _verify_vapi_one(headers, body, mode=mode, secret=candidate, **options)
        except SignatureError as exc:
            first = first or exc
            continue
        return label
    raise first or SignatureError("no webhook secret is configured")


def twilio_signature(url: str, params: Mapping[str, list[str]] | Mapping[str, str], token: str) -> str:
    """X-Twilio-Signature: HMAC-SHA1(token, url + sorted name+value pairs), base64 with padding."""
    data = url
    for name in sorted(params):
        values = params[name]
        if isinstance(values, str):
            values = [values]
        for value in sorted(set(values)):
            data += name + value
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as called, without its port, and with the scheme's default port (Twilio is inconsistent)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    variants = [url]
    without = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    with_default = urlunsplit((parts.scheme, f"{host}:{default}", parts.path, parts.query, parts.fragment))
    for candidate in (without, with_default):
        if candidate not in variants:
            variants.append(candidate)
    return variants


def verify_twilio(url: str, params: Mapping[str, list[str]], signature: str | None, token: str,
                  body: bytes | None = None) -> None:
    """Raise SignatureError unless X-Twilio-Signature matches (form POST, or JSON with bodySHA256)."""
    if not signature:
        raise SignatureError("missing X-Twilio-Signature")
    if not token:
        raise SignatureError("no Twilio auth token is configured")
    query = urlsplit(url).query
    if body is not None and "bodySHA256=" in query:
        expected_hash = hashlib.sha256(body).hexdigest()
        given = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("bodySHA256", "")
        if not hmac.compare_digest(expected_hash, given.lower()):
            raise SignatureError("bodySHA256 does not match the body")
        params = {}
    for candidate in _port_variants(url):
        if hmac.compare_digest(twilio_signature(candidate, params, token).encode(), signature.encode()):
            return
    raise SignatureError("X-Twilio-Signature does not match")
