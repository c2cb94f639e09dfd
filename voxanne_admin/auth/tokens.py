"""API tokens: created on the Account page, shown once, stored hashed, carry the owner's role and a scope.

A token expires (API_TOKEN_DAYS, default 90) and is revoked with every other credential when its owner is
disabled, has MFA reset, changes the password or signs out everywhere
(`auth.service.revoke_api_tokens`). Routes check the scope with
`require_scope(staff, scope)`; a staff session (no token) is limited by its role only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.models import ApiToken, ApiTokenRead, StaffUser
from voxanne_admin.auth.roles import has_role
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.errors import InvalidInput, NotFound, PermissionDenied
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

PREFIX = "vxt_"
MAX_TOKENS = 20
# Scope -> the lowest role that may hold it. The role is still checked on every route.
SCOPES = {"flags": "viewer", "flags:write": "admin", "monitoring": "viewer", "calls": "viewer",
          "compliance": "viewer"}


def allowed_scopes(role: str) -> list[str]:
    """Every scope a role may give its tokens."""
    return [scope for scope, minimum in SCOPES.items() if has_role(role, minimum)]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, staff_id: int, name: str, actor: Actor, scopes: list[str] | None = None) -> str:
    """A new token (returned once). Without scopes it gets every scope its owner's role allows."""
    user = session.get(StaffUser, staff_id)
    if user is None or user.disabled:
        raise NotFound("That staff account does not exist or is disabled.")
    allowed = allowed_scopes(user.role)
    if scopes:
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise InvalidInput(f"Unknown scope '{unknown[0]}'; scopes are {', '.join(SCOPES)}.", field="scope")
        beyond = [s for s in scopes if s not in allowed]
        if beyond:
            raise InvalidInput(f"A {user.role} cannot hold the '{beyond[0]}' scope (it needs the "
                               f"{SCOPES[beyond[0]]} role).", field="scope")
        chosen = sorted(set(scopes), key=list(SCOPES).index)
    else:
        chosen = allowed
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Name the token after what will use it, like 'Grafana'.", field="token_name")
    if len(name) > 80:
        raise InvalidInput("Use at most 80 characters for the token name.", field="token_name")
    active = session.exec(select(ApiToken).where(ApiToken.staff_id == staff_id,
                                                 ApiToken.revoked_at.is_(None))).all()  # type: ignore[union-attr]
    if len(active) >= MAX_TOKENS:
        raise InvalidInput(f"You have {MAX_TOKENS} active tokens: revoke one first.", field="token_name")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=get_settings().api_token_days)
    row = ApiToken(staff_id=staff_id, name=name, token_hash=_hash(token), prefix=token[:10], scopes=chosen,
                   expires_at=expires)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_token_created", target_type="api_token", target_id=row.id,
                 diff={"name": name, "staff_id": staff_id, "scopes": chosen, "expires_at": expires.isoformat()})
    return token


def list_tokens(session: Session, *, staff_id: int) -> list[ApiTokenRead]:
    """Active (unrevoked, unexpired) tokens of a staff member."""
    rows = session.exec(select(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
                                               sa.or_(col(ApiToken.expires_at).is_(None),
                                                      col(ApiToken.expires_at) > utcnow()))
                        .order_by(col(ApiToken.id))).all()
    return [ApiTokenRead(id=r.id or 0, name=r.name, prefix=r.prefix,
                         created_at=fmt.timestamp(r.created_at),
                         last_used_at=fmt.timestamp(r.last_used_at, empty="never"),
                         scopes=", ".join(r.scopes or []), expires_at=fmt.timestamp(r.expires_at, empty="never"))
            for r in rows]


def revoke(session: Session, *, staff_id: int, token_id: int, actor: Actor) -> None:
    """Revoke one of your tokens."""
    row = session.exec(select(ApiToken).where(ApiToken.id == token_id, ApiToken.staff_id == staff_id)).first()
    if row is None or row.revoked_at is not None:
        raise NotFound("That token does not exist or is already revoked.")
    row.revoked_at = utcnow()
    session.add(row)
    audit.record(session, actor=actor, action="api_token_revoked", target_type="api_token", target_id=row.id)


def resolve(session: Session, *, token: str) -> CurrentStaff | None:
    """The staff member behind an active token (disabled accounts' tokens stop working)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is None or row.expires_at <= utcnow():
        return None  # expired (tokens from before expiries got one in migration 0013)
    user = session.get(StaffUser, row.staff_id)
    if user is None or user.disabled:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.add(row)
    return CurrentStaff(id=user.id or 0, email=user.email, name=user.name, role=user.role, session_id=f"token:{row.id}",
                        scopes=tuple(row.scopes or ()))


def require_scope(staff: CurrentStaff, scope: str) -> None:
    """Raise PermissionDenied (403) when `staff` came from an API token without `scope` (e.g. "monitoring" for
    /metrics, "compliance" for /api/compliance/*). A staff session is limited by its role only."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")
    if staff.scopes is not None and scope not in staff.scopes:
        raise PermissionDenied(f"This token lacks the '{scope}' scope: create one with it "
                               f"(voxanne-admin tokens create --scope {scope}).")
