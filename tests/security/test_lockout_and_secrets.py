"""Findings 6 and 9, on the real database with committed transactions.

6: an existing locked account and an unknown email get the same answer; lockout is by account AND source IP, so an
attacker elsewhere cannot lock a colleague out; past the threshold the account gets a progressive delay (a refusal
with Retry-After, never a sleep).

9: TOTP seeds are encrypted at rest with the vault (clear ones from before are migrated), recovery codes are stored
under a keyed hash (codes issued before keep working), two simultaneous submissions of one TOTP code: exactly one
is accepted, and `voxanne-admin keys rotate` re-encrypts under the newest key.

The modules the fixes added (auth.lockout, auth.secrets_at_rest) are imported inside the tests that need them,
after the behaviour (the answers of the sign-in steps, what the database holds) has been checked, so that on the
code before the fixes these tests fail on that behaviour.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from tests.unit.factories import PASSWORD, actor_of, make_staff, totp_seed
from voxanne_admin import db, vault
from voxanne_admin.auth import signin
from voxanne_admin.auth.models import LoginAttempt, StaffUser

ATTACKER_IPS = ["198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.13"]
COLLEAGUE_IP = "203.0.113.50"


def _password(email: str, password: str, ip: str) -> signin.SignInResult:
    with db.transaction() as session:
        return signin.authenticate_password(session, email=email, password=password, actor=actor_of(None, ip=ip))


def _code(staff_id: int, code: str, ip: str = COLLEAGUE_IP) -> signin.SignInResult:
    with db.transaction() as session:
        return signin.verify_second_factor(session, staff_id=staff_id, code=code, actor=actor_of(None, ip=ip))


def _colleague() -> tuple[int, str, str]:
    with db.transaction() as session:
        user = make_staff(session, role="operator")
        return user.id, user.email, totp_seed(user)


def test_a_locked_account_and_an_unknown_email_get_the_same_answer(clean_db):
    _id, email, _seed = _colleague()
    ip = ATTACKER_IPS[0]
    for i in range(5):
        assert _password(email, f"guess-{i}", ip).message == signin.GENERIC_FAILURE
        assert _password("nobody@clinic.example", f"guess-{i}", ip).message == signin.GENERIC_FAILURE
    existing = _password(email, PASSWORD, ip)  # even the right password, from this source
    unknown = _password("nobody@clinic.example", PASSWORD, ip)
    assert not existing.ok and not unknown.ok
    assert existing.message == unknown.message
    assert existing.message.startswith("Too many failed sign-ins for this account")
    assert "locked" not in existing.message.lower()


def test_an_attacker_elsewhere_cannot_lock_a_colleague_out(clean_db):
    staff_id, email, seed = _colleague()
    # The colleague signed in from their desk before (a known source).
    assert _password(email, PASSWORD, COLLEAGUE_IP).ok
    assert _code(staff_id, pyotp.TOTP(seed).at(time.time() - 30)).ok  # the previous step: .now() stays usable
    answers = [_password(email, f"guess-{ip}-{i}", ip) for ip in ATTACKER_IPS for i in range(5)]
    assert {a.message for a in answers if not getattr(a, "retry_after_s", 0)} == {signin.GENERIC_FAILURE}
    assert any(getattr(a, "retry_after_s", 0) for a in answers)  # the attack is slowed down...
    assert not _password(email, PASSWORD, ATTACKER_IPS[0]).ok  # ...and its first source locked out
    result = _password(email, PASSWORD, COLLEAGUE_IP)  # but the colleague at their desk gets in at once
    assert result.ok and result.staff_id == staff_id
    assert _code(staff_id, pyotp.TOTP(seed).now()).ok


def test_past_the_threshold_a_new_source_gets_a_progressive_delay_not_a_sleep(clean_db):
    from voxanne_admin.auth import lockout

    _id, email, _seed = _colleague()
    with db.transaction() as session:  # ten failed guesses just now, from ten addresses (a botnet)
        session.add_all([LoginAttempt(ip=f"198.51.100.{20 + i}", account_key=lockout.account_key(email),
                                      stage="password", succeeded=False, reason="bad_password") for i in range(10)])
    newcomer = _password(email, PASSWORD, "192.0.2.77")  # 10 failures: 2**(10 - 5) = 32 s
    assert not newcomer.ok and 25 <= newcomer.retry_after_s <= 33
    assert newcomer.message.startswith("Too many failed sign-ins for this account. Wait")
    with db.read_only() as session:
        throttle = lockout.check(session, key=lockout.account_key(email), ip="192.0.2.78", user=None)
    assert not throttle.allowed and throttle.reason == "delay"


# ------------------------------------------------------------------ finding 9


def test_totp_seed_is_stored_encrypted_and_recovery_codes_under_a_keyed_hash(clean_db):
    with db.transaction() as session:
        user = make_staff(session, mfa=False)
        secret, _uri = signin.begin_totp_enrolment(session, user=user)
        codes = signin.confirm_totp_enrolment(session, user=user, code=pyotp.TOTP(secret).now(),
                                              actor=actor_of(user))
        staff_id = user.id
    with db.get_engine().connect() as conn:
        stored = conn.execute(sa.text("select totp_secret from staff_users where id = :i"), {"i": staff_id}).scalar()
        hashes = [r[0] for r in conn.execute(sa.text("select code_hash from recovery_codes"))]
    assert stored != secret and secret not in stored, "the TOTP seed is stored in clear"
    unsalted = {hashlib.sha256(c.encode()).hexdigest() for c in codes}
    assert len(hashes) == 10 and not unsalted & set(hashes), "recovery codes are stored as unsalted SHA-256"
    from voxanne_admin.auth import secrets_at_rest

    assert stored.startswith(secrets_at_rest.FERNET_PREFIX) and vault.get_vault().decrypt(stored) == secret
    assert all(h.startswith("k1:") for h in hashes)
    assert _code(staff_id, codes[0]).ok


def test_clear_secrets_from_before_are_migrated_and_old_recovery_codes_still_work(clean_db):
    from voxanne_admin.auth import secrets_at_rest

    seed = pyotp.random_base32()
    with db.transaction() as session:
        user = make_staff(session)
        staff_id = user.id
    with db.get_engine().begin() as conn:  # a row as main stored it before migration 0013
        conn.execute(sa.text("update staff_users set totp_secret = :s where id = :i"), {"s": seed, "i": staff_id})
        conn.execute(sa.text("insert into recovery_codes (staff_id, code_hash, created_at) values (:i, :h, now())"),
                     {"i": staff_id, "h": hashlib.sha256(b"abcde-12345").hexdigest()})
        assert secrets_at_rest.migrate_clear_secrets(conn) == 2
        assert secrets_at_rest.migrate_clear_secrets(conn) == 0  # idempotent
        stored = conn.execute(sa.text("select totp_secret from staff_users where id = :i"), {"i": staff_id}).scalar()
    assert stored.startswith(secrets_at_rest.FERNET_PREFIX) and vault.get_vault().decrypt(stored) == seed
    assert _code(staff_id, "abcde-12345").ok
    assert _code(staff_id, pyotp.TOTP(seed).now()).ok


def test_two_simultaneous_submissions_of_one_code_exactly_one_is_accepted(clean_db):
    staff_id, _email, seed = _colleague()
    code = pyotp.TOTP(seed).now()
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def submit() -> None:
        with db.transaction() as session:
            barrier.wait()
            results.append(signin.verify_second_factor(session, staff_id=staff_id, code=code,
                                                       actor=actor_of(None, ip=COLLEAGUE_IP)).ok)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]


def test_keys_rotate_re_encrypts_every_encrypted_column_under_the_newest_key(clean_db, monkeypatch):
    from voxanne_admin.cli import app

    old_key = os.environ["VOXANNE_ENCRYPTION_KEYS"]
    with db.transaction() as session:
        user = make_staff(session)
        staff_id, seed = user.id, totp_seed(user)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    vault.get_vault.cache_clear()
    try:
        result = CliRunner().invoke(app, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "staff_users.totp_secret: 1 re-encrypted" in result.output
        with db.get_engine().connect() as conn:
            stored = conn.execute(sa.text("select totp_secret from staff_users where id = :i"),
                                  {"i": staff_id}).scalar()
        assert Fernet(new_key.encode()).decrypt(stored.encode()).decode() == seed
        from voxanne_admin.auth import secrets_at_rest

        again = CliRunner().invoke(app, ["keys", "rotate"])
        assert "staff_users.totp_secret: 0 re-encrypted" in again.output
        # With only the new key, the stored secrets still open (the old key can go).
        monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", new_key)
        vault.get_vault.cache_clear()
        with db.get_engine().connect() as conn:
            secrets_at_rest.check_startup(conn)
        # ...and with only a stranger's key, the startup check refuses.
        monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        vault.get_vault.cache_clear()
        with db.get_engine().connect() as conn, pytest.raises(vault.KeyMissingError):
            secrets_at_rest.check_startup(conn)
    finally:
        monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", old_key)
        vault.get_vault.cache_clear()
    with db.read_only() as session:
        assert session.get(StaffUser, staff_id).mfa_enabled
