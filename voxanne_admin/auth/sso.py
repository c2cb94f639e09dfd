"""Single sign-on decisions: pending logins (state, nonce, PKCE verifier kept server-side), who may get in
(allowed domains, link by verified email, just-in-time users, disabled staff), the TOTP hand-off to the
sign-in page, and the per-staff "SSO only" flag. Services never commit: `sso_flows.py` does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import locks
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import ROLE_RANK, LoginAttempt, SsoLogin, StaffUser
from voxanne_admin.auth.oidc import Identity
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import InvalidInput, PermissionDenied
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

LOGIN_TTL = timedelta(minutes=10)
TICKET_TTL = timedelta(minutes=5)
# The person sees one of these; the reason (and any token detail) goes to the audit log and the server log.
MESSAGES = {
    "wrong domain": "That account's domain is not allowed to sign in here. Use your work account.",
    "unverified email": "Your identity provider has not verified that email address. Verify it there, then "
                        "try again.",
    "unknown user": "There is no staff account for that email. Ask an administrator to add you.",
    "disabled": "This staff account is disabled. Ask an administrator.",
    "token invalid": "Single sign-on could not confirm who you are. Try again; if it keeps failing, ask an "
                     "administrator to check the server log.",
    "state mismatch": "That sign-in link was already used or expired. Start the sign-in again.",
    "provider error": "Your identity provider did not complete the sign-in. Try again.",
    "account changed": "This staff account is linked to a different account at your identity provider. Ask an "
                       "administrator.",
    "unavailable": "Single sign-on is unavailable right now. Sign in with your password instead.",
    "rate limited": "Too many sign-in attempts from your network. Wait a few minutes, then try again.",
}


def message_for(code: str) -> str:
    """The sign-in page's message for a refusal code from the callback (sso_error=wrong_domain...)."""
    reason = (code or "").replace("_", " ")[:40]
    if reason == "not configured":
        return "Single sign-on is not configured on this console. Sign in with your password."
    return MESSAGES.get(reason, MESSAGES["token invalid"])


UNUSABLE_PASSWORD = "!sso-only"  # never a valid argon2 hash: password sign-in always fails


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def safe_next(path: str | None) -> str:
    """Only same-site paths as the post-sign-in target."""
    path = path or ""
    return path if path.startswith("/") and not path.startswith("//") and len(path) <= 200 else "/overview"


def begin(session: Session, *, state: str, nonce: str, code_verifier: str, next_path: str) -> SsoLogin:
    """Keep one sign-in attempt's secrets for the callback (the browser holds only the state, in a cookie)."""
    now = utcnow()
    session.execute(sa.delete(SsoLogin).where(col(SsoLogin.expires_at) < now - timedelta(hours=1)))
    row = SsoLogin(state_hash=_sha256(state), nonce=nonce, code_verifier=code_verifier,
                   next_path=safe_next(next_path), created_at=now, expires_at=now + LOGIN_TTL)
    session.add(row)
    session.flush()
    return row


def claim(session: Session, *, state: str, cookie_state: str) -> SsoLogin | None:
    """The pending attempt for this callback, once: the state must match the browser's cookie and be fresh."""
    if not state or not cookie_state or not secrets.compare_digest(state, cookie_state):
        return None
    row = session.exec(select(SsoLogin).where(col(SsoLogin.state_hash) == _sha256(state)).with_for_update()).first()
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at < now:
        return None
    row.used_at = now
    session.add(row)
    return row


@dataclass
class Decision:
    """Who the IdP's identity maps to, or why not."""

    ok: bool
    reason: str = ""
    user: StaffUser | None = None


def failed(session: Session, *, actor: Actor, reason: str, detail: str = "", email: str = "",
           staff: StaffUser | None = None) -> None:
    """Audit one refused single sign-on (the reason and log-safe detail, never a token)."""
    diff = {"reason": reason}
    if detail:
        diff["detail"] = detail[:300]
    if email:
        diff["email"] = email[:254]
    session.add(LoginAttempt(ip=actor.ip or "", staff_id=staff.id if staff else None, stage="sso", succeeded=False,
                             reason=reason[:64]))
    who = actor if staff is None else Actor(type="staff", id=str(staff.id), email=staff.email, ip=actor.ip,
                                            user_agent=actor.user_agent, request_id=actor.request_id)
    audit.record(session, actor=who, action="sso_login_failed", target_type="staff" if staff else None,
                 target_id=staff.id if staff else None, diff=diff)


def decide(session: Session, *, identity: Identity, issuer: str, provider: str, actor: Actor) -> Decision:
    """Apply the allowed domains, link by verified email, create JIT users, refuse disabled staff (audited)."""
    settings = get_settings()
    email = identity.email
    if not identity.email_verified or not email:
        failed(session, actor=actor, reason="unverified email", email=email)
        return Decision(ok=False, reason="unverified email")
    if identity.domain not in settings.allowed_domains:  # Google's hd claim when present, else the email's
        failed(session, actor=actor, reason="wrong domain", email=email, detail=f"domain {identity.domain!r}")
        return Decision(ok=False, reason="wrong domain")
    subject = f"{issuer}|{identity.subject}"[:300]
    # Two first sign-ins of one new person at once: the second waits here, then finds the account the first made.
    session.execute(sa.text("select pg_advisory_xact_lock(:ns, :key)"),
                    dict(zip(("ns", "key"), locks.sso_email(email), strict=True)))
    user = session.exec(select(StaffUser).where(col(StaffUser.email) == email).with_for_update()).first()
    if user is None:
        if not settings.sso_jit_role:
            failed(session, actor=actor, reason="unknown user", email=email)
            return Decision(ok=False, reason="unknown user")
        user = _create_jit(session, identity=identity, subject=subject, provider=provider, actor=actor)
        return Decision(ok=True, user=user)
    if user.disabled:
        failed(session, actor=actor, reason="disabled", email=email, staff=user)
        return Decision(ok=False, reason="disabled", user=user)
    if user.sso_subject and user.sso_subject != subject:
        failed(session, actor=actor, reason="account changed", email=email, staff=user,
               detail="the IdP subject differs from the one linked earlier")
        return Decision(ok=False, reason="account changed", user=user)
    if not user.sso_subject:
        user.sso_subject = subject
        session.add(user)
        audit.record(session, actor=auth_service._actor_for(user, actor), action="sso_linked", target_type="staff",
                     target_id=user.id, diff={"provider": provider, "email": email})
    return Decision(ok=True, user=user)


