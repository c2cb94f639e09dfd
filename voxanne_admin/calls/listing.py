"""Call lists: one keyset-paginated page of calls for a filter (sorts, full-text search with highlighted
snippets), counts, the agent filter's options and each staff member's visible columns. Reads only, except the
column preference (not audited: it changes nothing anyone else sees)."""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin import formatting as fmt
from voxanne_admin.agents.models import Agent
from voxanne_admin.calls.families import family_label
from voxanne_admin.calls.filters import CallFilter, check_scope, check_search, conditions, gin_only, tsquery
from voxanne_admin.calls.models import AgentOption, Call, CallPage, CallRow, StaffPreference
from voxanne_admin.errors import InvalidInput
from voxanne_admin.orgs.models import Organization
from voxanne_admin.privacy.masking import mask_number
from voxanne_admin.timeutil import utcnow


def _sort_keys(sort: str, org_name: Any) -> list[Any]:
    if sort == "duration":
        return [sa.func.coalesce(col(Call.duration_s), 0)]
    if sort == "cost":
        return [sa.func.coalesce(col(Call.cost), 0)]
    if sort == "status":
        return [col(Call.status), col(Call.listed_at)]
    if sort == "org":
        return [org_name, col(Call.listed_at)]
    return [col(Call.listed_at)]


def _encode_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"t": v.astimezone(UTC).isoformat()}
    if isinstance(v, Decimal):
        return {"d": str(v)}
    return v


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"t"}:
        return datetime.fromisoformat(str(v["t"]))
    if isinstance(v, dict) and set(v) == {"d"}:
        return Decimal(str(v["d"]))
    if v is None or isinstance(v, str | int | float) and not isinstance(v, bool):
        return v
    raise ValueError("bad cursor value")


