"""The call-logs filter: what a list, the statistics and an export cover (scope, filters, search, sort).

One parser reads it, from a shared link's query string or from the page's form (the same parameters), and reports
every bad field at once. `CallFilter` checks itself the same way when code builds one, so the SQL conditions below
can trust their values.

Scope: `CallFilter.org_ids` is the set of organizations the caller may see (the UI passes the org switcher's
scope; empty means every organization and is refused below admin when the caller's role is given).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session, col

from voxanne_admin.agents.models import Agent
from voxanne_admin.auth.roles import has_role, require_role
from voxanne_admin.calls.families import ENDED_FAMILIES
from voxanne_admin.calls.models import STATUS_RANK, Call
from voxanne_admin.errors import InvalidInput, PermissionDenied

SORTS = ("started", "duration", "cost", "status", "org")
DIRECTIONS = ("inbound", "outbound")
MAX_Q = 200
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no")


class FilterErrors(InvalidInput):
    """Every bad part of a filter: `errors` maps each URL parameter (org, dmin, cmax ...) to its message; `field`
    is the first of them."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()), field=next(iter(errors)))
        self.errors = errors


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

    @model_validator(mode="after")
    def _valid(self) -> CallFilter:
        # A filter built in code is held to the parser's rules (its query parameters must parse cleanly).
        _values, errors = read_query(self.to_query())
        if errors:
            raise FilterErrors(errors)
        return self

    @classmethod
    def from_query(cls, params: Mapping[str, Any] | None) -> CallFilter:
        """Parse URL query parameters; raises FilterErrors naming every bad field."""
        values, errors = read_query(params)
        if errors:
            raise FilterErrors(errors)
        return cls(**values)

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


def parse_query(params: Mapping[str, Any] | None) -> tuple[CallFilter, dict[str, str]]:
    """The filter made of the good parts of `params`, and a message for each bad one (by URL parameter): a shared
    link with one bad value still shows the rest of its filter."""
    values, errors = read_query(params)
    return CallFilter(**values), errors


