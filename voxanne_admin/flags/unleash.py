"""Our flags in the shape Unleash's server gives its SDKs (`GET /api/client/features`, schema version 2).

Each flag becomes one feature with `flexibleRollout` (stickiness `orgId`, groupId = the key, so the SDK's
murmur3 bucket is ours) carrying the constraints. Overrides map onto Unleash's OR-of-strategies: forced-on
organizations get a `default` strategy constrained to their ids, placed first; forced-off organizations are
excluded from the rollout strategy by an `orgId NOT_IN` constraint. Archived flags are left out, as Unleash does.
"""

from __future__ import annotations

from typing import Any

from voxanne_admin.flags.evaluator import FlagDef

_OPERATORS = {"in": "IN", "not_in": "NOT_IN", "before": "DATE_BEFORE", "after": "DATE_AFTER"}
_CONTEXT = {"country": "country", "status": "status", "created_at": "createdAt"}


def org_context(org) -> dict[str, str]:
    """The Unleash context for an organization (what an SDK caller passes to is_enabled)."""
    return {"orgId": str(org.id), "country": org.country, "status": org.status,
            "createdAt": org.created_at.isoformat()}


def _constraint(c: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"contextName": _CONTEXT[c["attribute"]], "operator": _OPERATORS[c["operator"]],
                           "caseInsensitive": False, "inverted": False}
    if c["attribute"] == "created_at":
        out["value"] = c["values"][0]
    else:
        out["values"] = list(c["values"])
    return out


def feature(flag: FlagDef, description: str = "") -> dict[str, Any]:
    """One flag as an Unleash client-API feature."""
    on_ids = sorted(str(org_id) for org_id, (on, _) in flag.overrides.items() if on)
    off_ids = sorted(str(org_id) for org_id, (on, _) in flag.overrides.items() if not on)
    strategies: list[dict[str, Any]] = []
    if on_ids:
        strategies.append({"name": "default", "parameters": {},
                           "constraints": [{"contextName": "orgId", "operator": "IN", "values": on_ids,
                                            "caseInsensitive": False, "inverted": False}]})
    if flag.enabled:
        constraints = [_constraint(c) for c in flag.constraints]
        if off_ids:
            constraints.append({"contextName": "orgId", "operator": "NOT_IN", "values": off_ids,
                                "caseInsensitive": False, "inverted": False})
        strategies.append({"name": "flexibleRollout",
                           "parameters": {"rollout": str(flag.rollout), "stickiness": "orgId", "groupId": flag.key},
                           "constraints": constraints})
    return {"name": flag.key, "description": description, "type": flag.type.replace("_", "-"),
            "project": "default", "enabled": flag.enabled or bool(on_ids), "stale": False,
            "impressionData": False, "strategies": strategies, "variants": []}


def client_features(flags: list[FlagDef], version_token: int, descriptions: dict[str, str] | None = None
                    ) -> dict[str, Any]:
    """The whole client-API answer."""
    descriptions = descriptions or {}
    return {"version": 2, "features": [feature(f, descriptions.get(f.key, "")) for f in flags if not f.archived],
            "query": {"project": ["default"], "environment": "production", "inlineSegmentConstraints": True},
            "meta": {"revisionId": version_token, "etag": f'"{version_token}"'}}
