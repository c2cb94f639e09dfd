"""Reading the audit trail: the filter (one parser for the page's URL and the compliance API), keyset pages,
full-text search, and the stable event shape the API, the exports and the SIEM stream share.

Every filter is an equality on a column with a keyset index `(column, id)` (migration 0011), so a page is
`... where <filter> and id < :cursor order by id desc limit :n`: one index range read, as fast at 1,000,000 rows
as at 100. The search is PostgreSQL full text over the event's words (action, actor email, target, and every key
and value of the diff, which the row's summary is made of), answered from a GIN expression index.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col

from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.page_schema import SEARCH_VECTOR
from voxanne_admin.errors import InvalidInput

# Identical to the expression of the index ix_audit_events_search (migration 0011): PostgreSQL uses an expression
# index only for the same expression.
# Action groups: (prefixes, exact names, excluded names); no two groups claim the same action.
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "auth": (("login_", "mfa_", "sso_", "recovery_code", "api_token_", "session_", "account_", "reauth",
              "credential_", "encryption_keys_"),
             ("logout", "password_changed"), ()),
    "staff": (("staff_",), (), ()),
    "organizations": (("organization_",), (), ("organization_data_purged",)),
    "agents": (("agent_", "spend_"), ("test_call_placed",), ()),
    "telephony": (("telephony_", "forwarding_"), (), ()),
    "flags": (("feature_flag_",), (), ()),
    "webhooks": (("webhook_",), (), ()),
    "data": (("calls_", "call_", "dr_", "appointment_", "audit_", "phi_", "job_"), ("organization_data_purged",), ()),
}
GROUP_LABELS = {"auth": "Sign-in, access and credentials", "staff": "Staff", "organizations": "Organizations",
                "agents": "Agents and outbound calling", "telephony": "Telephony", "flags": "Feature flags",
                "webhooks": "Webhooks",
                "data": "Data (calls, exports, retention, backups)"}
PARAMS = ("actor", "group", "action", "target_type", "target_id", "org", "from", "to", "q")
MAX_Q = 200
MAX_LIMIT = 500
ID_SLACK = timedelta(hours=1)
_NAME = re.compile(r"^[a-z0-9_:.\-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9_:.@\-]{1,64}$")


class AuditFilter(BaseModel):
    """What the Audit log page, the compliance API and an export cover (URL round trip via from/to_query)."""

    actor: str = ""        # an email (has "@"), or an actor id ("retention", "12")
    group: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    org_id: int | None = None
    date_from: str = ""    # YYYY-MM-DD or an ISO 8601 time; inclusive
    date_to: str = ""      # YYYY-MM-DD (the whole day) or an ISO 8601 time; exclusive for a time
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any] | None) -> AuditFilter:
        """Parse URL query parameters; raises InvalidInput naming every bad one (`field` is the first)."""
        flt, errors = parse_query(params)
        if errors:
            raise InvalidInput(" ".join(errors.values()), field=next(iter(errors)))
        return flt

    def to_query(self) -> dict[str, str]:
        """The non-default parts as URL query parameters (from_query reads them back)."""
        pairs = {"actor": self.actor, "group": self.group, "action": self.action, "target_type": self.target_type,
                 "target_id": self.target_id, "org": "" if self.org_id is None else str(self.org_id),
                 "from": self.date_from, "to": self.date_to, "q": self.q}
        return {k: v for k, v in pairs.items() if v}

    @property
    def is_filtered(self) -> bool:
        """Anything narrower than the whole trail."""
        return bool(self.to_query())


def _parse_time(value: str, *, end: bool) -> datetime | None:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_query(params: Mapping[str, Any] | None) -> tuple[AuditFilter, dict[str, str]]:
    """THE parser: the filter made of the good parameters, and a message for each bad one (by URL parameter)."""
    p = {k: str(v).strip() for k, v in (params or {}).items() if v is not None and str(v).strip() != ""}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in p:
        if key not in PARAMS:
            errors[key] = f"Unknown filter '{key}'; filters are {', '.join(PARAMS)}."
    actor = p.get("actor", "")
    if actor:
        if len(actor) > 254 or any(c.isspace() for c in actor):
            errors["actor"] = "Actor must be one email address or actor id (no spaces, at most 254 characters)."
        else:
            out["actor"] = actor.lower() if "@" in actor else actor
    action, group = p.get("action", ""), p.get("group", "")
    if action in GROUPS and not group:
        action, group = "", action  # ?action=auth means the group
    if group:
        if group in GROUPS:
            out["group"] = group
        else:
            errors["group"] = f"Unknown action group '{group[:40]}'; groups are {', '.join(GROUPS)}."
    for key, field in (("action", "action"), ("target_type", "target_type")):
        value = action if key == "action" else p.get(key, "")
        if value:
            if _NAME.match(value):
                out[field] = value
            else:
                errors[key] = (f"'{value[:40]}' is not a valid {key.replace('_', ' ')}: lower-case letters, digits "
                               "and _ : . - only, at most 64 characters.")
    target_id = p.get("target_id", "")
    if target_id:
        if _ID.match(target_id):
            out["target_id"] = target_id
        else:
            errors["target_id"] = "Target id must be at most 64 letters, digits or _ : . @ -."
    org = p.get("org", "")
    if org:
        if org.isdigit() and 0 < int(org) < 2**31:
            out["org_id"] = int(org)
        else:
            errors["org"] = f"Organization must be an organization id (a positive whole number), not '{org[:20]}'."
    for key, field, end in (("from", "date_from", False), ("to", "date_to", True)):
        if p.get(key):
            if _parse_time(p[key], end=end) is None:
                errors[key] = (f"'{p[key][:40]}' is not a date: use YYYY-MM-DD or an ISO 8601 time "
                               "(2026-12-01T09:30:00Z).")
            else:
                out[field] = p[key]
    if out.get("date_from") and out.get("date_to"):
        start, stop = _parse_time(out["date_from"], end=False), _parse_time(out["date_to"], end=True)
        if start and stop and start >= stop:
            errors["to"] = "The end of the time range must be after its start."
            out.pop("date_to")
    q = p.get("q", "")
    if q:
        if len(q) > MAX_Q:
            errors["q"] = f"Search is at most {MAX_Q} characters."
        else:
            out["q"] = " ".join(q.split())
    return AuditFilter(**out), errors


def group_condition(group: str) -> sa.ColumnElement[bool]:
    """SQL: the action belongs to `group` (the groups' prefixes do not overlap; `group_of` agrees)."""
    prefixes, exact, excluded = GROUPS[group]
    action = col(AuditEvent.action)
    claimed = sa.or_(*(action.startswith(p, autoescape=True) for p in prefixes), action.in_(exact or ("",)))
    return sa.and_(claimed, action.not_in(excluded)) if excluded else claimed


def group_of(action: str) -> str:
    """The group an action belongs to ("" when none claims it)."""
    for name, (prefixes, exact, excluded) in GROUPS.items():
        if action in excluded:
            continue
        if action in exact or action.startswith(prefixes):
            return name
    return ""


def search_condition(q: str) -> sa.ColumnElement[bool]:
    """SQL: the event's words match the search (web-search syntax: words, "a phrase", -not, or)."""
    return sa.literal_column(SEARCH_VECTOR).op("@@")(sa.func.websearch_to_tsquery("simple", q))


def conditions(flt: AuditFilter) -> list[sa.ColumnElement[bool]]:
    """The filter as SQL conditions (every value was validated by the parser)."""
    out: list[sa.ColumnElement[bool]] = []
    if flt.actor:
        if "@" in flt.actor:
            out.append(col(AuditEvent.actor_email) == flt.actor)
        else:
            kind, _, ident = flt.actor.partition(":")
            if ident and kind in ("staff", "system", "provider", "anonymous"):
                out += [col(AuditEvent.actor_id) == ident, col(AuditEvent.actor_type) == kind]
            else:
                out.append(col(AuditEvent.actor_id) == flt.actor)
    if flt.group:
        out.append(group_condition(flt.group))
    if flt.action:
        out.append(col(AuditEvent.action) == flt.action)
    if flt.target_type:
        out.append(col(AuditEvent.target_type) == flt.target_type)
    if flt.target_id:
        out.append(col(AuditEvent.target_id) == flt.target_id)
    if flt.org_id is not None:
        out.append(col(AuditEvent.org_id) == flt.org_id)
    # A time range also bounds `id`, so the newest-first scan reads only the range, not the newer rows above it:
    # the id of the first event at or after (start - ID_SLACK) and of the last before (end + ID_SLACK), each one
    # index lookup on occurred_at. An event's time and id are taken together at insert (microseconds apart), so
    # ids follow times to within far less than the slack; the exact time condition stays.
    if flt.date_from:
        start = _parse_time(flt.date_from, end=False)
        assert start is not None
        out.append(col(AuditEvent.occurred_at) >= start)
        out.append(col(AuditEvent.id) >= sa.select(col(AuditEvent.id)).where(
            col(AuditEvent.occurred_at) >= start - ID_SLACK).order_by(col(AuditEvent.occurred_at))
            .limit(1).scalar_subquery())
    if flt.date_to:
        stop = _parse_time(flt.date_to, end=True)
        assert stop is not None
        out.append(col(AuditEvent.occurred_at) < stop)
        out.append(col(AuditEvent.id) <= sa.select(col(AuditEvent.id)).where(
            col(AuditEvent.occurred_at) < stop + ID_SLACK).order_by(col(AuditEvent.occurred_at).desc())
            .limit(1).scalar_subquery())
    if flt.q:
        out.append(search_condition(flt.q))
    return out


def encode_cursor(last_id: int) -> str:
    """An opaque cursor: the page after the row with this id."""
    return base64.urlsafe_b64encode(json.dumps({"v": 1, "id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points after; InvalidInput (field "cursor") when it is not one of ours."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        last_id = data["id"] if isinstance(data, dict) and data.get("v") == 1 else None
    except (ValueError, binascii.Error, UnicodeDecodeError, KeyError):
        last_id = None
    if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id <= 0:
        raise InvalidInput("This cursor is not valid: pass the next_cursor of a previous answer unchanged, "
                           "or leave it out for the first page.", field="cursor")
    return last_id


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first, and the cursor of the next page ("" at the end)."""

    rows: list[AuditEvent]
    next_cursor: str


def select_events(flt: AuditFilter, *, after_id: int = 0) -> sa.Select:
    """The filter's events newest first (after `after_id` when paging), as one statement."""
    stmt = sa.select(AuditEvent).where(*conditions(flt))
    if after_id:
        stmt = stmt.where(col(AuditEvent.id) < after_id)
    return stmt.order_by(col(AuditEvent.id).desc())


def list_events(session: Session, *, flt: AuditFilter, cursor: str = "", limit: int = 50) -> EventPage:
    """One keyset page of the filter's events (the page and the compliance API read through this)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    after_id = decode_cursor(cursor)
    rows = list(session.execute(select_events(flt, after_id=after_id).limit(limit + 1)).scalars().all())
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(rows=rows, next_cursor=encode_cursor(rows[-1].id or 0) if more and rows else "")


def get_event(session: Session, *, event_id: int) -> AuditEvent | None:
    """One event by id."""
    return session.get(AuditEvent, event_id) if 0 < event_id < 2**63 else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z") if value else None


def to_event(row: AuditEvent) -> dict[str, Any]:
    """The stable, documented event shape (README "Compliance APIs"): API, exports and the SIEM stream."""
    return {
        "id": row.id,
        "occurred_at": _iso(row.occurred_at),
        "actor": {"type": row.actor_type, "id": row.actor_id, "email": row.actor_email},
        "action": row.action,
        "targets": [{"type": row.target_type, "id": row.target_id}] if row.target_type else [],
        "org_id": row.org_id,
        "context": {"ip": row.ip, "user_agent": row.user_agent, "request_id": row.request_id},
        "diff": row.diff,
    }


def iter_events(session: Session, flt: AuditFilter, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every event of the filter, newest first, through a server-side cursor (bounded memory)."""
    result = session.execute(select_events(flt).execution_options(yield_per=batch))
    for part in result.scalars().partitions():
        for row in part:
            yield to_event(row)
        session.expunge_all()
