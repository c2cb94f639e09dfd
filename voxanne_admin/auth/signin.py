"""Sign-in: the password step (lockout by account and IP in `lockout`, per-IP rate, constant time), TOTP
enrolment and the second factor, recovery codes. Services never commit; sign-in outcomes are returned, not
raised, so failure counters and audit events are committed too. TOTP seeds are encrypted at rest and recovery
codes stored under a keyed hash (`secrets_at_rest`)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin.audit import flood
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import lockout, passwords, secrets_at_rest
from voxanne_admin.auth.models import LoginAttempt, RecoveryCode, StaffUser
from voxanne_admin.auth.service import _actor_for, get_by_email, normalise_email
from voxanne_admin.errors import Conflict, InvalidInput, RateLimited
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

GENERIC_FAILURE = "Email or password is incorrect."
SSO_ONLY_FAILURE = "This account signs in with single sign-on only: use the single sign-on button."
CODE_FAILURE = "That code is not valid. Check your authenticator app and try again."
RECOVERY_CODE_COUNT = 10
RATE_WINDOW = timedelta(minutes=15)
TOTP_ISSUER = "Voxanne Admin"
MIN_RESPONSE_S = 0.35  # failure and success paths of the password step take at least this long


# ---------------------------------------------------------------- TOTP and recovery codes


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def begin_totp_enrolment(session: Session, *, user: StaffUser) -> tuple[str, str]:
    """Give the account a fresh TOTP secret (not active until confirmed); returns (secret, otpauth URI)."""
    if user.mfa_enabled:
        raise Conflict("Two-factor sign-in is already set up for this account.")
    secret = pyotp.random_base32()
    user.totp_secret = secrets_at_rest.encrypt(secret)  # encrypted at rest; the clear seed is shown once
    session.add(user)
    uri = _totp(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return secret, uri


def _match_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The TOTP time step the code belongs to (current, previous or next), or None."""
    now = time.time() if now is None else now
    totp = _totp(secret)
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _new_recovery_codes(session: Session, user: StaffUser) -> list[str]:
    session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.staff_id) == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 40 bits each, single use, rate limited by lockout
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        session.add(RecoveryCode(staff_id=user.id or 0, code_hash=secrets_at_rest.recovery_hash(code)))
    return codes


def confirm_totp_enrolment(session: Session, *, user: StaffUser, code: str, actor: Actor) -> list[str]:
    """Activate TOTP after the person proves their app shows the right code; returns new recovery codes."""
    code = re.sub(r"\s", "", code or "")
    if not user.totp_secret:
        raise InvalidInput("Start the two-factor setup again: no secret is pending.", field="code")
    if not re.fullmatch(r"\d{6}", code):
        raise InvalidInput("Enter the 6-digit code from your authenticator app.", field="code")
    step = _match_step(secrets_at_rest.decrypt(user.totp_secret), code)
    if step is None:
        raise InvalidInput(CODE_FAILURE, field="code")
    user.mfa_enabled = True
    user.totp_last_step = step
    session.add(user)
    codes = _new_recovery_codes(session, user)
    audit.record(session, actor=actor, action="mfa_enabled", target_type="staff", target_id=user.id)
    return codes


# ---------------------------------------------------------------- sign-in


@dataclass
class SignInResult:
    """What the password or code step decided; the caller commits either way."""

    ok: bool
    message: str = ""
    staff_id: int | None = None
    needs_enrolment: bool = False
    locked_until: datetime | None = None
    retry_after_s: int = 0
    must_change_password: bool = False


