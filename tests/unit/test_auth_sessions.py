"""Server-side sessions: hand-off ticket, resolution, expiry, idle timeout, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from tests.unit.factories import actor_of, audit_events, make_staff, open_session, session_row
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import StaffSession
from voxanne_admin.errors import NotFound
from voxanne_admin.timeutil import utcnow


def test_session_resolves_after_ticket_exchanged(session):
    user = make_staff(session, role="operator")
    ticket = auth_service.create_session(session, user=user, actor=actor_of(user))

    assert auth_service.resolve_session(session, token=ticket) is None  # a ticket is not a session token
    token = auth_service.establish_session(session, ticket=ticket)
    staff = auth_service.resolve_session(session, token=token)

    assert staff is not None
    assert (staff.id, staff.email, staff.role) == (user.id, user.email, "operator")
    assert staff.session_id == str(session_row(session, user.id).id)
    (event,) = audit_events(session, "login_success")
    assert event.actor_email == user.email and event.target_id == staff.session_id


def test_ticket_exchanged_only_once(session):
    user = make_staff(session)
    ticket = auth_service.create_session(session, user=user, actor=actor_of(user))
    assert auth_service.establish_session(session, ticket=ticket) is not None
    assert auth_service.establish_session(session, ticket=ticket) is None


@pytest.mark.parametrize("ticket", ["", "made-up-ticket"])
def test_ticket_refused_when_unknown(session, ticket):
    assert auth_service.establish_session(session, ticket=ticket) is None


def test_ticket_refused_when_older_than_a_minute(session):
    user = make_staff(session)
    ticket = auth_service.create_session(session, user=user, actor=actor_of(user))
    row = session_row(session, user.id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert auth_service.establish_session(session, ticket=ticket) is None


def test_handoff_session_not_listed_before_exchange(session):
    user = make_staff(session)
    auth_service.create_session(session, user=user, actor=actor_of(user))
    assert auth_service.list_sessions(session, staff_id=user.id, current_session_id=None) == []


def test_session_resolves_none_when_revoked(session):
    user = make_staff(session)
    token = open_session(session, user)
    staff = auth_service.resolve_session(session, token=token)
    auth_service.revoke_session(session, staff_id=user.id, session_id=staff.session_id, actor=actor_of(user))
    assert auth_service.resolve_session(session, token=token) is None
    (event,) = audit_events(session, "session_revoked")
    assert event.target_id == staff.session_id


def test_session_revoked_with_logout_action_when_signing_out(session):
    user = make_staff(session)
    token = open_session(session, user)
    staff = auth_service.resolve_session(session, token=token)
    auth_service.revoke_session(session, staff_id=user.id, session_id=staff.session_id, actor=actor_of(user),
                                action="logout")
    assert auth_service.resolve_session(session, token=token) is None
    assert [e.target_id for e in audit_events(session, "logout")] == [staff.session_id]


def test_session_revoke_refused_when_session_belongs_to_someone_else(session):
    owner = make_staff(session)
    other = make_staff(session)
    token = open_session(session, owner)
    staff = auth_service.resolve_session(session, token=token)
    with pytest.raises(NotFound):
        auth_service.revoke_session(session, staff_id=other.id, session_id=staff.session_id, actor=actor_of(other))
    assert auth_service.resolve_session(session, token=token) is not None


def test_session_resolves_none_when_expired(session):
    user = make_staff(session)
    token = open_session(session, user)
    row = session_row(session, user.id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert auth_service.resolve_session(session, token=token) is None


def test_session_resolves_none_when_idle_past_limit(session):
    user = make_staff(session)
    token = open_session(session, user)
    row = session_row(session, user.id)
    row.last_seen_at = utcnow() - timedelta(minutes=61)
    session.add(row)
    session.flush()
    assert auth_service.resolve_session(session, token=token) is None


def test_session_activity_extends_idle_timeout(session):
    user = make_staff(session)
    token = open_session(session, user)
    row = session_row(session, user.id)
    row.last_seen_at = utcnow() - timedelta(minutes=59)
    session.add(row)
    session.flush()
    assert auth_service.resolve_session(session, token=token) is not None
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_session_resolves_none_when_user_disabled(session):
    admin = make_staff(session, role="admin")
    user = make_staff(session)
    token = open_session(session, user)
    auth_service.set_disabled(session, actor_user=admin, staff_id=user.id, disabled=True, actor=actor_of(admin))
    assert auth_service.resolve_session(session, token=token) is None
    # Re-enabling does not bring back sessions that were signed out.
    auth_service.set_disabled(session, actor_user=admin, staff_id=user.id, disabled=False, actor=actor_of(admin))
    assert auth_service.resolve_session(session, token=token) is None
    assert [e.action for e in audit_events(session, "staff_disabled")] == ["staff_disabled"]
    assert audit_events(session, "session_revoked")[0].diff == {"sessions": 1, "reason": "account disabled"}


def test_session_resolves_none_when_disabled_behind_its_back(session):
    user = make_staff(session)
    token = open_session(session, user)
    user.disabled = True
    session.add(user)
    session.flush()
    assert auth_service.resolve_session(session, token=token) is None


@pytest.mark.parametrize("token", [None, "", "x" * 201, "not-a-token"])
def test_session_resolves_none_when_token_unknown(session, token):
    assert auth_service.resolve_session(session, token=token) is None


def test_revoke_all_signs_out_every_session(session):
    user = make_staff(session)
    other_user = make_staff(session)
    tokens = [open_session(session, user) for _ in range(3)]
    bystander = open_session(session, other_user)

    count = auth_service.revoke_all_sessions(session, staff_id=user.id, actor=actor_of(user))

    assert count == 3
    assert all(auth_service.resolve_session(session, token=t) is None for t in tokens)
    assert auth_service.resolve_session(session, token=bystander) is not None
    (event,) = audit_events(session, "session_revoked")
    assert event.diff == {"sessions": 3, "reason": "sign out everywhere"}


def test_sessions_listed_with_current_marked(session):
    user = make_staff(session)
    first = open_session(session, user)
    open_session(session, user)
    current = auth_service.resolve_session(session, token=first)
    listed = auth_service.list_sessions(session, staff_id=user.id, current_session_id=current.session_id)
    assert len(listed) == 2
    assert [s.current for s in listed].count(True) == 1
    assert next(s for s in listed if s.current).id == current.session_id


def test_purge_deletes_expired_idle_and_old_revoked_sessions_only(session):
    user = make_staff(session)
    live = open_session(session, user)
    for _ in range(3):
        open_session(session, user)
    live_id = auth_service.resolve_session(session, token=live).session_id
    others = [r for r in session.exec(select(StaffSession).where(StaffSession.staff_id == user.id)).all()
              if str(r.id) != live_id]
    others[0].expires_at = utcnow() - timedelta(minutes=1)
    others[1].last_seen_at = utcnow() - timedelta(hours=2)
    others[2].revoked_at = utcnow() - timedelta(days=2)
    session.add_all(others)
    session.flush()

    assert auth_service.purge_expired_sessions(session) == 3

    remaining = session.exec(select(StaffSession.id).where(StaffSession.staff_id == user.id)).all()
    assert [str(r) for r in remaining] == [live_id]
    assert auth_service.resolve_session(session, token=live) is not None
