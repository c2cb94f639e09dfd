"""Edges (pages, API, CLI, jobs) call these: one short transaction per change, then this process's snapshot is
marked dirty (other processes hear the NOTIFY sent in the same transaction)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from voxanne_admin import db
from voxanne_admin.errors import NotFound
from voxanne_admin.flags import requests as request_service
from voxanne_admin.flags import schedules as schedule_service
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags import snapshot
from voxanne_admin.flags.evaluator import FlagDef, is_on, validate_constraints
from voxanne_admin.flags.models import FeatureFlag, FlagRead

T = TypeVar("T")


def _change(fn: Callable[..., Any], **kwargs) -> Any:
    with db.transaction() as session:
        result = fn(session, **kwargs)
        if isinstance(result, FeatureFlag):
            out = flag_service.to_read(result, flag_service._override_counts(session).get(result.id or 0, 0))
        else:
            out = result
    snapshot.mark_dirty()
    return out


def update(**kwargs) -> FlagRead:
    """flag_service.update in its own transaction."""
    return _change(flag_service.update, **kwargs)


def create(**kwargs) -> FlagRead:
    """flag_service.create in its own transaction."""
    return _change(flag_service.create, **kwargs)


def kill(**kwargs) -> FlagRead:
    """Turn a kill switch off; every worker reloads on the NOTIFY."""
    return _change(flag_service.kill, **kwargs)


def set_override(*, org_slug: str | None = None, **kwargs) -> FlagRead:
    """Force an organization on/off (by id or slug) or remove its override."""
    if org_slug is not None:
        with db.read_only() as session:
            kwargs["org_id"] = flag_service.org_by_slug(session, slug=org_slug).id
    return _change(flag_service.set_override, **kwargs)


def archive(**kwargs) -> FlagRead:
    """Archive or restore a flag."""
    return _change(flag_service.archive, **kwargs)


def schedule(**kwargs):
    """Schedule one change."""
    return _change(schedule_service.schedule, **kwargs)


def schedule_ramp(**kwargs):
    """Schedule a ramp plan."""
    return _change(schedule_service.schedule_ramp, **kwargs)


def cancel_schedule(**kwargs):
    """Cancel a pending scheduled change."""
    return _change(schedule_service.cancel, **kwargs)


def request_action(action: str, **kwargs):
    """create / submit / edit / approve / reject / cancel / apply a change request."""
    return _change(getattr(request_service, action), **kwargs)


def read(fn: Callable[..., T], **kwargs) -> T:
    """Run a read-only service function."""
    with db.read_only() as session:
        return fn(session, **kwargs)


def evaluate_org(slug: str) -> tuple[Any, dict[str, tuple[bool, str]]]:
    """(organization, {key: (enabled, reason)}) from the snapshot; NotFound naming the slug."""
    snap = snapshot.current()
    org = snapshot.org_by_slug(snap, slug)
    if org is None:
        raise NotFound(f"There is no organization called '{slug}'.")
    return org, snapshot.evaluate_all(org.id)


def evaluate_one(key: str, slug: str) -> tuple[bool, str]:
    """(enabled, reason) for one flag and organization; NotFound naming the missing one."""
    snap = snapshot.current()
    if key not in snap.flags:
        raise NotFound(f"There is no feature flag called '{key}'.")
    org = snapshot.org_by_slug(snap, slug)
    if org is None:
        raise NotFound(f"There is no organization called '{slug}'.")
    result = snapshot.explain(key, org.id)
    assert result is not None
    return result


@dataclasses.dataclass
class Preview:
    """Who gets a flag now, and who would with the proposed values."""

    total: int
    now: list[str]
    proposed: list[str]
    gained: list[str]
    lost: list[str]


def preview(key: str, *, enabled: bool | None = None, rollout: int | None = None,
            constraints: list[dict[str, Any]] | None = None) -> Preview:
    """Evaluate the flag (and the proposed change) over every active organization, from the snapshot."""
    snap = snapshot.current()
    flag = snap.flags.get(key)
    if flag is None:
        raise NotFound(f"There is no feature flag called '{key}'.")
    proposed = FlagDef(key=flag.key, type=flag.type, archived=flag.archived, overrides=flag.overrides,
                       enabled=flag.enabled if enabled is None else enabled,
                       rollout=flag.rollout if rollout is None else flag_service.validate_rollout(rollout),
                       constraints=flag.constraints if constraints is None else validate_constraints(constraints))
    orgs = sorted((o for o in snap.orgs.values() if o.status == "active"), key=lambda o: o.slug)
    now = [o.slug for o in orgs if is_on(flag, o)]
    after = [o.slug for o in orgs if is_on(proposed, o)]
    return Preview(total=len(orgs), now=now, proposed=after, gained=sorted(set(after) - set(now)),
                   lost=sorted(set(now) - set(after)))