def _check_ip_rate(session: Session, ip: str) -> None:
    limit = get_settings().login_ip_limit
    since = utcnow() - RATE_WINDOW
    count = session.exec(
        select(sa.func.count()).select_from(LoginAttempt).where(LoginAttempt.ip == ip, LoginAttempt.occurred_at > since)
    ).one()
    if count >= limit:
        oldest = session.exec(
            select(sa.func.min(LoginAttempt.occurred_at)).where(LoginAttempt.ip == ip, LoginAttempt.occurred_at > since)
        ).one()
        retry = int(((oldest or utcnow()) + RATE_WINDOW - utcnow()).total_seconds()) + 1
        minutes = max(1, (retry + 59) // 60)
        raise RateLimited(
            f"Too many sign-in attempts from your network. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after_s=max(1, retry),
        )


def check_ip_rate(session: Session, ip: str) -> None:
    """Raise RateLimited past LOGIN_IP_LIMIT sign-in attempts (any kind) from this IP in 15 minutes."""
    _check_ip_rate(session, ip)


def _register_failure(session: Session, user: StaffUser | None, key: str, ip: str, actor: Actor,
                      stage: str) -> None:
    """After a failure was recorded: when it locks this IP out of the account, say so in the audit trail (the
    person is not told: the answer stays the generic one)."""
    until = lockout.locks_now(session, key=key, ip=ip, user=user)
    if until is None or user is None:
        return
    user.failed_attempts += 1
    user.locked_until = until  # shown on the Staff page ("locked for a source"); sign-in checks lockout
    session.add(user)
    audit.record(session, actor=actor, action="account_locked", target_type="staff", target_id=user.id,
                 diff={"locked_until": until.isoformat(), "stage": stage, "source_ip": ip})


def _refused(session: Session, *, user: StaffUser | None, key: str, ip: str, stage: str, actor: Actor,
             throttle: lockout.Throttle) -> SignInResult:
    session.add(LoginAttempt(ip=ip, staff_id=user.id if user else None, account_key=key, stage=stage,
                             succeeded=False, reason="locked" if throttle.reason == "locked" else "throttled"))
    audit.record(session, actor=_actor_for(user, actor), action="login_failed",
                 diff={"stage": stage, "reason": f"refused ({throttle.reason})"})
    return SignInResult(ok=False, message=throttle.message, retry_after_s=throttle.retry_after_s)


def authenticate_password(session: Session, *, email: str, password: str, actor: Actor,
                          pad: bool = True) -> SignInResult:
    """First step: email + password. Raises RateLimited past the per-IP limit. `pad=False`: the caller pads to
    MIN_RESPONSE_S itself without blocking (the UI awaits asyncio.sleep; this runs on a worker thread).

    Every refusal reads the same for an existing and an unknown email: GENERIC_FAILURE, or the lockout's one
    message (auth.lockout) once the account is throttled for this source, which unknown emails get too."""
    started = time.monotonic()
    ip = actor.ip or ""
    _check_ip_rate(session, ip)
    try:
        email = normalise_email(email)
    except InvalidInput:
        email = ""
    key = lockout.account_key(email)
    user = get_by_email(session, email=email) if email else None
    throttle = lockout.check(session, key=key, ip=ip, user=user)
    if not throttle.allowed:
        return _refused(session, user=user, key=key, ip=ip, stage="password", actor=actor, throttle=throttle)
    valid = passwords.verify_password(user.password_hash if user else None, password or "")
    result: SignInResult
    if user is None or user.disabled:
        session.add(LoginAttempt(ip=ip, staff_id=user.id if user else None, account_key=key, stage="password",
                                 succeeded=False, reason="unknown_or_disabled"))
        if user is None:  # anyone can send these: counted per IP and minute, one audit row per window
            flood.count_refusal(session, action="login_failed", actor=Actor(type="anonymous", ip=actor.ip),
                                reason="unknown account")
        else:
            audit.record(session, actor=_actor_for(user, actor), action="login_failed",
                         diff={"stage": "password", "reason": "disabled"})
        session.flush()
        _register_failure(session, user, key, ip, _actor_for(user, actor), "password")
        result = SignInResult(ok=False, message=GENERIC_FAILURE)
    elif valid and user.sso_only and user.role != "founder" and get_settings().sso_enabled:
        # Checked after the password so the answer does not reveal which accounts are SSO-only. With SSO
        # unconfigured (OIDC_ISSUER removed) the flag is dormant, or those people could not sign in at all.
        session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="password", succeeded=False,
                                 reason="sso_only"))
        audit.record(session, actor=_actor_for(user, actor), action="login_failed",
                     diff={"stage": "password", "reason": "single sign-on only"})
        result = SignInResult(ok=False, message=SSO_ONLY_FAILURE)
    elif not valid:
        session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="password", succeeded=False,
                                 reason="bad_password"))
        audit.record(session, actor=_actor_for(user, actor), action="login_failed",
                     diff={"stage": "password", "reason": "wrong password"})
        session.flush()
        _register_failure(session, user, key, ip, _actor_for(user, actor), "password")
        result = SignInResult(ok=False, message=GENERIC_FAILURE)
    else:
        session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="password", succeeded=True))
        result = SignInResult(ok=True, staff_id=user.id, needs_enrolment=not user.mfa_enabled,
                              must_change_password=user.must_change_password)
    # Pad so that unknown emails, wrong passwords and successes are indistinguishable by time.
    elapsed = time.monotonic() - started
    if pad and elapsed < MIN_RESPONSE_S:
        time.sleep(MIN_RESPONSE_S - elapsed)
    return result


