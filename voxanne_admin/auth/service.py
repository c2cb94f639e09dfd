"""Staff accounts (create, roles, disable, MFA reset, password change) and sessions; sign-in is `signin.py`.

Services never commit: the caller's transaction does. Sign-in outcomes are
returned, not raised, so failure counters and audit events are committed too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import formatting as fmt
from voxanne_admin import locks
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import passwords
from voxanne_admin.auth.models import (
    ROLES,
    ApiToken,
    LoginAttempt,
    RecoveryCode,
    SessionRead,
    StaffRead,
    StaffSession,
    StaffUser,
)
from voxanne_admin.auth.roles import has_role, require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


# ---------------------------------------------------------------- helpers


def normalise_email(raw: str) -> str:
    """Trim and lower-case an email, refusing malformed or overlong ones."""
    email = (raw or "").strip().lower()
    if not email:
        raise InvalidInput("Enter an email address.", field="email")
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput("Enter a valid email address, like name@clinic.com.", field="email")
    return email


def clean_name(raw: str) -> str:
    """Trim a person's name and refuse empty or overlong names."""
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput("Enter a name.", field="name")
    if len(name) > 120:
        raise InvalidInput("Use at most 120 characters for the name.", field="name")
    return name


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def to_read(user: StaffUser) -> StaffRead:
    """Plain read model (no hashes, no secrets)."""
    now = utcnow()
    return StaffRead(
        id=user.id or 0,
        email=user.email,
        name=user.name,
        role=user.role,
        mfa_enabled=user.mfa_enabled,
        disabled=user.disabled,
        locked=bool(user.locked_until and user.locked_until > now),
        last_login_at=fmt.timestamp(user.last_login_at),
        created_at=fmt.timestamp(user.created_at),
    )


def staff_exists(session: Session) -> bool:
    """True once any staff account exists (the first-run page is then closed)."""
    return session.exec(select(StaffUser.id).limit(1)).first() is not None


def get(session: Session, *, staff_id: int) -> StaffUser:
    """The staff member or NotFound."""
    user = session.get(StaffUser, staff_id)
    if user is None:
        raise NotFound("That staff member does not exist.")
    return user


def get_by_email(session: Session, *, email: str) -> StaffUser | None:
    """The staff member with that (normalised) email, if any."""
    return session.exec(select(StaffUser).where(StaffUser.email == email)).first()


def list_staff(session: Session) -> list[StaffRead]:
    """Every staff member, founders first."""
    users = session.exec(select(StaffUser).order_by(StaffUser.email)).all()
    order = {role: i for i, role in enumerate(reversed(ROLES))}
    return [to_read(u) for u in sorted(users, key=lambda u: (order.get(u.role, 9), u.email))]


# ---------------------------------------------------------------- accounts


def create_staff(
    session: Session, *, email: str, name: str, role: str, password: str, actor: Actor, actor_role: str | None,
    must_change_password: bool = True,
) -> StaffUser:
    """Create a staff account (admin and up; only founders create founders). The password an administrator chose
    must be replaced at the first sign-in (`must_change_password`)."""
    require_role(actor_role, "admin")
    if role not in ROLES:
        raise InvalidInput(f"Choose a role: {', '.join(ROLES)}.", field="role")
    if role == "founder" and actor_role != "founder":
        raise PermissionDenied("Only a founder can create another founder.")
    email = normalise_email(email)
    name = clean_name(name)
    passwords.validate_password(password, email=email, name=name)
    if get_by_email(session, email=email) is not None:
        raise Conflict(f"A staff account for {email} already exists.")
    user = StaffUser(email=email, name=name, role=role, password_hash=passwords.hash_password(password),
                     must_change_password=must_change_password)
    session.add(user)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(f"A staff account for {email} already exists.") from None
    audit.record(
        session,
        actor=actor,
        action="staff_created",
        target_type="staff",
        target_id=user.id,
        diff=audit.make_diff(None, {"email": email, "name": name, "role": role}),
    )
    return user


