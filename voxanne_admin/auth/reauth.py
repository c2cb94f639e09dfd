"""Re-authentication for sensitive actions (OWASP ASVS 3.7.1): the password or a fresh TOTP code again, at most
`REAUTH_WINDOW` before a new API token, new recovery codes, a role change, an MFA reset or a DR restore.

The proof is recorded on the server-side session row (`staff_sessions.reauth_at`), never in the browser; API
tokens cannot perform these actions at all. Wrong answers count as failed sign-ins (auth.lockout), so the
dialog cannot be used to guess a password.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import lockout, passwords, signin
from voxanne_admin.auth.models import LoginAttempt, StaffSession, StaffUser
from voxanne_admin.errors import InvalidInput, PermissionDenied, RateLimited
from voxanne_admin.timeutil import utcnow

REAUTH_WINDOW = timedelta(minutes=5)
WRONG = "That is not your current password or a valid code from your authenticator app."


class ReauthRequired(PermissionDenied):
    """A sensitive action without a recent re-authentication in this session."""

    def __init__(self, what: str = "this"):
        super().__init__(f"Confirm it is you before {what}: enter your password or a code from your "
                         "authenticator app.")
        self.what = what


def _session_row(session: Session, session_id: str, *, lock: bool = False) -> StaffSession | None:
    if not session_id or session_id.startswith("token:"):
        return None
    query = select(StaffSession).where(StaffSession.id == session_id)
    return session.exec(query.with_for_update() if lock else query).first()


def require_recent(session: Session, *, session_id: str, what: str = "this") -> None:
    """Raise ReauthRequired unless this staff session re-authenticated within REAUTH_WINDOW (tokens never)."""
    row = _session_row(session, session_id)
    if row is None or row.reauth_at is None or utcnow() - row.reauth_at > REAUTH_WINDOW:
        raise ReauthRequired(what)


def is_recent(session: Session, *, session_id: str) -> bool:
    """True while this session's last re-authentication is within REAUTH_WINDOW."""
    try:
        require_recent(session, session_id=session_id)
    except ReauthRequired:
        return False
    return True


def confirm(session: Session, *, staff_id: int, session_id: str, secret: str, actor: Actor) -> bool:
    """Check the password or a TOTP code and record the re-authentication on this session (audited). False for
    a wrong answer, which is recorded as a failed attempt: the caller commits either way (like sign-in).

    A 6-digit answer is a TOTP code (single use: its step is recorded); anything else is the password."""
    row = _session_row(session, session_id, lock=True)
    user = session.exec(select(StaffUser).where(StaffUser.id == staff_id).with_for_update()
                        .execution_options(populate_existing=True)).first()
    if row is None or user is None or row.staff_id != staff_id or row.revoked_at is not None:
        raise PermissionDenied("Your session ended: sign in again.")
    ip = actor.ip or ""
    signin.check_ip_rate(session, ip)
    key = lockout.account_key(user.email)
    throttle = lockout.check(session, key=key, ip=ip, user=user)
    if not throttle.allowed:
        raise RateLimited(throttle.message, retry_after_s=throttle.retry_after_s)
    answer = "".join((secret or "").split()) if (secret or "").strip().isdigit() else (secret or "")
    if not answer:
        raise InvalidInput("Enter your password or a 6-digit code from your authenticator app.", field="reauth")
    if answer.isdigit() and len(answer) == 6:
        ok, method = signin.verify_current_code(session, user=user, code=answer), "totp"
    else:
        ok, method = passwords.verify_password(user.password_hash, answer), "password"
    if not ok:
        session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="reauth", succeeded=False,
                                 reason=f"wrong {method}"))
        audit.record(session, actor=actor, action="reauth_failed", target_type="staff", target_id=user.id,
                     diff={"method": method})
        return False
    row.reauth_at = utcnow()
    session.add(row)
    audit.record(session, actor=actor, action="reauthenticated", target_type="session", target_id=str(row.id),
                 diff={"method": method})
    return True
