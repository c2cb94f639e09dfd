"""Password policy, email normalisation and creating staff accounts."""

from __future__ import annotations

import pytest

from tests.unit.factories import PASSWORD, actor_of, audit_events, make_staff
from voxanne_admin.auth import passwords
from voxanne_admin.auth import service as auth_service
from voxanne_admin.errors import Conflict, InvalidInput


@pytest.mark.parametrize("password", ["short-pw1", "elevenchars"])
def test_password_refused_when_shorter_than_twelve(password):
    with pytest.raises(InvalidInput, match="at least 12 characters") as exc:
        passwords.validate_password(password)
    assert exc.value.field == "password"


@pytest.mark.parametrize("password", ["passwordpassword", "qwertyuiop123", "Password123456"])
def test_password_refused_when_common(password):
    with pytest.raises(InvalidInput, match="commonly used|too easy to guess"):
        passwords.validate_password(password)


def test_password_refused_when_it_is_the_email():
    with pytest.raises(InvalidInput, match="too easy to guess|commonly used"):
        passwords.validate_password("maria.lopez@harbor.example", email="maria.lopez@harbor.example",
                                    name="Maria Lopez")


def test_password_refused_when_longer_than_256():
    with pytest.raises(InvalidInput, match="at most 256"):
        passwords.validate_password("correct-horse-battery-staple-" * 10)


def test_password_accepted_when_a_long_passphrase():
    passwords.validate_password("violet tractor swims past the quiet harbour", email="ana@clinic.example",
                                name="Ana Silva")


def test_password_verifies_only_with_the_same_password():
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password("not-an-argon2-hash", PASSWORD)


def test_email_normalised_when_mixed_case_and_padded():
    assert auth_service.normalise_email("  Ana.Silva@Clinic.Example \n") == "ana.silva@clinic.example"


@pytest.mark.parametrize("raw", ["", "   ", "ana", "ana@clinic", "ana silva@clinic.example", "@clinic.example"])
def test_email_refused_when_malformed(raw):
    with pytest.raises(InvalidInput) as exc:
        auth_service.normalise_email(raw)
    assert exc.value.field == "email"


def test_staff_created_with_normalised_email_and_audited(session):
    admin = make_staff(session, role="admin")
    user = auth_service.create_staff(session, email="  New.Person@Clinic.Example ", name="  New   Person ",
                                     role="operator", password=PASSWORD, actor=actor_of(admin), actor_role="admin")
    assert user.email == "new.person@clinic.example"
    assert user.name == "New Person"
    assert not user.mfa_enabled
    assert auth_service.get_by_email(session, email="new.person@clinic.example").id == user.id
    (event,) = audit_events(session, "staff_created")
    assert event.target_id == str(user.id)
    assert event.actor_email == admin.email
    assert event.diff["role"] == {"before": None, "after": "operator"}
    assert PASSWORD not in str(event.diff)


def test_staff_create_refused_when_email_differs_only_by_case(session):
    admin = make_staff(session, role="admin")
    auth_service.create_staff(session, email="dup@clinic.example", name="First", role="viewer", password=PASSWORD,
                              actor=actor_of(admin), actor_role="admin")
    with pytest.raises(Conflict, match="dup@clinic.example already exists"):
        auth_service.create_staff(session, email=" DUP@Clinic.EXAMPLE", name="Second", role="viewer",
                                  password=PASSWORD, actor=actor_of(admin), actor_role="admin")
    assert len(audit_events(session, "staff_created")) == 1


def test_staff_create_refused_when_password_is_weak(session):
    admin = make_staff(session, role="admin")
    with pytest.raises(InvalidInput, match="commonly used|too easy to guess"):
        auth_service.create_staff(session, email="weak@clinic.example", name="Weak", role="viewer",
                                  password="passwordpassword", actor=actor_of(admin), actor_role="admin")
    assert auth_service.get_by_email(session, email="weak@clinic.example") is None
    assert audit_events(session, "staff_created") == []


def test_first_founder_refused_when_staff_exists(session):
    make_staff(session, role="viewer")
    with pytest.raises(Conflict, match="already exists"):
        auth_service.create_first_founder(session, email="boss@clinic.example", name="Boss", password=PASSWORD,
                                          actor=actor_of())


def test_first_founder_created_on_empty_install(session):
    user = auth_service.create_first_founder(session, email="Boss@Clinic.Example", name="Boss", password=PASSWORD,
                                             actor=actor_of())
    assert (user.email, user.role) == ("boss@clinic.example", "founder")
    (event,) = audit_events(session, "staff_created")
    assert event.actor_id == str(user.id)
    assert event.diff["first_run"] == {"before": None, "after": True}
    assert auth_service.staff_exists(session)


def test_password_changed_when_current_is_right(session):
    user = make_staff(session)
    new = "amber kestrel drifts over granite"
    auth_service.change_password(session, user=user, current=PASSWORD, new=new, actor=actor_of(user))
    assert passwords.verify_password(user.password_hash, new)
    assert not passwords.verify_password(user.password_hash, PASSWORD)
    (event,) = audit_events(session, "password_changed")
    assert event.target_id == str(user.id)


def test_password_change_refused_when_current_is_wrong(session):
    user = make_staff(session)
    with pytest.raises(InvalidInput, match="current password is not correct") as exc:
        auth_service.change_password(session, user=user, current="wrong-current-password", new="amber kestrel "
                                     "drifts over granite", actor=actor_of(user))
    assert exc.value.field == "current"
    assert passwords.verify_password(user.password_hash, PASSWORD)
    assert audit_events(session, "password_changed") == []


def test_password_change_refused_when_new_equals_current(session):
    user = make_staff(session)
    with pytest.raises(InvalidInput, match="different from the current"):
        auth_service.change_password(session, user=user, current=PASSWORD, new=PASSWORD, actor=actor_of(user))
