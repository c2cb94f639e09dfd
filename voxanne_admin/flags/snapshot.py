"""The in-process flag snapshot: every evaluation is answered from memory, never from the database.

A process that runs the listener (`flags.listener.lifespan`, every backend worker) reloads on PostgreSQL
NOTIFY and on a periodic timer. A process without it (CLI, scripts, tests) reloads when its copy is older than
`UNLISTENED_TTL_S`, so a short-lived command always sees the committed state. Changes made through the flows in
this process mark it dirty at once.

Evaluation counts per flag are kept here and flushed to `feature_flags` every minute by each process.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin import db
from voxanne_admin.flags.evaluator import FlagDef, OrgContext, evaluate, is_on
from voxanne_admin.flags.models import FeatureFlag, OrgFeatureFlag
from voxanne_admin.orgs.models import Organization

log = logging.getLogger(__name__)
CHANNEL = "feature_flags"
UNLISTENED_TTL_S = 0.5


@dataclass
class Snapshot:
    """Every flag and organization, as plain values."""

    flags: dict[str, FlagDef] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    orgs: dict[int, OrgContext] = field(default_factory=dict)
    by_slug: dict[str, int] = field(default_factory=dict)
    revision: int = 0
    loaded_at: float = 0.0


_lock = threading.Lock()
_current: Snapshot | None = None
_dirty = True
_listening = False
# Cumulative evaluations per flag: `next()` on an itertools.count is atomic under the GIL and far cheaper than a
# lock on the hot path; a flush writes the difference since the previous flush.
_counters: dict[str, itertools.count] = {}
_flushed: dict[str, int] = {}
_count_lock = threading.Lock()
_flush_lock = threading.Lock()


def _org_ctx(org: Organization) -> OrgContext:
    return OrgContext(id=org.id or 0, slug=org.slug, name=org.name, country=org.country, status=org.status,
                      created_at=org.created_at)


def load(session: Session) -> Snapshot:
    """Read every flag, override and organization (three queries)."""
    snap = Snapshot(loaded_at=time.monotonic())
    flags = session.exec(select(FeatureFlag)).all()
    by_id: dict[int, FlagDef] = {}
    for row in flags:
        flag = FlagDef(key=row.key, type=row.type, enabled=row.enabled, rollout=row.rollout,
                       archived=row.archived_at is not None, constraints=list(row.constraints or []))
        snap.flags[row.key] = flag
        snap.descriptions[row.key] = row.description
        by_id[row.id or 0] = flag
        snap.revision += row.version
    for override in session.exec(select(OrgFeatureFlag)).all():
        if override.flag_id in by_id:
            by_id[override.flag_id].overrides[override.org_id] = (override.enabled, override.reason)
    snap.revision = snap.revision * 1000 + len(flags)
    for org in session.exec(select(Organization)).all():
        ctx = _org_ctx(org)
        snap.orgs[ctx.id] = ctx
        snap.by_slug[ctx.slug] = ctx.id
    return snap


def reload() -> Snapshot:
    """Load a fresh snapshot and make it current."""
    global _current, _dirty
    with db.read_only() as session:
        snap = load(session)
    with _lock:
        _current, _dirty = snap, False
    return snap


def mark_dirty() -> None:
    """This process changed flags: the next evaluation reloads."""
    global _dirty
    _dirty = True


def set_listening(value: bool) -> None:
    """The listener is (or is no longer) keeping this process's snapshot fresh."""
    global _listening
    _listening = value


def current() -> Snapshot:
    """The snapshot to answer from, reloading it when it may be out of date."""
    snap = _current
    if snap is None or _dirty or (not _listening and time.monotonic() - snap.loaded_at > UNLISTENED_TTL_S):
        return reload()
    return snap


def org(snap: Snapshot, org_id: int) -> OrgContext | None:
    """An organization from the snapshot, loading one created since the last reload."""
    ctx = snap.orgs.get(org_id)
    if ctx is None:
        with db.read_only() as session:
            row = session.get(Organization, org_id)
        if row is None:
            return None
        ctx = snap.orgs[org_id] = _org_ctx(row)
        snap.by_slug[ctx.slug] = org_id
    return ctx