def create_first_founder(session: Session, *, email: str, name: str, password: str, actor: Actor) -> StaffUser:
    """Create the first founder on a fresh install; refused once any staff exists."""
    email = normalise_email(email)
    name = clean_name(name)
    passwords.validate_password(password, email=email, name=name)
    # Two people opening a fresh install at once: only one becomes the founder.
    session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.FIRST_FOUNDER})
    if staff_exists(session):
        raise Conflict("The founder account already exists. Sign in instead.")
    user = StaffUser(email=email, name=name, role="founder", password_hash=passwords.hash_password(password))
    session.add(user)
    session.flush()
    founder_actor = Actor(type="staff", id=str(user.id), email=email, ip=actor.ip, user_agent=actor.user_agent)
    audit.record(
        session,
        actor=founder_actor,
        action="staff_created",
        target_type="staff",
        target_id=user.id,
        diff=audit.make_diff(None, {"email": email, "name": name, "role": "founder", "first_run": True}),
    )
    return user


def _guard_target(actor_user: StaffUser, target: StaffUser) -> None:
    require_role(actor_user.role, "admin")
    if target.id == actor_user.id:
        raise PermissionDenied("You cannot change your own role, access or MFA here. Use the Account page.")
    if target.role == "founder" and actor_user.role != "founder":
        raise PermissionDenied("Only a founder can change a founder's account.")


def change_role(session: Session, *, actor_user: StaffUser, staff_id: int, role: str, actor: Actor) -> StaffUser:
    """Change another staff member's role (admin and up; founder roles by founders only)."""
    target = get(session, staff_id=staff_id)
    _guard_target(actor_user, target)
    if role not in ROLES:
        raise InvalidInput(f"Choose a role: {', '.join(ROLES)}.", field="role")
    if role == "founder" and actor_user.role != "founder":
        raise PermissionDenied("Only a founder can make someone a founder.")
    if target.role == role:
        return target
    before = {"role": target.role}
    target.role = role
    session.add(target)
    audit.record(
        session, actor=actor, action="staff_role_changed", target_type="staff", target_id=target.id,
        diff=audit.make_diff(before, {"role": role}),
    )
    return target


def set_disabled(session: Session, *, actor_user: StaffUser, staff_id: int, disabled: bool, actor: Actor) -> StaffUser:
    """Disable (signing out every session) or re-enable another staff member."""
    target = get(session, staff_id=staff_id)
    _guard_target(actor_user, target)
    if target.disabled == disabled:
        return target
    target.disabled = disabled
    session.add(target)
    if disabled:
        _revoke_all(session, staff_id=target.id or 0, actor=actor, reason="account disabled")
        revoke_api_tokens(session, staff_id=target.id or 0, actor=actor, reason="account disabled")
    audit.record(
        session, actor=actor, action="staff_disabled" if disabled else "staff_enabled",
        target_type="staff", target_id=target.id,
        diff=audit.make_diff({"disabled": not disabled}, {"disabled": disabled}),
    )
    return target


def unlock(session: Session, *, actor_user: StaffUser, staff_id: int, actor: Actor) -> StaffUser:
    """Lift a lockout before it expires (the locked person asked an administrator)."""
    target = get(session, staff_id=staff_id)
    _guard_target(actor_user, target)
    if not (target.locked_until and target.locked_until > utcnow()):
        raise Conflict("That account is not locked.")
    before = {"locked_until": target.locked_until}
    target.locked_until = None
    target.failed_attempts = 0
    target.failures_reset_at = utcnow()  # earlier failures no longer count, from any source (auth.lockout)
    session.add(target)
    audit.record(session, actor=actor, action="account_unlocked", target_type="staff", target_id=target.id,
                 diff=audit.make_diff(before, {"locked_until": None}))
    return target


def reset_mfa(session: Session, *, actor_user: StaffUser, staff_id: int, actor: Actor) -> StaffUser:
    """Clear another staff member's TOTP and recovery codes; they enrol again at next sign-in."""
    target = get(session, staff_id=staff_id)
    _guard_target(actor_user, target)
    target.totp_secret = None
    target.mfa_enabled = False
    target.totp_last_step = None
    session.add(target)
    session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.staff_id) == target.id))
    _revoke_all(session, staff_id=target.id or 0, actor=actor, reason="MFA reset")
    revoke_api_tokens(session, staff_id=target.id or 0, actor=actor, reason="MFA reset")
    audit.record(session, actor=actor, action="mfa_disabled", target_type="staff", target_id=target.id,
                 diff={"reason": "reset by an administrator"})
    return target


