"""Single sign-on flows: short transactions around the calls to the OpenID Provider.

`start` keeps the attempt's secrets server-side and returns the IdP URL; `callback` checks the state, redeems
the code, validates the ID token, decides who gets in and returns where the browser goes next: the cookie
hand-off (IdP MFA trusted), the sign-in page's TOTP step (the default), or the sign-in page with a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import oidc, signin, sso
from voxanne_admin.auth import service as auth_service
from voxanne_admin.errors import RateLimited
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
LOGIN = "/login"


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the state to bind to it in an HttpOnly cookie."""

    url: str
    state: str


def _refused(reason: str) -> str:
    return f"{LOGIN}?{urlencode({'sso_error': reason.replace(' ', '_')})}"


def start(*, next_path: str = "") -> Started:
    """Begin a sign-in at the IdP. Raises oidc.SsoUnavailable when discovery fails."""
    request = oidc.client().authorization_request()
    with db.transaction() as session:
        sso.begin(session, state=request.state, nonce=request.nonce, code_verifier=request.code_verifier,
                  next_path=next_path)
    return Started(url=request.url, state=request.state)


def _fail(actor: Actor, reason: str, detail: str = "") -> str:
    with db.transaction() as session:
        sso.failed(session, actor=actor, reason=reason, detail=detail)
    return _refused(reason)


def callback(*, code: str, state: str, cookie_state: str, error: str, actor: Actor) -> str:
    """Finish a sign-in; returns the URL to redirect the browser to (never raises for bad input)."""
    settings = get_settings()
    provider = oidc.provider_name(settings)
    try:
        with db.read_only() as session:
            signin.check_ip_rate(session, actor.ip or "")
    except RateLimited:
        return _refused("rate limited")
    with db.transaction() as session:
        row = sso.claim(session, state=state, cookie_state=cookie_state)
        pending = None if row is None else (row.id, row.nonce, row.code_verifier, row.next_path)
    if pending is None:
        return _fail(actor, "state mismatch", "no pending sign-in matches this state and browser")
    login_id, nonce, verifier, next_path = pending
    if error or not code:
        return _fail(actor, "provider error", f"IdP returned error={error[:80]!r}" if error else "no code")
    try:
        client = oidc.client(settings)
        raw = client.exchange_code(code, verifier)
        identity = client.validate_id_token(raw, nonce=nonce)
    except oidc.SsoUnavailable as exc:
        log.error("single sign-on callback: %s", exc)
        return _fail(actor, "unavailable", str(exc))
    except oidc.TokenInvalid as exc:
        if exc.clock:
            log.warning("single sign-on refused: %s (check the server clock: NTP)", exc.detail)
        else:
            log.warning("single sign-on refused: %s", exc.detail)
        return _fail(actor, "token invalid", exc.detail)
    with db.transaction() as session:
        decision = sso.decide(session, identity=identity, issuer=client.issuer, provider=provider, actor=actor)
        if not decision.ok or decision.user is None:
            return _refused(decision.reason)
        user = decision.user
        trusted = settings.sso_trust_idp_mfa and identity.idp_mfa
        sso.succeeded(session, user=user, provider=provider, idp_mfa=trusted, actor=actor)
        if trusted:
            user.last_login_at = utcnow()
            user.failed_attempts = 0
            session.add(user)
            ticket = auth_service.create_session(session, user=user, actor=actor, provider=provider, idp_mfa=True)
            return f"/api/auth/establish?{urlencode({'ticket': ticket, 'next': next_path})}"
        row = session.get(sso.SsoLogin, login_id)
        if row is None:  # purged as expired while the person was at the IdP
            return _fail(actor, "state mismatch", "the pending sign-in expired before the IdP answered")
        ticket = sso.issue_ticket(session, row=row, user=user)
        return f"{LOGIN}?{urlencode({'sso_ticket': ticket})}"
