"""How running code reads stored credentials: the loader settings consults, last-use marks, the startup check."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from voxanne_admin import db
from voxanne_admin.credentials import service
from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import (
    invalidate_stored_credentials,
    note_credential_use,
    take_credential_uses,
    use_credential_loader,
)
from voxanne_admin.vault import KeyMissingError, get_vault, load_vault

log = logging.getLogger(__name__)
_flushed_at = [0.0]
FLUSH_EVERY_S = 60.0


def _load() -> tuple[dict[str, str], dict[str, str]]:
    _flush_used()
    with db.read_only() as session:
        return service.load_values(session, get_vault())


def install() -> None:
    """Make settings consult stored credentials (idempotent; edges call it at start)."""
    use_credential_loader(_load)


def changed() -> None:
    """A rotation committed in this process: read the new values at once (others within a few seconds)."""
    invalidate_stored_credentials()


def mark_used(name: str) -> None:
    """Note a successful use (a webhook verified with it, a provider accepted it); written at most once a minute."""
    note_credential_use(name)


def _flush_used(force: bool = False) -> None:
    if not force and time.monotonic() - _flushed_at[0] < FLUSH_EVERY_S:
        return
    _flushed_at[0] = time.monotonic()
    pending: dict[str, datetime] = take_credential_uses()
    if not pending:
        return
    try:
        with db.transaction() as session:
            service.mark_used(session, used=pending)
    except Exception:  # noqa: BLE001 - bookkeeping only
        log.warning("could not record credential use")


def check_startup() -> None:
    """Refuse to start when stored credentials exist and the keyring does not open them (missing or wrong key)."""
    with db.read_only() as session:
        stored = service.ciphertexts(session)
    if not stored:
        return
    try:
        vault = load_vault(allow_create=False)  # never generate a new key over existing ciphertexts
    except KeyMissingError as exc:
        raise KeyMissingError(f"{exc} Provider credentials are stored encrypted in the database.") from None
    vault.check_opens(stored, "provider credentials")


def flush_uses() -> None:
    """Write the noted uses now (the page calls this before showing 'last used')."""
    _flush_used(force=True)


def warm() -> None:
    """Read the stored credentials once (a failing database is logged, not fatal here)."""
    get_settings().vapi_key  # noqa: B018 - loads the overlay
