"""The compliance APIs over real HTTP (the API server process) on the real database: the audit trail with the page's
filters, cursor pagination, full-text search, the documented event shape, streamed audited exports, bad input as
400 with the reason, admin-only access; and the data-retention report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from voxanne_admin import db
from voxanne_admin.audit import query
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import tokens
from voxanne_admin.calls.models import Call
from voxanne_admin.orgs import service as org_service
from voxanne_admin.timeutil import utcnow

ALICE = Actor(type="staff", id="7", email="alice@voxanne.test", ip="10.0.0.7", user_agent="pytest", request_id="r-1")


def _token(role: str, email: str) -> str:
    with db.transaction() as session:
        user = auth_service.create_staff(session, email=email, name=role.title(), role=role,
                                         password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
        return tokens.create(session, staff_id=user.id, name="auditor", actor=Actor())


@pytest.fixture
def trail(clean_db):
    """Two organizations and a mixed trail: sign-ins, staff changes, flags, a formula in a diff."""
    with db.transaction() as session:
        a = org_service.create(session, name="Harbor Dental", slug="harbor-dental", country="US",
                               timezone="America/New_York",
                               actor=ALICE, actor_role="founder")
        b = org_service.create(session, name="Lakeside Vets", slug="lakeside-vets", country="US",
                               timezone="America/Chicago",
                               actor=ALICE, actor_role="founder")
        ids = {"a": a.id, "b": b.id}
    with db.transaction() as session:
        for i in range(5):
            audit.record(session, actor=ALICE, action="login_success", target_type="staff", target_id=7)
        audit.record(session, actor=Actor.system("retention"), action="staff_role_changed", target_type="staff",
                     target_id=9, diff={"role": {"before": "viewer", "after": "operator"}})
        audit.record(session, actor=ALICE, action="feature_flag_updated", target_type="feature_flag",
                     target_id="new_dashboard", org_id=ids["a"],
                     diff={"rollout": {"before": 10, "after": 50}, "note": {"before": None,
                                                                             "after": "=HYPERLINK(\"x\")"}})
        audit.record(session, actor=ALICE, action="agent_saved", target_type="agent", target_id=3, org_id=ids["b"],
                     diff={"name": {"before": "Front desk", "after": "Night porter"}})
    admin = _token("admin", "admin@voxanne.test")
    with db.read_only() as session:
        total = session.execute(sa.text("select count(*) from audit_events")).scalar_one()
    return {**ids, "total": total, "admin": admin}


def _get(base: str, token: str, path: str, **params) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_audit_logs_cursor_walks_every_event_once_newest_first(api_server, trail):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = _get(api_server, trail["admin"], "/api/compliance/audit-logs", **params).json()
        seen += [e["id"] for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == trail["total"]
    assert seen == sorted(seen, reverse=True)
    assert pages == -(-trail["total"] // 3)


def test_audit_logs_filters_match_the_documented_shape(api_server, trail):
    def events(**params):
        r = _get(api_server, trail["admin"], "/api/compliance/audit-logs", **params)
        assert r.status_code == 200, r.text
        return r.json()["events"]

    flag = events(action="feature_flag_updated")
    assert len(flag) == 1
    assert flag[0] == {
        "id": flag[0]["id"], "occurred_at": flag[0]["occurred_at"],
        "actor": {"type": "staff", "id": "7", "email": "alice@voxanne.test"},
        "action": "feature_flag_updated", "targets": [{"type": "feature_flag", "id": "new_dashboard"}],
        "org_id": trail["a"], "context": {"ip": "10.0.0.7", "user_agent": "pytest", "request_id": "r-1"},
        "diff": {"rollout": {"before": 10, "after": 50}, "note": {"before": None, "after": "=HYPERLINK(\"x\")"}},
    }
    assert flag[0]["occurred_at"].endswith("Z")
    # (the admin's own staff account and token, made by the fixture, are on the trail too)
    assert {e["action"] for e in events(group="auth")} == {"login_success", "api_token_created"}
    assert len(events(action="auth")) == 6  # a group name given as action means the group
    assert [e["action"] for e in events(group="staff")] == ["staff_created", "staff_role_changed"]
    assert [e["action"] for e in events(org=str(trail["b"]))] == ["agent_saved", "organization_created"]
    assert [e["actor"]["id"] for e in events(actor="system:retention")] == ["retention"]
    assert len(events(actor="ALICE@voxanne.test", group="auth")) == 5
    assert [e["targets"][0]["id"] for e in events(target_type="agent", target_id="3")] == ["3"]
    # Full text over the diff's keys and values (what the summary is made of), and the action's words.
    assert [e["action"] for e in events(q="night porter")] == ["agent_saved"]
    assert [e["action"] for e in events(q="rollout")] == ["feature_flag_updated"]
    assert events(q="nonexistentword") == []
    today = utcnow().date()
    assert len(events(**{"from": today.isoformat(), "to": today.isoformat()})) == trail["total"]
    assert events(**{"to": (today - timedelta(days=1)).isoformat()}) == []
    one = _get(api_server, trail["admin"], f"/api/compliance/audit-logs/{flag[0]['id']}").json()
    assert one == flag[0]


@pytest.mark.parametrize(("params", "field", "reason"), [
    ({"org": "abc"}, "org", "Organization must be an organization id"),
    ({"cursor": "not-a-cursor"}, "cursor", "This cursor is not valid"),
    ({"group": "billing"}, "group", "Unknown action group 'billing'"),
    ({"colour": "red"}, "colour", "Unknown filter 'colour'"),
    ({"from": "yesterday"}, "from", "'yesterday' is not a date"),
    ({"from": "2026-12-02", "to": "2026-12-01"}, "to", "The end of the time range must be after its start"),
    ({"limit": "0"}, "limit", "limit must be between 1 and 500"),
    ({"limit": "ten"}, "limit", "limit must be a whole number"),
    ({"format": "xml"}, "format", "format must be one of csv, json"),
    ({"action": "DROP TABLE"}, "action", "is not a valid action"),
])
def test_bad_filter_or_cursor_is_400_with_the_reason(api_server, trail, params, field, reason):
    r = _get(api_server, trail["admin"], "/api/compliance/audit-logs", **params)
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert reason in r.json()["error"]


def test_compliance_apis_are_admin_only(api_server, trail):
    assert httpx.get(f"{api_server}/api/compliance/audit-logs", timeout=10).status_code == 401
    viewer = _token("viewer", "viewer@voxanne.test")
    operator = _token("operator", "operator@voxanne.test")
    for token in (viewer, operator):
        for path in ("/api/compliance/audit-logs", "/api/compliance/data-retention",
                     "/api/compliance/audit-logs/export"):
            assert _get(api_server, token, path).status_code == 403


def test_csv_export_streams_the_filter_neutralises_formulas_and_is_audited(api_server, trail):
    # A user agent is whatever the client sent: a formula there must reach the spreadsheet as text.
    with db.transaction() as session:
        audit.record(session, actor=Actor(type="staff", id="7", email="alice@voxanne.test",
                                          user_agent='=HYPERLINK("http://evil.test","x")'),
                     action="feature_flag_killed", target_type="feature_flag", target_id="new_dashboard",
                     org_id=trail["a"])
    r = _get(api_server, trail["admin"], "/api/compliance/audit-logs", format="csv", org=str(trail["a"]),
             group="flags")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["action"] for row in rows] == ["feature_flag_killed", "feature_flag_updated"]
    assert rows[0]["user_agent"] == "'=HYPERLINK(\"http://evil.test\",\"x\")"  # shown as text, never run
    assert rows[1]["summary"] == 'note: =HYPERLINK("x"); rollout: 10 → 50'
    assert json.loads(rows[1]["diff"])["rollout"] == {"before": 10, "after": 50}
    with db.read_only() as session:
        exported = session.execute(sa.text(
            "select actor_email, diff from audit_events where action = 'audit_exported'")).all()
    assert exported == [("admin@voxanne.test", {"filter": {"org": str(trail["a"]), "group": "flags"}, "format": "csv",
                                                "via": "api"})]


def test_json_export_is_one_document_of_every_matching_event(api_server, trail):
    r = _get(api_server, trail["admin"], "/api/compliance/audit-logs/export", format="json", group="auth",
             actor="alice@voxanne.test")
    assert r.status_code == 200
    body = r.json()
    assert body["filter"] == {"group": "auth", "actor": "alice@voxanne.test"}
    assert [e["action"] for e in body["events"]] == ["login_success"] * 5


def test_data_retention_lists_rules_runs_and_pending_closures(api_server, trail):
    from voxanne_admin.jobs import service as job_service

    with db.transaction() as session:
        org_service.close(session, org_id=trail["b"], actor=ALICE, actor_role="founder")
        org_service.close(session, org_id=trail["a"], actor=ALICE, actor_role="founder")
        # Harbor closed 40 days ago: due for the purge; Lakeside 10 days ago: pending.
        session.execute(sa.text("update organizations set closed_at = now() - interval '40 days' where id = :i"),
                        {"i": trail["a"]})
        session.execute(sa.text("update organizations set closed_at = now() - interval '10 days' where id = :i"),
                        {"i": trail["b"]})
        for n in range(3):
            session.add(Call(org_id=trail["a"], vapi_call_id=f"c-{n}", direction="inbound", status="ended"))
    job_service.run_scheduled("call_retention")
    r = _get(api_server, trail["admin"], "/api/compliance/data-retention")
    assert r.status_code == 200, r.text
    report = r.json()
    rules = {rule["rule"]: rule for rule in report["rules"]}
    purge = rules["closed_organization_data"]
    assert purge["last_run"]["outcome"] == "succeeded"
    assert purge["rows_purged"] == {"total": 3, "last_run": 3}
    assert purge["next_run"] > report["generated_at"]
    assert rules["call_recordings"]["setting"] == "RECORDING_RETENTION_DAYS"
    assert rules["call_recordings"]["keep"] == "90 days"
    assert rules["audit_events"]["keep"] == "90 days / 2190 days"
    assert rules["audit_events"]["archive"] == {"segments": 0, "rows_archived": 0, "rows_deleted": 0,
                                                "last_segment_at": None}
    pending = {p["slug"]: p for p in report["pending_closure_purges"]}
    assert pending["lakeside-vets"]["overdue"] is False
    assert pending["lakeside-vets"]["purge_due_at"] > report["generated_at"]
    assert pending["harbor-dental"]["overdue"] is True


def test_search_and_filters_are_answered_from_their_indexes(trail):
    """The expression the query builds is the one the GIN index holds (else PostgreSQL could not use it)."""
    flt_search = query.AuditFilter(q="porter")
    flt_action = query.AuditFilter(action="agent_saved")
    with db.read_only() as session:
        session.execute(sa.text("set local enable_seqscan = off"))
        for flt, index in ((flt_search, "ix_audit_events_search"), (flt_action, "ix_audit_events_action_id")):
            stmt = query.select_events(flt).limit(51)
            compiled = stmt.compile(dialect=session.get_bind().dialect)
            rows = session.connection().exec_driver_sql(f"explain {compiled}", compiled.params)
            plan = "\n".join(r[0] for r in rows)
            assert index in plan, plan
