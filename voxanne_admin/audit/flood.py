"""Flood control: refusals anyone can trigger (a bad webhook signature, a sign-in for an unknown account) are
counted per source IP and minute, and become ONE audit row per window with the count, not one row per request.

`count_refusal` is an upsert of the window's counter (in the caller's transaction, no audit row). The sealer's
tick (`flush_closed`) turns every closed window into its audit row and deletes the counter in the same
transaction, so each window is recorded exactly once across workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor

WINDOW = timedelta(minutes=1)
_SEP = "\x1f"


def count_refusal(session: Session, *, action: str, actor: Actor, reason: str) -> bool:
    """Count one refusal in the (action, actor, IP, minute) window; True when it opened the window."""
    kind = _SEP.join((action, actor.type, actor.id or ""))[:64]
    return bool(session.execute(sa.text(
        "insert into audit_flood_windows (kind, ip, window_start, count, detail) "
        "values (:k, :ip, date_trunc('minute', clock_timestamp()), 1, jsonb_build_object(cast(:r as text), 1)) "
        "on conflict (kind, ip, window_start) do update set count = audit_flood_windows.count + 1, "
        "detail = audit_flood_windows.detail || jsonb_build_object(cast(:r as text), "
        "coalesce(cast(audit_flood_windows.detail ->> cast(:r as text) as integer), 0) + 1) "
        "returning (xmax = 0)"), {"k": kind, "ip": (actor.ip or "")[:64], "r": reason[:100]}).scalar())


def flush_closed(session: Session, *, now: datetime | None = None) -> int:
    """Write one audit row per closed window (with its count and reasons) and drop the counters."""
    windows = session.execute(sa.text(
        "delete from audit_flood_windows where window_start < date_trunc('minute', "
        "coalesce(cast(:now as timestamptz), clock_timestamp())) "
        "returning kind, ip, window_start, count, detail"), {"now": now}).all()
    for kind, ip, start, count, detail in sorted(windows, key=lambda w: (w[2], w[0], w[1])):
        action, actor_type, actor_id = (kind.split(_SEP) + ["", ""])[:3]
        audit.record(session, actor=Actor(type=actor_type or "anonymous", id=actor_id or None, ip=ip or None),
                     action=action, diff={"count": int(count), "window_start": start.isoformat(),
                                          "window_end": (start + WINDOW).isoformat(), "reasons": detail or {}})
    return len(windows)