def org_by_slug(snap: Snapshot, slug: str) -> OrgContext | None:
    """An organization by slug (loaded on a miss)."""
    org_id = snap.by_slug.get(slug)
    if org_id is None:
        with db.read_only() as session:
            row = session.exec(select(Organization).where(Organization.slug == slug)).first()
        if row is None:
            return None
        return org(snap, row.id or 0)
    return snap.orgs.get(org_id)


def _count(key: str) -> None:
    counter = _counters.get(key)
    if counter is None:
        with _count_lock:
            counter = _counters.setdefault(key, itertools.count(1))
    next(counter)


def _value(counter: itertools.count) -> int:
    return int(repr(counter)[6:-1]) - 1  # "count(n + 1)" after n evaluations


def answers_from_memory(org_id: int) -> bool:
    """`is_enabled(..., org_id)` would answer without reading the database (fresh snapshot, organization known):
    async callers check this and otherwise `prime` on a thread, so the event loop never waits on a reload."""
    snap = _current
    if snap is None or _dirty or (not _listening and time.monotonic() - snap.loaded_at > UNLISTENED_TTL_S):
        return False
    return org_id in snap.orgs


def prime(org_id: int) -> None:
    """Reload the snapshot if it is out of date and load `org_id` into it (blocking: call it on a thread)."""
    org(current(), org_id)


def is_enabled(key: str, org_id: int, *, default: bool = False) -> bool:
    """The hot path: is `key` on for this organization? Unknown flag or organization: `default`."""
    snap = _current
    if snap is None or _dirty or (not _listening and time.monotonic() - snap.loaded_at > UNLISTENED_TTL_S):
        snap = reload()
    flag = snap.flags.get(key)
    ctx = snap.orgs.get(org_id) or org(snap, org_id)
    if flag is None or ctx is None:
        return default
    counter = _counters.get(key)
    if counter is None:
        _count(key)
    else:
        next(counter)
    return is_on(flag, ctx)


def explain(key: str, org_id: int) -> tuple[bool, str] | None:
    """(enabled, reason), or None for an unknown flag or organization."""
    snap = current()
    flag = snap.flags.get(key)
    ctx = org(snap, org_id)
    if flag is None or ctx is None:
        return None
    _count(key)
    return evaluate(flag, ctx)


def evaluate_all(org_id: int) -> dict[str, tuple[bool, str]]:
    """Every flag for one organization, with reasons."""
    snap = current()
    ctx = org(snap, org_id)
    if ctx is None:
        return {}
    out = {}
    for key in sorted(snap.flags):
        _count(key)
        out[key] = evaluate(snap.flags[key], ctx)
    return out


def pending_counts() -> dict[str, int]:
    """Evaluations counted in this process and not flushed yet."""
    totals = {key: _value(c) for key, c in list(_counters.items())}
    return {key: n - _flushed.get(key, 0) for key, n in totals.items() if n > _flushed.get(key, 0)}


def flush_counts() -> int:
    """Add this process's new counts to `feature_flags` (one short transaction); returns evaluations flushed."""
    with _flush_lock:
        totals = {key: _value(c) for key, c in list(_counters.items())}
        deltas = {key: n - _flushed.get(key, 0) for key, n in totals.items() if n > _flushed.get(key, 0)}
        if not deltas:
            return 0
        now = time.time()  # flushed every minute: "last evaluated" is exact to the minute
        try:
            with db.transaction() as session:
                for key, n in deltas.items():
                    session.execute(sa.text(
                        "update feature_flags set evaluation_count = evaluation_count + :n, last_evaluated_at = "
                        "greatest(coalesce(last_evaluated_at, to_timestamp(0)), to_timestamp(:t)) where key = :k"),
                        {"n": n, "t": now, "k": key})
        except Exception:
            log.exception("flag evaluation counts could not be flushed; kept for the next flush")
            return 0
        _flushed.update({key: totals[key] for key in deltas})
    return sum(deltas.values())


def reset() -> None:
    """Forget everything (tests switching databases)."""
    global _current, _dirty, _listening
    with _lock:
        _current, _dirty, _listening = None, True, False
    with _count_lock:
        _counters.clear()
        _flushed.clear()
