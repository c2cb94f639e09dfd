"""Call logs: filtered keyset-paginated lists, full-text search, call detail, statistics in SQL, CSV export,
retention and column preferences. Reads only; the webhook pipeline (calls/service.py) writes the rows.

Scope: `CallFilter.org_ids` is the set of organizations the caller may see (the UI passes the org switcher's
scope; empty means every organization and is refused below admin when the caller's role is given).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from voxanne_admin.agents.models import Agent
from voxanne_admin.appointments.models import Appointment
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import has_role, require_role
from voxanne_admin.calls.models import (
    DURATION_EDGES,
    STATUS_RANK,
    AgentOption,
    Call,
    CallDetail,
    CallExport,
    CallPage,
    CallRow,
    CallStats,
    CallStatsState,
    CostLine,
    DayCount,
    EventLine,
    OrgToday,
    ReasonCount,
    StaffPreference,
    Turn,
)
from voxanne_admin.errors import InvalidInput, NotFound, PermissionDenied
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.logging import mask
from voxanne_admin.orgs.models import Organization
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks.models import WebhookEvent

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ ended-reason families

# Vapi's endedReason is an open set (hundreds of values, growing): exact names and prefixes group the ones we
# know; anything else is "other", so a new reason is still listed and counted.
_FAMILY_RULES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    # key, label, exact reasons, prefixes
    ("customer-ended", "Caller hung up", ("customer-ended-call",), ()),
    ("assistant-ended", "Agent ended the call",
     ("assistant-ended-call", "assistant-said-end-call-phrase", "assistant-ended-call-after-message-spoken",
      "assistant-ended-call-with-hangup-task"), ()),
    ("forwarded", "Forwarded to a person",
     ("assistant-forwarded-call", "assistant-request-returned-forwarding-phone-number"), ()),
    ("no-answer", "Not answered or busy", ("customer-busy", "customer-did-not-answer"), ()),
    ("voicemail", "Voicemail", ("voicemail",), ()),
    ("silence", "Nobody spoke (silence timeout)", ("silence-timed-out",), ()),
    ("max-duration", "Reached maximum length", ("exceeded-max-duration",), ()),
    ("canceled", "Cancelled", ("manually-canceled",), ()),
    ("start-error", "Call could not start",
     ("assistant-not-found", "assistant-not-valid", "assistant-request-failed", "assistant-request-returned-error",
      "assistant-join-timed-out"), ("call.start.error-", "assistant-request-returned-")),
    ("telephony-error", "Phone network error", ("twilio-failed-to-connect-call",),
     ("twilio-", "vonage-", "telnyx-", "phone-call-provider-", "call.in-progress.error-sip",
      "call.in-progress.error-providerfault")),
    ("pipeline-error", "Voice pipeline error", (), ("pipeline-error-", "call.in-progress.error-")),
]
ENDED_FAMILIES: list[tuple[str, str]] = [(key, label) for key, label, _, _ in _FAMILY_RULES] + [("other", "Other")]
_FAMILY_LABELS = dict(ENDED_FAMILIES) | {"": "Not ended yet"}
# Families where nobody took the call (for answered vs missed).
MISSED_FAMILIES = ("no-answer", "voicemail", "start-error", "telephony-error", "canceled")


def family_of(ended_reason: str | None) -> str:
    """The family key of an ended reason ("" when the call has not ended, "other" when unknown)."""
    if not ended_reason:
        return ""
    for key, _label, exact, prefixes in _FAMILY_RULES:
        if ended_reason in exact or ended_reason.startswith(prefixes):
            return key
    return "other"


def family_label(ended_reason: str | None) -> str:
    """The label of the family of an ended reason."""
    return _FAMILY_LABELS[family_of(ended_reason)]


def family_case_sql(column: str = "ended_reason") -> str:
    """family_of() as SQL text: the expression of the stored `calls.ended_family` column (migration 0005 holds a
    copy; a test checks they agree, so changing the rules above means a migration that re-creates the column)."""
    whens = []
    for key, _label, exact, prefixes in _FAMILY_RULES:
        conds = []
        if exact:
            conds.append(f"{column} in ({', '.join(repr(e) for e in exact)})")
        conds += [f"starts_with({column}, {p!r})" for p in prefixes]
        whens.append(f"when {' or '.join(conds)} then {key!r}")
    return f"case when {column} is null then '' {' '.join(whens)} else 'other' end"


def _family_sql() -> sa.ColumnElement:
    """The family of a call: a stored generated column, so filtering and grouping by it costs nothing per row."""
    return Call.ended_family


# ------------------------------------------------------------------ the filter

SORTS = ("started", "duration", "cost", "status", "org")
DIRECTIONS = ("inbound", "outbound")
MAX_Q = 200


class CallFilter(BaseModel):
    """What the call-logs page shows: scope, filters, search and sort (URL round-trip via from/to_query)."""

    org_ids: list[int] = Field(default_factory=list)
    agent_id: int = 0
    direction: str = ""
    status: str = ""
    ended_family: str = ""
    date_from: str = ""
    date_to: str = ""
    min_duration: int | None = None
    max_duration: int | None = None
    min_cost: str = ""
    max_cost: str = ""
    test_only: bool = False
    q: str = ""
    sort: str = "started"
    desc: bool = True

    @classmethod
    def from_query(cls, params: dict[str, str]) -> CallFilter:
        """Parse URL query parameters; raises InvalidInput naming the field for a bad value."""
        p = {k: str(v).strip() for k, v in (params or {}).items() if v is not None}
        out: dict[str, Any] = {}
        if p.get("org"):
            try:
                out["org_ids"] = sorted({int(x) for x in p["org"].split(",") if x.strip()})
            except ValueError:
                raise InvalidInput(f"Organization '{p['org']}' is not a list of organization ids like 3,7.",
                                   field="org") from None
        if p.get("agent"):
            if not p["agent"].isdigit():
                raise InvalidInput(f"Agent '{p['agent']}' is not an agent id; pick an agent from the list.",
                                   field="agent")
            out["agent_id"] = int(p["agent"])
        if p.get("direction"):
            if p["direction"] not in DIRECTIONS:
                raise InvalidInput(f"Direction '{p['direction']}' is unknown; use inbound or outbound.",
                                   field="direction")
            out["direction"] = p["direction"]
        if p.get("status"):
            if p["status"] not in STATUS_RANK:
                raise InvalidInput(f"Status '{p['status']}' is unknown; use one of {', '.join(STATUS_RANK)}.",
                                   field="status")
            out["status"] = p["status"]
        if p.get("family"):
            if p["family"] not in dict(ENDED_FAMILIES):
                raise InvalidInput(f"Ended reason group '{p['family']}' is unknown; use one of "
                                   f"{', '.join(k for k, _ in ENDED_FAMILIES)}.", field="family")
            out["ended_family"] = p["family"]
        for key, name in (("from", "date_from"), ("to", "date_to")):
            if p.get(key):
                try:
                    out[name] = date.fromisoformat(p[key]).isoformat()
                except ValueError:
                    raise InvalidInput(f"'{p[key]}' is not a date like 2026-11-22.", field=key) from None
        if out.get("date_from") and out.get("date_to") and out["date_from"] > out["date_to"]:
            raise InvalidInput("The start date is after the end date; swap them.", field="from")
        for key, name in (("dmin", "min_duration"), ("dmax", "max_duration")):
            if p.get(key):
                if not p[key].isdigit():
                    raise InvalidInput(f"Duration '{p[key]}' must be a whole number of seconds (0 or more).",
                                       field=key)
                out[name] = int(p[key])
        if out.get("min_duration") is not None and out.get("max_duration") is not None \
                and out["min_duration"] > out["max_duration"]:
            raise InvalidInput("The minimum duration is above the maximum; swap them.", field="dmin")
        for key, name in (("cmin", "min_cost"), ("cmax", "max_cost")):
            if p.get(key):
                out[name] = _parse_cost(p[key], key)
        if out.get("min_cost") and out.get("max_cost") and Decimal(out["min_cost"]) > Decimal(out["max_cost"]):
            raise InvalidInput("The minimum cost is above the maximum; swap them.", field="cmin")
        if p.get("test"):
            if p["test"].lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise InvalidInput(f"Test calls '{p['test']}' must be 1 or 0.", field="test")
            out["test_only"] = p["test"].lower() in ("1", "true", "yes")
        if p.get("q"):
            if len(p["q"]) > MAX_Q:
                raise InvalidInput(f"The search is longer than {MAX_Q} characters; shorten it.", field="q")
            out["q"] = p["q"]
        if p.get("sort"):
            if p["sort"] not in SORTS:
                raise InvalidInput(f"Sort '{p['sort']}' is unknown; use one of {', '.join(SORTS)}.", field="sort")
            out["sort"] = p["sort"]
        if p.get("order"):
            if p["order"] not in ("asc", "desc"):
                raise InvalidInput(f"Order '{p['order']}' must be asc or desc.", field="order")
            out["desc"] = p["order"] == "desc"
        return cls(**out)

    def to_query(self) -> dict[str, str]:
        """The non-default parts as URL query parameters (from_query reads them back)."""
        q: dict[str, str] = {}
        if self.org_ids:
            q["org"] = ",".join(str(i) for i in sorted(self.org_ids))
        if self.agent_id:
            q["agent"] = str(self.agent_id)
        for key, value in (("direction", self.direction), ("status", self.status), ("family", self.ended_family),
                           ("from", self.date_from), ("to", self.date_to), ("cmin", self.min_cost),
                           ("cmax", self.max_cost), ("q", self.q.strip())):
            if value:
                q[key] = value
        if self.min_duration is not None:
            q["dmin"] = str(self.min_duration)
        if self.max_duration is not None:
            q["dmax"] = str(self.max_duration)
        if self.test_only:
            q["test"] = "1"
        if self.sort != "started":
            q["sort"] = self.sort
        if not self.desc:
            q["order"] = "asc"
        return q

    def fingerprint(self) -> str:
        """A short hash of everything but the scope-independent cursor: a cursor only fits its own filter."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:12]


