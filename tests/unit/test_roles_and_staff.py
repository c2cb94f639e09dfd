"""Role ordering and the guards on managing other staff accounts."""

from __future__ import annotations

import pytest

from tests.unit.factories import PASSWORD, actor_of, audit_events, make_staff, open_session
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import signin
from voxanne_admin.auth.models import RecoveryCode
from voxanne_admin.auth.roles import has_role, require_role
from voxanne_admin.errors import InvalidInput, PermissionDenied

ORDER = ["viewer", "operator", "admin", "founder"]


@pytest.mark.parametrize("role", ORDER)
@pytest.mark.parametrize("minimum", ORDER)
def test_role_allowed_only_when_at_least_minimum(role, minimum):
    allowed = ORDER.index(role) >= ORDER.index(minimum)
    assert has_role(role, minimum) is allowed
    if allowed:
        require_role(role, minimum)
    else:
        with pytest.raises(PermissionDenied, match=f"needs the {minimum} role"):
            require_role(role, minimum)


@pytest.mark.parametrize("role", [None, "", "superuser", "Admin"])
def test_role_refused_when_unknown_or_missing(role):
    assert not has_role(role, "viewer")
    with pytest.raises(PermissionDenied):
        require_role(role, "viewer")


def test_require_role_rejects_unknown_minimum():
    with pytest.raises(ValueError, match="unknown role"):
        require_role("founder", "owner")


# ---------------------------------------------------------------- creating staff


@pytest.mark.parametrize("actor_role", ["viewer", "operator"])
def test_staff_create_refused_below_admin(session, actor_role):
    actor_user = make_staff(session, role=actor_role)
    with pytest.raises(PermissionDenied):
        auth_service.create_staff(session, email="x@clinic.example", name="X", role="viewer", password=PASSWORD,
                                  actor=actor_of(actor_user), actor_role=actor_role)
    assert auth_service.get_by_email(session, email="x@clinic.example") is None


def test_founder_create_refused_when_actor_is_admin(session):
    admin = make_staff(session, role="admin")
    with pytest.raises(PermissionDenied, match="Only a founder can create another founder"):
        auth_service.create_staff(session, email="f@clinic.example", name="F", role="founder", password=PASSWORD,
                                  actor=actor_of(admin), actor_role="admin")
    assert auth_service.get_by_email(session, email="f@clinic.example") is None


def test_founder_created_when_actor_is_founder(session):
    founder = make_staff(session, role="founder")
    user = auth_service.create_staff(session, email="f@clinic.example", name="F", role="founder",
                                     password=PASSWORD, actor=actor_of(founder), actor_role="founder")
    assert user.role == "founder"


def test_staff_create_refused_when_role_unknown(session):
    admin = make_staff(session, role="admin")
    with pytest.raises(InvalidInput, match="Choose a role") as exc:
        auth_service.create_staff(session, email="r@clinic.example", name="R", role="owner", password=PASSWORD,
                                  actor=actor_of(admin), actor_role="admin")
    assert exc.value.field == "role"


# ---------------------------------------------------------------- changing other staff


def test_role_changed_and_audited_when_admin_changes_operator(session):
    admin = make_staff(session, role="admin")
    target = make_staff(session, role="operator")
    auth_service.change_role(session, actor_user=admin, staff_id=target.id, role="admin", actor=actor_of(admin))
    assert target.role == "admin"
    (event,) = audit_events(session, "staff_role_changed")
    assert event.diff == {"role": {"before": "operator", "after": "admin"}}
    assert event.target_id == str(target.id)


def test_role_change_writes_nothing_when_role_unchanged(session):
    admin = make_staff(session, role="admin")
    target = make_staff(session, role="operator")
    auth_service.change_role(session, actor_user=admin, staff_id=target.id, role="operator", actor=actor_of(admin))
    assert audit_events(session, "staff_role_changed") == []


