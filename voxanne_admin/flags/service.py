"""Feature flag rules: create, change (optimistic version check), overrides, kill switch, archive, stale, history.

Every change is audited in the caller's transaction with a JSON before/after diff (target `feature_flag`, the
key), bumps the flag's version and sends `NOTIFY feature_flags` (delivered at commit, so every worker reloads
only what was committed). Services never commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.models import AuditEvent, AuditEventRead
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voxanne_admin.flags.evaluator import KEY_RE, validate_constraints
from voxanne_admin.flags.models import FLAG_TYPES, FeatureFlag, FlagRead, OrgFeatureFlag, OverrideRead
from voxanne_admin.flags.snapshot import CHANNEL
from voxanne_admin.orgs.models import Organization
from voxanne_admin.timeutil import utcnow

NOT_EVALUATED_DAYS = 7
EDITABLE = ("enabled", "rollout", "constraints", "name", "description", "owner", "protected")
TARGET = "feature_flag"


def _fmt(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else ""


def state_of(flag: FeatureFlag) -> dict[str, Any]:
    """The audited fields of a flag."""
    return {"enabled": flag.enabled, "rollout": flag.rollout, "constraints": flag.constraints,
            "name": flag.name, "description": flag.description, "owner": flag.owner, "protected": flag.protected,
            "archived": flag.archived_at is not None}


def stale_reason(flag: FeatureFlag, now: datetime | None = None) -> str:
    """Why a flag is potentially stale (Unleash's expected lifetimes; not evaluated in 7 days), or ''."""
    now = now or utcnow()
    lifetime = FLAG_TYPES.get(flag.type)
    if lifetime is not None and now - flag.created_at > timedelta(days=lifetime):
        return f"older than the {lifetime} days a {flag.type.replace('_', ' ')} flag is expected to live"
    seen = flag.last_evaluated_at or flag.created_at
    if now - seen > timedelta(days=NOT_EVALUATED_DAYS):
        return f"not evaluated in {NOT_EVALUATED_DAYS} days"
    return ""


def to_read(flag: FeatureFlag, overrides: int = 0, now: datetime | None = None) -> FlagRead:
    """Plain read model."""
    reason = stale_reason(flag, now)
    return FlagRead(key=flag.key, name=flag.name, description=flag.description, owner=flag.owner, type=flag.type,
                    enabled=flag.enabled, rollout=flag.rollout, protected=flag.protected,
                    archived=flag.archived_at is not None, constraints=list(flag.constraints or []),
                    overrides=overrides, version=flag.version, stale=bool(reason), stale_reason=reason,
                    evaluation_count=flag.evaluation_count,
                    last_evaluated=_fmt(flag.last_evaluated_at) or "never",
                    created_at=_fmt(flag.created_at), updated_at=_fmt(flag.updated_at))


def get_by_key(session: Session, *, key: str, lock: bool = False) -> FeatureFlag:
    """The flag, or NotFound naming the key."""
    query = select(FeatureFlag).where(FeatureFlag.key == key)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    flag = session.exec(query).first()
    if flag is None:
        raise NotFound(f"There is no feature flag called '{key}'.")
    return flag


def org_by_slug(session: Session, *, slug: str) -> Organization:
    """The organization, or NotFound naming the slug."""
    org = session.exec(select(Organization).where(Organization.slug == slug)).first()
    if org is None:
        raise NotFound(f"There is no organization called '{slug}'.")
    return org


def _override_counts(session: Session) -> dict[int, int]:
    rows = session.execute(sa.select(col(OrgFeatureFlag.flag_id), sa.func.count())
                           .group_by(col(OrgFeatureFlag.flag_id))).all()
    return {int(flag_id): int(n) for flag_id, n in rows}


def list_flags(session: Session, *, search: str = "", type: str = "", state: str = "", stale: bool | None = None,
               include_archived: bool = True) -> list[FlagRead]:
    """Flags by key, filtered: search (key, name, description), type, state (on/off/partial/archived), stale."""
    counts = _override_counts(session)
    now = utcnow()
    out = []
    words = search.strip().lower()
    for flag in session.exec(select(FeatureFlag).order_by(FeatureFlag.key)).all():
        read = to_read(flag, counts.get(flag.id or 0, 0), now)
        if read.archived and not include_archived and state != "archived":
            continue
        if words and words not in f"{flag.key} {flag.name} {flag.description}".lower():
            continue
        if type and flag.type != type:
            continue
        if state and state != flag_state(read):
            continue
        if stale is not None and read.stale != stale:
            continue
        out.append(read)
    return out


def flag_state(read: FlagRead) -> str:
    """on (100%), off, partial (a rollout between) or archived."""
    if read.archived:
        return "archived"
    if not read.enabled or read.rollout == 0:
        return "off"
    return "on" if read.rollout == 100 else "partial"


def _notify(session: Session, key: str) -> None:
    session.execute(sa.text("select pg_notify(:c, :k)"), {"c": CHANNEL, "k": key})


def _touch(session: Session, flag: FeatureFlag) -> None:
    flag.version += 1
    flag.updated_at = utcnow()
    session.add(flag)
    session.flush()
    _notify(session, flag.key)


def _audit(session: Session, flag: FeatureFlag, actor: Actor, action: str, before: dict, after: dict,
           extra: dict | None = None, org_id: int | None = None) -> None:
    diff = audit.make_diff(before, after)
    if extra:
        diff.update(extra)
    audit.record(session, actor=actor, action=action, target_type=TARGET, target_id=flag.key, org_id=org_id,
                 diff=diff)


def validate_rollout(value: Any) -> int:
    """An integer 0..100, or InvalidInput with the reason."""
    text = str(value).strip().rstrip("%").strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.lstrip("-").isdigit()):
        raise InvalidInput(f"Rollout is a whole number of percent from 0 to 100; '{value}' is not.", field="rollout")
    number = value if isinstance(value, int) else int(text)
    if not 0 <= number <= 100:
        raise InvalidInput(f"Rollout must be between 0 and 100 percent; {number} is outside.", field="rollout")
    return number


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' cannot be changed; the editable fields are {', '.join(EDITABLE)}.")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("enabled", "protected"):
            if not isinstance(value, bool):
                raise InvalidInput(f"'{key}' is true or false, not {value!r}.", field=key)
            out[key] = value
        elif key == "rollout":
            out[key] = validate_rollout(value)
        elif key == "constraints":
            out[key] = validate_constraints(value)
        else:
            text = " ".join(str(value or "").split()) if key != "description" else str(value or "").strip()
            if key == "name" and not text:
                raise InvalidInput("Give the flag a name.", field="name")
            out[key] = text[: (1000 if key == "description" else 120)]
    return out


