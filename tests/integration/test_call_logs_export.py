"""CSV export (streamed, bounded memory, audited), its download route, and retention isolation."""

from __future__ import annotations

import asyncio
import csv
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.unit.factories import make_staff, open_session
from voxanne_admin import db, retention
from voxanne_admin.api.app import build_api
from voxanne_admin.appointments.models import Appointment
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls import export_flow, exports
from voxanne_admin.calls.filters import CallFilter
from voxanne_admin.calls.models import Call
from voxanne_admin.errors import PermissionDenied
from voxanne_admin.orgs.models import Organization
from voxanne_admin.webhooks.models import WebhookEvent

NOW = datetime.now(UTC)


def _org(conn, name: str, status: str = "active", closed_days: int | None = None) -> int:
    closed_at = NOW - timedelta(days=closed_days) if closed_days is not None else None
    return conn.execute(sa.insert(Organization).values(
        name=name, slug=name.lower().replace(" ", "-"), country="US", timezone="America/New_York", status=status,
        closed_at=closed_at, created_at=NOW, updated_at=NOW).returning(Organization.id)).scalar_one()


def _bulk_calls(conn, org_id: int, n: int, prefix: str, recording_age_days: int = 1) -> None:
    """n calls through INSERT ... SELECT generate_series (fast for tens of thousands)."""
    conn.execute(sa.text(
        "insert into calls (vapi_call_id, org_id, is_test, direction, status, status_rank, ended_reason, "
        "customer_number, started_at, ended_at, duration_s, cost, summary, transcript, recording_url, "
        "report_received, created_at, updated_at) "
        "select :p || g, :o, g % 10 = 0, 'inbound', 'ended', 5, 'customer-ended-call', '+1555010' || lpad(g::text, 4, "
        "'0'), now() - make_interval(days => :age) - make_interval(secs => g), now() - make_interval(days => :age), "
        "60 + g % 300, 0.05 + (g % 7) / 100.0, '=SUM(A1) caller asked about refill ' || g, 'AI: hi', "
        "'https://rec.example/' || g || '.wav', true, now(), now() from generate_series(1, :n) g"),
        {"p": prefix, "o": org_id, "n": n, "age": recording_age_days})


@pytest.fixture
def loaded(clean_db):
    """Two organizations; 50,000 calls in the first."""
    with db.get_engine().begin() as conn:
        big = _org(conn, "Big Clinic")
        small = _org(conn, "Small Clinic")
        _bulk_calls(conn, big, 50_000, "big-")
        _bulk_calls(conn, small, 10, "small-")
    return big, small


