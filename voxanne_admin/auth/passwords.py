"""Password policy and hashing (argon2id via argon2-cffi)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from voxanne_admin.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()


@functools.lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def validate_password(password: str, *, email: str = "", name: str = "") -> None:
    """Refuse short, overlong, commonly used or easily guessed passwords with a clear reason."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Use at least {MIN_LENGTH} characters for the password.", field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Use at most {MAX_LENGTH} characters for the password.", field="password")
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.rstrip("0123456789!@#$%^&*.") in _common_passwords():
        raise InvalidInput("That password is commonly used. Choose a longer phrase of your own.", field="password")
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:100], user_inputs=[part for part in (email, email.split("@")[0], name) if part])
    if result["score"] < 3:
        hint = (result.get("feedback") or {}).get("warning") or "It is too easy to guess."
        raise InvalidInput(f"That password is too easy to guess. {hint}".strip(), field="password")


def hash_password(password: str) -> str:
    """argon2id hash with the library's current parameters."""
    return _hasher.hash(password)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("voxanne-timing-equaliser-not-a-password")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time on a dummy so timing does not tell."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
