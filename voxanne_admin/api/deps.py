"""Authentication for JSON API routes: the staff session cookie, or an API token as a Bearer header."""

from __future__ import annotations

from fastapi import HTTPException, Request
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.api.auth import COOKIE
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import tokens
from voxanne_admin.auth.roles import has_role
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.errors import PermissionDenied


def _resolve(session: Session, cookie: str | None, bearer: str | None) -> CurrentStaff | None:
    if bearer:
        return tokens.resolve(session, token=bearer)
    return auth_service.resolve_session(session, token=cookie)


async def require_staff(request: Request, minimum: str, scope: str | None = None) -> CurrentStaff:
    """401 without valid credentials, 403 below the role or (for a token) without the scope."""
    header = request.headers.get("authorization", "").strip()
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    if bearer is None and header.startswith(tokens.PREFIX):
        bearer = header  # Unleash SDKs send the token bare
    staff = await db.run_in_transaction(_resolve, request.cookies.get(COOKIE), bearer)
    if staff is None:
        raise HTTPException(401, "Sign in, or send an API token as 'Authorization: Bearer vxt_...'.")
    if not has_role(staff.role, minimum):
        raise HTTPException(403, f"This needs the {minimum} role or higher.")
    if scope:
        try:
            tokens.require_scope(staff, scope)
        except PermissionDenied as exc:
            raise HTTPException(403, str(exc)) from None
    return staff
