"""The spend guard: outbound calls per hour and provider cost per day, per organization and across all of them.

Reaching a limit turns the `outbound_calling` kill switch off for that organization (an override) or everywhere
(the flag itself) through the flags service, audited as the actor "spend-guard", with a Slack alert; the open
pause shows on the Overview and the Credentials page until a founder turns calling back on. Counting restarts at
that moment (calls before it no longer count), so turning it back on does not trip again at once.

Limits: SPEND_GUARD_CALLS_PER_HOUR / SPEND_GUARD_COST_PER_DAY (each organization) and the _GLOBAL_ variants,
overridden by founders on the Credentials page (`spend_limits`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import db, locks
from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.calls.models import Call
from voxanne_admin.calls.spend_models import LimitsRead, SpendGuardTrip, SpendLimit, TripRead
from voxanne_admin.errors import InvalidInput, NotFound
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags import snapshot
from voxanne_admin.flags.models import FeatureFlag, OrgFeatureFlag
from voxanne_admin.orgs.models import Organization
from voxanne_admin.providers import slack
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
FLAG = "outbound_calling"
GUARD = Actor.system("spend-guard")


def limits(session: Session) -> LimitsRead:
    """The limits in force: founder-set values over the settings' defaults."""
    settings = get_settings()
    rows = {r.scope: r for r in session.exec(select(SpendLimit)).all()}
    org, glob = rows.get("org"), rows.get("global")
    return LimitsRead(
        org_calls_per_hour=org.calls_per_hour if org and org.calls_per_hour else settings.spend_guard_calls_per_hour,
        org_cost_per_day=str(org.cost_per_day if org and org.cost_per_day else
                             Decimal(str(settings.spend_guard_cost_per_day))),
        global_calls_per_hour=glob.calls_per_hour if glob and glob.calls_per_hour
        else settings.spend_guard_global_calls_per_hour,
        global_cost_per_day=str(glob.cost_per_day if glob and glob.cost_per_day else
                                Decimal(str(settings.spend_guard_global_cost_per_day))),
    )


def set_limits(session: Session, *, scope: str, calls_per_hour: str, cost_per_day: str, actor: Actor,
               actor_role: str | None) -> LimitsRead:
    """A founder sets one scope's limits ("org" or "global"); audited with before and after."""
    require_role(actor_role, "founder")
    if scope not in ("org", "global"):
        raise InvalidInput("The scope is org (each organization) or global (all together).", field="scope")
    try:
        calls = int(str(calls_per_hour).strip())
    except ValueError:
        raise InvalidInput("Calls per hour is a whole number, like 60.", field="calls_per_hour") from None
    try:
        cost = Decimal(str(cost_per_day).strip().lstrip("$"))
    except ArithmeticError:
        raise InvalidInput("Cost per day is an amount in dollars, like 100 or 99.50.", field="cost_per_day") from None
    if not 1 <= calls <= 1_000_000:
        raise InvalidInput("Calls per hour must be between 1 and 1,000,000.", field="calls_per_hour")
    if not Decimal("0.01") <= cost <= Decimal("10000000") or cost.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput("Cost per day must be between $0.01 and $10,000,000, in cents at most.",
                           field="cost_per_day")
    before = limits(session)
    row = session.get(SpendLimit, scope) or SpendLimit(scope=scope)
    row.calls_per_hour, row.cost_per_day = calls, cost
    row.updated_by, row.updated_at = actor.email or actor.id or "", utcnow()
    session.add(row)
    session.flush()
    after = limits(session)
    audit.record(session, actor=actor, action="spend_limits_updated", target_type="spend_guard", target_id=scope,
                 diff=audit.make_diff(before.model_dump(), after.model_dump()))
    return after


def _window_start(session: Session, org_id: int | None, span: timedelta, now: datetime) -> datetime:
    """The later of now - span and the last time a founder turned this scope back on."""
    last = session.exec(select(sa.func.max(SpendGuardTrip.cleared_at)).where(
        SpendGuardTrip.org_id == org_id if org_id is not None else col(SpendGuardTrip.org_id).is_(None))).one()
    return max(now - span, last) if last else now - span


