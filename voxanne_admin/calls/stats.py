"""Call statistics, all in SQL: the statistics panel over a filter (closed days from the `call_stats_daily`
rollup, recent ones live), the rollup's refresh, and today's figures per organization for the Overview page."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin import formatting as fmt
from voxanne_admin import locks
from voxanne_admin.appointments.models import Appointment
from voxanne_admin.calls.families import FAMILY_LABELS, MISSED_FAMILIES, family_column
from voxanne_admin.calls.filters import CallFilter, check_scope, check_search, conditions, gin_only
from voxanne_admin.calls.models import DURATION_EDGES, Call, CallStats, CallStatsState, DayCount, OrgToday, ReasonCount
from voxanne_admin.orgs.models import Organization
from voxanne_admin.timeutil import utcnow


def answered_sql() -> sa.ColumnElement:
    family = family_column()
    return sa.and_(col(Call.status) == "ended", sa.func.coalesce(col(Call.duration_s), 0) > 0,
                   family.not_in(MISSED_FAMILIES))


def booked_sql() -> sa.ColumnElement:
    return sa.exists(sa.select(1).where(col(Appointment.vapi_call_id) == col(Call.vapi_call_id),
                                        col(Appointment.status) != "cancelled"))


def _edges_sql() -> str:
    return "array[" + ", ".join(f"{e}::float8" for e in DURATION_EDGES) + "]"


def _answered_text(alias: str = "c") -> str:
    missed = ", ".join(f"'{f}'" for f in MISSED_FAMILIES)
    return (f"({alias}.status = 'ended' and coalesce({alias}.duration_s, 0) > 0 "
            f"and {alias}.ended_family not in ({missed}))")


def _p90_from_hist(hist: list[int]) -> float | None:
    """p90 (percentile_cont's position) read from bucket counts, interpolating linearly inside the bucket."""
    n = sum(hist)
    if not n:
        return None
    rank = 0.9 * (n - 1)  # 0-based position of the value percentile_cont would interpolate at
    seen = 0
    for k, count in enumerate(hist):
        if count and seen + count > rank:
            low = DURATION_EDGES[k]
            high = DURATION_EDGES[k + 1] if k + 1 < len(DURATION_EDGES) else low * 1.5
            return low + (high - low) * ((rank - seen + 0.5) / count)
        seen += count
    return float(DURATION_EDGES[-1])


def _rollup_usable(flt: CallFilter) -> bool:
    # The rollup is grouped by organization, agent, direction, status, family, test and day: any other filter
    # (text search, duration or cost ranges) needs the rows themselves.
    return not flt.q.strip() and flt.min_duration is None and flt.max_duration is None \
        and not flt.min_cost and not flt.max_cost


def _rollup_part(session: Session, flt: CallFilter, before: date) -> dict[str, Any]:
    """Totals, per-day and per-family counts and the duration histogram of the closed days (< before)."""
    where = ["day < :before"]
    params: dict[str, Any] = {"before": before}
    if flt.date_from:
        where.append("day >= :dfrom")
        params["dfrom"] = date.fromisoformat(flt.date_from)
    if flt.date_to:
        where.append("day <= :dto")
        params["dto"] = date.fromisoformat(flt.date_to)
    if flt.org_ids:
        where.append("org_id = any(:orgs)")
        params["orgs"] = list(flt.org_ids)
    for column, value in (("agent_id", flt.agent_id), ("direction", flt.direction), ("status", flt.status),
                          ("ended_family", flt.ended_family)):
        if value:
            where.append(f"{column} = :{column}")
            params[column] = value
    if flt.test_only:
        where.append("is_test")
    cond = " and ".join(where)
    buckets = ", ".join(f"coalesce(sum(hist[{k + 1}]), 0)" for k in range(len(DURATION_EDGES)))
    # One scan, three groupings: the totals (), per day, per family. Only fixed column names are interpolated;
    # every value is a bound parameter.
    sql = (f"select grouping(day), grouping(ended_family), day, ended_family, coalesce(sum(calls), 0), "  # noqa: S608
           f"coalesce(sum(answered), 0), coalesce(sum(missed), 0), coalesce(sum(duration_sum), 0), "
           f"coalesce(sum(cost_sum), 0), coalesce(sum(booked), 0), array[{buckets}] "
           f"from call_stats_daily where {cond} group by grouping sets ((), (day), (ended_family))")
    rows = session.execute(sa.text(sql), params).all()
    out: dict[str, Any] = {"per_day": {}, "reasons": {}}
    for g_day, g_family, day, family, calls, answered, missed, dsum, cost, booked, hist in rows:
        if g_day and g_family:
            out.update(total=calls, answered=answered, missed=missed, duration_sum=dsum, cost=cost, booked=booked,
                       hist=list(hist))
        elif not g_day:
            out["per_day"][day] = calls
        else:
            out["reasons"][family] = calls
    return out


def _live_part(session: Session, flt: CallFilter, since: datetime | None, exact_p90: bool) -> dict[str, Any]:
    """The same figures from the calls themselves (listed_at >= since, or all when since is None)."""
    with gin_only(session) if flt.q.strip() else contextlib.nullcontext():
        return _live_figures(session, flt, since, exact_p90)


def _live_figures(session: Session, flt: CallFilter, since: datetime | None, exact_p90: bool) -> dict[str, Any]:
    cond = conditions(flt)
    if since is not None:
        cond.append(col(Call.listed_at) >= since)
    answered = answered_sql()
    ended = col(Call.status).in_(("ended", "failed"))
    inner = sa.select(
        sa.func.date_trunc("day", sa.func.timezone("UTC", col(Call.listed_at))).label("day"),
        col(Call.ended_family).label("fam"),
        sa.case((answered, sa.func.width_bucket(col(Call.duration_s), sa.literal_column(_edges_sql()))),
                else_=None).label("wb"),
        answered.label("ans"), sa.and_(ended, sa.not_(answered)).label("mis"), col(Call.duration_s).label("dur"),
        col(Call.cost).label("cost"), sa.and_(col(Call.vapi_call_id).is_not(None), booked_sql()).label("bk"),
    ).where(*cond).subquery()
    c = inner.c
    # One scan, four groupings: totals, per day, per family, per duration bucket (answered calls only).
    rows = session.execute(sa.select(
        sa.func.grouping(c.day), sa.func.grouping(c.fam), sa.func.grouping(c.wb), c.day, c.fam, c.wb,
        sa.func.count(), sa.func.count().filter(c.ans), sa.func.count().filter(c.mis),
        sa.func.coalesce(sa.func.sum(c.dur).filter(c.ans), 0), sa.func.coalesce(sa.func.sum(c.cost), 0),
        sa.func.count().filter(c.bk),
    ).group_by(sa.text("grouping sets ((), (day), (fam), (wb))"))).all()
    out: dict[str, Any] = {"per_day": {}, "reasons": {}, "hist": [0] * len(DURATION_EDGES), "p90": None}
    for g_day, g_fam, g_wb, day, fam, wb, total, n_answered, missed, dsum, cost, booked in rows:
        if g_day and g_fam and g_wb:
            out.update(total=total, answered=n_answered, missed=missed, duration_sum=dsum, cost=cost, booked=booked)
        elif not g_day:
            out["per_day"][day.date()] = total
        elif not g_fam:
            out["reasons"][fam] = total
        elif wb is not None:
            out["hist"][max(1, min(wb, len(DURATION_EDGES))) - 1] += total
    if exact_p90 and out["answered"]:
        out["p90"] = session.execute(sa.select(sa.func.percentile_cont(0.9).within_group(col(Call.duration_s)))
                                     .where(*cond, answered)).scalar()
    return out


def stats(session: Session, *, flt: CallFilter, role: str | None = None) -> CallStats:
    """The statistics panel over the filter, all in SQL: totals, answered vs missed, avg and p90 duration, cost,
    calls per day, ended-reason families and booking conversion (answered calls that produced an appointment).

    Closed days come from the `call_stats_daily` rollup when the filter allows it (then p90 is read from duration
    buckets, within one bucket of exact); the days since the rollup's watermark are always read live. Without a
    rollup, or with a text/duration/cost filter, everything is computed from the calls (exact p90)."""
    check_scope(flt, role)
    check_search(session, flt)
    before = session.execute(sa.select(col(CallStatsState.complete_before))
                             .where(col(CallStatsState.id) == 1)).scalar()
    use_rollup = before is not None and _rollup_usable(flt)
    if before is not None and use_rollup and flt.date_from and date.fromisoformat(flt.date_from) >= before:
        use_rollup = False  # the whole range is live anyway
    if before is not None and use_rollup:
        since = datetime.combine(before, datetime.min.time(), UTC)
        rolled = _rollup_part(session, flt, before)
        live = _live_part(session, flt, since, exact_p90=False)
        parts = [rolled, live] if "total" in rolled else [live]
    else:
        parts = [_live_part(session, flt, None, exact_p90=True)]
    total = sum(p["total"] for p in parts)
    n_answered = sum(p["answered"] for p in parts)
    dsum = sum(float(p["duration_sum"]) for p in parts)
    if use_rollup:
        hist = [sum(h) for h in zip(*(p["hist"] for p in parts), strict=True)]
        p90 = _p90_from_hist(hist)
    else:
        p90 = parts[0]["p90"]
    per_day: dict[date, int] = {}
    reasons: dict[str, int] = {}
    for p in parts:
        for d, n in p["per_day"].items():
            per_day[d] = per_day.get(d, 0) + n
        for f, n in p["reasons"].items():
            reasons[f] = reasons.get(f, 0) + n
    booked = sum(p["booked"] for p in parts)
    return CallStats(
        total=total, answered=n_answered, missed=sum(p["missed"] for p in parts),
        avg_duration=fmt.duration(dsum / n_answered) if n_answered else "", p90_duration=fmt.duration(p90),
        total_cost=fmt.money(sum(Decimal(str(p["cost"])) for p in parts)),
        per_day=[DayCount(day=d.isoformat(), calls=n) for d, n in sorted(per_day.items()) if n],
        reasons=[ReasonCount(label=FAMILY_LABELS.get(f, f), calls=n)
                 for f, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])) if n],
        booked=booked, booking_conversion=f"{booked / n_answered:.0%}" if n_answered else "")