def read_query(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """THE parser: query parameters -> CallFilter field values, and every bad parameter's message at once."""
    p = {k: str(v).strip() for k, v in (params or {}).items() if v is not None}
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if p.get("org"):
        try:
            out["org_ids"] = sorted({int(x) for x in p["org"].split(",") if x.strip()})
        except ValueError:
            errors["org"] = f"Organization '{p['org']}' is not a list of organization ids like 3,7."
    if p.get("agent"):
        if p["agent"].isdigit():
            out["agent_id"] = int(p["agent"])
        else:
            errors["agent"] = f"Agent '{p['agent']}' is not an agent id; pick an agent from the list."
    for key, name, allowed, message in (
            ("direction", "direction", DIRECTIONS, "Direction '{}' is unknown; use inbound or outbound."),
            ("status", "status", tuple(STATUS_RANK), f"Status '{{}}' is unknown; use one of {', '.join(STATUS_RANK)}."),
            ("family", "ended_family", tuple(k for k, _ in ENDED_FAMILIES),
             f"Ended reason group '{{}}' is unknown; use one of {', '.join(k for k, _ in ENDED_FAMILIES)}."),
            ("sort", "sort", SORTS, f"Sort '{{}}' is unknown; use one of {', '.join(SORTS)}.")):
        if p.get(key):
            if p[key] in allowed:
                out[name] = p[key]
            else:
                errors[key] = message.format(p[key])
    for key, name in (("from", "date_from"), ("to", "date_to")):
        if p.get(key):
            try:
                out[name] = date.fromisoformat(p[key]).isoformat()
            except ValueError:
                errors[key] = f"'{p[key]}' is not a date like 2026-11-22 (YYYY-MM-DD)."
    if out.get("date_from") and out.get("date_to") and out["date_from"] > out["date_to"]:
        errors["from"] = "The start date is after the end date; swap them."
        del out["date_from"], out["date_to"]
    for key, name in (("dmin", "min_duration"), ("dmax", "max_duration")):
        if p.get(key):
            if p[key].isdigit():
                out[name] = int(p[key])
            else:
                errors[key] = (f"Duration '{p[key]}' must be a whole number of seconds: whole seconds, e.g. 30 "
                               "(leave empty for no limit).")
    if out.get("min_duration") is not None and out.get("max_duration") is not None \
            and out["min_duration"] > out["max_duration"]:
        errors["dmin"] = "The minimum duration is above the maximum; swap them."
        del out["min_duration"], out["max_duration"]
    for key, name in (("cmin", "min_cost"), ("cmax", "max_cost")):
        if p.get(key):
            cost = _cost(p[key])
            if cost is None:
                errors[key] = (f"Cost '{p[key]}' must be an amount in dollars like 0.25 (0 or more; leave empty "
                               "for no limit).")
            else:
                out[name] = cost
    if out.get("min_cost") and out.get("max_cost") and Decimal(out["min_cost"]) > Decimal(out["max_cost"]):
        errors["cmin"] = "The minimum cost is above the maximum; swap them."
        del out["min_cost"], out["max_cost"]
    if p.get("test"):
        if p["test"].lower() in TRUE_WORDS + FALSE_WORDS:
            out["test_only"] = p["test"].lower() in TRUE_WORDS
        else:
            errors["test"] = f"Test calls '{p['test']}' must be 1 or 0."
    if p.get("q"):
        if len(p["q"]) > MAX_Q:
            errors["q"] = f"The search is longer than {MAX_Q} characters; shorten it."
        else:
            out["q"] = p["q"]
    if p.get("order"):
        if p["order"] in ("asc", "desc"):
            out["desc"] = p["order"] == "desc"
        else:
            errors["order"] = f"Order '{p['order']}' must be asc or desc."
    return out, errors


def _cost(raw: str) -> str | None:
    """A dollar amount (a leading $ is allowed) as a canonical decimal string; None when it is not one."""
    try:
        value = Decimal(raw.removeprefix("$").strip())
    except InvalidOperation:
        return None
    return str(value) if value.is_finite() and value >= 0 else None


def check_scope(flt: CallFilter, role: str | None) -> None:
    """With the caller's role: viewers and operators must pass the organizations they look at."""
    if role is None:
        return
    require_role(role, "viewer")
    if not flt.org_ids and not has_role(role, "admin"):
        raise PermissionDenied("Pick an organization in the switcher: only admins can see every organization.")


def conditions(flt: CallFilter) -> list[sa.ColumnElement]:
    """The WHERE conditions of a filter (its values were checked when it was built)."""
    c: list[sa.ColumnElement] = []
    if flt.org_ids:
        c.append(col(Call.org_id).in_(flt.org_ids) if len(flt.org_ids) > 1 else col(Call.org_id) == flt.org_ids[0])
    if flt.agent_id:
        assistant = sa.select(col(Agent.vapi_assistant_id)).where(col(Agent.id) == flt.agent_id).scalar_subquery()
        c.append(sa.or_(col(Call.agent_id) == flt.agent_id,
                        sa.and_(col(Call.agent_id).is_(None), col(Call.assistant_id) == assistant)))
    if flt.direction:
        c.append(col(Call.direction) == flt.direction)
    if flt.status:
        c.append(col(Call.status) == flt.status)
    if flt.ended_family:
        c.append(col(Call.ended_family) == flt.ended_family)
    if flt.date_from:
        c.append(col(Call.listed_at) >= datetime.combine(date.fromisoformat(flt.date_from), datetime.min.time(), UTC))
    if flt.date_to:
        end = datetime.combine(date.fromisoformat(flt.date_to), datetime.min.time(), UTC) + timedelta(days=1)
        c.append(col(Call.listed_at) < end)
    duration = sa.func.coalesce(col(Call.duration_s), 0)
    if flt.min_duration is not None:
        c.append(duration >= flt.min_duration)
    if flt.max_duration is not None:
        c.append(duration <= flt.max_duration)
    cost = sa.func.coalesce(col(Call.cost), 0)
    if flt.min_cost:
        c.append(cost >= Decimal(flt.min_cost))
    if flt.max_cost:
        c.append(cost <= Decimal(flt.max_cost))
    if flt.test_only:
        c.append(col(Call.is_test).is_(True))
    if flt.q.strip():
        c.append(col(Call.search).op("@@")(tsquery(flt.q)))
    return c


def tsquery(q: str) -> sa.ColumnElement:
    """The search as a PostgreSQL websearch query (quoted phrases, -exclusions, or)."""
    return sa.func.websearch_to_tsquery(sa.literal_column("'english'::regconfig"), q.strip()[:MAX_Q])


@contextlib.contextmanager
def gin_only(session: Session) -> Iterator[None]:
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


def check_search(session: Session, flt: CallFilter) -> None:
    """Refuse a search the index cannot answer (only excluded words: it would test every call one by one)."""
    if not flt.q.strip():
        return
    tree = session.execute(sa.select(sa.func.querytree(tsquery(flt.q)))).scalar()
    if tree == "T":
        raise InvalidInput("Add at least one word to find: a search made only of excluded words (-word) would read "
                           "every call.", field="q")