def _parse_cost(raw: str, field: str) -> str:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"Cost '{raw}' must be an amount in dollars like 0.25 (0 or more).", field=field)
    return str(value)


def _check_scope(flt: CallFilter, role: str | None) -> None:
    """With the caller's role: viewers and operators must pass the organizations they look at."""
    if role is None:
        return
    require_role(role, "viewer")
    if not flt.org_ids and not has_role(role, "admin"):
        raise PermissionDenied("Pick an organization in the switcher: only admins can see every organization.")


def _conditions(flt: CallFilter) -> list[sa.ColumnElement]:
    """The WHERE conditions of a filter (validated values only: the filter may come from code, not a URL)."""
    c: list[sa.ColumnElement] = []
    if flt.org_ids:
        c.append(Call.org_id.in_(flt.org_ids) if len(flt.org_ids) > 1 else Call.org_id == flt.org_ids[0])
    if flt.agent_id:
        assistant = sa.select(Agent.vapi_assistant_id).where(Agent.id == flt.agent_id).scalar_subquery()
        c.append(sa.or_(Call.agent_id == flt.agent_id,
                        sa.and_(Call.agent_id.is_(None), Call.assistant_id == assistant)))
    if flt.direction:
        c.append(Call.direction == flt.direction)
    if flt.status:
        c.append(Call.status == flt.status)
    if flt.ended_family:
        if flt.ended_family not in dict(ENDED_FAMILIES):
            raise InvalidInput(f"Ended reason group '{flt.ended_family}' is unknown.", field="family")
        c.append(Call.ended_family == flt.ended_family)
    try:
        if flt.date_from:
            c.append(Call.listed_at >= datetime.combine(date.fromisoformat(flt.date_from), datetime.min.time(), UTC))
        if flt.date_to:
            end = datetime.combine(date.fromisoformat(flt.date_to), datetime.min.time(), UTC) + timedelta(days=1)
            c.append(Call.listed_at < end)
    except ValueError:
        raise InvalidInput("Dates must look like 2026-11-22.", field="from") from None
    duration = sa.func.coalesce(Call.duration_s, 0)
    if flt.min_duration is not None:
        c.append(duration >= flt.min_duration)
    if flt.max_duration is not None:
        c.append(duration <= flt.max_duration)
    cost = sa.func.coalesce(Call.cost, 0)
    if flt.min_cost:
        c.append(cost >= Decimal(_parse_cost(flt.min_cost, "cmin")))
    if flt.max_cost:
        c.append(cost <= Decimal(_parse_cost(flt.max_cost, "cmax")))
    if flt.test_only:
        c.append(Call.is_test.is_(True))
    if flt.q.strip():
        c.append(Call.search.op("@@")(_tsquery(flt.q)))
    return c


