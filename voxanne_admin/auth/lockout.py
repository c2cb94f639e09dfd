"""Failed sign-in throttling by account AND source IP, with a progressive delay (OWASP ASVS 2.2.1).

An attacker elsewhere must not be able to lock a colleague out, and the answer must not reveal whether an
account exists. So:

- failures are counted per *account key* (a hash of the email typed, existing or not) and source IP; after
  `LOCKOUT_THRESHOLD` of them from one IP, that IP may not try that account for `LOCKOUT_MINUTES` (the same
  answer for an unknown email, a wrong password and a locked pair);
- across every IP, failures past the threshold impose a progressive delay on the account: the next attempt is
  accepted only `2**(n - threshold)` seconds (at most `MAX_DELAY_S`) after the latest failure. The delay is a
  refusal with Retry-After, never a sleep, so nothing waits on the event loop or holds a worker thread. A source
  IP that completed a sign-in to the account in the last `KNOWN_SOURCE_DAYS` days is exempt from the delay, so
  the colleague at their usual desk is not slowed by an attack from elsewhere;
- a full sign-in (both factors), or an administrator's unlock, starts the count afresh.

Counts come from `login_attempts` (no counters to race on). Refused attempts are recorded but not counted, so
hammering a locked pair does not extend anybody else's delay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin.auth.models import LoginAttempt, StaffUser
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

MAX_DELAY_S = 300
KNOWN_SOURCE_DAYS = 30
REFUSED_REASONS = ("throttled", "locked")
THROTTLED = "Too many failed sign-ins for this account. Wait {wait} and try again, or ask an administrator."


def account_key(email: str) -> str:
    """The key failures are counted under: a hash of the normalised email (also for unknown emails)."""
    return hashlib.sha256(f"account:{email}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Throttle:
    """Whether this attempt may proceed; when not, how long until it may (seconds)."""

    allowed: bool
    retry_after_s: int = 0
    reason: str = ""  # locked (this IP for this account) | delay (the account's progressive delay)

    @property
    def message(self) -> str:
        """The one answer for every refused attempt (the same for existing and unknown accounts)."""
        seconds = max(1, self.retry_after_s)
        wait = f"{(seconds + 59) // 60} minute{'s' if seconds > 60 else ''}" if seconds >= 60 else \
            f"{seconds} second{'s' if seconds > 1 else ''}"
        return THROTTLED.format(wait=wait)


def _since(session: Session, key: str, user: StaffUser | None) -> datetime:
    settings = get_settings()
    since = utcnow() - timedelta(minutes=settings.lockout_minutes)
    last_success = session.exec(select(sa.func.max(LoginAttempt.occurred_at)).where(
        LoginAttempt.account_key == key, LoginAttempt.stage == "mfa", col(LoginAttempt.succeeded).is_(True))).one()
    for marker in (last_success, user.failures_reset_at if user is not None else None):
        if marker is not None and marker > since:
            since = marker
    return since


def _failures(session: Session, key: str, since: datetime, ip: str | None = None) -> list[datetime]:
    query = select(LoginAttempt.occurred_at).where(
        LoginAttempt.account_key == key, col(LoginAttempt.succeeded).is_(False), LoginAttempt.occurred_at > since,
        col(LoginAttempt.reason).not_in(REFUSED_REASONS))
    if ip is not None:
        query = query.where(LoginAttempt.ip == ip)
    return list(session.exec(query.order_by(col(LoginAttempt.occurred_at).desc())).all())


def _known_source(session: Session, key: str, ip: str) -> bool:
    since = utcnow() - timedelta(days=KNOWN_SOURCE_DAYS)
    return session.exec(select(LoginAttempt.id).where(
        LoginAttempt.account_key == key, LoginAttempt.ip == ip, LoginAttempt.stage == "mfa",
        col(LoginAttempt.succeeded).is_(True), LoginAttempt.occurred_at > since).limit(1)).first() is not None


def check(session: Session, *, key: str, ip: str, user: StaffUser | None) -> Throttle:
    """May this source try this account now? (Reads only; the caller records the attempt.)"""
    settings = get_settings()
    threshold = settings.lockout_threshold
    now = utcnow()
    since = _since(session, key, user)
    from_ip = _failures(session, key, since, ip)
    if len(from_ip) >= threshold:
        # The pair is free again once the threshold-th latest failure leaves the window.
        until = from_ip[threshold - 1] + timedelta(minutes=settings.lockout_minutes)
        return Throttle(False, int((until - now).total_seconds()) + 1, "locked")
    everywhere = _failures(session, key, since)
    if len(everywhere) >= threshold and not _known_source(session, key, ip):
        delay = min(2 ** (len(everywhere) - threshold), MAX_DELAY_S)
        ready = everywhere[0] + timedelta(seconds=delay)
        if ready > now:
            return Throttle(False, int((ready - now).total_seconds()) + 1, "delay")
    return Throttle(True)


def locks_now(session: Session, *, key: str, ip: str, user: StaffUser | None) -> datetime | None:
    """After recording a failure: when this IP's lock on the account ends, if this failure started one."""
    settings = get_settings()
    failures = _failures(session, key, _since(session, key, user), ip)
    if len(failures) == settings.lockout_threshold:
        return failures[0] + timedelta(minutes=settings.lockout_minutes)
    return None
