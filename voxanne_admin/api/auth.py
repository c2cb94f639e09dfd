"""Cookie hand-off: the only place the session cookie is set or cleared (HttpOnly, SameSite=Strict).

Login CSRF: a sign-in ticket only works in the browser that signed in. Every page response gives the browser a
random pre-sign-in cookie (`vx_presignin`, HttpOnly); the sign-in handler reads it from its websocket and puts
`proof = sha256(ticket:cookie)` beside the ticket, and `/api/auth/establish` recomputes it from the cookie of the
browser that follows the link. A link with someone else's ticket carries their proof, not this browser's.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from voxanne_admin import db
from voxanne_admin.api.security import PRE_COOKIE
from voxanne_admin.auth import service as auth_service
from voxanne_admin.settings import get_settings

router = APIRouter(prefix="/api/auth")
COOKIE = "vx_session"


def _secure() -> bool:
    return get_settings().public_url.startswith("https://")


def ticket_proof(ticket: str, binding: str) -> str:
    """What ties a ticket to the browser holding `binding` (its pre-sign-in cookie)."""
    return hashlib.sha256(f"{ticket}:{binding}".encode()).hexdigest()


def bound_establish_url(ticket: str, binding: str) -> str:
    """The hand-off link for this browser only."""
    return f"/api/auth/establish?ticket={ticket}&proof={ticket_proof(ticket, binding)}"


def _bound_to_this_browser(request: Request, ticket: str, proof: str) -> bool:
    binding = request.cookies.get(PRE_COOKIE, "")
    return bool(binding and proof) and secrets.compare_digest(ticket_proof(ticket, binding), proof)


@router.get("/establish")
async def establish(request: Request, ticket: str = "", proof: str = "", next: str = "/overview") -> RedirectResponse:
    """Exchange a one-time sign-in ticket for the session cookie, then go to the console."""
    ticket, proof = ticket[:200], proof[:200]
    if ticket and not _bound_to_this_browser(request, ticket, proof):
        return RedirectResponse("/login?expired=1", status_code=303)
    token = await db.run_in_transaction(auth_service.establish_session, ticket=ticket) if ticket else None
    target = next if next.startswith("/") and not next.startswith("//") else "/overview"
    if token is None:
        return RedirectResponse("/login?expired=1", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=_secure(), path="/",
                        max_age=get_settings().session_absolute_days * 86400)
    return response


@router.get("/signed-out")
async def signed_out(request: Request) -> RedirectResponse:
    """Clear the cookie after the session was revoked server-side, then show the sign-in page."""
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure())
    return response