def _usage(session: Session, org_id: int | None, now: datetime) -> tuple[int, Decimal]:
    hour_from = _window_start(session, org_id, timedelta(hours=1), now)
    day_from = _window_start(session, org_id, timedelta(days=1), now)
    scope = [Call.org_id == org_id] if org_id is not None else []
    calls = session.exec(select(sa.func.count()).select_from(Call).where(
        Call.direction == "outbound", col(Call.created_at) >= hour_from, *scope)).one()
    cost = session.exec(select(sa.func.coalesce(sa.func.sum(Call.cost), 0)).where(
        col(Call.created_at) >= day_from, *scope)).one()
    return int(calls), Decimal(cost or 0)


def _open_trip(session: Session, org_id: int | None) -> SpendGuardTrip | None:
    where = SpendGuardTrip.org_id == org_id if org_id is not None else col(SpendGuardTrip.org_id).is_(None)
    return session.exec(select(SpendGuardTrip).where(where, col(SpendGuardTrip.cleared_at).is_(None))).first()


def _pause(session: Session, *, org: Organization | None, metric: str, observed: Decimal, limit: Decimal,
           reason: str, actor: Actor = GUARD) -> SpendGuardTrip:
    trip = SpendGuardTrip(org_id=org.id if org else None, metric=metric, observed=observed, limit_value=limit,
                          reason=reason[:500])
    session.add(trip)
    flag = session.exec(select(FeatureFlag).where(FeatureFlag.key == FLAG)).first()
    if flag is not None and org is not None:
        flag_service.set_override(session, key=FLAG, org_id=org.id or 0, value="off", reason=reason[:300],
                                  actor=actor, actor_role="founder", bypass_protection=True)
    elif flag is not None and flag.enabled:
        flag_service.apply_changes(session, flag, {"enabled": False}, actor=actor, action="feature_flag_killed",
                                   extra={"reason": reason[:300]})
    session.flush()
    audit.record(session, actor=actor, action="spend_guard_tripped", target_type="spend_guard",
                 target_id=org.slug if org else "global", org_id=org.id if org else None,
                 diff={"metric": metric, "observed": str(observed), "limit": str(limit), "reason": reason})
    return trip


def check(session: Session, *, org_id: int | None, now: datetime | None = None) -> list[str]:
    """Pause the organization (and/or everything) when a limit is reached; the reasons of new pauses."""
    now = now or utcnow()
    session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.SPEND_GUARD})
    lim = limits(session)
    reasons = []
    scopes: list[int | None] = [org_id, None] if org_id is not None else [None]
    for scope in scopes:
        if _open_trip(session, scope) is not None:
            continue
        org = session.get(Organization, scope) if scope is not None else None
        calls, cost = _usage(session, scope, now)
        max_calls = lim.org_calls_per_hour if scope is not None else lim.global_calls_per_hour
        max_cost = Decimal(lim.org_cost_per_day if scope is not None else lim.global_cost_per_day)
        who = org.name if org else "all organizations"
        breach = None
        if calls >= max_calls:
            breach = ("calls_per_hour", Decimal(calls), Decimal(max_calls),
                      f"{calls} outbound calls in the last hour for {who} reached the spend guard's limit of "
                      f"{max_calls}")
        elif cost >= max_cost:
            breach = ("cost_per_day", cost, max_cost,
                      f"{fmt.money(cost)} of provider cost in 24 hours for {who} reached the spend guard's limit of "
                      f"{fmt.money(max_cost)}")
        if breach:
            _pause(session, org=org, metric=breach[0], observed=breach[1], limit=breach[2], reason=breach[3])
            reasons.append(breach[3])
    return reasons


