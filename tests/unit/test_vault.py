"""Keys outside the database: key files and the encryption keyring."""

from __future__ import annotations

import stat
import threading

import pytest
from cryptography.fernet import Fernet

from voxanne_admin import vault


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path):
    first = vault.key_file("audit-hmac", data_dir=tmp_path)
    again = vault.key_file("audit-hmac", lambda: "other", data_dir=tmp_path)
    path = tmp_path / "secrets" / "audit-hmac"
    assert first == again and len(first) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_missing_key_for_existing_data_is_refused_not_recreated(tmp_path):
    with pytest.raises(vault.KeyMissingError, match="none is generated"):
        vault.key_file("audit-hmac", allow_create=False, data_dir=tmp_path, what="audit rows")
    assert not (tmp_path / "secrets" / "audit-hmac").exists()


def test_encrypt_round_trip_and_rotation_to_a_new_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = vault.Vault([old])
    ct = before.encrypt("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in ct
    during = vault.Vault([new, old])
    assert during.decrypt(ct) == "JBSWY3DPEHPK3PXP" and not during.is_current(ct)
    rotated = during.rotate(ct)
    assert during.is_current(rotated)
    after = vault.Vault([new])
    assert after.decrypt(rotated) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(vault.DecryptError):
        after.decrypt(ct)


def test_stored_data_the_keyring_cannot_open_stops_startup_with_instructions():
    other = vault.Vault([Fernet.generate_key().decode()])
    ct = vault.Vault([Fernet.generate_key().decode()]).encrypt("secret")
    with pytest.raises(vault.KeyMissingError, match="restore"):
        other.check_opens([ct], "TOTP secrets")


def test_a_malformed_key_is_explained():
    with pytest.raises(vault.KeyMissingError, match="url-safe base64"):
        vault.Vault(["not-a-key"])


def test_keyring_from_file_then_from_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(vault.KEYRING_ENV, raising=False)
    with pytest.raises(vault.KeyMissingError):
        vault.load_vault(allow_create=False, data_dir=tmp_path)
    v = vault.load_vault(data_dir=tmp_path)
    ct = v.encrypt("x")
    assert vault.load_vault(allow_create=False, data_dir=tmp_path).decrypt(ct) == "x"
    env_key = Fernet.generate_key().decode()
    monkeypatch.setenv(vault.KEYRING_ENV, env_key)
    assert vault.load_vault(data_dir=tmp_path).key_count == 1
    with pytest.raises(vault.DecryptError):
        vault.load_vault(data_dir=tmp_path).decrypt(ct)


def test_a_secret_file_created_by_many_threads_at_once_is_one_file_with_one_content(tmp_path):
    """The first Twilio requests after a start check signatures on several executor threads at once, each
    creating the sandbox token file: every one must get the same secret, and none an error."""
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from voxanne_admin.settings.files import create_secret_file

    path = tmp_path / "twilio-token"
    barrier = threading.Barrier(16)

    def create(i: int) -> str:
        barrier.wait()
        create_secret_file(path, f"secret-{i}")
        return path.read_text()

    with ThreadPoolExecutor(16) as pool:
        seen = set(pool.map(create, range(16)))
    assert len(seen) == 1 and seen.pop().startswith("secret-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twilio-token"]  # no temporary file left