def _encode_cursor(flt: CallFilter, values: list[Any], row_id: int) -> str:
    raw = json.dumps({"f": flt.fingerprint(), "v": [_encode_value(v) for v in values], "id": row_id},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(flt: CallFilter, cursor: str, width: int) -> tuple[list[Any], int]:
    bad = InvalidInput("This page link is damaged or out of date; go back to the first page.", field="cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = [_decode_value(v) for v in data["v"]]
        row_id = data["id"]
        fingerprint = data["f"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise bad from None
    if fingerprint != flt.fingerprint():
        raise InvalidInput("The filter changed since this page was loaded; go back to the first page.",
                           field="cursor")
    if not isinstance(row_id, int) or isinstance(row_id, bool) or len(values) != width:
        raise bad
    return values, row_id


@functools.cache
def aliases() -> tuple[Any, Any, Any]:
    """The organization and the two agent aliases, built once (creating ORM aliases per request costs ~7 ms)."""
    return sa.orm.aliased(Organization), sa.orm.aliased(Agent), sa.orm.aliased(Agent)


def joined(*columns: Any) -> sa.Select:
    org, agent_by_id, agent_by_assistant = aliases()
    return (
        sa.select(*columns)
        .select_from(Call)
        .outerjoin(org, org.id == col(Call.org_id))
        .outerjoin(agent_by_id, agent_by_id.id == col(Call.agent_id))
        .outerjoin(agent_by_assistant, sa.and_(col(Call.agent_id).is_(None),
                                               agent_by_assistant.vapi_assistant_id == col(Call.assistant_id)))
    )


def _row_select(flt: CallFilter) -> tuple[sa.Select, Any]:
    org, agent_by_id, agent_by_assistant = aliases()
    stmt = joined(col(Call.id), col(Call.org_id), org.name.label("org_name"),
                   sa.func.coalesce(agent_by_id.name, agent_by_assistant.name).label("agent_name"),
                   col(Call.direction), col(Call.status), col(Call.ended_reason), col(Call.customer_number),
                   col(Call.listed_at), col(Call.duration_s), col(Call.cost), col(Call.is_test), col(Call.summary))
    return stmt, sa.func.coalesce(org.name, "")


def list_calls(session: Session, *, flt: CallFilter, cursor: str = "", limit: int = 50,
               role: str | None = None) -> CallPage:
    """One page of calls, newest first by default. Keyset pagination: the cursor holds the last row's sort value
    and id, so pages stay stable while new calls arrive (they sort before the first page)."""
    check_scope(flt, role)
    check_search(session, flt)
    limit = max(1, min(int(limit), 500))
    stmt, org_name = _row_select(flt)
    keys = _sort_keys(flt.sort, org_name)
    order = [k.desc() if flt.desc else k.asc() for k in [*keys, col(Call.id)]]
    stmt = stmt.where(*conditions(flt)).order_by(*order).limit(limit + 1)
    if cursor:
        values, row_id = _decode_cursor(flt, cursor, len(keys))
        left = sa.tuple_(*keys, col(Call.id))
        right = sa.tuple_(*[sa.literal(v) if v is not None else sa.null() for v in values], sa.literal(row_id))
        stmt = stmt.where(left < right if flt.desc else left > right)
    sort_values = [k.label(f"_k{i}") for i, k in enumerate(keys)]
    stmt = stmt.add_columns(*sort_values)
    if flt.q.strip():
        recent = _recent_hits(session, flt, cursor, limit) if flt.sort == "started" else None
        if recent is not None:
            rows = session.execute(stmt.where(col(Call.id).in_(recent))).all() if recent else []
        elif _few_matches(session, flt):
            with gin_only(session):
                rows = session.execute(stmt).all()
        else:
            rows = session.execute(stmt).all()
    else:
        rows = session.execute(stmt).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    snippets = _snippets(session, [r.id for r in rows], flt.q) if flt.q.strip() else {}
    out = [CallRow(
        id=r.id, org_id=r.org_id or 0, org_name=r.org_name or "", agent_name=r.agent_name or "",
        direction=r.direction or "", status=r.status, ended_reason=r.ended_reason or "",
        ended_family_label=family_label(r.ended_reason) if r.ended_reason else "",
        customer_masked=mask_number(r.customer_number), started_at=fmt.timestamp(r.listed_at, seconds=True),
        duration=fmt.duration(r.duration_s), cost=fmt.money(r.cost), is_test=bool(r.is_test),
        snippet=snippets.get(r.id, _plain_snippet(r.summary))) for r in rows]
    next_cursor = ""
    if has_more and rows:
        last = rows[-1]
        next_cursor = _encode_cursor(flt, [getattr(last, f"_k{i}") for i in range(len(keys))], last.id)
    return CallPage(rows=out, next_cursor=next_cursor, has_more=has_more)


# Searches matching fewer rows than this are read through the GIN index and sorted; more common ones walk the
# sort index and test each row (the first page fills after a few hundred rows).
FEW_MATCHES = 2000


# A search first tests the newest RECENT_BUDGET calls of the filter: a common word fills the page from them.
RECENT_BUDGET = 3000


def _recent_hits(session: Session, flt: CallFilter, cursor: str, limit: int) -> list[int] | None:
    """The ids of the page when the newest RECENT_BUDGET calls (after the cursor) hold enough matches (or are all
    there is); None when the search is rarer than that and needs the GIN index."""
    cond = conditions(flt.model_copy(update={"q": ""}))
    if cursor:
        (value,), row_id = _decode_cursor(flt, cursor, 1)
        left, right = sa.tuple_(col(Call.listed_at), col(Call.id)), sa.tuple_(sa.literal(value), sa.literal(row_id))
        cond.append(left < right if flt.desc else left > right)
    order = [k.desc() if flt.desc else k.asc() for k in (col(Call.listed_at), col(Call.id))]
    # @@ in the select list is evaluated only for the rows the index scan returns, never for the whole table.
    rows = session.execute(sa.select(col(Call.id), col(Call.search).op("@@")(tsquery(flt.q))).where(*cond)
                           .order_by(*order).limit(RECENT_BUDGET)).all()
    hits = [row_id for row_id, hit in rows if hit]
    if len(hits) > limit or len(rows) < RECENT_BUDGET:
        return hits[: limit + 1]
    return None


def _few_matches(session: Session, flt: CallFilter) -> bool:
    """True when the search matches fewer than FEW_MATCHES calls (counted through the GIN index, stopping there)."""
    cond = conditions(flt)
    probe = sa.select(col(Call.id)).where(*cond).limit(FEW_MATCHES)
    with gin_only(session):
        found = session.execute(sa.select(sa.func.count()).select_from(probe.subquery())).scalar_one()
    return found < FEW_MATCHES


def _plain_snippet(text: str | None, size: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[: size - 1].rsplit(" ", 1)[0] + "…"


# Matches are wrapped in « » (not HTML): the page renders text, never markup from the database.
_HEADLINE = "StartSel=«, StopSel=», MaxWords=22, MinWords=10, MaxFragments=1, FragmentDelimiter= … "


def _snippets(session: Session, ids: list[int], q: str) -> dict[int, str]:
    """Highlighted fragments for one page only (ts_headline re-parses the text, so never for the whole match)."""
    if not ids:
        return {}
    doc = sa.func.coalesce(col(Call.summary), "") + sa.literal(" ") + sa.func.coalesce(col(Call.transcript), "")
    stmt = sa.select(col(Call.id), sa.func.ts_headline(sa.literal_column("'english'::regconfig"), doc, tsquery(q),
                                                  _HEADLINE)).where(col(Call.id).in_(ids))
    return {i: " ".join((h or "").split()) for i, h in session.execute(stmt).all()}


def count_calls(session: Session, *, flt: CallFilter, role: str | None = None) -> int:
    """How many calls the filter matches (the export's total for its progress)."""
    check_scope(flt, role)
    check_search(session, flt)
    stmt = sa.select(sa.func.count()).select_from(Call).where(*conditions(flt))
    if flt.q.strip():
        with gin_only(session):
            return session.execute(stmt).scalar_one()
    return session.execute(stmt).scalar_one()



def agent_options(session: Session, *, org_ids: list[int]) -> list[AgentOption]:
    """The agents of the organizations in scope (every organization when empty), for the agent filter."""
    stmt = (sa.select(col(Agent.id), col(Agent.name), col(Agent.role), col(Organization.name))
            .join(Organization, col(Organization.id) == col(Agent.org_id))
            .order_by(col(Organization.name), col(Agent.role)))
    if org_ids:
        stmt = stmt.where(col(Agent.org_id).in_(org_ids))
    return [AgentOption(id=i, label=f"{org}: {name} ({role})") for i, name, role, org in session.execute(stmt).all()]


# ------------------------------------------------------------------ column preferences

ALL_COLUMNS: list[tuple[str, str]] = [
    ("started", "Started"), ("org", "Organization"), ("agent", "Agent"), ("direction", "Direction"),
    ("customer", "Caller"), ("status", "Status"), ("ended_reason", "Ended because"), ("duration", "Duration"),
    ("cost", "Cost"), ("test", "Test"), ("snippet", "Summary / match"),
]
DEFAULT_COLUMNS: list[str] = ["started", "org", "agent", "direction", "customer", "duration", "ended_reason",
                              "cost", "snippet"]
COLUMNS_KEY = "call_logs.columns"


def get_columns(session: Session, *, staff_id: int) -> list[str]:
    """The staff member's visible columns in table order (the defaults until they choose)."""
    row = session.get(StaffPreference, (staff_id, COLUMNS_KEY))
    if row is None or not isinstance(row.value, list):
        return list(DEFAULT_COLUMNS)
    known = [key for key, _ in ALL_COLUMNS]
    chosen = [c for c in known if c in row.value]
    return chosen or list(DEFAULT_COLUMNS)


def set_columns(session: Session, *, staff_id: int, columns: list[str]) -> list[str]:
    """Remember the visible columns (a preference, not audited); at least one known column."""
    known = [key for key, _ in ALL_COLUMNS]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInput(f"Unknown column {unknown[0]!r}; choose from {', '.join(known)}.", field="columns")
    chosen = [c for c in known if c in columns]
    if not chosen:
        raise InvalidInput("Keep at least one column visible.", field="columns")
    row = session.get(StaffPreference, (staff_id, COLUMNS_KEY))
    if row is None:
        row = StaffPreference(staff_id=staff_id, key=COLUMNS_KEY, value=chosen)
    else:
        row.value, row.updated_at = chosen, utcnow()
    session.add(row)
    session.flush()
    return chosen


