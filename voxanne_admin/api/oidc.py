"""Single sign-on routes: /api/auth/oidc/start sends the browser to the IdP, /api/auth/oidc/callback finishes.

The attempt's state is bound to the browser by a short-lived HttpOnly cookie (SameSite=Lax, so it comes back
on the IdP's top-level redirect); nonce and PKCE verifier stay in the database.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from voxanne_admin.api.auth import PRE_COOKIE, _secure, ticket_proof
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip, oidc, sso_flows
from voxanne_admin.logging import request_id_var
from voxanne_admin.settings import get_settings

router = APIRouter(prefix="/api/auth/oidc")
log = logging.getLogger(__name__)
STATE_COOKIE = "vx_oidc_state"
STATE_PATH = "/api/auth/oidc"


def _actor(request: Request) -> Actor:
    ip = client_ip.from_request(request) or None
    return Actor(type="anonymous", ip=ip, user_agent=request.headers.get("user-agent", "")[:400] or None,
                 request_id=request_id_var.get())


def _bind_handoff(request: Request, target: str) -> str:
    """A direct hand-off (the IdP's MFA trusted) is bound to this browser like the password path's."""
    parts = urlsplit(target)
    if parts.path != "/api/auth/establish":
        return target
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["proof"] = ticket_proof(query.get("ticket", ""), request.cookies.get(PRE_COOKIE, ""))
    return f"{parts.path}?{urlencode(query)}"


@router.get("/start")
async def start(next: str = "/overview") -> RedirectResponse:
    """Redirect to the OpenID Provider (303), or back to the sign-in page when SSO is unavailable."""
    if not get_settings().sso_enabled:
        return RedirectResponse("/login?sso_error=not_configured", status_code=303)
    try:
        started = await asyncio.to_thread(sso_flows.start, next_path=next)
    except oidc.SsoUnavailable:
        return RedirectResponse("/login?sso_error=unavailable", status_code=303)
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(STATE_COOKIE, started.state, httponly=True, samesite="lax", secure=_secure(),
                        path=STATE_PATH, max_age=int(sso_flows.sso.LOGIN_TTL.total_seconds()))
    return response


@router.get("/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> RedirectResponse:
    """The IdP's redirect: check, sign in or refuse, and always clear the state cookie."""
    if not get_settings().sso_enabled:
        return RedirectResponse("/login?sso_error=not_configured", status_code=303)
    target = await asyncio.to_thread(
        sso_flows.callback, code=code[:2048], state=state[:200], cookie_state=request.cookies.get(STATE_COOKIE, ""),
        error=error, actor=_actor(request),
    )
    response = RedirectResponse(_bind_handoff(request, target), status_code=303)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax", secure=_secure())
    return response
