"""The audit trail's keys, held outside the database (`vault.key_file`), with rotation.

- **MAC keys** (HMAC-SHA256): every row's MAC and every chain link. `AUDIT_HMAC_KEY` (comma-separated, newest
  first) or `VOXANNE_DATA_DIR/secrets/audit_hmac.keys` (one key per line, newest first). New rows use the newest
  key; each row and seal stores the 8-hex `key_id` of its key so older keys keep verifying older rows.
- **signing keys** (Ed25519): the checkpoints. `VOXANNE_DATA_DIR/secrets/audit_signing.keys` (one raw private key
  per line in hex, newest first). Checkpoints carry the `key_id` of the public key; every listed key verifies.

Rotation (`voxanne-admin audit rotate-keys`): a new key is put first and the old ones are kept, so nothing
already written stops verifying. A missing MAC key file while audit rows exist is refused (`check_startup`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import secrets
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlmodel import Session

from voxanne_admin import vault
from voxanne_admin.settings import get_settings

MAC_FILE = "audit_hmac.keys"
SIGNING_FILE = "audit_signing.keys"


def key_id(material: bytes) -> str:
    """A short public fingerprint of a key (never the key)."""
    return hashlib.sha256(b"voxanne-audit-key-id:" + material).hexdigest()[:8]


@dataclass(frozen=True)
class MacKeys:
    """The MAC keyring: `current` signs new rows; `by_id` verifies any row."""

    current_id: str
    by_id: dict[str, bytes]

    @property
    def current(self) -> bytes:
        """The newest key."""
        return self.by_id[self.current_id]


def _mac_keyring(lines: list[str]) -> MacKeys:
    keys = [k.strip() for k in lines if k.strip()]
    if not keys:
        raise vault.KeyMissingError("AUDIT_HMAC_KEY is empty.")
    short = [k for k in keys if len(k) < 32]
    if short:
        raise vault.KeyMissingError("An audit MAC key is shorter than 32 characters: use `openssl rand -hex 32`.")
    by_id = {key_id(k.encode()): k.encode() for k in keys}
    return MacKeys(current_id=key_id(keys[0].encode()), by_id=by_id)


def load_mac_keys(*, allow_create: bool = True) -> MacKeys:
    """The MAC keyring from AUDIT_HMAC_KEY, else the key file (created when allowed)."""
    configured = get_settings().audit_hmac_key
    if configured is not None and configured.get_secret_value().strip():
        return _mac_keyring(configured.get_secret_value().split(","))
    text = vault.key_file(MAC_FILE, allow_create=allow_create, what="the audit trail's row MACs and chain links")
    return _mac_keyring(text.splitlines())


@functools.lru_cache(maxsize=1)
def mac_keys() -> MacKeys:
    """The process-wide MAC keyring (`mac_keys.cache_clear()` after a rotation). Never creates the key: a missing
    one is `KeyMissingError` (see `ensure_mac_keys`)."""
    return load_mac_keys(allow_create=False)


def _has_rows(session: Session) -> bool:
    return bool(session.execute(sa.text("select exists (select 1 from audit_events)")).scalar())


def ensure_mac_keys(session: Session) -> MacKeys:
    """The MAC keyring; generated on first use only while the audit trail is empty."""
    try:
        return mac_keys()
    except vault.KeyMissingError:
        if _has_rows(session) or get_settings().audit_hmac_key is not None:
            raise
        load_mac_keys(allow_create=True)
        return mac_keys()


async def ensure_mac_keys_async(conn: psycopg.AsyncConnection) -> MacKeys:
    """`ensure_mac_keys` on an async psycopg connection (the key file is written on a thread)."""
    try:
        return mac_keys()
    except vault.KeyMissingError:
        cursor = await conn.execute("select exists (select 1 from audit_events)")
        row = await cursor.fetchone()
        if (row and row[0]) or get_settings().audit_hmac_key is not None:
            raise
        await asyncio.to_thread(load_mac_keys, allow_create=True)
        return mac_keys()


def check_startup(session: Session) -> None:
    """Refuse (`KeyMissingError`, with instructions) when audit rows exist but their MAC key is not configured."""
    keyring = ensure_mac_keys(session)
    used = [r[0] for r in session.execute(sa.text(
        "select distinct key_id from (select key_id from audit_events order by id desc limit 1000) t")).all()]
    missing = [k for k in used if k not in keyring.by_id]
    if missing:
        raise vault.KeyMissingError(
            f"The newest audit rows were written with MAC key(s) {', '.join(missing)}, which AUDIT_HMAC_KEY / "
            f"VOXANNE_DATA_DIR/secrets/{MAC_FILE} does not hold. Restore the key file from your secrets backup, "
            "or put the old key back (after the new one, comma-separated). A new key would make the existing "
            "trail unverifiable, so none is generated.")
    from voxanne_admin.audit import checkpoints

    if checkpoints.path().exists() and checkpoints.path().stat().st_size > 0:
        load_signing_keys(allow_create=False)


def _new_signing_key() -> str:
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


@dataclass(frozen=True)
class SigningKeys:
    """The checkpoint signing keyring: the newest signs, every listed key verifies."""

    current_id: str
    private: Ed25519PrivateKey
    public_by_id: dict[str, Ed25519PublicKey]


def public_id(public: Ed25519PublicKey) -> str:
    """The key id of a public key."""
    return key_id(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_signing_keys(*, allow_create: bool = True) -> SigningKeys:
    """The Ed25519 keyring from AUDIT_SIGNING_KEY, else its key file (created when allowed)."""
    configured = get_settings().audit_signing_key
    if configured is not None and configured.get_secret_value().strip():
        where, lines = "AUDIT_SIGNING_KEY", configured.get_secret_value().split(",")
    else:
        where = SIGNING_FILE
        lines = vault.key_file(SIGNING_FILE, _new_signing_key, allow_create=allow_create,
                               what="the audit checkpoints' Ed25519 signatures").splitlines()
    privs = []
    for line in lines:
        if line.strip():
            try:
                privs.append(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(line.strip())))
            except ValueError:
                raise vault.KeyMissingError(f"{where} holds a malformed key: each key is 64 hex characters (a raw "
                                            "Ed25519 private key).") from None
    if not privs:
        raise vault.KeyMissingError(f"{where} is empty.")
    pubs = {public_id(p.public_key()): p.public_key() for p in privs}
    return SigningKeys(current_id=public_id(privs[0].public_key()), private=privs[0], public_by_id=pubs)


@functools.lru_cache(maxsize=1)
def signing_keys() -> SigningKeys:
    """The process-wide signing keyring."""
    return load_signing_keys()


def _prepend(name: str, new_key: str) -> None:
    path = vault.secrets_dir() / name
    old = path.read_text() if path.exists() else ""
    tmp = path.with_name(f".{name}.{os.getpid()}.rotate")
    tmp.write_text(new_key + "\n" + old)
    tmp.chmod(0o600)
    os.replace(tmp, path)


def rotate() -> tuple[str, str]:
    """Put a new MAC key (unless AUDIT_HMAC_KEY is set) and a new signing key (unless AUDIT_SIGNING_KEY is set)
    first; returns the new key ids ("" for a key that lives in the environment: its owner rotates it there)."""
    mac_id = ""
    if get_settings().audit_hmac_key is None:
        load_mac_keys()  # the file exists before a key goes in front
        new_mac = secrets.token_hex(32)
        _prepend(MAC_FILE, new_mac)
        mac_id = key_id(new_mac.encode())
    signing_id = ""
    if get_settings().audit_signing_key is None:
        load_signing_keys()
        new_signing = _new_signing_key()
        _prepend(SIGNING_FILE, new_signing)
        signing_id = public_id(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(new_signing)).public_key())
    mac_keys.cache_clear()
    signing_keys.cache_clear()
    return mac_id, signing_id