def enforce(org_id: int | None = None) -> list[str]:
    """Check in its own transaction, then refresh this process's flags and alert Slack about new pauses."""
    with db.transaction() as session:
        reasons = check(session, org_id=org_id)
    if reasons:
        snapshot.mark_dirty()
        for reason in reasons:
            log.warning("spend guard paused outbound calling", extra={"reason": reason})
            slack.post(f":octagonal_sign: Voxanne Admin spend guard: {reason}. Outbound calling is paused; a "
                       "founder turns it back on from the Credentials page.")
    return reasons


def enforce_all() -> list[str]:
    """The job: every organization with outbound calls or cost in the last day, then the global limits."""
    with db.read_only() as session:
        org_ids = session.exec(select(Call.org_id).where(col(Call.created_at) >= utcnow() - timedelta(days=1))
                               .distinct()).all()
    reasons = []
    for org_id in org_ids:
        if org_id is not None:
            reasons += enforce(int(org_id))
    return reasons + enforce(None)


def pause_everything(*, actor: Actor, reason: str) -> str:
    """Emergency: outbound calling off everywhere now (audited as the person), recorded as an open pause."""
    with db.transaction() as session:
        session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.SPEND_GUARD})
        if _open_trip(session, None) is None:
            _pause(session, org=None, metric="emergency", observed=Decimal(0), limit=Decimal(0),
                   reason=f"Paused by {actor.email or actor.id}: {reason}", actor=actor)
    snapshot.mark_dirty()
    return "Outbound calling: paused for all organizations."


def pause_reason(session: Session, *, org_id: int) -> str:
    """Why outbound calling is paused for this organization by the guard ('' when it is not)."""
    trip = _open_trip(session, org_id) or _open_trip(session, None)
    return trip.reason if trip else ""


def open_trips(session: Session) -> list[TripRead]:
    """Open pauses, newest first."""
    rows = session.exec(select(SpendGuardTrip).where(col(SpendGuardTrip.cleared_at).is_(None))
                        .order_by(col(SpendGuardTrip.id).desc())).all()
    names = {o.id: o.name for o in session.exec(select(Organization)).all()}
    return [TripRead(id=r.id or 0, scope=names.get(r.org_id, "?") if r.org_id else "All organizations",
                     org_id=r.org_id or 0, reason=r.reason, tripped_at=fmt.timestamp(r.tripped_at)) for r in rows]


def resume(session: Session, *, trip_id: int, actor: Actor, actor_role: str | None) -> TripRead:
    """A founder turns outbound calling back on for the paused scope; counting restarts now."""
    require_role(actor_role, "founder")
    trip = session.get(SpendGuardTrip, trip_id, with_for_update=True)
    if trip is None or trip.cleared_at is not None:
        raise NotFound("That pause is no longer open (someone turned calling back on already).")
    read = next(t for t in open_trips(session) if t.id == trip_id)
    trip.cleared_at, trip.cleared_by = utcnow(), actor.email or actor.id
    session.add(trip)
    flag = session.exec(select(FeatureFlag).where(FeatureFlag.key == FLAG)).first()
    if flag is not None and trip.org_id is not None:
        override = session.exec(select(OrgFeatureFlag).where(OrgFeatureFlag.flag_id == flag.id,
                                                             OrgFeatureFlag.org_id == trip.org_id)).first()
        if override is not None and not override.enabled:
            flag_service.set_override(session, key=FLAG, org_id=trip.org_id, value="none", reason="", actor=actor,
                                      actor_role="founder", bypass_protection=True)
    elif flag is not None and not flag.enabled:
        flag_service.apply_changes(session, flag, {"enabled": True}, actor=actor, action="feature_flag_updated",
                                   extra={"reason": "spend guard pause lifted"})
    audit.record(session, actor=actor, action="spend_guard_resumed", target_type="spend_guard",
                 target_id=str(trip.org_id or "global"), org_id=trip.org_id,
                 diff={"trip": trip_id, "metric": trip.metric, "reason": trip.reason})
    return read