def _create_jit(session: Session, *, identity: Identity, subject: str, provider: str, actor: Actor) -> StaffUser:
    role = get_settings().sso_jit_role
    if ROLE_RANK.get(role, 99) > ROLE_RANK["operator"]:  # the setting validator refuses this too
        raise PermissionDenied("SSO_JIT_ROLE can be viewer or operator at most.")
    name = identity.name or identity.email.split("@", 1)[0]
    user = StaffUser(email=identity.email, name=" ".join(name.split())[:120] or identity.email, role=role,
                     password_hash=UNUSABLE_PASSWORD, sso_only=True, sso_subject=subject)
    session.add(user)
    session.flush()
    audit.record(session, actor=Actor(type="system", id=f"sso:{provider}"[:64], ip=actor.ip,
                                      user_agent=actor.user_agent, request_id=actor.request_id),
                 action="staff_created", target_type="staff", target_id=user.id,
                 diff=audit.make_diff(None, {"email": user.email, "name": user.name, "role": role,
                                             "via": f"single sign-on ({provider})"}))
    audit.record(session, actor=auth_service._actor_for(user, actor), action="sso_linked", target_type="staff",
                 target_id=user.id, diff={"provider": provider, "email": user.email, "just_in_time": True})
    return user


def succeeded(session: Session, *, user: StaffUser, provider: str, idp_mfa: bool, actor: Actor) -> None:
    """Audit the IdP step of a sign-in (TOTP may still follow)."""
    audit.record(session, actor=auth_service._actor_for(user, actor), action="sso_login", target_type="staff",
                 target_id=user.id, diff={"provider": provider, "idp_mfa": idp_mfa})


def issue_ticket(session: Session, *, row: SsoLogin, user: StaffUser) -> str:
    """After the IdP step, when TOTP is still needed: a one-time ticket the sign-in page redeems."""
    ticket = secrets.token_urlsafe(32)
    row.staff_id = user.id
    row.ticket_hash = _sha256(ticket)
    row.expires_at = utcnow() + TICKET_TTL
    session.add(row)
    return ticket


def redeem_ticket(session: Session, *, ticket: str) -> tuple[int, str] | None:
    """(staff id, next path) for a fresh ticket, once; None if unknown, used or expired."""
    if not ticket or len(ticket) > 100:
        return None
    row = session.exec(select(SsoLogin).where(col(SsoLogin.ticket_hash) == _sha256(ticket)).with_for_update()).first()
    now = utcnow()
    if row is None or row.ticket_used_at is not None or row.expires_at < now or row.staff_id is None:
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or user.disabled:
        return None
    row.ticket_used_at = now
    session.add(row)
    return row.staff_id, row.next_path


def password_refused(user: StaffUser | None) -> bool:
    """True when this account must sign in by SSO (founders keep password + TOTP as the break-glass path)."""
    return bool(user is not None and user.sso_only and user.role != "founder")


def set_sso_only(session: Session, *, actor_user: StaffUser | None, staff_id: int, sso_only: bool,
                 actor: Actor) -> StaffUser:
    """Require (or stop requiring) single sign-on for another staff member (admin and up; None: the CLI)."""
    if actor_user is not None:
        require_role(actor_user.role, "admin")
    target = auth_service.get(session, staff_id=staff_id)
    if target.role == "founder" and sso_only:
        raise InvalidInput("Founders keep password + two-factor sign-in as the break-glass path.", field="sso_only")
    if actor_user is not None and target.id == actor_user.id:
        raise PermissionDenied("You cannot change your own sign-in method here.")
    if target.password_hash == UNUSABLE_PASSWORD and not sso_only:
        raise InvalidInput("This account was created by single sign-on and has no password: it stays SSO only.",
                           field="sso_only")
    if sso_only and not get_settings().sso_enabled:
        raise InvalidInput("Single sign-on is not configured (set OIDC_ISSUER first).", field="sso_only")
    if target.sso_only == sso_only:
        return target
    target.sso_only = sso_only
    session.add(target)
    audit.record(session, actor=actor, action="staff_sso_only_changed", target_type="staff", target_id=target.id,
                 diff=audit.make_diff({"sso_only": not sso_only}, {"sso_only": sso_only}))
    return target


def unlink(session: Session, *, staff_id: int, actor: Actor) -> StaffUser:
    """Forget the IdP account linked to a staff member: the next SSO sign-in by verified email links again."""
    target = auth_service.get(session, staff_id=staff_id)
    if not target.sso_subject:
        raise InvalidInput("That staff account is not linked to a single sign-on account.", field="email")
    target.sso_subject = None
    session.add(target)
    audit.record(session, actor=actor, action="sso_unlinked", target_type="staff", target_id=target.id)
    return target