def test_export_streams_with_bounded_memory_masks_and_audits(loaded, tmp_path):
    big, _small = loaded
    flt = CallFilter(org_ids=[big])
    with db.transaction() as session:
        staff = make_staff(session, role="viewer")
        export = exports.start_export(session, flt=flt, staff_id=staff.id, role="viewer")
    seen: list[int] = []
    tracemalloc.start()
    written = export_flow.export_csv(flt=flt, path=export.path, progress=seen.append, token=export.token,
                              actor=Actor(type="staff", id=str(staff.id), email=staff.email), role="viewer")
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert written == 50_000
    # 50k rows are ~9 MB of CSV; the writer holds one batch (2,000 rows) at a time.
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert seen == sorted(seen) and seen[-1] == 50_000 and len(seen) == 25
    with open(export.path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == export_flow.EXPORT_HEADER
    assert len(rows) == 50_001
    body = {k: v for k, v in zip(rows[0], rows[1], strict=True)}
    assert body["organization"] == "Big Clinic"
    assert body["customer"].startswith("***") and "+1555" not in Path(export.path).read_text()
    assert body["summary"].startswith("'=SUM")  # spreadsheet formulas defused
    with db.read_only() as session:
        event = session.execute(sa.select(AuditEvent).where(AuditEvent.action == "calls_exported")).scalar_one()
        assert event.diff["rows"] == 50_000 and event.diff["filter"] == {"org": str(big)}
        assert event.actor_id == str(staff.id)
        assert exports.get_export(session, token=export.token).status == "completed"


def test_export_refuses_all_organizations_below_admin(loaded):
    with db.transaction() as session, pytest.raises(PermissionDenied):
        exports.start_export(session, flt=CallFilter(), staff_id=None, role="operator")


def test_download_route_checks_session_owner_and_role(loaded):
    big, _small = loaded
    flt = CallFilter(org_ids=[big], test_only=True)
    with db.transaction() as session:
        owner = make_staff(session, role="viewer")
        other_viewer = make_staff(session, role="viewer")
        admin = make_staff(session, role="admin")
        tokens = {u.id: open_session(session, u) for u in (owner, other_viewer, admin)}
        export = exports.start_export(session, flt=flt, staff_id=owner.id, role="viewer")
        running = exports.start_export(session, flt=flt, staff_id=owner.id, role="viewer")
    export_flow.export_csv(flt=flt, path=export.path, token=export.token)
    url = f"/api/calls/exports/{export.token}"
    with TestClient(build_api()) as client:
        assert client.get(url).status_code == 401
        client.cookies.set("vx_session", tokens[other_viewer.id])
        assert client.get(url).status_code == 403
        client.cookies.set("vx_session", tokens[owner.id])
        assert client.get(f"/api/calls/exports/{running.token}").status_code == 409
        assert client.get("/api/calls/exports/nope").status_code == 404
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        lines = response.text.strip().splitlines()
        assert len(lines) == 1 + 5000  # header + every tenth of 50,000 is a test call
        client.cookies.set("vx_session", tokens[admin.id])
        assert client.get(url).status_code == 200


def test_old_exports_are_deleted(loaded):
    with db.transaction() as session:
        export = exports.start_export(session, flt=CallFilter(org_ids=[loaded[1]]), staff_id=None)
    export_flow.export_csv(flt=CallFilter(org_ids=[loaded[1]]), path=export.path, token=export.token)
    with db.transaction() as session:
        assert exports.purge_exports(session) == 0
        session.execute(sa.text("update call_exports set created_at = now() - interval '25 hours'"))
        assert exports.purge_exports(session) == 1
    from pathlib import Path

    assert not Path(export.path).exists()


def test_retention_purges_only_long_closed_organizations(clean_db):
    with db.get_engine().begin() as conn:
        gone = _org(conn, "Gone Clinic", status="closed", closed_days=31)
        recent = _org(conn, "Recently Closed", status="closed", closed_days=29)
        active = _org(conn, "Active Clinic")
        for org_id, prefix in ((gone, "g-"), (recent, "r-"), (active, "a-")):
            _bulk_calls(conn, org_id, 120, prefix)
            conn.execute(sa.insert(WebhookEvent).values(provider="vapi", kind="status-update", dedupe_key=prefix,
                                                        org_id=org_id, payload={}, status="completed",
                                                        received_at=NOW, next_attempt_at=NOW))
            conn.execute(sa.insert(Appointment).values(org_id=org_id, starts_at=NOW, ends_at=NOW + timedelta(
                minutes=30), contact_name="Pat", contact_phone="+15550100000", status="booked", created_at=NOW))
    with db.transaction() as session:
        result = retention.purge_closed_organizations(session)
    assert result == [{"org_id": gone, "calls": 120, "webhook_events": 1, "appointments": 1}]
    with db.get_engine().connect() as conn:
        per_org = dict(conn.execute(sa.text("select org_id, count(*) from calls group by 1")).all())
        assert per_org == {recent: 120, active: 120}
        assert conn.execute(sa.text("select count(*) from webhook_events")).scalar() == 2
        assert conn.execute(sa.text("select count(*) from appointments")).scalar() == 2
        events = conn.execute(sa.text(
            "select org_id, diff from audit_events where action = 'organization_data_purged'")).all()
        assert [(e.org_id, e.diff["calls"]) for e in events] == [(gone, 120)]
    with db.transaction() as session:
        assert retention.purge_closed_organizations(session) == []  # nothing left: no second audit event


def test_recording_links_cleared_after_retention_days(clean_db):
    with db.get_engine().begin() as conn:
        org = _org(conn, "Rec Clinic")
        _bulk_calls(conn, org, 30, "old-", recording_age_days=100)
        _bulk_calls(conn, org, 20, "new-", recording_age_days=10)
    with db.transaction() as session:
        assert retention.clear_old_recordings(session, days=90) == 30
        assert retention.clear_old_recordings(session, days=0) == 0
    with db.get_engine().connect() as conn:
        left = conn.execute(sa.text("select count(*) from calls where recording_url is not null")).scalar()
        assert left == 20
        assert conn.execute(sa.text(
            "select count(*) from audit_events where action = 'call_recordings_cleared'")).scalar() == 1


def test_retention_job_is_registered_and_runs(clean_db):
    from voxanne_admin.jobs.registry import JOBS

    with db.transaction() as session:
        outcome = JOBS["call_retention"].run(session)
    assert "recording links cleared" in outcome


def test_call_row_model_unchanged_by_export(loaded):
    with db.read_only() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Call)).scalar() == 50_010


