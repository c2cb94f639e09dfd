"""Secrets at rest: TOTP seeds encrypted under the vault's keyring, recovery codes under a keyed hash.

`ENCRYPTED_COLUMNS` is the one list of (table, key column, encrypted column) that `voxanne-admin keys rotate`
re-encrypts and the startup check opens; another module with an encrypted column adds its entry here.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Iterator

import sqlalchemy as sa

from voxanne_admin import vault

RECOVERY_KEY_FILE = "recovery-codes.key"
RECOVERY_KEY_ENV = "VOXANNE_RECOVERY_CODE_KEY"
FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with version byte 0x80 + timestamp: base64 "gAAAAA"

# table, primary-key column, encrypted column
ENCRYPTED_COLUMNS: list[tuple[str, str, str]] = [
    ("staff_users", "id", "totp_secret"),
    ("provider_credentials", "name", "value_enc"),  # credentials/: the stored provider keys and secrets
    ("provider_credentials", "name", "previous_enc"),  # ... and the old one during a rotation's grace window
]


def encrypt(secret: str) -> str:
    """Ciphertext of a secret under the newest key."""
    return vault.get_vault().encrypt(secret)


def decrypt(stored: str) -> str:
    """The clear secret (`vault.DecryptError` when no configured key opens it)."""
    return vault.get_vault().decrypt(stored)


@functools.lru_cache(maxsize=1)
def _recovery_key() -> bytes:
    """`VOXANNE_RECOVERY_CODE_KEY` when set, else the key file `secrets/recovery-codes.key` (created once)."""
    env = os.environ.get(RECOVERY_KEY_ENV, "").strip()
    return (env or vault.key_file(RECOVERY_KEY_FILE, what="recovery-code hashes")).encode()


def recovery_hash(code: str) -> str:
    """Keyed hash of a recovery code: HMAC-SHA256(key outside the database, SHA-256(code)).

    The inner SHA-256 is what codes were stored as before migration 0013, which re-keys them in place, so codes
    issued earlier keep working."""
    inner = hashlib.sha256(code.encode()).hexdigest()
    return "k1:" + hmac.new(_recovery_key(), inner.encode(), hashlib.sha256).hexdigest()


def _rows(conn: sa.Connection, table: str, key: str, column: str) -> Iterator[tuple[object, str]]:
    query = sa.text(f"select {key}, {column} from {table} where {column} is not null and {column} <> ''")  # noqa: S608
    for row in conn.execute(query).all():
        yield row[0], row[1]


def migrate_clear_secrets(conn: sa.Connection,
                          columns: list[tuple[str, str, str]] | None = None) -> int:
    """Encrypt clear values in the encrypted columns (default all; a migration passes the ones that exist at its
    revision) and re-key unsalted recovery hashes; returns how many."""
    changed = 0
    for table, key, column in ENCRYPTED_COLUMNS if columns is None else columns:
        for ident, value in _rows(conn, table, key, column):
            if not value.startswith(FERNET_PREFIX):
                conn.execute(sa.text(f"update {table} set {column} = :v where {key} = :k"),  # noqa: S608
                             {"v": encrypt(value), "k": ident})
                changed += 1
    for ident, value in _rows(conn, "recovery_codes", "id", "code_hash"):
        if not value.startswith("k1:"):
            keyed = "k1:" + hmac.new(_recovery_key(), value.encode(), hashlib.sha256).hexdigest()
            conn.execute(sa.text("update recovery_codes set code_hash = :v where id = :k"), {"v": keyed, "k": ident})
            changed += 1
    return changed


def rotate(conn: sa.Connection) -> dict[str, int]:
    """Re-encrypt every encrypted column under the newest key (`voxanne-admin keys rotate`); per-column counts.

    Values already under the newest key are left alone, so a rotation interrupted half-way can simply run again."""
    keyring = vault.get_vault()
    counts: dict[str, int] = {}
    for table, key, column in ENCRYPTED_COLUMNS:
        done = 0
        for ident, value in _rows(conn, table, key, column):
            if not keyring.is_current(value):
                conn.execute(sa.text(f"update {table} set {column} = :v where {key} = :k"),  # noqa: S608
                             {"v": keyring.rotate(value), "k": ident})
                done += 1
        counts[f"{table}.{column}"] = done
    return counts


def check_startup(conn: sa.Connection) -> None:
    """Refuse to start when stored secrets cannot be opened (a lost or replaced key): `vault.KeyMissingError`."""
    keyring = vault.get_vault()
    for table, key, column in ENCRYPTED_COLUMNS:
        sample = [value for _ident, value in _rows(conn, table, key, column)][:20]
        keyring.check_opens(sample, f"{table}.{column}")
    keyed = conn.execute(sa.text("select 1 from recovery_codes where code_hash like 'k1:%' limit 1")).first()
    if keyed is not None and not os.environ.get(RECOVERY_KEY_ENV, "").strip():
        vault.key_file(RECOVERY_KEY_FILE, allow_create=False, what="recovery-code hashes")