def verify_second_factor(session: Session, *, staff_id: int, code: str, actor: Actor) -> SignInResult:
    """Second step: a 6-digit TOTP code (never twice in its window) or a one-time recovery code.

    The staff row is locked (SELECT ... FOR UPDATE) while the code is checked, so two submissions of one code at
    once are serialised: the second sees the step the first recorded and is refused as a replay."""
    ip = actor.ip or ""
    _check_ip_rate(session, ip)
    # populate_existing: the row as the previous lock holder committed it, not a copy cached in this session.
    user = session.exec(select(StaffUser).where(StaffUser.id == staff_id).with_for_update()
                        .execution_options(populate_existing=True)).first()
    if user is None or user.disabled or not user.mfa_enabled or not user.totp_secret:
        return SignInResult(ok=False, message="Your sign-in expired. Start again.")
    staff_actor = _actor_for(user, actor)
    now = utcnow()
    key = lockout.account_key(user.email)
    throttle = lockout.check(session, key=key, ip=ip, user=user)
    if not throttle.allowed:
        refused = _refused(session, user=user, key=key, ip=ip, stage="mfa", actor=actor, throttle=throttle)
        refused.locked_until = now + timedelta(seconds=throttle.retry_after_s)
        return refused
    cleaned = re.sub(r"\s", "", code or "").lower()
    method = ""
    reason = "wrong code"
    if re.fullmatch(r"\d{6}", cleaned):
        step = _match_step(secrets_at_rest.decrypt(user.totp_secret), cleaned)
        if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
            user.totp_last_step = step
            method = "totp"
        elif step is not None:
            reason = "code already used"
    elif re.fullmatch(r"[0-9a-f]{5}-?[0-9a-f]{5}", cleaned):
        normalised = cleaned if "-" in cleaned else f"{cleaned[:5]}-{cleaned[5:]}"
        row = session.exec(
            select(RecoveryCode)
            .where(RecoveryCode.staff_id == user.id,
                   RecoveryCode.code_hash == secrets_at_rest.recovery_hash(normalised),
                   RecoveryCode.used_at.is_(None))  # type: ignore[union-attr]
            .with_for_update()
        ).first()
        if row is not None:
            row.used_at = now
            session.add(row)
            session.flush()  # the count below must already exclude this code
            method = "recovery_code"
            audit.record(session, actor=staff_actor, action="recovery_code_used", target_type="staff",
                         target_id=user.id, diff={"remaining": remaining_recovery_codes(session, user.id or 0)})
        else:
            reason = "unknown or used recovery code"
    if not method:
        session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="mfa", succeeded=False,
                                 reason=reason[:64]))
        audit.record(session, actor=staff_actor, action="mfa_challenge_failed", target_type="staff",
                     target_id=user.id, diff={"reason": reason})
        session.flush()
        _register_failure(session, user, key, ip, staff_actor, "mfa")
        return SignInResult(ok=False, message=CODE_FAILURE)
    session.add(LoginAttempt(ip=ip, staff_id=user.id, account_key=key, stage="mfa", succeeded=True))
    user.failed_attempts = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    audit.record(session, actor=staff_actor, action="mfa_challenge_success", target_type="staff",
                 target_id=user.id, diff={"method": method})
    return SignInResult(ok=True, staff_id=user.id, must_change_password=user.must_change_password)


def verify_current_code(session: Session, *, user: StaffUser, code: str) -> bool:
    """Re-authentication with a TOTP code: True when it is valid and newer than the last step used (which it
    then records, so it cannot be used again). The caller holds the staff row (`with_for_update`)."""
    cleaned = re.sub(r"\s", "", code or "")
    if not (user.mfa_enabled and user.totp_secret and re.fullmatch(r"\d{6}", cleaned)):
        return False
    step = _match_step(secrets_at_rest.decrypt(user.totp_secret), cleaned)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    session.add(user)
    return True


def remaining_recovery_codes(session: Session, staff_id: int) -> int:
    """How many unused recovery codes the staff member has left."""
    return session.exec(
        select(sa.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None))  # type: ignore[union-attr]
    ).one()


def regenerate_recovery_codes(session: Session, *, user: StaffUser, actor: Actor) -> list[str]:
    """Replace all recovery codes (the old ones stop working)."""
    if not user.mfa_enabled:
        raise Conflict("Set up two-factor sign-in first.")
    codes = _new_recovery_codes(session, user)
    audit.record(session, actor=actor, action="recovery_codes_regenerated", target_type="staff", target_id=user.id)
    return codes