def _export_peak(flt: CallFilter, path: Path) -> tuple[int, int]:
    """Rows written and the tracemalloc peak (bytes) of one export."""
    tracemalloc.start()
    try:
        written = export_flow.export_csv(flt=flt, path=path)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return written, peak


def test_export_memory_does_not_grow_with_the_row_count(clean_db, tmp_path):
    # Twice the rows, (nearly) the same peak: the export holds one batch at a time, never a list of every row
    # (nor a cache that fills per row). Bytes, not seconds: the bound holds on a loaded machine.
    with db.get_engine().begin() as conn:
        small, large = _org(conn, "Half Clinic"), _org(conn, "Double Clinic")
        _bulk_calls(conn, small, 8_000, "half-")
        _bulk_calls(conn, large, 16_000, "double-")
    _export_peak(CallFilter(org_ids=[small]), tmp_path / "warm.csv")  # first-use allocations (caches, compiled SQL)
    rows_n, peak_n = _export_peak(CallFilter(org_ids=[small]), tmp_path / "n.csv")
    rows_2n, peak_2n = _export_peak(CallFilter(org_ids=[large]), tmp_path / "2n.csv")
    assert (rows_n, rows_2n) == (8_000, 16_000)
    assert peak_2n < peak_n * 1.25 + 512 * 1024, f"N rows: {peak_n / 1e6:.2f} MB, 2N rows: {peak_2n / 1e6:.2f} MB"


def _run_export(flt: CallFilter, staff) -> list[export_flow.ExportProgress]:
    async def collect():
        return [step async for step in export_flow.run(flt=flt, staff_id=staff.id, role=staff.role, poll_s=0.01,
                                                       actor=Actor(type="staff", id=str(staff.id)))]
    return asyncio.run(collect())


def test_export_flow_reports_progress_then_the_finished_file(loaded):
    big, _small = loaded
    with db.transaction() as session:
        staff = make_staff(session, role="viewer")
    steps = _run_export(CallFilter(org_ids=[big], test_only=True), staff)
    assert steps[0].total == 5_000 and not steps[0].done
    last = steps[-1]
    assert last.done and last.written == 5_000 and last.token and Path(last.path).is_file()
    assert [s.written for s in steps] == sorted(s.written for s in steps)
    with db.read_only() as session:
        assert exports.get_export(session, token=last.token).status == "completed"
        assert session.execute(sa.select(AuditEvent).where(AuditEvent.action == "calls_exported")).scalar_one()


def test_export_flow_with_nothing_to_export_registers_nothing(loaded):
    big, _small = loaded
    with db.transaction() as session:
        staff = make_staff(session, role="viewer")
    steps = _run_export(CallFilter(org_ids=[big], q="zebra"), staff)
    assert [(s.total, s.done, s.token) for s in steps] == [(0, True, "")]
    with db.read_only() as session:
        assert session.execute(sa.text("select count(*) from call_exports")).scalar() == 0


def test_export_flow_refuses_all_organizations_below_admin(loaded):
    with db.transaction() as session:
        staff = make_staff(session, role="operator")
    with pytest.raises(PermissionDenied):
        _run_export(CallFilter(), staff)
