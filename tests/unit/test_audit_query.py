"""The Audit log filter: every action the app records belongs to one of the page's groups; the parser round-trips
the URL and names each bad parameter; cursors are opaque and checked."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT
from voxanne_admin.audit.query import GROUPS, AuditFilter, decode_cursor, encode_cursor, group_of, parse_query
from voxanne_admin.errors import InvalidInput


def _recorded_actions() -> set[str]:
    """Every literal `action="..."` passed to audit.record in the app."""
    out = set()
    for path in (ROOT / "voxanne_admin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record":
                for kw in node.keywords:
                    if kw.arg == "action" and isinstance(kw.value, ast.Constant):
                        out.add(kw.value.value)
    return out


def test_every_recorded_action_belongs_to_a_group():
    actions = _recorded_actions()
    assert len(actions) > 40  # the scan finds the app's actions
    ungrouped = sorted(a for a in actions if not group_of(a))
    assert ungrouped == [], f"add these actions to a group in audit/query.py GROUPS: {ungrouped}"


def test_no_action_is_claimed_by_two_groups():
    for action in _recorded_actions():
        claimed = [g for g, (prefixes, exact, excluded) in GROUPS.items()
                   if action not in excluded and (action in exact or action.startswith(prefixes))]
        assert len(claimed) == 1, (action, claimed)


def test_filter_round_trips_through_the_url():
    flt = AuditFilter(actor="alice@clinic.test", group="flags", target_type="feature_flag", target_id="x",
                      org_id=3, date_from="2026-11-01", date_to="2026-11-30", q="rollout")
    assert AuditFilter.from_query(flt.to_query()) == flt


def test_parser_names_every_bad_parameter_at_once():
    flt, errors = parse_query({"org": "-1", "group": "nope", "q": "x" * 201, "action": "login_success"})
    assert set(errors) == {"org", "group", "q"}
    assert flt.action == "login_success"  # the good parts are kept


def test_cursor_is_opaque_and_checked():
    assert decode_cursor(encode_cursor(42)) == 42
    for bad in ("42", "eyJ2IjoxLCJpZCI6LTF9", "!!!", encode_cursor(42)[:-3]):
        with pytest.raises(InvalidInput) as exc:
            decode_cursor(bad)
        assert exc.value.field == "cursor"
