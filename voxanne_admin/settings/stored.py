"""Provider credentials stored in the database, as settings see them.

Settings sit below db.py, so they cannot read the database themselves: the credentials package installs a loader
(`credentials.runtime.install`) that returns {name: value} and {name: previous value} decrypted from
`provider_credentials`. Values are cached for a few seconds; a rotation in this process invalidates at once. The
providers note here which credential a provider just accepted; the credentials package writes those uses down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

CredentialLoader = Callable[[], tuple[dict[str, str], dict[str, str]]]
_loader: CredentialLoader | None = None
_cache: dict[str, Any] = {"at": -1e9, "current": {}, "previous": {}}
_cache_lock = threading.Lock()
STORED_TTL_S = 2.0


def use_credential_loader(loader: CredentialLoader | None) -> None:
    """Install (or remove) the function that reads stored credentials."""
    global _loader
    _loader = loader
    invalidate_stored_credentials()


def invalidate_stored_credentials() -> None:
    """Forget the cached stored credentials (the next read loads them again)."""
    with _cache_lock:
        _cache["at"] = -1e9


def stored_credentials_fresh() -> bool:
    """`stored_credential` would answer from its cache now, without a database read or a wait on a reload (with
    a margin, so a reload cannot start in between): event-loop callers read inline then, else on a thread."""
    return _loader is None or time.monotonic() - _cache["at"] < STORED_TTL_S - 0.25


def stored_credential(name: str, *, previous: bool = False) -> str | None:
    """A credential stored in the database (decrypted), or None; never raises (the last good values are kept)."""
    if _loader is None:
        return None
    now = time.monotonic()
    with _cache_lock:
        if now - _cache["at"] > STORED_TTL_S:
            try:
                _cache["current"], _cache["previous"] = _loader()
            except Exception:  # noqa: BLE001 - a database hiccup must not take webhooks down; keep the last values
                logging.getLogger(__name__).warning("could not reload stored credentials; keeping the last ones")
            _cache["at"] = now
        return (_cache["previous"] if previous else _cache["current"]).get(name)


_uses: dict[str, Any] = {}


def note_credential_use(name: str) -> None:
    """A provider accepted this credential just now (kept in memory; the credentials package writes it down)."""
    from datetime import UTC, datetime

    _uses[name] = datetime.now(UTC)


def take_credential_uses() -> dict[str, Any]:
    """The uses noted since the last call, emptied."""
    taken = dict(_uses)
    for name in taken:
        _uses.pop(name, None)
    return taken