def change_password(session: Session, *, user: StaffUser, current: str, new: str, actor: Actor,
                    keep_session_id: str | None = None) -> int:
    """Change one's own password after checking the current one. Every other session and every API token is
    revoked (a stolen session or token must not outlive the password); returns how many sessions ended."""
    if not passwords.verify_password(user.password_hash, current):
        raise InvalidInput("The current password is not correct.", field="current")
    passwords.validate_password(new, email=user.email, name=user.name)
    if passwords.verify_password(user.password_hash, new):
        raise InvalidInput("Choose a password different from the current one.", field="password")
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    session.add(user)
    audit.record(session, actor=actor, action="password_changed", target_type="staff", target_id=user.id)
    ended = _revoke_all(session, staff_id=user.id or 0, actor=actor, reason="password changed",
                        except_id=keep_session_id)
    revoke_api_tokens(session, staff_id=user.id or 0, actor=actor, reason="password changed")
    return ended


def replace_initial_password(session: Session, *, user: StaffUser, new: str, actor: Actor) -> None:
    """At the first sign-in: replace the password an administrator chose with one only the person knows."""
    if not user.must_change_password:
        raise Conflict("Your password was already changed: sign in with it.")
    passwords.validate_password(new, email=user.email, name=user.name)
    if passwords.verify_password(user.password_hash, new):
        raise InvalidInput("Choose a password different from the one you were given.", field="password")
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    session.add(user)
    audit.record(session, actor=actor, action="password_changed", target_type="staff", target_id=user.id,
                 diff={"initial_password_replaced": True})
    revoke_api_tokens(session, staff_id=user.id or 0, actor=actor, reason="password changed")


def revoke_api_tokens(session: Session, *, staff_id: int, actor: Actor, reason: str) -> int:
    """Revoke every active API token of a staff member (disabled, MFA reset, password changed, signed out
    everywhere); audited once with the count."""
    count = session.execute(
        sa.update(ApiToken).where(col(ApiToken.staff_id) == staff_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())).rowcount  # type: ignore[attr-defined]
    if count:
        audit.record(session, actor=actor, action="api_token_revoked", target_type="staff", target_id=staff_id,
                     diff={"tokens": count, "reason": reason})
    return count


def _actor_for(user: StaffUser | None, actor: Actor) -> Actor:
    if user is None:
        return actor
    return Actor(type="staff", id=str(user.id), email=user.email, ip=actor.ip,
                 user_agent=actor.user_agent, request_id=actor.request_id)




# ---------------------------------------------------------------- sessions


HANDOFF_TTL = timedelta(seconds=60)


def create_session(session: Session, *, user: StaffUser, actor: Actor, provider: str = "",
                   idp_mfa: bool = False) -> str:
    """Open a server-side session after both factors; returns a one-time hand-off ticket.

    The browser exchanges the ticket at /api/auth/establish for an HttpOnly cookie,
    so the long-lived token never passes through page state or JavaScript.
    """
    settings = get_settings()
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(
        token_hash="handoff:" + _sha256(ticket)[:56],
        staff_id=user.id or 0,
        created_at=now,
        last_seen_at=now,
        expires_at=now + HANDOFF_TTL,
        ip=(actor.ip or "")[:64],
        user_agent=(actor.user_agent or "")[:400],
        auth_provider=provider[:60],
        idp_mfa=idp_mfa,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor=_actor_for(user, actor), action="login_success", target_type="session",
                 target_id=str(row.id), diff={"provider": provider, "idp_mfa": idp_mfa} if provider else None)
    del settings
    return ticket


def establish_session(session: Session, *, ticket: str) -> str | None:
    """Exchange a fresh hand-off ticket for the session token (once); None if unknown or expired."""
    key = "handoff:" + _sha256(ticket or "")[:56]
    row = session.exec(select(StaffSession).where(StaffSession.token_hash == key).with_for_update()).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at < now:
        return None
    token = secrets.token_urlsafe(32)
    row.token_hash = _sha256(token)
    row.expires_at = now + timedelta(days=get_settings().session_absolute_days)
    row.last_seen_at = now
    # Both factors were just presented: that counts as the first authentication for sensitive actions
    # (auth.reauth asks again once it is REAUTH_WINDOW old).
    row.reauth_at = now
    session.add(row)
    return token


@dataclass
class CurrentStaff:
    """The signed-in staff member behind a request or event."""

    id: int
    email: str
    name: str
    role: str
    session_id: str
    # An API token's scopes; None for a staff session (no scope limit beyond the role).
    scopes: tuple[str, ...] | None = None


