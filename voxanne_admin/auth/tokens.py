"""Monitoring API tokens: created on the Account page, shown once, stored hashed, carry the owner's role."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, col, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.models import ApiToken, ApiTokenRead, StaffUser
from voxanne_admin.auth.roles import has_role
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.errors import InvalidInput, NotFound
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
    row = ApiToken(staff_id=staff_id, name=name, token_hash=_hash(token), prefix=token[:10], scopes=chosen)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_token_created", target_type="api_token", target_id=row.id,
                 diff={"name": name, "staff_id": staff_id, "scopes": chosen})
    return token


def list_tokens(session: Session, *, staff_id: int) -> list[ApiTokenRead]:
    """Active tokens of a staff member."""
    rows = session.exec(select(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
                        .order_by(col(ApiToken.id))).all()
    return [ApiTokenRead(id=r.id or 0, name=r.name, prefix=r.prefix,
                         created_at=fmt.timestamp(r.created_at),
                         last_used_at=fmt.timestamp(r.last_used_at, empty="never"),
                         scopes=", ".join(r.scopes or []))
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
    user = session.get(StaffUser, row.staff_id)
    if user is None or user.disabled:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.add(row)
    return CurrentStaff(id=user.id or 0, email=user.email, name=user.name, role=user.role, session_id=f"token:{row.id}",
                        scopes=tuple(row.scopes or ()))
