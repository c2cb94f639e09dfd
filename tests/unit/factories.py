"""Small builders shared by unit and integration tests (rows the services would create, made quickly)."""

from __future__ import annotations

import functools
import itertools
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import passwords, secrets_at_rest
from voxanne_admin.auth.models import StaffSession, StaffUser
from voxanne_admin.timeutil import utcnow

PASSWORD = "copper-lantern-orbit-meadow-42"
IP = "203.0.113.7"
_seq = itertools.count(1)


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    """argon2 is deliberately slow: hash the shared test password once."""
    return passwords.hash_password(PASSWORD)


def make_staff(
    session: Session, *, role: str = "viewer", mfa: bool = True, email: str | None = None, disabled: bool = False
) -> StaffUser:
    """A staff account with PASSWORD; with `mfa` it has an active TOTP secret (no step used yet), stored
    encrypted as the app stores it (`totp_seed(user)` gives the clear seed)."""
    user = StaffUser(
        email=email or f"staff{next(_seq)}@clinic.example",
        name=f"Test {role.title()}",
        role=role,
        password_hash=password_hash(),
        totp_secret=secrets_at_rest.encrypt(pyotp.random_base32()) if mfa else None,
        mfa_enabled=mfa,
        disabled=disabled,
    )
    session.add(user)
    session.flush()
    return user


def totp_seed(user: StaffUser) -> str:
    """The clear TOTP seed of a staff member (stored encrypted)."""
    return secrets_at_rest.decrypt(user.totp_secret or "")


def actor_of(user: StaffUser | None = None, ip: str = IP) -> Actor:
    """The audit actor for a person (anonymous when no user), as the UI builds it."""
    if user is None:
        return Actor(type="anonymous", ip=ip, user_agent="pytest")
    return Actor(type="staff", id=str(user.id), email=user.email, ip=ip, user_agent="pytest")


def audit_actions(session: Session, *, since_id: int = 0) -> list[str]:
    """Audit actions written after `since_id`, oldest first."""
    return list(session.exec(select(AuditEvent.action).where(AuditEvent.id > since_id).order_by(AuditEvent.id)).all())


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    """Every audit row with that action, oldest first."""
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all())


def last_audit_id(session: Session) -> int:
    """Highest audit id so far (0 when empty)."""
    return session.exec(select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0))).one()


def open_session(session: Session, user: StaffUser) -> str:
    """Sign `user` in the way the UI does after both factors; returns the cookie token."""
    from voxanne_admin.auth import service as auth_service

    ticket = auth_service.create_session(session, user=user, actor=actor_of(user))
    token = auth_service.establish_session(session, ticket=ticket)
    assert token is not None
    return token


def session_row(session: Session, staff_id: int) -> StaffSession:
    """The staff member's only session row."""
    return session.exec(select(StaffSession).where(StaffSession.staff_id == staff_id)).one()


def age(dt_minutes: int) -> object:
    """A timestamp `dt_minutes` in the past."""
    return utcnow() - timedelta(minutes=dt_minutes)


def make_job_run(session: Session | sa.Connection, *, job_name: str = "purge_expired_sessions",
                 age_days: float = 0, outcome: str = "succeeded", trigger: str = "manual", **fields: object) -> int:
    """A job_runs row started `age_days` ago, as the scheduler records one; returns its id."""
    from voxanne_admin.jobs.models import JobRun

    values = {"job_name": job_name, "trigger": trigger, "started_at": utcnow() - timedelta(days=age_days),
              "outcome": outcome, "worker": "pytest", **fields}
    return session.execute(sa.insert(JobRun).values(**values).returning(JobRun.id)).scalar_one()


def make_dead_letter(session: Session | sa.Connection, *, call_id: str, error: str, status: str = "ringing",
                     attempts: int = 3) -> int:
    """A Vapi status-update the inbox gave up on after `attempts` failures (status dead_letter, last error kept,
    raw payload kept for a replay); returns the event id."""
    from voxanne_admin.webhooks.models import WebhookEvent

    payload = {"message": {"type": "status-update", "status": status, "call": {"id": call_id}}}
    now = utcnow()
    return session.execute(sa.insert(WebhookEvent).values(
        provider="vapi", kind="status-update", dedupe_key=f"{call_id}:status-update:{status}:{next(_seq)}",
        call_id=call_id, payload=payload, status="dead_letter", attempts=attempts, last_error=error,
        received_at=now, next_attempt_at=now, duplicates=0).returning(WebhookEvent.id)).scalar_one()