def check_version(flag: FeatureFlag, expected_version: int | None) -> None:
    """Conflict when the flag changed since the caller read it."""
    if expected_version is not None and flag.version != expected_version:
        raise Conflict(f"'{flag.key}' was changed by someone else while you were editing it (you had version "
                       f"{expected_version}, it is now {flag.version}). Reload it and make your change again.")


def apply_changes(session: Session, flag: FeatureFlag, changes: dict[str, Any], *, actor: Actor, action: str,
                  extra: dict | None = None) -> FeatureFlag:
    """Write validated changes, audit them and notify (no permission checks: callers decide)."""
    before = state_of(flag)
    for key, value in changes.items():
        setattr(flag, key, value)
    _touch(session, flag)
    _audit(session, flag, actor, action, before, state_of(flag), extra)
    return flag


def _protected_refusal(flag: FeatureFlag) -> PermissionDenied:
    return PermissionDenied(f"'{flag.key}' is protected: open a change request; a second admin approves it.")


def create(session: Session, *, key: str, name: str, type: str, actor: Actor, actor_role: str | None,
           description: str = "", owner: str = "", enabled: bool = False, rollout: int = 0,
           protected: bool = False) -> FeatureFlag:
    """A new flag (admin and up). Keys are lower_snake, unique and never change."""
    require_role(actor_role, "admin")
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise InvalidInput(f"'{key}' is not a valid key: use lower_snake_case (a-z, 0-9, _), starting with a "
                           "letter, 2-63 characters.", field="key")
    if type not in FLAG_TYPES:
        raise InvalidInput(f"The type is one of {', '.join(FLAG_TYPES)}; '{type}' is not.", field="type")
    if session.exec(select(FeatureFlag.id).where(FeatureFlag.key == key)).first() is not None:
        raise Conflict(f"A flag called '{key}' exists already; keys are unique.")
    clean = _clean_changes({"name": name, "description": description, "owner": owner, "enabled": enabled,
                            "rollout": rollout, "protected": protected})
    flag = FeatureFlag(key=key, type=type, **clean)
    session.add(flag)
    session.flush()
    _notify(session, key)
    _audit(session, flag, actor, "feature_flag_created", {}, {**state_of(flag), "type": type})
    return flag


def update(session: Session, *, key: str, changes: dict[str, Any], actor: Actor, actor_role: str | None,
           expected_version: int | None = None) -> FeatureFlag:
    """Change a flag's state, rollout, constraints or details (operator and up; protected flags refuse)."""
    require_role(actor_role, "operator")
    clean = _clean_changes(changes)
    if not clean:
        raise InvalidInput("Nothing to change: give enabled, rollout or another field.")
    flag = get_by_key(session, key=key, lock=True)
    check_version(flag, expected_version)
    if flag.archived_at is not None:
        raise Conflict(f"'{key}' is archived: restore it before changing it.")
    kill = flag.type == "kill_switch" and clean == {"enabled": False}
    if flag.protected and not kill:
        raise _protected_refusal(flag)
    if "protected" in clean:
        require_role(actor_role, "admin")
    return apply_changes(session, flag, clean, actor=actor, action="feature_flag_updated")


