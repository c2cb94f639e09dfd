"""Write and verify the hash-chained audit trail.

Each row stores SHA-256(canonical content + previous row's hash). Writers take a
transaction-scoped advisory lock so the chain stays linear across processes; the
lock is released when the caller's transaction commits or rolls back, so an
event is written in the same transaction as the change it records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit.models import AuditEvent, AuditEventRead
from voxanne_admin.timeutil import utcnow

AUDIT_CHAIN_LOCK = 0x7A0D17  # advisory lock key for the audit chain
GENESIS_HASH = "0" * 64
SECRET_KEYS = ("password", "secret", "token", "hash", "totp", "code")


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    type: str = "system"
    id: str | None = None
    email: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The app itself (jobs, CLI without a staff identity)."""
        return cls(type="system", id=name)


def _plain(value: Any) -> Any:
    """JSON-stable representation (JSONB must round-trip to the same canonical text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _redact(diff: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in diff.items():
        if any(word in key.lower() for word in SECRET_KEYS):
            out[key] = "[redacted]"
        elif isinstance(value, dict):
            out[key] = _redact(value)
        else:
            out[key] = value
    return out


def make_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """A {field: {before, after}} diff of the fields that changed (secrets redacted)."""
    before = before or {}
    after = after or {}
    changed = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed[key] = {"before": _plain(before.get(key)), "after": _plain(after.get(key))}
    return _redact(changed)


def _canonical(row: AuditEvent) -> bytes:
    occurred = row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    content = {
        "occurred_at": occurred,
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "actor_email": row.actor_email,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "org_id": row.org_id,
        "diff": row.diff,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "prev_hash": row.prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(row: AuditEvent) -> str:
    """SHA-256 over the row's canonical content, which includes the previous hash."""
    return hashlib.sha256(_canonical(row)).hexdigest()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    org_id: int | None = None,
    diff: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction."""
    session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": AUDIT_CHAIN_LOCK})
    prev = session.exec(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    now = utcnow()
    row = AuditEvent(
        occurred_at=now.replace(microsecond=now.microsecond),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        org_id=org_id,
        diff=_plain(_redact(diff)) if diff else None,
        ip=(actor.ip or None),
        user_agent=(actor.user_agent or "")[:400] or None,
        request_id=actor.request_id,
        prev_hash=prev or GENESIS_HASH,
        hash="",
    )
    row.hash = compute_hash(row)
    session.add(row)
    session.flush()
    return row


@dataclass
class VerifyResult:
    """Outcome of walking the chain."""

    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str = ""


def verify_chain(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order and name the first row whose hash or link is wrong."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)  # type: ignore[operator,arg-type]
        ).all()
        if not rows:
            return VerifyResult(ok=True, checked=checked)
        for row in rows:
            if row.prev_hash != expected_prev:
                reason = "its link to the previous row is broken (row removed or reordered)"
                return VerifyResult(False, checked, row.id, reason)
            if compute_hash(row) != row.hash:
                return VerifyResult(False, checked, row.id, "its content does not match its hash (row altered)")
            expected_prev = row.hash
            checked += 1
            last_id = row.id  # type: ignore[assignment]
        session.expunge_all()


def _summary(row: AuditEvent) -> str:
    if not row.diff:
        return ""
    parts = []
    for key, change in list(row.diff.items())[:4]:
        if isinstance(change, dict) and "after" in change:
            if change.get("before") is None:
                parts.append(f"{key}: {change.get('after')!s}")
            else:
                parts.append(f"{key}: {change.get('before')!s} → {change.get('after')!s}")
        else:
            parts.append(f"{key}: {change!s}")
    return "; ".join(parts)[:200]


def to_read(row: AuditEvent) -> AuditEventRead:
    """Plain read model for the UI."""
    actor = row.actor_email or (f"{row.actor_type}:{row.actor_id}" if row.actor_id else row.actor_type)
    target_id = (row.target_id or "")[:8] if row.target_type == "session" else (row.target_id or "")
    target = f"{row.target_type} {target_id}".strip() if row.target_type else ""
    return AuditEventRead(
        id=row.id or 0,
        occurred_at=fmt.timestamp(row.occurred_at, seconds=True),
        actor=actor,
        action=row.action,
        target=target,
        org_id=row.org_id,
        summary=_summary(row),
    )


def list_recent(session: Session, *, limit: int = 20, org_id: int | None = None) -> list[AuditEventRead]:
    """Most recent events first, optionally for one organization."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)  # type: ignore[union-attr]
    if org_id is not None:
        query = query.where(AuditEvent.org_id == org_id)
    return [to_read(row) for row in session.exec(query).all()]
