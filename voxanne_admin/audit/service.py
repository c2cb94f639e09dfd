"""Write the audit trail: one row per event, in the caller's transaction, with its MAC.

`record` takes no lock shared with other writers: it allocates the row's id, computes the row's HMAC-SHA256 under
the current MAC key (`keys.py`, held outside the database) and inserts. Order and linking are the sealer's job
(`chain.py`), which links committed rows in id order once no in-flight transaction can still add a lower id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import keys
from voxanne_admin.audit.models import AuditEvent, AuditEventRead
from voxanne_admin.privacy import secrets
from voxanne_admin.timeutil import utcnow


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
    # credentials, and what only an audit diff carries: password hashes, TOTP secrets, one-time codes
    return secrets.scrub(diff, extra_parts=secrets.AUDIT_KEY_PARTS)


def make_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """A {field: {before, after}} diff of the fields that changed (secrets redacted)."""
    before = before or {}
    after = after or {}
    changed = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed[key] = {"before": _plain(before.get(key)), "after": _plain(after.get(key))}
    return _redact(changed)


def canonical(row: Any) -> bytes:
    """The row's content and key id as stable bytes (what its MAC covers). The id is not known before the one
    insert statement; the sealer's link binds id and MAC together, and verify refuses two rows with one MAC."""
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
        "key_id": row.key_id,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_mac(row: Any, key: bytes) -> str:
    """HMAC-SHA256 of the row's canonical content under `key`."""
    return hmac.new(key, b"row|" + canonical(row), hashlib.sha256).hexdigest()


# One round trip. The transaction's xid is taken BEFORE the row's id (the sub-select runs first, then the
# projection's nextval default): the sealer relies on every audit id being allocated by a transaction that already
# has an xid (see chain.py). One statement for both drivers: `param(name)` spells a parameter (SQLAlchemy's
# `:name`, psycopg's `%(name)s`).
_COLUMNS = ("occurred_at", "actor_type", "actor_id", "actor_email", "action", "target_type", "target_id", "org_id",
            "diff", "ip", "user_agent", "request_id", "key_id", "mac")
_CASTS = {"occurred_at": "timestamptz", "org_id": "integer", "diff": "jsonb"}


def insert_sql(param: Callable[[str], str]) -> str:
    """The audit row's INSERT ... SELECT, with parameters spelled by `param`."""
    values = ", ".join(f"cast({param(c)} as {_CASTS[c]})" if c in _CASTS else param(c) for c in _COLUMNS)
    # Built from the constants above only, never from input.
    return (f"insert into audit_events ({', '.join(_COLUMNS)}) select {values} "  # noqa: S608
            "from (select pg_current_xact_id() as x offset 0) t returning id")


_INSERT = sa.text(insert_sql(lambda c: f":{c}"))
_INSERT_PG = insert_sql(lambda c: f"%({c})s")


def build(keyring: keys.MacKeys, *, actor: Actor, action: str, target_type: str | None = None,
          target_id: str | int | None = None, org_id: int | None = None,
          diff: dict[str, Any] | None = None) -> tuple[AuditEvent, dict[str, Any]]:
    """One audit row with its MAC under the keyring's current key, and the insert's parameters."""
    row = AuditEvent(
        occurred_at=utcnow(),
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
        key_id=keyring.current_id,
        mac="",
    )
    row.mac = compute_mac(row, keyring.current)
    values = {c: getattr(row, c) for c in _COLUMNS}
    values["diff"] = json.dumps(row.diff, ensure_ascii=False) if row.diff is not None else None
    return row, values


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
    """Append one audit event in the caller's transaction (no lock shared with other writers; sealed later)."""
    keyring = keys.ensure_mac_keys(session)
    session.flush()  # the caller's pending changes go first, as before
    row, values = build(keyring, actor=actor, action=action, target_type=target_type, target_id=target_id,
                        org_id=org_id, diff=diff)
    row.id = session.execute(_INSERT, values).scalar_one()
    return row


async def record_async(
    conn: psycopg.AsyncConnection,
    *,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    org_id: int | None = None,
    diff: dict[str, Any] | None = None,
) -> AuditEvent:
    """`record` on an async psycopg connection inside the caller's transaction (the agents' tools on the event
    loop). The row is sent, not awaited: in pipeline mode it travels with the caller's next statement or COMMIT,
    and an error fails the transaction there. The returned row has no id."""
    keyring = await keys.ensure_mac_keys_async(conn)
    row, values = build(keyring, actor=actor, action=action, target_type=target_type, target_id=target_id,
                        org_id=org_id, diff=diff)
    await conn.execute(_INSERT_PG, values)
    return row


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