def kill(session: Session, *, key: str, confirm_key: str, actor: Actor, actor_role: str | None) -> FeatureFlag:
    """Turn a kill switch off (operator and up, never needs approval); the caller types the key to confirm."""
    require_role(actor_role, "operator")
    flag = get_by_key(session, key=key, lock=True)
    if flag.type != "kill_switch":
        raise InvalidInput(f"'{key}' is a {flag.type.replace('_', ' ')} flag, not a kill switch: edit it instead.")
    if (confirm_key or "").strip() != key:
        raise InvalidInput(f"Type the flag key '{key}' to confirm.", field="confirm_key")
    if not flag.enabled:
        raise Conflict(f"'{key}' is already off.")
    return apply_changes(session, flag, {"enabled": False}, actor=actor, action="feature_flag_killed")


def set_override(session: Session, *, key: str, org_id: int, value: str, reason: str, actor: Actor,
                 actor_role: str | None, bypass_protection: bool = False) -> FeatureFlag:
    """Force an organization on or off (`on`/`off`, with a reason) or remove its override (`none`)."""
    require_role(actor_role, "operator")
    if value not in ("on", "off", "none"):
        raise InvalidInput(f"An override is on, off or none; '{value}' is not.", field="override")
    flag = get_by_key(session, key=key, lock=True)
    if flag.protected and not bypass_protection:
        raise _protected_refusal(flag)
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"There is no organization with id {org_id}.")
    reason = " ".join((reason or "").split())
    row = session.exec(select(OrgFeatureFlag).where(OrgFeatureFlag.flag_id == flag.id,
                                                    OrgFeatureFlag.org_id == org_id)).first()
    before = {"override": ("on" if row.enabled else "off") if row else "none", "reason": row.reason if row else ""}
    if value == "none":
        if row is None:
            raise NotFound(f"{org.name} has no override on '{key}'.")
        session.delete(row)
    else:
        if not reason:
            raise InvalidInput("Say why this organization is forced on or off.", field="reason")
        row = row or OrgFeatureFlag(flag_id=flag.id or 0, org_id=org_id, enabled=value == "on", reason=reason)
        row.enabled, row.reason, row.created_by, row.created_at = value == "on", reason[:300], actor.email or "", \
            utcnow()
        session.add(row)
    _touch(session, flag)
    diff = audit.make_diff(before, {"override": value, "reason": reason if value != "none" else ""})
    audit.record(session, actor=actor, action="feature_flag_override_set" if value != "none"
                 else "feature_flag_override_removed", target_type=TARGET, target_id=flag.key, org_id=org_id,
                 diff={**diff, "org": org.slug})
    return flag


def archive(session: Session, *, key: str, archived: bool, actor: Actor, actor_role: str | None) -> FeatureFlag:
    """Archive (always off, history kept) or restore a flag (admin for protected ones, else operator)."""
    require_role(actor_role, "operator")
    flag = get_by_key(session, key=key, lock=True)
    if flag.protected:
        require_role(actor_role, "admin")
    if (flag.archived_at is not None) == archived:
        raise Conflict(f"'{key}' is {'already archived' if archived else 'not archived'}.")
    before = state_of(flag)
    flag.archived_at = utcnow() if archived else None
    _touch(session, flag)
    _audit(session, flag, actor, "feature_flag_archived" if archived else "feature_flag_restored", before,
           state_of(flag))
    return flag


def list_overrides(session: Session, *, key: str) -> list[OverrideRead]:
    """The flag's overrides, by organization name."""
    flag = get_by_key(session, key=key)
    rows = session.exec(select(OrgFeatureFlag, Organization)
                        .join(Organization, col(Organization.id) == col(OrgFeatureFlag.org_id))
                        .where(OrgFeatureFlag.flag_id == flag.id).order_by(col(Organization.name))).all()
    return [OverrideRead(org_id=o.id or 0, org_slug=o.slug, org_name=o.name, enabled=r.enabled, reason=r.reason,
                         created_by=r.created_by, created_at=_fmt(r.created_at)) for r, o in rows]


def history(session: Session, *, key: str, limit: int = 200) -> list[AuditEventRead]:
    """The flag's timeline from the audit trail, newest first."""
    get_by_key(session, key=key)
    rows = session.exec(select(AuditEvent).where(AuditEvent.target_type == TARGET, AuditEvent.target_id == key)
                        .order_by(col(AuditEvent.id).desc()).limit(limit)).all()
    return [audit.to_read(r) for r in rows]