def _tsquery(q: str) -> sa.ColumnElement:
    return sa.func.websearch_to_tsquery(sa.literal_column("'english'::regconfig"), q.strip()[:MAX_Q])


# ------------------------------------------------------------------ formatting


def fmt_duration(seconds: float | None) -> str:
    """1:05, 12:30 or 1:02:03; "" when unknown."""
    if seconds is None:
        return ""
    total = int(round(float(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_cost(value: Decimal | float | None) -> str:
    """$0.1234 -> "$0.12" (four places below a cent)."""
    if value is None:
        return ""
    d = Decimal(str(value))
    return f"${d:,.4f}" if 0 < abs(d) < Decimal("0.01") else f"${d:,.2f}"


def fmt_time(value: datetime | None) -> str:
    """UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def mask_number(number: str | None) -> str:
    """A phone number masked as the logs mask it (***67)."""
    if not number:
        return ""
    # E.164 (what Vapi sends) masks to "***" + the last two digits, exactly like logging.mask; skip its regexes
    # on the hot path (a million rows in an export).
    if number[:1] == "+" and number[1:].isdigit() and len(number) >= 9:
        return "***" + number[-2:]
    return mask(number)


# ------------------------------------------------------------------ list


def _sort_keys(sort: str, org_name: Any) -> list[Any]:
    if sort == "duration":
        return [sa.func.coalesce(Call.duration_s, 0)]
    if sort == "cost":
        return [sa.func.coalesce(Call.cost, 0)]
    if sort == "status":
        return [Call.status, Call.listed_at]
    if sort == "org":
        return [org_name, Call.listed_at]
    return [Call.listed_at]


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
def _aliases() -> tuple[Any, Any, Any]:
    """The organization and the two agent aliases, built once (creating ORM aliases per request costs ~7 ms)."""
    return sa.orm.aliased(Organization), sa.orm.aliased(Agent), sa.orm.aliased(Agent)


def _joined(*columns: Any) -> sa.Select:
    org, agent_by_id, agent_by_assistant = _aliases()
    return (
        sa.select(*columns)
        .select_from(Call)
        .outerjoin(org, org.id == Call.org_id)
        .outerjoin(agent_by_id, agent_by_id.id == Call.agent_id)
        .outerjoin(agent_by_assistant, sa.and_(Call.agent_id.is_(None),
                                               agent_by_assistant.vapi_assistant_id == Call.assistant_id))
    )


def _row_select(flt: CallFilter) -> tuple[sa.Select, Any]:
    org, agent_by_id, agent_by_assistant = _aliases()
    stmt = _joined(Call.id, Call.org_id, org.name.label("org_name"),
                   sa.func.coalesce(agent_by_id.name, agent_by_assistant.name).label("agent_name"),
                   Call.direction, Call.status, Call.ended_reason, Call.customer_number, Call.listed_at,
                   Call.duration_s, Call.cost, Call.is_test, Call.summary)
    return stmt, sa.func.coalesce(org.name, "")


def list_calls(session: Session, *, flt: CallFilter, cursor: str = "", limit: int = 50,
               role: str | None = None) -> CallPage:
    """One page of calls, newest first by default. Keyset pagination: the cursor holds the last row's sort value
    and id, so pages stay stable while new calls arrive (they sort before the first page)."""
    _check_scope(flt, role)
    _check_search(session, flt)
    limit = max(1, min(int(limit), 500))
    stmt, org_name = _row_select(flt)
    keys = _sort_keys(flt.sort, org_name)
    order = [k.desc() if flt.desc else k.asc() for k in [*keys, Call.id]]
    stmt = stmt.where(*_conditions(flt)).order_by(*order).limit(limit + 1)
    if cursor:
        values, row_id = _decode_cursor(flt, cursor, len(keys))
        left = sa.tuple_(*keys, Call.id)
        right = sa.tuple_(*[sa.literal(v) if v is not None else sa.null() for v in values], sa.literal(row_id))
        stmt = stmt.where(left < right if flt.desc else left > right)
    sort_values = [k.label(f"_k{i}") for i, k in enumerate(keys)]
    stmt = stmt.add_columns(*sort_values)
    if flt.q.strip():
        recent = _recent_hits(session, flt, cursor, limit) if flt.sort == "started" else None
        if recent is not None:
            rows = session.execute(stmt.where(Call.id.in_(recent))).all() if recent else []
        elif _few_matches(session, flt):
            with _gin_only(session):
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
        customer_masked=mask_number(r.customer_number), started_at=fmt_time(r.listed_at),
        duration=fmt_duration(r.duration_s), cost=fmt_cost(r.cost), is_test=bool(r.is_test),
        snippet=snippets.get(r.id, _plain_snippet(r.summary))) for r in rows]
    next_cursor = ""
    if has_more and rows:
        last = rows[-1]
        next_cursor = _encode_cursor(flt, [getattr(last, f"_k{i}") for i in range(len(keys))], last.id)
    return CallPage(rows=out, next_cursor=next_cursor, has_more=has_more)


# Searches matching fewer rows than this are read through the GIN index and sorted; more common ones walk the
# sort index and test each row (the first page fills after a few hundred rows).
FEW_MATCHES = 2000


@contextlib.contextmanager
def _gin_only(session: Session) -> Iterator[None]:
    """Within the block, rows come through index bitmaps only (the GIN index for a search).

    Why: for a search combined with ORDER BY ... LIMIT, PostgreSQL estimates the matches from word frequencies
    and, when it overestimates ("refill invoice": two common words that never meet), walks the sort index testing
    every row of the table (seconds on a million calls). Reading the GIN index first costs at most the real
    number of matches."""
    session.execute(sa.text("set local enable_seqscan = off"))
    session.execute(sa.text("set local enable_indexscan = off"))
    session.execute(sa.text("set local enable_indexonlyscan = off"))
    try:
        yield
    finally:
        session.execute(sa.text("set local enable_seqscan = on"))
        session.execute(sa.text("set local enable_indexscan = on"))
        session.execute(sa.text("set local enable_indexonlyscan = on"))


# A search first tests the newest RECENT_BUDGET calls of the filter: a common word fills the page from them.
RECENT_BUDGET = 3000


def _recent_hits(session: Session, flt: CallFilter, cursor: str, limit: int) -> list[int] | None:
    """The ids of the page when the newest RECENT_BUDGET calls (after the cursor) hold enough matches (or are all
    there is); None when the search is rarer than that and needs the GIN index."""
    cond = _conditions(flt.model_copy(update={"q": ""}))
    if cursor:
        (value,), row_id = _decode_cursor(flt, cursor, 1)
        left, right = sa.tuple_(Call.listed_at, Call.id), sa.tuple_(sa.literal(value), sa.literal(row_id))
        cond.append(left < right if flt.desc else left > right)
    order = [Call.listed_at.desc(), Call.id.desc()] if flt.desc else [Call.listed_at.asc(), Call.id.asc()]
    # @@ in the select list is evaluated only for the rows the index scan returns, never for the whole table.
    rows = session.execute(sa.select(Call.id, Call.search.op("@@")(_tsquery(flt.q))).where(*cond)
                           .order_by(*order).limit(RECENT_BUDGET)).all()
    hits = [row_id for row_id, hit in rows if hit]
    if len(hits) > limit or len(rows) < RECENT_BUDGET:
        return hits[: limit + 1]
    return None


def _check_search(session: Session, flt: CallFilter) -> None:
    """Refuse a search the index cannot answer (only excluded words: it would test every call one by one)."""
    if not flt.q.strip():
        return
    tree = session.execute(sa.select(sa.func.querytree(_tsquery(flt.q)))).scalar()
    if tree == "T":
        raise InvalidInput("Add at least one word to find: a search made only of excluded words (-word) would read "
                           "every call.", field="q")


def _few_matches(session: Session, flt: CallFilter) -> bool:
    """True when the search matches fewer than FEW_MATCHES calls (counted through the GIN index, stopping there)."""
    cond = _conditions(flt)
    probe = sa.select(Call.id).where(*cond).limit(FEW_MATCHES)
    with _gin_only(session):
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
    doc = sa.func.coalesce(Call.summary, "") + sa.literal(" ") + sa.func.coalesce(Call.transcript, "")
    stmt = sa.select(Call.id, sa.func.ts_headline(sa.literal_column("'english'::regconfig"), doc, _tsquery(q),
                                                  _HEADLINE)).where(Call.id.in_(ids))
    return {i: " ".join((h or "").split()) for i, h in session.execute(stmt).all()}


def count_calls(session: Session, *, flt: CallFilter, role: str | None = None) -> int:
    """How many calls the filter matches (the export's total for its progress)."""
    _check_scope(flt, role)
    _check_search(session, flt)
    stmt = sa.select(sa.func.count()).select_from(Call).where(*_conditions(flt))
    if flt.q.strip():
        with _gin_only(session):
            return session.execute(stmt).scalar_one()
    return session.execute(stmt).scalar_one()


# ------------------------------------------------------------------ detail

_ROLES = {"bot": ("assistant", "Agent"), "assistant": ("assistant", "Agent"), "user": ("customer", "Caller"),
          "system": ("system", "System"), "tool_calls": ("tool", "Tool call"),
          "tool_call_result": ("tool", "Tool result")}


def _at(seconds: Any) -> str:
    try:
        total = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return ""
    return f"{total // 60}:{total % 60:02d}"


def _tool_text(message: dict[str, Any]) -> str:
    parts = []
    for item in message.get("toolCalls") or message.get("tool_calls") or []:
        fn = item.get("function") or item
        args = fn.get("arguments") or fn.get("parameters") or {}
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        shown = ", ".join(f"{k}={v}" for k, v in args.items()) if isinstance(args, dict) else str(args)
        parts.append(f"{fn.get('name') or 'tool'}({shown})")
    return "; ".join(parts) or str(message.get("message") or "")


def parse_turns(messages: list[Any] | None, transcript: str | None = None) -> list[Turn]:
    """Vapi artifact.messages (roles bot/user/system/tool_calls/tool_call_result) as speaker turns with times;
    the plain transcript ("AI: ..." / "User: ..." lines) when there are no messages."""
    turns: list[Turn] = []
    for m in messages or []:
        if not isinstance(m, dict):
            continue
        role, speaker = _ROLES.get(str(m.get("role") or ""), ("system", str(m.get("role") or "System")))
        if m.get("role") == "tool_calls":
            text, kind = _tool_text(m), "tool"
        elif m.get("role") == "tool_call_result":
            text = f"{m.get('name') or 'tool'} → {m.get('result') or m.get('message') or ''}"
            kind = "tool"
        else:
            text, kind = str(m.get("message") or m.get("content") or ""), "speech"
        if role == "system" and kind == "speech":
            continue  # the system prompt is configuration, not part of the conversation
        if text.strip():
            turns.append(Turn(role=role, speaker=speaker, text=text.strip(), at=_at(m.get("secondsFromStart")),
                              kind=kind))
    if not turns and transcript:
        for line in transcript.splitlines():
            head, sep, rest = line.partition(":")
            if sep and head.strip().lower() in ("ai", "assistant", "bot", "agent"):
                turns.append(Turn(role="assistant", speaker="Agent", text=rest.strip(), at="", kind="speech"))
            elif sep and head.strip().lower() in ("user", "customer", "caller"):
                turns.append(Turn(role="customer", speaker="Caller", text=rest.strip(), at="", kind="speech"))
            elif line.strip():
                turns.append(Turn(role="system", speaker="", text=line.strip(), at="", kind="speech"))
    return turns


def _cost_lines(costs: list[Any] | None) -> list[CostLine]:
    lines = []
    for item in costs or []:
        if not isinstance(item, dict) or item.get("cost") is None:
            continue
        label = str(item.get("type") or "cost")
        detail = item.get("provider") or item.get("model", {}).get("model") if isinstance(item.get("model"), dict) \
            else item.get("provider") or item.get("model")
        if detail:
            label = f"{label} ({detail})"
        try:
            amount = fmt_cost(Decimal(str(item["cost"])))
        except InvalidOperation:
            continue
        lines.append(CostLine(label=label, amount=amount))
    return lines


def get_call(session: Session, *, call_id: int, org_ids: list[int], role: str | None = None) -> CallDetail:
    """One call with its transcript turns, costs, analysis and the webhook events that built it. A call outside
    `org_ids` (when given) is refused exactly like a missing one, so ids of other organizations leak nothing."""
    _check_scope(CallFilter(org_ids=org_ids), role)
    call = session.get(Call, call_id)
    if call is None or (org_ids and call.org_id not in org_ids):
        raise NotFound(f"Call {call_id} does not exist in the organizations you are looking at; check the "
                       "organization switcher.")
    org = session.get(Organization, call.org_id) if call.org_id else None
    agent = session.get(Agent, call.agent_id) if call.agent_id else None
    if agent is None and call.assistant_id:
        agent = session.execute(sa.select(Agent).where(Agent.vapi_assistant_id == call.assistant_id)).scalars().first()
    events = []
    if call.vapi_call_id:
        events = [EventLine(id=e.id, kind=e.kind, status=e.status, received_at=fmt_time(e.received_at))
                  for e in session.execute(
                      sa.select(WebhookEvent.id, WebhookEvent.kind, WebhookEvent.status, WebhookEvent.received_at)
                      .where(WebhookEvent.call_id == call.vapi_call_id).order_by(WebhookEvent.received_at,
                                                                                 WebhookEvent.id)).all()]
    return CallDetail(
        id=call.id or 0, vapi_call_id=call.vapi_call_id or "", org_id=call.org_id or 0,
        org_name=org.name if org else "", agent_name=agent.name if agent else "", direction=call.direction or "",
        status=call.status, ended_reason=call.ended_reason or "",
        ended_family_label=family_label(call.ended_reason) if call.ended_reason else "",
        customer_masked=mask_number(call.customer_number), phone_number_masked=_phone_number_masked(session, call),
        started_at=fmt_time(call.started_at), ended_at=fmt_time(call.ended_at), duration=fmt_duration(call.duration_s),
        cost=fmt_cost(call.cost), is_test=bool(call.is_test), cost_breakdown=_cost_lines(call.costs),
        turns=parse_turns(call.messages, call.transcript), summary=call.summary or "",
        analysis_json=json.dumps(call.analysis, indent=2, ensure_ascii=False) if call.analysis else "",
        recording_url=(call.recording_url or "") if flag_gates.call_recording(call.org_id) else "", events=events)


def _phone_number_masked(session: Session, call: Call) -> str:
    from voxanne_admin.agents.models import PhoneNumber

    if not call.phone_number_id:
        return ""
    e164 = session.execute(sa.select(PhoneNumber.e164).where(
        PhoneNumber.vapi_phone_number_id == call.phone_number_id)).scalar()
    return mask_number(e164) if e164 else ""


# ------------------------------------------------------------------ statistics


def _answered_sql() -> sa.ColumnElement:
    family = _family_sql()
    return sa.and_(Call.status == "ended", sa.func.coalesce(Call.duration_s, 0) > 0,
                   family.not_in(MISSED_FAMILIES))


def _booked_sql() -> sa.ColumnElement:
    return sa.exists(sa.select(1).where(Appointment.vapi_call_id == Call.vapi_call_id,
                                        Appointment.status != "cancelled"))


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
    with _gin_only(session) if flt.q.strip() else contextlib.nullcontext():
        return _live_figures(session, flt, since, exact_p90)


def _live_figures(session: Session, flt: CallFilter, since: datetime | None, exact_p90: bool) -> dict[str, Any]:
    cond = _conditions(flt)
    if since is not None:
        cond.append(Call.listed_at >= since)
    answered = _answered_sql()
    ended = Call.status.in_(("ended", "failed"))
    inner = sa.select(
        sa.func.date_trunc("day", sa.func.timezone("UTC", Call.listed_at)).label("day"),
        Call.ended_family.label("fam"),
        sa.case((answered, sa.func.width_bucket(Call.duration_s, sa.literal_column(_edges_sql()))),
                else_=None).label("wb"),
        answered.label("ans"), sa.and_(ended, sa.not_(answered)).label("mis"), Call.duration_s.label("dur"),
        Call.cost.label("cost"), sa.and_(Call.vapi_call_id.is_not(None), _booked_sql()).label("bk"),
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
        out["p90"] = session.execute(sa.select(sa.func.percentile_cont(0.9).within_group(Call.duration_s))
                                     .where(*cond, answered)).scalar()
    return out


def stats(session: Session, *, flt: CallFilter, role: str | None = None) -> CallStats:
    """The statistics panel over the filter, all in SQL: totals, answered vs missed, avg and p90 duration, cost,
    calls per day, ended-reason families and booking conversion (answered calls that produced an appointment).

    Closed days come from the `call_stats_daily` rollup when the filter allows it (then p90 is read from duration
    buckets, within one bucket of exact); the days since the rollup's watermark are always read live. Without a
    rollup, or with a text/duration/cost filter, everything is computed from the calls (exact p90)."""
    _check_scope(flt, role)
    _check_search(session, flt)
    before = session.execute(sa.select(CallStatsState.complete_before).where(CallStatsState.id == 1)).scalar()
    use_rollup = before is not None and _rollup_usable(flt)
    if use_rollup and flt.date_from and date.fromisoformat(flt.date_from) >= before:
        use_rollup = False  # the whole range is live anyway
    if use_rollup:
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
        avg_duration=fmt_duration(dsum / n_answered) if n_answered else "", p90_duration=fmt_duration(p90),
        total_cost=fmt_cost(sum(Decimal(str(p["cost"])) for p in parts)),
        per_day=[DayCount(day=d.isoformat(), calls=n) for d, n in sorted(per_day.items()) if n],
        reasons=[ReasonCount(label=_FAMILY_LABELS.get(f, f), calls=n)
                 for f, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])) if n],
        booked=booked, booking_conversion=f"{booked / n_answered:.0%}" if n_answered else "")


def refresh_stats(session: Session, *, days_back: int | None = 2, today: date | None = None) -> int:
    """Rebuild the rollup for the last `days_back` closed days (None: every day), then move the watermark to
    today so those days are read from it. Returns the rollup rows written."""
    today = today or utcnow().date()
    session.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": 0x7A11CA})  # one refresher at a time
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
    written = session.execute(sa.text(f"""
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
    """), params).rowcount  # noqa: S608 (constants from this module only; values are bound)
    if state is None:
        state = CallStatsState(id=1)
    state.complete_before, state.refreshed_at = today, utcnow()
    session.add(state)
    session.flush()
    return written


def today_by_org(session: Session, *, org_ids: list[int] | None = None) -> list[OrgToday]:
    """Today's figures (UTC day) per active organization, for the Overview page (all orgs when org_ids empty)."""
    start = datetime.combine(utcnow().date(), datetime.min.time(), UTC)
    answered = _answered_sql()
    call_cond = [Call.org_id == Organization.id, Call.listed_at >= start]
    stmt = (
        sa.select(Organization.id, Organization.name, sa.func.count(Call.id),
                  sa.func.count(Call.id).filter(answered),
                  sa.func.count(Call.id).filter(sa.and_(Call.status.in_(("ended", "failed")), sa.not_(answered))),
                  sa.func.avg(Call.duration_s).filter(answered), sa.func.coalesce(sa.func.sum(Call.cost), 0),
                  sa.func.count(Call.id).filter(sa.and_(Call.vapi_call_id.is_not(None), _booked_sql())))
        .select_from(Organization).outerjoin(Call, sa.and_(*call_cond))
        .where(Organization.status == "active").group_by(Organization.id, Organization.name)
        .order_by(Organization.name)
    )
    if org_ids:
        stmt = stmt.where(Organization.id.in_(org_ids))
    return [OrgToday(org_id=i, org_name=n, calls=c, answered=a, missed=m, avg_duration=fmt_duration(d),
                     cost=fmt_cost(cost), booked=b) for i, n, c, a, m, d, cost, b in session.execute(stmt).all()]


def agent_options(session: Session, *, org_ids: list[int]) -> list[AgentOption]:
    """The agents of the organizations in scope (every organization when empty), for the agent filter."""
    stmt = (sa.select(Agent.id, Agent.name, Agent.role, Organization.name).join(Organization,
                                                                               Organization.id == Agent.org_id)
            .order_by(Organization.name, Agent.role))
    if org_ids:
        stmt = stmt.where(Agent.org_id.in_(org_ids))
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


# ------------------------------------------------------------------ CSV export

EXPORT_HEADER = ["call_id", "vapi_call_id", "organization", "agent", "direction", "status", "ended_reason",
                 "ended_reason_group", "customer", "started_at_utc", "ended_at_utc", "duration_s", "cost_usd",
                 "test_call", "recording_url", "summary"]
EXPORT_BATCH = 2000
EXPORT_KEEP_HOURS = 24


def export_dir() -> Path:
    """Where export files live (under the data directory, never served except through the download route)."""
    from voxanne_admin.settings import get_settings

    path = get_settings().data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def start_export(session: Session, *, flt: CallFilter, staff_id: int | None, role: str | None = None) -> CallExport:
    """Register an export (token, file path) in the caller's transaction; run_export writes it."""
    _check_scope(flt, role)
    token = secrets.token_urlsafe(24)
    row = CallExport(token=token, staff_id=staff_id, filter=flt.model_dump(), status="running",
                     path=str(export_dir() / f"calls-{utcnow():%Y%m%d-%H%M%S}-{token[:8]}.csv"))
    session.add(row)
    session.flush()
    return row


def _export_stmt(flt: CallFilter) -> sa.Select:
    org, agent_by_id, agent_by_assistant = _aliases()
    return (
        _joined(Call.id, Call.vapi_call_id, org.name, sa.func.coalesce(agent_by_id.name, agent_by_assistant.name),
                Call.direction, Call.status, Call.ended_reason, Call.customer_number, Call.listed_at,
                Call.ended_at, Call.duration_s, Call.cost, Call.is_test, Call.recording_url, Call.summary)
        .where(*_conditions(flt))
        .order_by(Call.listed_at.desc(), Call.id.desc())
    )


def export_csv(*, flt: CallFilter, path: str | Path, progress: Callable[[int], None] | None = None,
               actor: Actor | None = None, token: str = "", role: str | None = None) -> int:
    """Write the filter's calls to a CSV file through a server-side cursor (bounded memory whatever the row
    count), reporting rows written to `progress`; then audit who exported which filter and how many rows.
    Customer numbers are masked; transcripts are not exported (open the call for them)."""
    from voxanne_admin import db

    _check_scope(flt, role)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    written = 0
    try:
        with db.get_engine().connect() as conn, tmp.open("w", newline="", encoding="utf-8") as fh, conn.begin():
            conn.execute(sa.text("set transaction isolation level repeatable read, read only"))
            writer = csv.writer(fh)
            writer.writerow(EXPORT_HEADER)
            # A named (server-side) cursor: PostgreSQL sends EXPORT_BATCH rows at a time.
            result = conn.execute(_export_stmt(flt).execution_options(stream_results=True,
                                                                      yield_per=EXPORT_BATCH))
            for batch in result.partitions():
                for r in batch:
                    writer.writerow([
                        r[0], r[1] or "", r[2] or "", r[3] or "", r[4] or "", r[5], r[6] or "",
                        family_label(r[6]) if r[6] else "", mask_number(r[7]),
                        r[8].astimezone(UTC).isoformat() if r[8] else "",
                        r[9].astimezone(UTC).isoformat() if r[9] else "",
                        f"{r[10]:.1f}" if r[10] is not None else "", str(r[11]) if r[11] is not None else "",
                        "yes" if r[12] else "no", r[13] or "", _csv_safe(r[14] or "")])
                written += len(batch)
                if progress:
                    progress(written)
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if token:
            _finish_export(token, status="failed", rows=written, error=type(exc).__name__)
        raise
    with db.transaction() as session:
        audit.record(session, actor=actor or Actor.system("export"), action="calls_exported", target_type="calls",
                     target_id=token or path.name,
                     org_id=flt.org_ids[0] if len(flt.org_ids) == 1 else None,
                     diff={"filter": flt.to_query(), "org_ids": flt.org_ids, "rows": written})
        if token:
            row = session.get(CallExport, token)
            if row is not None:
                row.status, row.rows, row.finished_at = "completed", written, utcnow()
                session.add(row)
    return written


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: prefix them with a quote."""
    text = " ".join(text.split())
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _finish_export(token: str, *, status: str, rows: int, error: str | None = None) -> None:
    from voxanne_admin import db

    try:
        with db.transaction() as session:
            row = session.get(CallExport, token)
            if row is not None:
                row.status, row.rows, row.error, row.finished_at = status, rows, error, utcnow()
                session.add(row)
    except Exception:
        log.exception("could not record the export's failure")


def get_export(session: Session, *, token: str) -> CallExport | None:
    """The export with that token, if any."""
    return session.get(CallExport, token) if token and len(token) <= 64 else None


def purge_exports(session: Session, *, older_than_hours: int = EXPORT_KEEP_HOURS) -> int:
    """Delete export files (and their rows) older than `older_than_hours`; returns how many."""
    cutoff = utcnow() - timedelta(hours=older_than_hours)
    rows = session.execute(sa.select(CallExport).where(CallExport.created_at < cutoff)).scalars().all()
    for row in rows:
        if row.path:
            Path(row.path).unlink(missing_ok=True)
            Path(row.path + ".part").unlink(missing_ok=True)
        session.delete(row)
    session.flush()
    return len(rows)


# ------------------------------------------------------------------ retention


def purge_closed_organizations(session: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Delete the calls (and their inbox events and appointments) of organizations closed more than
    PURGE_AFTER_DAYS ago, one audit event per organization with the row counts. Every DELETE is bound to one
    closed organization's id, so no other organization's rows can be touched."""
    from voxanne_admin.orgs.service import PURGE_AFTER_DAYS

    cutoff = (now or utcnow()) - timedelta(days=PURGE_AFTER_DAYS)
    orgs = session.execute(sa.select(Organization.id, Organization.slug).where(
        Organization.status == "closed", Organization.closed_at < cutoff).order_by(Organization.id)).all()
    done = []
    for org_id, slug in orgs:
        # Recheck inside the statement: an organization reopened meanwhile keeps its data.
        still_closed = sa.exists(sa.select(1).where(Organization.id == org_id, Organization.status == "closed",
                                                    Organization.closed_at < cutoff))
        calls = session.execute(sa.delete(Call).where(Call.org_id == org_id, still_closed)).rowcount
        events = session.execute(sa.delete(WebhookEvent).where(WebhookEvent.org_id == org_id, still_closed)).rowcount
        appointments = session.execute(sa.delete(Appointment).where(Appointment.org_id == org_id,
                                                                    still_closed)).rowcount
        if calls or events or appointments:
            counts = {"calls": calls, "webhook_events": events, "appointments": appointments}
            audit.record(session, actor=Actor.system("retention"), action="organization_data_purged",
                         target_type="organization", target_id=org_id, org_id=org_id,
                         diff={"slug": slug, **counts, "closed_before": cutoff.isoformat()})
            done.append({"org_id": org_id, **counts})
    return done


def clear_old_recordings(session: Session, *, days: int, now: datetime | None = None) -> int:
    """Forget recording links of calls older than `days` (0 keeps them forever); audited when any were cleared."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    cleared = session.execute(
        sa.update(Call).where(Call.listed_at < cutoff, sa.or_(Call.recording_url.is_not(None),
                                                              Call.stereo_recording_url.is_not(None)))
        .values(recording_url=None, stereo_recording_url=None)).rowcount
    if cleared:
        audit.record(session, actor=Actor.system("retention"), action="call_recordings_cleared", target_type="calls",
                     target_id="recordings", diff={"calls": cleared, "older_than_days": days})
    return cleared


def retention(session: Session) -> str:
    """The daily retention job: closed organizations' calls, old recording links, old export files."""
    from voxanne_admin.settings import get_settings

    purged = purge_closed_organizations(session)
    recordings = clear_old_recordings(session, days=get_settings().recording_retention_days)
    exports = purge_exports(session)
    calls = sum(p["calls"] for p in purged)
    if calls:
        refresh_stats(session, days_back=None)  # purged days are in the rollup too
    return (f"{calls} calls of {len(purged)} closed organizations purged, {recordings} recording links cleared, "
            f"{exports} old exports deleted")
