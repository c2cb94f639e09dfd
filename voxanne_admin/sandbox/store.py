"""Sandbox state and fault injection, kept in PostgreSQL so every worker and replica shares it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from voxanne_admin import db
from voxanne_admin.sandbox.models import SandboxFault, SandboxObject
from voxanne_admin.settings import get_settings

FAULT_MODES = ("fail", "latency", "drop", "duplicate", "reorder")


def sandbox_vapi_key() -> str:
    """The API key the Vapi sandbox accepts (generated per data directory)."""
    return get_settings().vapi_key


def put(provider: str, kind: str, object_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Insert or replace an object."""
    with db.transaction() as session:
        row = session.get(SandboxObject, object_id)
        if row is None:
            session.add(SandboxObject(id=object_id, provider=provider, kind=kind, data=data))
        else:
            row.data = data
            session.add(row)
    return data


def get(object_id: str, kind: str | None = None) -> dict[str, Any] | None:
    """An object's data, or None."""
    with db.read_only() as session:
        row = session.get(SandboxObject, object_id)
        if row is None or (kind and row.kind != kind):
            return None
        return dict(row.data)


def list_kind(provider: str, kind: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Objects of one kind, newest first."""
    with db.read_only() as session:
        rows = session.exec(
            select(SandboxObject).where(SandboxObject.provider == provider, SandboxObject.kind == kind)
            .order_by(SandboxObject.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
        ).all()
        return [dict(r.data) for r in rows]


def delete(object_id: str) -> bool:
    """Remove an object; True if it existed."""
    with db.transaction() as session:
        deleted = session.execute(sa.delete(SandboxObject).where(col(SandboxObject.id) == object_id))
        return deleted.rowcount > 0  # type: ignore[attr-defined]


def add_fault(provider: str, mode: str, *, operation: str = "*", count: int = 1, status: int | None = None,
              code: str | None = None, message: str | None = None, latency_ms: int | None = None) -> int:
    """Inject a fault into the next `count` matching requests (or webhooks, with operation='webhook')."""
    if provider not in ("vapi", "twilio"):
        raise ValueError("provider must be vapi or twilio")
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
    with db.transaction() as session:
        fault = SandboxFault(provider=provider, operation=operation, mode=mode, remaining=max(1, count),
                             status=status, code=code, message=message, latency_ms=latency_ms)
        session.add(fault)
        session.flush()
        return fault.id or 0


def take_fault(provider: str, operation: str) -> SandboxFault | None:
    """Consume one use of the oldest matching fault, if any."""
    with db.transaction() as session:
        fault = session.exec(
            select(SandboxFault)
            .where(SandboxFault.provider == provider, SandboxFault.remaining > 0,
                   sa.or_(col(SandboxFault.operation) == operation, col(SandboxFault.operation) == "*")
                   if operation != "webhook" else SandboxFault.operation == "webhook")
            .order_by(col(SandboxFault.id)).limit(1).with_for_update(skip_locked=True)
        ).first()
        if fault is None:
            return None
        fault.remaining -= 1
        session.add(fault)
        return fault.model_copy()


def clear_faults(provider: str | None = None) -> int:
    """Remove injected faults."""
    with db.transaction() as session:
        query = sa.delete(SandboxFault)
        if provider:
            query = query.where(col(SandboxFault.provider) == provider)
        return session.execute(query).rowcount  # type: ignore[attr-defined]


def list_faults() -> list[dict[str, Any]]:
    """Faults with uses left."""
    with db.read_only() as session:
        rows = session.exec(select(SandboxFault).where(col(SandboxFault.remaining) > 0)
                            .order_by(col(SandboxFault.id))).all()
        return [r.model_dump(exclude={"created_at"}) for r in rows]


# ------------------------------------------------------------------ API keys the sandbox providers issue
# Stand-ins for the providers' dashboards: a key is issued, accepted until revoked. Only a hash is kept as the id.


def _key_id(provider: str, key: str) -> str:
    import hashlib

    return f"key_{provider}_" + hashlib.sha256(key.encode()).hexdigest()[:48]


def issue_key(provider: str, key: str, data: dict[str, Any] | None = None) -> None:
    """Record a key the sandbox provider now accepts."""
    put(provider, "api_key", _key_id(provider, key), {"revoked": False, **(data or {})})


def revoke_key(provider: str, key: str) -> None:
    """The key is refused from now on (also the per-data-dir default key)."""
    put(provider, "api_key", _key_id(provider, key), {"revoked": True})


def key_state(provider: str, key: str) -> dict[str, Any] | None:
    """{"revoked": bool, ...} for a key the sandbox issued or revoked, else None."""
    return get(_key_id(provider, key), "api_key")


def vapi_key_accepted(key: str) -> bool:
    """The Vapi sandbox accepts the per-data-dir default key and keys it issued, unless revoked."""
    import hmac
    import os

    state = key_state("vapi", key)
    if state is not None:
        return not state.get("revoked")
    settings = get_settings()
    defaults = [settings.data_dir_default_vapi_key, os.environ.get("VAPI_API_KEY", "")]
    return any(d and hmac.compare_digest(d.encode(), key.encode()) for d in defaults)
