"""Read models of the Audit log page: a list row, one event's detail (the before/after diff side by side), and the
chain-status panel (sealer lag, last checkpoint, SIEM stream backlog)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin import formatting as fmt
from voxanne_admin.audit import chain, stream
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.query import GROUP_LABELS, AuditFilter, get_event, group_of, list_events

# The targets the page links to (the UI maps them to its routes).
LINKED_TARGETS = ("staff", "organization", "agent", "call", "feature_flag")


class AuditRow(BaseModel):
    """One line of the Audit log list."""

    id: int
    occurred_at: str
    actor: str
    action: str
    group: str
    target: str
    target_type: str
    target_id: str
    org_id: str
    summary: str


class DiffLine(BaseModel):
    """One changed field: before and after, as text."""

    field: str
    before: str
    after: str


class AuditDetail(BaseModel):
    """Everything about one event, for its detail dialog."""

    id: int = 0
    occurred_at: str = ""
    actor: str = ""
    actor_type: str = ""
    action: str = ""
    group: str = ""
    target: str = ""
    target_type: str = ""
    target_id: str = ""
    org_id: str = ""
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    changes: list[DiffLine] = []
    details: str = ""  # diff entries that are not before/after pairs, as JSON
    sealed: bool = False


class ChainPanel(BaseModel):
    """The chain-status panel."""

    sealed_through: int = 0
    unsealed: int = 0
    sealer_lag: str = ""
    last_checkpoint: str = ""
    last_checkpoint_detail: str = ""
    last_checkpoint_seq: int = 0
    stream_configured: bool = False
    stream_backlog: int = 0
    stream_lag: str = ""
    stream_status: str = ""


def _text(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def to_row(row: AuditEvent) -> AuditRow:
    """A list row (summary and actor as the rest of the console writes them)."""
    read = audit.to_read(row)
    group = group_of(row.action)
    return AuditRow(id=read.id, occurred_at=read.occurred_at, actor=read.actor, action=row.action,
                    group=GROUP_LABELS.get(group, "Other"), target=read.target, target_type=row.target_type or "",
                    target_id=row.target_id or "", org_id=str(row.org_id or ""), summary=read.summary)


def to_detail(session: Session, row: AuditEvent) -> AuditDetail:
    """The detail of one event: changed fields side by side, other details, whether the sealer linked it."""
    read = audit.to_read(row)
    changes, other = [], {}
    for key, change in (row.diff or {}).items():
        if isinstance(change, dict) and set(change) <= {"before", "after"} and change:
            changes.append(DiffLine(field=key, before=_text(change.get("before")), after=_text(change.get("after"))))
        else:
            other[key] = change
    return AuditDetail(
        id=read.id, occurred_at=read.occurred_at, actor=read.actor, actor_type=row.actor_type, action=row.action,
        group=GROUP_LABELS.get(group_of(row.action), "Other"), target=read.target,
        target_type=row.target_type or "", target_id=row.target_id or "", org_id=str(row.org_id or ""),
        ip=row.ip or "", user_agent=row.user_agent or "", request_id=row.request_id or "", changes=changes,
        details=json.dumps(other, indent=2, ensure_ascii=False, sort_keys=True) if other else "",
        sealed=(row.id or 0) <= chain.sealed_through(session))


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else fmt.age(int(value))


def chain_panel(session: Session) -> ChainPanel:
    """Sealer and checkpoint state, and how far the SIEM stream is behind."""
    status = chain.chain_status(session)
    cp = status.last_checkpoint
    siem = stream.status(session)
    return ChainPanel(
        sealed_through=status.sealed_through, unsealed=status.unsealed, sealer_lag=_seconds(status.sealer_lag_s),
        last_checkpoint=f"#{cp['seq']}" if cp else "None yet",
        last_checkpoint_detail=(f"{cp['count']:,} rows through event {cp['last_id']}, signed "
                                f"{fmt.timestamp(status.last_checkpoint_at, seconds=True)}") if cp
        else "The sealer signs one every minute.",
        last_checkpoint_seq=int(cp["seq"]) if cp else 0,
        stream_configured=siem.configured, stream_backlog=siem.backlog_events, stream_lag=_seconds(siem.lag_s),
        stream_status=siem.summary)


def verify_and_record(*, actor: audit.Actor, progress: Callable[[int, int], None] | None = None) -> chain.VerifyReport:
    """Verify the whole chain (a read), then record who verified and the outcome (its own short transaction)."""
    with db.read_only() as session:
        report = chain.verify(session, progress=progress)
    with db.transaction() as session:
        audit.record(session, actor=actor, action="audit_verified", target_type="audit_events", target_id="chain",
                     diff={"ok": report.ok, "rows_checked": report.rows_checked, "problems": report.problems[:5]})
    return report


def list_rows(session: Session, *, flt: AuditFilter, cursor: str = "", limit: int = 50) -> tuple[list[AuditRow], str]:
    """One keyset page of list rows and the next page's cursor (the compliance API's query)."""
    page = list_events(session, flt=flt, cursor=cursor, limit=limit)
    return [to_row(r) for r in page.rows], page.next_cursor


def get_detail(session: Session, *, event_id: int) -> AuditDetail | None:
    """One event's detail, or None."""
    row = get_event(session, event_id=event_id)
    return to_detail(session, row) if row is not None else None