def refresh_stats(session: Session, *, days_back: int | None = 2, today: date | None = None) -> int:
    """Rebuild the rollup for the last `days_back` closed days (None: every day), then move the watermark to
    today so those days are read from it. Returns the rollup rows written."""
    today = today or utcnow().date()
    session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.CALL_STATS_REFRESH})
    state = session.get(CallStatsState, 1)
    start = None
    if days_back is not None and state is not None and state.complete_before is not None:
        start = min(state.complete_before, today) - timedelta(days=days_back)
    params: dict[str, Any] = {"end": datetime.combine(today, datetime.min.time(), UTC)}
    window = "c.listed_at < :end"
    if start is not None:
        params["start"] = datetime.combine(start, datetime.min.time(), UTC)
        window += " and c.listed_at >= :start"
        session.execute(sa.text("delete from call_stats_daily where day >= :s"), {"s": start})
    else:
        session.execute(sa.text("delete from call_stats_daily"))
    answered = _answered_text("c")
    hist = ", ".join(f"count(*) filter (where answered and wb = {k + 1})" for k in range(len(DURATION_EDGES)))
    written = cast("sa.CursorResult[Any]", session.execute(sa.text(f"""
        insert into call_stats_daily (day, org_id, agent_id, direction, status, ended_family, is_test, calls,
                                      answered, missed, duration_sum, cost_sum, booked, hist)
        select day, org_id, agent_id, direction, status, ended_family, is_test, count(*),
               count(*) filter (where answered), count(*) filter (where status in ('ended', 'failed') and not answered),
               coalesce(sum(duration_s) filter (where answered), 0), coalesce(sum(cost), 0),
               count(*) filter (where booked), array[{hist}]
        from (
            select (c.listed_at at time zone 'UTC')::date as day, coalesce(c.org_id, 0) as org_id,
                   coalesce(c.agent_id, ag.id, 0) as agent_id, coalesce(c.direction, '') as direction, c.status,
                   c.ended_family, c.is_test, c.duration_s, c.cost, {answered} as answered,
                   b.vapi_call_id is not null as booked,
                   width_bucket(c.duration_s, {_edges_sql()}) as wb
            from calls c
            left join agents ag on c.agent_id is null and ag.vapi_assistant_id = c.assistant_id
            left join (select distinct vapi_call_id from appointments
                       where status <> 'cancelled' and vapi_call_id is not null) b on b.vapi_call_id = c.vapi_call_id
            where {window}
        ) x
        group by day, org_id, agent_id, direction, status, ended_family, is_test
    """), params)).rowcount  # noqa: S608 (constants from this module only; values are bound)
    if state is None:
        state = CallStatsState(id=1)
    state.complete_before, state.refreshed_at = today, utcnow()
    session.add(state)
    session.flush()
    return written


