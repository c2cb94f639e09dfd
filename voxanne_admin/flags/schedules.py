"""Scheduled flag changes and ramp plans, applied by the `flag_schedules` job exactly once across workers.

The job runner already lets one worker win each tick; the applier also claims due rows with
`FOR UPDATE SKIP LOCKED` and marks them applied in the same transaction, so a change is applied once even if two
runs overlapped. Each change is audited as the person who scheduled it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import Conflict, DomainError, InvalidInput, NotFound
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags.models import FeatureFlag, FlagSchedule, ScheduleRead
from voxanne_admin.timeutil import utcnow

ACTIONS = ("enable", "disable", "rollout")


def parse_when(raw: Any) -> datetime:
    """A date and time (ISO, UTC unless it carries an offset)."""
    if isinstance(raw, datetime):
        value = raw
    else:
        text = str(raw or "").strip().replace(" ", "T")
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"'{raw}' is not a date and time like 2026-12-24T09:00 (UTC).", field="run_at") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _changes(action: str, rollout: int | None) -> dict[str, Any]:
    if action == "enable":
        return {"enabled": True} if rollout is None else {"enabled": True, "rollout": rollout}
    if action == "disable":
        return {"enabled": False}
    return {"rollout": rollout}


def schedule(session: Session, *, key: str, action: str, run_at: Any, actor: Actor, actor_role: str | None,
             rollout: Any = None, now: datetime | None = None) -> FlagSchedule:
    """Schedule "enable on <time>", "disable on <time>" or "set rollout to N% at <time>" (operator and up)."""
    require_role(actor_role, "operator")
    if action not in ACTIONS:
        raise InvalidInput(f"A scheduled change is one of {', '.join(ACTIONS)}; '{action}' is not.", field="action")
    flag = flag_service.get_by_key(session, key=key)
    if flag.protected:
        raise Conflict(f"'{key}' is protected: changes to it go through a change request, not a schedule.")
    when = parse_when(run_at)
    if when <= (now or utcnow()):
        raise InvalidInput(f"{when:%Y-%m-%d %H:%M} UTC is in the past: pick a later time.", field="run_at")
    value = None
    if action == "rollout" or (action == "enable" and rollout not in (None, "")):
        value = flag_service.validate_rollout(rollout)
    row = FlagSchedule(flag_id=flag.id or 0, action=action, rollout=value, run_at=when,
                       created_by_id=actor.id, created_by_email=actor.email or actor.id or actor.type)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="feature_flag_change_scheduled", target_type=flag_service.TARGET,
                 target_id=key, diff={"schedule_id": row.id, "action": action, "rollout": value,
                                      "run_at": when.isoformat()})
    return row


def schedule_ramp(session: Session, *, key: str, steps: list[tuple[Any, Any]], actor: Actor,
                  actor_role: str | None, now: datetime | None = None) -> list[FlagSchedule]:
    """A ramp plan: rollout N% at each given time (e.g. 10% -> 50% -> 100%); times must increase."""
    if not steps:
        raise InvalidInput("Give at least one step of the ramp (a time and a percentage).", field="steps")
    last: datetime | None = None
    rows = []
    for when, pct in steps:
        parsed = parse_when(when)
        if last is not None and parsed <= last:
            raise InvalidInput("Each step of the ramp must come after the previous one.", field="steps")
        last = parsed
        rows.append(schedule(session, key=key, action="rollout", run_at=parsed, rollout=pct, actor=actor,
                             actor_role=actor_role, now=now))
    return rows


def cancel(session: Session, *, schedule_id: int, actor: Actor, actor_role: str | None) -> FlagSchedule:
    """Cancel a change that has not been applied yet (operator and up)."""
    require_role(actor_role, "operator")
    row = session.get(FlagSchedule, schedule_id, with_for_update=True)
    if row is None:
        raise NotFound(f"There is no scheduled change {schedule_id}.")
    if row.status != "pending":
        raise Conflict(f"That change is already {row.status}; only pending changes can be cancelled.")
    flag = session.get(FeatureFlag, row.flag_id)
    row.status = "cancelled"
    session.add(row)
    audit.record(session, actor=actor, action="feature_flag_schedule_cancelled", target_type=flag_service.TARGET,
                 target_id=flag.key if flag else None, diff={"schedule_id": row.id, "status": {
                     "before": "pending", "after": "cancelled"}})
    return row


def apply_due(session: Session, *, now: datetime | None = None) -> str:
    """Apply every due pending change once, each as the person who scheduled it."""
    now = now or utcnow()
    due = session.exec(select(FlagSchedule).where(FlagSchedule.status == "pending", FlagSchedule.run_at <= now)
                       .order_by(col(FlagSchedule.run_at), col(FlagSchedule.id))
                       .with_for_update(skip_locked=True)).all()
    applied = failed = 0
    for row in due:
        flag = session.get(FeatureFlag, row.flag_id)
        actor = Actor(type="staff" if row.created_by_id else "system", id=row.created_by_id or "flag-schedule",
                      email=row.created_by_email or None, user_agent="scheduled flag change")
        try:
            with session.begin_nested():
                if flag is None or flag.archived_at is not None or flag.protected:
                    raise Conflict("the flag is archived or protected now")
                flag_service.apply_changes(session, flag, _changes(row.action, row.rollout), actor=actor,
                                           action="feature_flag_updated",
                                           extra={"schedule_id": row.id, "scheduled_at": row.run_at.isoformat()})
            row.status, row.result = "applied", "applied"
            applied += 1
        except DomainError as exc:
            row.status, row.result = "failed", str(exc)[:500]
            failed += 1
        row.applied_at = utcnow()
        session.add(row)
        audit.record(session, actor=actor, action=f"feature_flag_schedule_{row.status}",
                     target_type=flag_service.TARGET, target_id=flag.key if flag else None,
                     diff={"schedule_id": row.id, "status": {"before": "pending", "after": row.status},
                           "result": row.result})
    return f"{applied} scheduled flag changes applied, {failed} failed"


def list_schedules(session: Session, *, key: str) -> list[ScheduleRead]:
    """A flag's scheduled changes, soonest first."""
    flag = flag_service.get_by_key(session, key=key)
    rows = session.exec(select(FlagSchedule).where(FlagSchedule.flag_id == flag.id)
                        .order_by(col(FlagSchedule.run_at), col(FlagSchedule.id))).all()
    return [ScheduleRead(id=r.id or 0, action=r.action, rollout=r.rollout,
                         run_at=f"{r.run_at.astimezone(UTC):%Y-%m-%d %H:%M UTC}", status=r.status,
                         created_by=r.created_by_email, result=r.result) for r in rows]
