"""Pure flag evaluation: archived -> off; override; disabled; constraints; sticky rollout (Unleash-compatible).

No database and no I/O here: the in-process snapshot hands plain values in, so an evaluation costs a few dict
lookups and, the first time an organization meets a flag, one murmur3 hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import mmh3

from voxanne_admin.errors import InvalidInput

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
ATTRIBUTES = {"country": ("in", "not_in"), "status": ("in", "not_in"), "created_at": ("before", "after")}


def rollout_value(flag_key: str, org_id: int) -> int:
    """Unleash's gradual-rollout bucket 1..100: murmur3_x86_32(f"{key}:{org_id}", seed 0) % 100 + 1."""
    return mmh3.hash(f"{flag_key}:{org_id}", 0, signed=False) % 100 + 1


@dataclass(frozen=True)
class OrgContext:
    """The organization attributes constraints can target."""

    id: int
    slug: str
    name: str
    country: str
    status: str
    created_at: datetime


@dataclass
class FlagDef:
    """A flag as evaluation needs it. `buckets` memoises rollout values per organization."""

    key: str
    type: str
    enabled: bool
    rollout: int
    archived: bool = False
    constraints: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[int, tuple[bool, str]] = field(default_factory=dict)
    buckets: dict[int, int] = field(default_factory=dict, repr=False)


def _parse_day(raw: Any) -> datetime:
    text = str(raw or "").strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise InvalidInput(f"'{raw}' is not a date like 2026-12-01.", field="constraints") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def validate_constraints(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Normalised constraints, or InvalidInput naming what is wrong."""
    out = []
    for item in raw or []:
        attribute = str(item.get("attribute", "")).strip()
        operator = str(item.get("operator", "")).strip()
        if attribute not in ATTRIBUTES:
            raise InvalidInput(f"Constraints target {', '.join(ATTRIBUTES)}; '{attribute}' is not one of them.",
                               field="constraints")
        if operator not in ATTRIBUTES[attribute]:
            raise InvalidInput(f"'{attribute}' takes the operators {' or '.join(ATTRIBUTES[attribute])}, "
                               f"not '{operator}'.", field="constraints")
        values = item.get("values")
        if isinstance(values, str):
            values = [v for v in re.split(r"[,\s]+", values) if v]
        values = [str(v).strip() for v in values or [] if str(v).strip()]
        if attribute == "country":
            values = [v.upper() for v in values]
        if attribute == "status":
            values = [v.lower() for v in values]
            bad = [v for v in values if v not in ("active", "closed")]
            if bad:
                raise InvalidInput(f"Organization status is active or closed, not {bad[0]}.", field="constraints")
        if attribute == "created_at":
            if len(values) != 1:
                raise InvalidInput("A created before/after constraint takes exactly one date.", field="constraints")
            values = [_parse_day(values[0]).astimezone(UTC).isoformat()]
        if not values:
            raise InvalidInput(f"Give at least one value for the {attribute} constraint.", field="constraints")
        out.append({"attribute": attribute, "operator": operator, "values": values})
    return out


def constraint_matches(constraint: dict[str, Any], org: OrgContext) -> bool:
    """True when the organization satisfies one constraint."""
    attribute, operator, values = constraint["attribute"], constraint["operator"], constraint["values"]
    if attribute == "created_at":
        when = _parse_day(values[0])
        return org.created_at < when if operator == "before" else org.created_at > when
    actual = org.country if attribute == "country" else org.status
    return (actual in values) if operator == "in" else (actual not in values)


def describe_constraint(constraint: dict[str, Any]) -> str:
    """'country in US, GB' for reasons and the page."""
    words = {"in": "in", "not_in": "not in", "before": "before", "after": "after"}
    values = constraint["values"]
    if constraint["attribute"] == "created_at":
        values = [v[:10] for v in values]
    return f"{constraint['attribute']} {words[constraint['operator']]} {', '.join(values)}"


def evaluate(flag: FlagDef, org: OrgContext) -> tuple[bool, str]:
    """(enabled, reason) for one organization."""
    if flag.archived:
        return False, "archived"
    override = flag.overrides.get(org.id)
    if override is not None:
        return override[0], f"override {'on' if override[0] else 'off'}: {override[1]}"
    if not flag.enabled:
        return False, "disabled"
    for constraint in flag.constraints:
        if not constraint_matches(constraint, org):
            return False, f"constraint {describe_constraint(constraint)} not met"
    bucket = flag.buckets.get(org.id)
    if bucket is None:
        bucket = flag.buckets[org.id] = rollout_value(flag.key, org.id)
    if flag.rollout > 0 and bucket <= flag.rollout:
        return True, f"rollout {bucket} <= {flag.rollout}"
    return False, f"rollout {bucket} > {flag.rollout}"


def is_on(flag: FlagDef, org: OrgContext) -> bool:
    """The boolean only (the hot path: no reason string built)."""
    if flag.archived:
        return False
    override = flag.overrides.get(org.id)
    if override is not None:
        return override[0]
    if not flag.enabled:
        return False
    for constraint in flag.constraints:
        if not constraint_matches(constraint, org):
            return False
    bucket = flag.buckets.get(org.id)
    if bucket is None:
        bucket = flag.buckets[org.id] = rollout_value(flag.key, org.id)
    return flag.rollout > 0 and bucket <= flag.rollout