def today_by_org(session: Session, *, org_ids: list[int] | None = None) -> list[OrgToday]:
    """Today's figures (UTC day) per active organization, for the Overview page (all orgs when org_ids empty)."""
    start = datetime.combine(utcnow().date(), datetime.min.time(), UTC)
    answered = answered_sql()
    call_cond = [col(Call.org_id) == col(Organization.id), col(Call.listed_at) >= start]
    stmt = (
        sa.select(col(Organization.id), col(Organization.name), sa.func.count(col(Call.id)),
                  sa.func.count(col(Call.id)).filter(answered),
                  sa.func.count(col(Call.id)).filter(sa.and_(col(Call.status).in_(("ended", "failed")),
                                                             sa.not_(answered))),
                  sa.func.avg(col(Call.duration_s)).filter(answered), sa.func.coalesce(sa.func.sum(col(Call.cost)), 0),
                  sa.func.count(col(Call.id)).filter(sa.and_(col(Call.vapi_call_id).is_not(None), booked_sql())))
        .select_from(Organization).outerjoin(Call, sa.and_(*call_cond))
        .where(col(Organization.status) == "active").group_by(col(Organization.id), col(Organization.name))
        .order_by(col(Organization.name))
    )
    if org_ids:
        stmt = stmt.where(col(Organization.id).in_(org_ids))
    return [OrgToday(org_id=i, org_name=n, calls=c, answered=a, missed=m, avg_duration=fmt.duration(d),
                     cost=fmt.money(cost), booked=b) for i, n, c, a, m, d, cost, b in session.execute(stmt).all()]


