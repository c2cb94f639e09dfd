"""The pure evaluator: Unleash's bucket, sticky ramps, the evaluation order and its reasons, constraints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voxanne_admin.errors import InvalidInput
from voxanne_admin.flags import unleash
from voxanne_admin.flags.evaluator import FlagDef, OrgContext, evaluate, is_on, rollout_value, validate_constraints


def _org(org_id: int, country: str = "US", status: str = "active", created: str = "2026-03-01") -> OrgContext:
    return OrgContext(id=org_id, slug=f"org-{org_id}", name=f"Org {org_id}", country=country, status=status,
                      created_at=datetime.fromisoformat(created).replace(tzinfo=UTC))


def _flag(**kw) -> FlagDef:
    kw.setdefault("key", "lead_scoring")
    kw.setdefault("type", "release")
    kw.setdefault("enabled", True)
    kw.setdefault("rollout", 50)
    return FlagDef(**kw)


@pytest.mark.parametrize(("group", "identifier", "expected"), [
    ("gr1", 123, 73), ("groupX", 999, 25), ("Feature.flexibleRollout.10", 174, 10),
])
def test_rollout_value_matches_unleash_published_vectors(group, identifier, expected):
    assert rollout_value(group, identifier) == expected


def test_raising_the_rollout_never_removes_an_organization():
    orgs = [_org(i) for i in range(1, 1001)]
    previous: set[int] = set()
    for pct in range(0, 101, 5):
        flag = _flag(rollout=pct)
        current = {o.id for o in orgs if is_on(flag, o)}
        assert previous <= current
        previous = current
    assert len(previous) == 1000


def test_lowering_the_rollout_removes_only_organizations_above_the_new_value():
    orgs = [_org(i) for i in range(1, 1001)]
    at_60 = {o.id for o in orgs if is_on(_flag(rollout=60), o)}
    at_25 = {o.id for o in orgs if is_on(_flag(rollout=25), o)}
    removed = at_60 - at_25
    assert at_25 <= at_60
    assert removed and all(25 < rollout_value("lead_scoring", i) <= 60 for i in removed)
    # Roughly the share asked for (the bucket is uniform).
    assert 180 <= len(at_25) <= 320


def test_evaluation_order_archived_override_disabled_constraint_rollout():
    org = _org(7, country="GB")
    bucket = rollout_value("lead_scoring", 7)
    assert evaluate(_flag(archived=True, overrides={7: (True, "pilot")}), org) == (False, "archived")
    assert evaluate(_flag(enabled=False, overrides={7: (True, "pilot")}), org) == (True, "override on: pilot")
    assert evaluate(_flag(rollout=100, overrides={7: (False, "complained")}), org) == (False,
                                                                                     "override off: complained")
    assert evaluate(_flag(enabled=False), org) == (False, "disabled")
    us_only = validate_constraints([{"attribute": "country", "operator": "in", "values": "US"}])
    assert evaluate(_flag(rollout=100, constraints=us_only), org) == (False, "constraint country in US not met")
    assert evaluate(_flag(rollout=100), org) == (True, f"rollout {bucket} <= 100")
    assert evaluate(_flag(rollout=0), org) == (False, f"rollout {bucket} > 0")


def test_constraints_on_status_and_creation_date():
    old, new = _org(1, created="2025-01-10"), _org(2, created="2026-09-01")
    closed = _org(3, status="closed")
    before = validate_constraints([{"attribute": "created_at", "operator": "before", "values": ["2026-01-01"]}])
    after = validate_constraints([{"attribute": "created_at", "operator": "after", "values": ["2026-01-01"]}])
    active = validate_constraints([{"attribute": "status", "operator": "in", "values": ["active"]}])
    assert is_on(_flag(rollout=100, constraints=before), old) and not is_on(_flag(rollout=100, constraints=before), new)
    assert is_on(_flag(rollout=100, constraints=after), new) and not is_on(_flag(rollout=100, constraints=after), old)
    assert not is_on(_flag(rollout=100, constraints=active), closed)


@pytest.mark.parametrize(("raw", "message"), [
    ([{"attribute": "plan", "operator": "in", "values": ["pro"]}], "'plan' is not one of them"),
    ([{"attribute": "country", "operator": "before", "values": ["US"]}], "takes the operators in or not_in"),
    ([{"attribute": "country", "operator": "in", "values": []}], "at least one value"),
    ([{"attribute": "created_at", "operator": "after", "values": ["next tuesday"]}], "is not a date"),
    ([{"attribute": "status", "operator": "in", "values": ["paused"]}], "active or closed"),
])
def test_bad_constraints_are_refused_with_the_reason(raw, message):
    with pytest.raises(InvalidInput, match=message):
        validate_constraints(raw)


def test_unleash_feature_carries_flexible_rollout_and_overrides():
    flag = _flag(rollout=30, overrides={5: (True, "pilot"), 9: (False, "opted out")},
                 constraints=validate_constraints([{"attribute": "country", "operator": "not_in", "values": "TR"}]))
    feature = unleash.feature(flag)
    assert feature["name"] == "lead_scoring" and feature["enabled"] is True
    first, rollout = feature["strategies"]
    assert first["name"] == "default" and first["constraints"][0]["values"] == ["5"]
    assert rollout["parameters"] == {"rollout": "30", "stickiness": "orgId", "groupId": "lead_scoring"}
    assert {"contextName": "country", "operator": "NOT_IN", "values": ["TR"], "caseInsensitive": False,
            "inverted": False} in rollout["constraints"]
    assert any(c["operator"] == "NOT_IN" and c["values"] == ["9"] for c in rollout["constraints"])