def resolve_session(session: Session, *, token: str | None) -> CurrentStaff | None:
    """The staff member of a valid, unexpired, unrevoked, non-idle session token, else None."""
    if not token or len(token) > 200:
        return None
    settings = get_settings()
    now = utcnow()
    row = session.exec(select(StaffSession).where(StaffSession.token_hash == _sha256(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now:
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or user.disabled or not (user.mfa_enabled or row.idp_mfa):
        return None
    if (now - row.last_seen_at).total_seconds() > 30:
        row.last_seen_at = now
        session.add(row)
    return CurrentStaff(id=user.id or 0, email=user.email, name=user.name, role=user.role, session_id=str(row.id))


_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("HeadlessChrome/", "Headless Chrome"),
             ("Chrome/", "Chrome"), ("Version/", "Safari")]
_SYSTEMS = [("Windows", "Windows"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")]


def describe_user_agent(ua: str) -> str:
    """'Chrome 156 on macOS' from a raw User-Agent header (unknown stays readable)."""
    if not ua:
        return "unknown browser"
    browser = next((f"{name} {ua.split(token, 1)[1].split('.', 1)[0]}" for token, name in _BROWSERS if token in ua),
                   ua.split("/", 1)[0][:40])
    system = next((name for token, name in _SYSTEMS if token in ua), "")
    return f"{browser} on {system}" if system else browser


def list_sessions(session: Session, *, staff_id: int, current_session_id: str | None) -> list[SessionRead]:
    """The staff member's active sessions, newest activity first."""
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    rows = session.exec(
        select(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None),  # type: ignore[union-attr]
               StaffSession.expires_at > now, StaffSession.last_seen_at > now - idle,
               ~col(StaffSession.token_hash).startswith("handoff:"))
        .order_by(StaffSession.last_seen_at.desc())  # type: ignore[attr-defined]
    ).all()
    return [
        SessionRead(id=str(r.id), ip=r.ip or "unknown", user_agent=describe_user_agent(r.user_agent or ""),
                    created_at=fmt.timestamp(r.created_at), last_seen_at=fmt.timestamp(r.last_seen_at),
                    current=str(r.id) == current_session_id, provider=r.auth_provider or "password")
        for r in rows
    ]


def revoke_session(
    session: Session, *, staff_id: int, session_id: str, actor: Actor, action: str = "session_revoked"
) -> None:
    """Sign out one of the staff member's own sessions."""
    row = session.exec(
        select(StaffSession).where(StaffSession.id == session_id, StaffSession.staff_id == staff_id)
    ).first()
    if row is None:
        raise NotFound("That session no longer exists.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(session, actor=actor, action=action, target_type="session", target_id=session_id)


def _revoke_all(session: Session, *, staff_id: int, actor: Actor, reason: str, except_id: str | None = None) -> int:
    query = sa.update(StaffSession).where(col(StaffSession.staff_id) == staff_id,
                                          col(StaffSession.revoked_at).is_(None))
    if except_id:
        query = query.where(col(StaffSession.id) != except_id)
    count = session.execute(query.values(revoked_at=utcnow())).rowcount  # type: ignore[attr-defined]
    if count:
        audit.record(session, actor=actor, action="session_revoked", target_type="staff", target_id=staff_id,
                     diff={"sessions": count, "reason": reason})
    return count


def revoke_all_sessions(session: Session, *, staff_id: int, actor: Actor) -> int:
    """Sign out everywhere, this session included, and revoke every API token."""
    revoke_api_tokens(session, staff_id=staff_id, actor=actor, reason="sign out everywhere")
    return _revoke_all(session, staff_id=staff_id, actor=actor, reason="sign out everywhere")


def purge_expired_sessions(session: Session) -> int:
    """Delete sessions that expired, went idle past their limit, or were revoked over a day ago."""
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    result = session.execute(
        sa.delete(StaffSession).where(
            sa.or_(col(StaffSession.expires_at) <= now, col(StaffSession.last_seen_at) <= now - idle,
                   col(StaffSession.revoked_at) <= now - timedelta(days=1))
        )
    )
    return result.rowcount  # type: ignore[attr-defined]


def purge_login_attempts(session: Session, *, older_than_days: int = 90) -> int:
    """Delete sign-in attempts older than the retention period."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    return session.execute(sa.delete(LoginAttempt).where(  # type: ignore[attr-defined]
        col(LoginAttempt.occurred_at) < cutoff)).rowcount


__all__ = ["has_role", "require_role"]
