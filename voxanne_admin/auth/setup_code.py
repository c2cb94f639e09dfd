"""First-run takeover protection: on a fresh install reachable from other machines, creating the founder needs
a one-time setup code that only the person who started the server sees (in its log), as Jupyter and Grafana do.

The code lives in the data directory's secrets (`secrets/setup-code`, 0600), so every worker shares it; it is
deleted once the founder exists.
"""

from __future__ import annotations

import ipaddress
import secrets

from voxanne_admin import vault

NAME = "setup-code"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a terminal, typed by hand


def _generate() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))  # 60 bits
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def is_loopback_host(host: str) -> bool:
    """True when the server listens on loopback only (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issue(*, host: str) -> str | None:
    """At server start on a fresh install bound to a non-loopback address: the code (created once), else None."""
    if is_loopback_host(host):
        clear()
        return None
    return vault.key_file(NAME, _generate)


def required() -> bool:
    """Whether the first-run form must ask for the code."""
    return (vault.secrets_dir() / NAME).exists()


def check(given: str) -> bool:
    """The code matches (case, spaces and dashes ignored); always True when none is required."""
    path = vault.secrets_dir() / NAME
    if not path.exists():
        return True
    expected = path.read_text().strip().replace("-", "")
    cleaned = "".join(given.split()).replace("-", "").upper()
    return bool(cleaned) and secrets.compare_digest(cleaned, expected)


def clear() -> None:
    """The founder exists (or the server is loopback-only): the code is spent."""
    (vault.secrets_dir() / NAME).unlink(missing_ok=True)
