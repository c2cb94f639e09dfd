"""Keys held outside the database, and encryption at rest under them.

Two kinds of key live here, never in PostgreSQL (a database superuser, a leaked
dump or a restored backup must not be enough to read what they protect):

- **key files**: random secrets in `VOXANNE_DATA_DIR/secrets/`, 0600, created
  atomically on first start (`key_file`). A key that protects existing data is
  never silently re-created: pass `allow_create=False` and a missing file is a
  `KeyMissingError` with instructions.
- **the encryption keyring** (`Vault`): Fernet keys (AES-128-CBC + HMAC-SHA256,
  from `cryptography`), newest first. Encrypting uses the newest; decrypting
  tries each, so a key can be rotated without downtime: add a new key in front,
  re-encrypt (`Vault.rotate`), then drop the old one.

The keyring comes from `VOXANNE_ENCRYPTION_KEYS` (comma-separated, newest first)
when set, else from the file `VOXANNE_DATA_DIR/secrets/encryption.keys` (one key
per line, newest first), generated on first start.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from voxanne_admin.settings import get_settings
from voxanne_admin.settings.files import create_secret_file

KEYRING_FILE = "encryption.keys"
KEYRING_ENV = "VOXANNE_ENCRYPTION_KEYS"


class KeyMissingError(RuntimeError):
    """A key that protects existing data is absent or does not match it. The message says what to do."""


class DecryptError(ValueError):
    """A ciphertext that none of the configured keys opens (wrong key, or altered data)."""


def secrets_dir(data_dir: Path | None = None) -> Path:
    """`VOXANNE_DATA_DIR/secrets` (created 0700)."""
    path = (data_dir or get_settings().data_dir) / "secrets"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def key_file(
    name: str,
    generate: Callable[[], str] = lambda: secrets.token_hex(32),
    *,
    allow_create: bool = True,
    data_dir: Path | None = None,
    what: str = "",
) -> str:
    """The content of `secrets/<name>`, created 0600 on first use (atomic: the first process wins).

    With `allow_create=False` a missing file raises `KeyMissingError`: use that when data
    protected by the key already exists, so a lost key is noticed instead of replaced.
    """
    path = secrets_dir(data_dir) / name
    if not path.exists():
        if not allow_create:
            raise KeyMissingError(
                f"The key file {path} is missing, but data protected by it exists"
                f"{f' ({what})' if what else ''}. Restore the file from your secrets backup "
                "(it is never stored in the database), or set the matching environment variable. "
                "A new key would not open the existing data, so none is generated."
            )
        create_secret_file(path, generate().strip() + "\n")
    return path.read_text().strip()


class Vault:
    """Encrypt and decrypt short secrets (TOTP seeds, provider credentials) under the keyring."""

    def __init__(self, keys: Iterable[str]):
        key_list = [k.strip() for k in keys if k.strip()]
        if not key_list:
            raise KeyMissingError("The encryption keyring is empty.")
        try:
            self._fernets = [Fernet(k.encode()) for k in key_list]
        except ValueError as exc:
            raise KeyMissingError(
                f"An encryption key is malformed ({exc}). Each key is 32 url-safe base64-encoded bytes, "
                "as `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
                "prints."
            ) from None
        self._multi = MultiFernet(self._fernets)
        self.key_count = len(key_list)

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext (url-safe text) under the newest key."""
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Plaintext, trying each key; `DecryptError` when none opens it."""
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptError("no configured encryption key opens this value") from None

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext re-encrypted under the newest key."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptError("no configured encryption key opens this value") from None

    def is_current(self, ciphertext: str) -> bool:
        """True when the newest key opens it (no rotation needed)."""
        try:
            self._fernets[0].decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def check_opens(self, ciphertexts: Iterable[str], what: str) -> None:
        """Refuse to start when stored data cannot be opened (a missing or wrong key): `KeyMissingError`."""
        for ct in ciphertexts:
            try:
                self.decrypt(ct)
            except DecryptError:
                raise KeyMissingError(
                    f"The encryption keyring does not open the stored {what}. The key was replaced or lost: "
                    f"restore {KEYRING_ENV} or VOXANNE_DATA_DIR/secrets/{KEYRING_FILE} from your secrets "
                    "backup. (To retire a key, put the new key first and keep the old one until "
                    "`voxanne-admin keys rotate` has re-encrypted everything.)"
                ) from None


def load_vault(*, allow_create: bool = True, data_dir: Path | None = None) -> Vault:
    """The keyring from `VOXANNE_ENCRYPTION_KEYS`, else from the key file (created when allowed)."""
    env = os.environ.get(KEYRING_ENV, "")
    if env.strip():
        return Vault(env.split(","))
    text = key_file(
        KEYRING_FILE,
        lambda: Fernet.generate_key().decode(),
        allow_create=allow_create,
        data_dir=data_dir,
        what="encrypted secrets",
    )
    return Vault(text.splitlines())


@functools.lru_cache(maxsize=1)
def get_vault() -> Vault:
    """The process-wide keyring (read once; `get_vault.cache_clear()` after a rotation)."""
    return load_vault()