@pytest.mark.parametrize("action", ["change_role", "set_disabled", "reset_mfa"])
def test_founder_account_change_refused_when_actor_is_admin(session, action):
    admin = make_staff(session, role="admin")
    founder = make_staff(session, role="founder")
    kwargs = {"change_role": {"role": "viewer"}, "set_disabled": {"disabled": True}, "reset_mfa": {}}[action]
    with pytest.raises(PermissionDenied, match="Only a founder can change a founder"):
        getattr(auth_service, action)(session, actor_user=admin, staff_id=founder.id, actor=actor_of(admin),
                                      **kwargs)
    assert (founder.role, founder.disabled, founder.mfa_enabled) == ("founder", False, True)


@pytest.mark.parametrize("role", ["admin", "founder"])
@pytest.mark.parametrize("action", ["change_role", "set_disabled", "reset_mfa"])
def test_own_account_change_refused_for_everyone(session, role, action):
    me = make_staff(session, role=role)
    kwargs = {"change_role": {"role": "viewer"}, "set_disabled": {"disabled": True}, "reset_mfa": {}}[action]
    with pytest.raises(PermissionDenied, match="cannot change your own"):
        getattr(auth_service, action)(session, actor_user=me, staff_id=me.id, actor=actor_of(me), **kwargs)
    assert (me.role, me.disabled, me.mfa_enabled) == (role, False, True)


def test_promotion_to_founder_refused_when_actor_is_admin(session):
    admin = make_staff(session, role="admin")
    target = make_staff(session, role="operator")
    with pytest.raises(PermissionDenied, match="Only a founder can make someone a founder"):
        auth_service.change_role(session, actor_user=admin, staff_id=target.id, role="founder",
                                 actor=actor_of(admin))
    assert target.role == "operator"


def test_founder_changes_another_founder(session):
    founder = make_staff(session, role="founder")
    other = make_staff(session, role="founder")
    auth_service.change_role(session, actor_user=founder, staff_id=other.id, role="admin", actor=actor_of(founder))
    assert other.role == "admin"


def test_staff_change_refused_when_actor_is_operator(session):
    operator = make_staff(session, role="operator")
    target = make_staff(session, role="viewer")
    with pytest.raises(PermissionDenied):
        auth_service.set_disabled(session, actor_user=operator, staff_id=target.id, disabled=True,
                                  actor=actor_of(operator))
    assert not target.disabled


def test_mfa_reset_clears_totp_codes_and_sessions(session):
    admin = make_staff(session, role="admin")
    target = make_staff(session, role="viewer")
    token = open_session(session, target)
    session.add(RecoveryCode(staff_id=target.id, code_hash="0" * 64))
    session.flush()

    auth_service.reset_mfa(session, actor_user=admin, staff_id=target.id, actor=actor_of(admin))

    assert (target.mfa_enabled, target.totp_secret, target.totp_last_step) == (False, None, None)
    assert signin.remaining_recovery_codes(session, target.id) == 0
    assert auth_service.resolve_session(session, token=token) is None
    (event,) = audit_events(session, "mfa_disabled")
    assert event.target_id == str(target.id) and event.actor_email == admin.email
    assert audit_events(session, "session_revoked")[0].diff["reason"] == "MFA reset"


def test_admin_unlocks_a_locked_account_audited(session):
    from datetime import timedelta

    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth.models import StaffUser
    from voxanne_admin.errors import Conflict
    from voxanne_admin.timeutil import utcnow

    def make(email: str, role: str) -> StaffUser:
        user = StaffUser(email=email, name=email.split("@")[0], role=role, password_hash="x", mfa_enabled=True)
        session.add(user)
        session.flush()
        return user

    admin = make("unlock-admin@clinic.example", "admin")
    locked = make("unlock-target@clinic.example", "operator")
    locked.locked_until = utcnow() + timedelta(minutes=15)
    locked.failed_attempts = 0
    session.add(locked)
    actor = auth_service.Actor(type="staff", id=str(admin.id), email=admin.email)
    auth_service.unlock(session, actor_user=admin, staff_id=locked.id, actor=actor)
    assert locked.locked_until is None
    from sqlmodel import select

    from voxanne_admin.audit.models import AuditEvent

    assert session.exec(select(AuditEvent).where(AuditEvent.action == "account_unlocked")).first() is not None
    with pytest.raises(Conflict):
        auth_service.unlock(session, actor_user=admin, staff_id=locked.id, actor=actor)
