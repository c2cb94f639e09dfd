"""Role ranks and the server-side check every handler and route calls."""

from __future__ import annotations

from voxanne_admin.auth.models import ROLE_RANK, ROLES
from voxanne_admin.errors import PermissionDenied


def has_role(role: str | None, minimum: str) -> bool:
    """True when `role` is at least `minimum` (viewer < operator < admin < founder)."""
    return role in ROLE_RANK and ROLE_RANK[role] >= ROLE_RANK[minimum]


def require_role(role: str | None, minimum: str) -> None:
    """Raise PermissionDenied unless `role` is at least `minimum`."""
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}; expected one of {ROLES}")
    if not has_role(role, minimum):
        raise PermissionDenied(f"This needs the {minimum} role or higher.")
