"""Sign-in: password step, TOTP (enrolment, windows, replay), recovery codes, lockout and rate limiting."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pyotp
import pytest
from sqlmodel import select

from tests.unit.factories import (
    IP,
    PASSWORD,
    actor_of,
    audit_actions,
    audit_events,
    last_audit_id,
    make_staff,
    totp_seed,
)
from voxanne_admin.audit import flood
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import signin
from voxanne_admin.auth.models import LoginAttempt
from voxanne_admin.errors import Conflict, InvalidInput, RateLimited
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow


@pytest.fixture
def clock(monkeypatch) -> float:
    """Freeze the TOTP clock in the middle of a 30 s step so window tests never straddle a boundary."""
    now = (time.time() // 30) * 30 + 15
    fake = SimpleNamespace(time=lambda: now, monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(signin, "time", fake)
    return now


@pytest.fixture
def ip_limit_10(monkeypatch):
    """LOGIN_IP_LIMIT=10 for one test; the cached settings are rebuilt before and after."""
    monkeypatch.setenv("LOGIN_IP_LIMIT", "10")
    get_settings.cache_clear()
    assert get_settings().login_ip_limit == 10
    yield
    get_settings.cache_clear()


def _code(user, at: float) -> str:
    return pyotp.TOTP(totp_seed(user)).at(at)


def _sign_in(session, email: str, password: str, ip: str = IP):
    return signin.authenticate_password(session, email=email, password=password, actor=actor_of(ip=ip))


# ---------------------------------------------------------------- TOTP enrolment


def test_totp_enrolment_activates_mfa_when_code_confirmed(session, clock):
    user = make_staff(session, mfa=False)
    secret, uri = signin.begin_totp_enrolment(session, user=user)
    assert uri.startswith("otpauth://totp/") and secret in uri and "Voxanne%20Admin" in uri
    assert not user.mfa_enabled

    codes = signin.confirm_totp_enrolment(session, user=user, code=pyotp.TOTP(secret).at(clock),
                                                actor=actor_of(user))

    assert user.mfa_enabled
    assert len(codes) == 10 and len(set(codes)) == 10
    assert signin.remaining_recovery_codes(session, user.id) == 10
    assert [e.target_id for e in audit_events(session, "mfa_enabled")] == [str(user.id)]


def test_totp_enrolment_refused_when_code_wrong(session, clock):
    user = make_staff(session, mfa=False)
    secret, _ = signin.begin_totp_enrolment(session, user=user)
    wrong = pyotp.TOTP(secret).at(clock - 3600)
    with pytest.raises(InvalidInput, match="not valid"):
        signin.confirm_totp_enrolment(session, user=user, code=wrong, actor=actor_of(user))
    with pytest.raises(InvalidInput, match="6-digit code"):
        signin.confirm_totp_enrolment(session, user=user, code="12ab56", actor=actor_of(user))
    assert not user.mfa_enabled
    assert audit_events(session, "mfa_enabled") == []


def test_totp_enrolment_refused_when_already_enabled(session):
    user = make_staff(session, mfa=True)
    with pytest.raises(Conflict, match="already set up"):
        signin.begin_totp_enrolment(session, user=user)


def test_totp_code_from_enrolment_refused_at_sign_in(session, clock):
    user = make_staff(session, mfa=False)
    secret, _ = signin.begin_totp_enrolment(session, user=user)
    code = pyotp.TOTP(secret).at(clock)
    signin.confirm_totp_enrolment(session, user=user, code=code, actor=actor_of(user))
    result = signin.verify_second_factor(session, staff_id=user.id, code=code, actor=actor_of(user))
    assert not result.ok


# ---------------------------------------------------------------- TOTP windows and replay


def test_totp_step_matched_for_previous_current_and_next_window(clock):
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = int(clock // 30)
    assert signin._match_step(secret, totp.at(clock), clock) == step
    assert signin._match_step(secret, totp.at(clock - 30), clock) == step - 1
    assert signin._match_step(secret, totp.at(clock + 30), clock) == step + 1
    assert signin._match_step(secret, totp.at(clock - 60), clock) is None
    assert signin._match_step(secret, totp.at(clock + 60), clock) is None


def test_totp_code_accepted_once_then_refused_on_replay(session, clock):
    user = make_staff(session)
    code = _code(user, clock)

    first = signin.verify_second_factor(session, staff_id=user.id, code=code, actor=actor_of(user))
    replay = signin.verify_second_factor(session, staff_id=user.id, code=code, actor=actor_of(user))

    assert first.ok and first.staff_id == user.id
    assert user.totp_last_step == int(clock // 30)
    assert not replay.ok
    assert replay.message == signin.CODE_FAILURE
    (failed,) = audit_events(session, "mfa_challenge_failed")
    assert failed.diff == {"reason": "code already used"}
    (success,) = audit_events(session, "mfa_challenge_success")
    assert success.diff == {"method": "totp"}


def test_totp_code_accepted_when_from_previous_window(session, clock):
    user = make_staff(session)
    result = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock - 30),
                                               actor=actor_of(user))
    assert result.ok
    assert user.totp_last_step == int(clock // 30) - 1


def test_totp_code_accepted_when_from_next_window(session, clock):
    user = make_staff(session)
    result = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock + 30),
                                               actor=actor_of(user))
    assert result.ok


def test_totp_code_refused_when_older_than_a_window(session, clock):
    user = make_staff(session)
    result = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock - 90),
                                               actor=actor_of(user))
    assert not result.ok
    assert audit_events(session, "mfa_challenge_failed")[0].diff == {"reason": "wrong code"}


def test_totp_previous_window_refused_after_current_code_used(session, clock):
    user = make_staff(session)
    assert signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock),
                                             actor=actor_of(user)).ok
    older = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock - 30),
                                              actor=actor_of(user))
    assert not older.ok


def test_second_factor_success_records_sign_in_and_clears_failures(session, clock):
    user = make_staff(session)
    user.failed_attempts = 3
    result = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock),
                                               actor=actor_of(user))
    assert result.ok
    assert user.failed_attempts == 0
    assert user.last_login_at is not None
    attempt = session.exec(select(LoginAttempt).where(LoginAttempt.staff_id == user.id)).one()
    assert (attempt.stage, attempt.succeeded) == ("mfa", True)


def test_second_factor_refused_when_account_has_no_mfa(session):
    user = make_staff(session, mfa=False)
    result = signin.verify_second_factor(session, staff_id=user.id, code="123456", actor=actor_of(user))
    assert not result.ok
    assert "expired" in result.message


# ---------------------------------------------------------------- recovery codes


def _enrolled(session, clock):
    user = make_staff(session, mfa=False)
    secret, _ = signin.begin_totp_enrolment(session, user=user)
    codes = signin.confirm_totp_enrolment(session, user=user, code=pyotp.TOTP(secret).at(clock),
                                                actor=actor_of(user))
    return user, codes


def test_recovery_code_works_once_then_fails(session, clock):
    user, codes = _enrolled(session, clock)

    first = signin.verify_second_factor(session, staff_id=user.id, code=codes[0], actor=actor_of(user))
    again = signin.verify_second_factor(session, staff_id=user.id, code=codes[0], actor=actor_of(user))

    assert first.ok
    assert not again.ok and again.message == signin.CODE_FAILURE
    assert signin.remaining_recovery_codes(session, user.id) == 9
    (used,) = audit_events(session, "recovery_code_used")
    assert used.diff == {"remaining": 9}
    assert audit_events(session, "mfa_challenge_success")[0].diff == {"method": "recovery_code"}
    assert audit_events(session, "mfa_challenge_failed")[0].diff == {"reason": "unknown or used recovery code"}


def test_recovery_code_accepted_when_typed_without_dash_in_capitals(session, clock):
    user, codes = _enrolled(session, clock)
    typed = codes[1].replace("-", "").upper()
    assert signin.verify_second_factor(session, staff_id=user.id, code=f" {typed} ", actor=actor_of(user)).ok


def test_recovery_codes_regenerated_when_old_ones_stop_working(session, clock):
    user, old = _enrolled(session, clock)
    new = signin.regenerate_recovery_codes(session, user=user, actor=actor_of(user))
    assert not set(old) & set(new)
    assert not signin.verify_second_factor(session, staff_id=user.id, code=old[0], actor=actor_of(user)).ok
    assert signin.verify_second_factor(session, staff_id=user.id, code=new[0], actor=actor_of(user)).ok
    assert len(audit_events(session, "recovery_codes_regenerated")) == 1


# ---------------------------------------------------------------- password step


def test_password_step_succeeds_and_asks_for_enrolment_when_no_mfa(session):
    user = make_staff(session, mfa=False, email="fresh@clinic.example")
    result = _sign_in(session, "  FRESH@clinic.example ", PASSWORD)
    assert result.ok and result.staff_id == user.id and result.needs_enrolment
    attempt = session.exec(select(LoginAttempt).where(LoginAttempt.staff_id == user.id)).one()
    assert (attempt.stage, attempt.succeeded, attempt.ip) == ("password", True, IP)


def test_unknown_email_gets_same_message_as_wrong_password(session):
    user = make_staff(session)
    start = last_audit_id(session)
    wrong = _sign_in(session, user.email, "not-the-password-at-all")
    unknown = _sign_in(session, "nobody@clinic.example", PASSWORD)

    assert not wrong.ok and not unknown.ok
    assert wrong.message == unknown.message == signin.GENERIC_FAILURE
    assert wrong.staff_id is None and unknown.staff_id is None
    # The unknown account is counted per IP and minute (flood control), one audit row per window.
    assert audit_actions(session, since_id=start) == ["login_failed"]
    flood.flush_closed(session, now=utcnow() + timedelta(minutes=1))
    rows = audit_events(session, "login_failed")
    assert [e.diff.get("reason") for e in rows] == ["wrong password", None]
    assert (rows[1].actor_type, rows[1].ip, rows[1].diff["count"], rows[1].diff["reasons"]) == (
        "anonymous", IP, 1, {"unknown account": 1})


def test_disabled_account_refused_with_generic_message(session):
    user = make_staff(session, disabled=True)
    result = _sign_in(session, user.email, PASSWORD)
    assert not result.ok and result.message == signin.GENERIC_FAILURE


def test_five_failures_lock_this_source_out_of_the_account_with_the_generic_answer(session):
    user = make_staff(session)
    results = [_sign_in(session, user.email, f"wrong-password-{i}") for i in range(5)]

    assert [r.message for r in results] == [signin.GENERIC_FAILURE] * 5  # the lock is not announced
    (event,) = audit_events(session, "account_locked")
    assert event.target_id == str(user.id)
    assert (event.diff["stage"], event.diff["source_ip"]) == ("password", IP)

    right = _sign_in(session, user.email, PASSWORD)
    assert not right.ok and right.message.startswith("Too many failed sign-ins for this account")
    assert right.retry_after_s > 14 * 60
    assert auth_service.to_read(user).locked


def test_five_wrong_codes_lock_this_source_out(session, clock):
    user = make_staff(session)
    wrong_totp = next(c for c in ("000000", "111111", "222222", "333333")
                      if signin._match_step(totp_seed(user), c, clock) is None)
    results = [signin.verify_second_factor(session, staff_id=user.id, code=wrong_totp if i % 2 else "11111-22222",
                                                 actor=actor_of(user)) for i in range(5)]
    assert all(not r.ok for r in results)
    assert audit_events(session, "account_locked")[0].diff["stage"] == "mfa"
    assert len(audit_events(session, "mfa_challenge_failed")) == 5
    # Even a correct code is refused while this source is locked out.
    refused = signin.verify_second_factor(session, staff_id=user.id, code=_code(user, clock), actor=actor_of(user))
    assert not refused.ok and refused.locked_until is not None


def test_sign_in_refused_with_rate_limit_when_ip_over_limit(session, ip_limit_10):
    user = make_staff(session)
    session.add_all([LoginAttempt(ip=IP, stage="password", succeeded=False) for _ in range(10)])
    session.flush()
    with pytest.raises(RateLimited, match="Too many sign-in attempts") as exc:
        _sign_in(session, user.email, PASSWORD)
    assert 0 < exc.value.retry_after_s <= 15 * 60 + 1
    with pytest.raises(RateLimited):
        signin.verify_second_factor(session, staff_id=user.id, code="123456", actor=actor_of(user))


def test_rate_limit_counts_only_this_ip_and_recent_attempts(session, ip_limit_10):
    user = make_staff(session)
    old = utcnow() - timedelta(minutes=16)
    session.add_all([LoginAttempt(ip="198.51.100.1", stage="password", succeeded=False) for _ in range(10)])
    session.add_all([LoginAttempt(ip=IP, stage="password", succeeded=False, occurred_at=old) for _ in range(10)])
    session.add_all([LoginAttempt(ip=IP, stage="password", succeeded=False) for _ in range(9)])
    session.flush()
    assert _sign_in(session, user.email, PASSWORD).ok
