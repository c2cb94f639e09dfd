"""Cookie hand-off: the only place the session cookie is set or cleared (HttpOnly, SameSite=Lax)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from voxanne_admin import db
from voxanne_admin.auth import service as auth_service
from voxanne_admin.settings import get_settings

router = APIRouter(prefix="/api/auth")
COOKIE = "vx_session"


def _secure() -> bool:
    return get_settings().public_url.startswith("https://")


@router.get("/establish")
async def establish(ticket: str = "", next: str = "/overview") -> RedirectResponse:
    """Exchange a one-time sign-in ticket for the session cookie, then go to the console."""

    token = await db.run_in_transaction(auth_service.establish_session, ticket=ticket) if ticket else None
    target = next if next.startswith("/") and not next.startswith("//") else "/overview"
    if token is None:
        return RedirectResponse("/login?expired=1", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=_secure(), path="/",
                        max_age=get_settings().session_absolute_days * 86400)
    return response


@router.get("/signed-out")
async def signed_out(request: Request) -> RedirectResponse:
    """Clear the cookie after the session was revoked server-side, then show the sign-in page."""
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_secure())
    return response
