"""Change requests for protected flags: draft -> in_review -> approved -> applied (or rejected / cancelled).

A second admin approves; nobody approves their own request; editing an approved request sends it back to review.
Applying re-checks the flag's version against the one the request was approved on, so a flag changed since is
never overwritten with stale values.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import has_role, require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags.models import FeatureFlag, FlagChangeRequest, RequestRead
from voxanne_admin.timeutil import utcnow

OPEN_STATES = ("draft", "in_review", "approved")


def _clean(session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    overrides = changes.get("overrides") or []
    clean = flag_service._clean_changes({k: v for k, v in changes.items() if k != "overrides"})
    if overrides:
        checked = []
        for item in overrides:
            org = flag_service.org_by_slug(session, slug=str(item.get("org", "")))
            value = str(item.get("value", ""))
            if value not in ("on", "off", "none"):
                raise InvalidInput(f"An override is on, off or none; '{value}' is not.", field="overrides")
            reason = " ".join(str(item.get("reason", "")).split())
            if value != "none" and not reason:
                raise InvalidInput(f"Say why {org.name} is forced {value}.", field="overrides")
            checked.append({"org": org.slug, "value": value, "reason": reason})
        clean["overrides"] = checked
    if not clean:
        raise InvalidInput("A change request needs at least one change (enabled, rollout, constraints, overrides).")
    return clean


def summary(changes: dict[str, Any]) -> str:
    """'enabled -> on; rollout -> 50%' for lists."""
    parts = []
    for key, value in changes.items():
        if key == "enabled":
            parts.append(f"turn {'on' if value else 'off'}")
        elif key == "rollout":
            parts.append(f"rollout {value}%")
        elif key == "overrides":
            parts.extend(f"{o['org']} {o['value']}" for o in value)
        else:
            parts.append(f"{key} changed")
    return "; ".join(parts)


def _record(session: Session, row: FlagChangeRequest, key: str, actor: Actor, before: str, extra: dict | None = None
            ) -> None:
    audit.record(session, actor=actor, action=f"feature_flag_request_{row.state}", target_type=flag_service.TARGET,
                 target_id=key, diff={"request_id": row.id, "state": {"before": before, "after": row.state},
                                      **(extra or {})})


def _get(session: Session, request_id: int) -> tuple[FlagChangeRequest, FeatureFlag]:
    row = session.get(FlagChangeRequest, request_id, with_for_update=True)
    if row is None:
        raise NotFound(f"There is no change request {request_id}.")
    flag = session.get(FeatureFlag, row.flag_id)
    assert flag is not None  # cascade: a request never outlives its flag
    return row, flag


def create(session: Session, *, key: str, changes: dict[str, Any], staff_id: int, actor: Actor,
           actor_role: str | None, comment: str = "", submit: bool = True) -> FlagChangeRequest:
    """Open a request (operator and up); submitted for review unless kept as a draft."""
    require_role(actor_role, "operator")
    flag = flag_service.get_by_key(session, key=key)
    row = FlagChangeRequest(flag_id=flag.id or 0, changes=_clean(session, changes), comment=comment.strip()[:1000],
                            requested_by_id=staff_id, requested_by_email=actor.email or "",
                            state="in_review" if submit else "draft")
    session.add(row)
    session.flush()
    _record(session, row, key, actor, "new", {"changes": row.changes})
    return row


def submit(session: Session, *, request_id: int, staff_id: int, actor: Actor) -> FlagChangeRequest:
    """Send a draft for review (its author)."""
    row, flag = _get(session, request_id)
    if row.requested_by_id != staff_id:
        raise PermissionDenied("Only the person who wrote this request can submit it.")
    if row.state != "draft":
        raise Conflict(f"This request is {row.state.replace('_', ' ')}, not a draft.")
    row.state, row.updated_at = "in_review", utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, "draft")
    return row


def edit(session: Session, *, request_id: int, changes: dict[str, Any], staff_id: int, actor: Actor,
         comment: str | None = None) -> FlagChangeRequest:
    """Change what a request asks for (its author); an approved request goes back to review."""
    row, flag = _get(session, request_id)
    if row.requested_by_id != staff_id:
        raise PermissionDenied("Only the person who wrote this request can edit it.")
    if row.state not in OPEN_STATES:
        raise Conflict(f"This request is {row.state}; it can no longer be edited.")
    before_state, before_changes = row.state, row.changes
    row.changes = _clean(session, changes)
    if comment is not None:
        row.comment = comment.strip()[:1000]
    if row.state == "approved":
        row.state, row.approved_by_id, row.approved_by_email = "in_review", None, None
    row.updated_at = utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, before_state,
            {"changes": audit.make_diff({"changes": before_changes}, {"changes": row.changes}).get("changes")})
    return row


def approve(session: Session, *, request_id: int, staff_id: int, actor: Actor, actor_role: str | None
            ) -> FlagChangeRequest:
    """A second admin approves (never the author)."""
    require_role(actor_role, "admin")
    row, flag = _get(session, request_id)
    if row.requested_by_id == staff_id:
        raise PermissionDenied("You cannot approve your own change request: another admin must.")
    if row.state != "in_review":
        raise Conflict(f"Only a request in review can be approved; this one is {row.state.replace('_', ' ')}.")
    row.state, row.approved_by_id, row.approved_by_email = "approved", staff_id, actor.email
    row.updated_at = utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, "in_review", {"approved_at_version": flag.version})
    return row


def reject(session: Session, *, request_id: int, staff_id: int, actor: Actor, actor_role: str | None
           ) -> FlagChangeRequest:
    """An admin other than the author rejects a request in review or approved."""
    require_role(actor_role, "admin")
    row, flag = _get(session, request_id)
    if row.requested_by_id == staff_id:
        raise PermissionDenied("Cancel your own request instead of rejecting it.")
    if row.state not in ("in_review", "approved"):
        raise Conflict(f"Only a request in review or approved can be rejected; this one is {row.state}.")
    before = row.state
    row.state, row.updated_at = "rejected", utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, before)
    return row


def cancel(session: Session, *, request_id: int, staff_id: int, actor: Actor, actor_role: str | None
           ) -> FlagChangeRequest:
    """The author (or an admin) withdraws an open request."""
    row, flag = _get(session, request_id)
    if row.requested_by_id != staff_id and not has_role(actor_role, "admin"):
        raise PermissionDenied("Only the author or an admin can cancel this request.")
    if row.state not in OPEN_STATES:
        raise Conflict(f"This request is {row.state}; it can no longer be cancelled.")
    before = row.state
    row.state, row.updated_at = "cancelled", utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, before)
    return row


def apply(session: Session, *, request_id: int, staff_id: int, actor: Actor, actor_role: str | None
          ) -> FeatureFlag:
    """Apply an approved request (its author or an admin); the flag and the request change together."""
    require_role(actor_role, "operator")
    row, _ = _get(session, request_id)
    if row.requested_by_id != staff_id and not has_role(actor_role, "admin"):
        raise PermissionDenied("Only the author or an admin can apply this request.")
    if row.state != "approved":
        raise Conflict(f"Only an approved request can be applied; this one is {row.state.replace('_', ' ')}.")
    flag = session.get(FeatureFlag, row.flag_id, with_for_update=True)
    assert flag is not None
    changes = dict(row.changes)
    overrides = changes.pop("overrides", [])
    if changes:
        flag_service.apply_changes(session, flag, changes, actor=actor, action="feature_flag_updated",
                                   extra={"request_id": row.id, "approved_by": row.approved_by_email})
    for item in overrides:
        org = flag_service.org_by_slug(session, slug=item["org"])
        try:
            flag_service.set_override(session, key=flag.key, org_id=org.id or 0, value=item["value"],
                                      reason=item["reason"], actor=actor, actor_role="operator",
                                      bypass_protection=True)
        except NotFound:
            pass  # removing an override that is already gone: the end state is what was approved
    row.state, row.updated_at = "applied", utcnow()
    session.add(row)
    _record(session, row, flag.key, actor, "approved")
    return flag


def list_requests(session: Session, *, key: str) -> list[RequestRead]:
    """A flag's requests, newest first."""
    flag = flag_service.get_by_key(session, key=key)
    rows = session.exec(select(FlagChangeRequest).where(FlagChangeRequest.flag_id == flag.id)
                        .order_by(col(FlagChangeRequest.id).desc())).all()
    return [RequestRead(id=r.id or 0, state=r.state, changes=r.changes, summary=summary(r.changes), comment=r.comment,
                        requested_by=r.requested_by_email, approved_by=r.approved_by_email or "",
                        updated_at=flag_service._fmt(r.updated_at)) for r in rows]
