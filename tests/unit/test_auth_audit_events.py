"""Every security-relevant auth event lands in the audit trail, written by the service call that caused it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pyotp
import pytest

from tests.unit.factories import PASSWORD, actor_of, audit_actions, last_audit_id, make_staff
from voxanne_admin.audit import chain as audit_chain
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import signin

AUTH_EVENTS = {
    "login_success", "login_failed", "logout", "mfa_enabled", "mfa_disabled", "mfa_challenge_success",
    "mfa_challenge_failed", "password_changed", "recovery_code_used", "session_revoked", "account_locked",
}


@pytest.fixture
def clock(monkeypatch) -> float:
    now = (time.time() // 30) * 30 + 15
    monkeypatch.setattr(signin, "time", SimpleNamespace(time=lambda: now, monotonic=time.monotonic,
                                                              sleep=time.sleep))
    return now


def test_each_auth_event_written_by_its_service_call(session, clock):
    admin = make_staff(session, role="admin")
    user = make_staff(session, mfa=False)
    me = actor_of(user)
    seen: set[str] = set()

    def step(expected: list[str], call):
        start = last_audit_id(session)
        result = call()
        assert audit_actions(session, since_id=start) == expected
        seen.update(expected)
        return result

    step(["login_failed"], lambda: signin.authenticate_password(session, email=user.email, password="nope",
                                                                       actor=me))
    assert step([], lambda: signin.authenticate_password(session, email=user.email, password=PASSWORD,
                                                               actor=me)).ok
    secret, _ = signin.begin_totp_enrolment(session, user=user)
    codes = step(["mfa_enabled"], lambda: signin.confirm_totp_enrolment(
        session, user=user, code=pyotp.TOTP(secret).at(clock), actor=me))
    step(["mfa_challenge_success"], lambda: signin.verify_second_factor(
        session, staff_id=user.id, code=pyotp.TOTP(secret).at(clock + 30), actor=me))
    step(["mfa_challenge_failed"], lambda: signin.verify_second_factor(
        session, staff_id=user.id, code="99999-99999", actor=me))
    step(["recovery_code_used", "mfa_challenge_success"], lambda: signin.verify_second_factor(
        session, staff_id=user.id, code=codes[0], actor=me))
    ticket = step(["login_success"], lambda: auth_service.create_session(session, user=user, actor=me))
    token = auth_service.establish_session(session, ticket=ticket)
    current = auth_service.resolve_session(session, token=token)
    step(["logout"], lambda: auth_service.revoke_session(session, staff_id=user.id, session_id=current.session_id,
                                                         actor=me, action="logout"))
    other = auth_service.resolve_session(session, token=auth_service.establish_session(
        session, ticket=auth_service.create_session(session, user=user, actor=me)))
    step(["session_revoked"], lambda: auth_service.revoke_session(session, staff_id=user.id,
                                                                  session_id=other.session_id, actor=me))
    step(["password_changed"], lambda: auth_service.change_password(
        session, user=user, current=PASSWORD, new="granite heron folds the paper moon", actor=me))
    for _ in range(4):
        signin.verify_second_factor(session, staff_id=user.id, code="99999-99999", actor=me)
    step(["mfa_challenge_failed", "account_locked"], lambda: signin.verify_second_factor(
        session, staff_id=user.id, code="99999-99999", actor=me))
    step(["mfa_disabled"], lambda: auth_service.reset_mfa(session, actor_user=admin, staff_id=user.id,
                                                          actor=actor_of(admin)))

    assert seen == AUTH_EVENTS
    assert audit_chain.verify(session).ok
