"""Flood control: refusals anyone can trigger are counted per source IP and minute, never one audit row (or one
warning line) per request. Real HTTP through the API app, real PostgreSQL.

The flood-control and chain modules are imported where a test flushes or seals, after the behaviour under test
(the rows and warning lines a flood leaves) has been checked, so on the code before the fixes these tests fail
on that behaviour rather than on an import."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.unit.factories import PASSWORD, make_staff
from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import signin
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks.signatures import vapi_hmac


def _client(ip: str):
    from voxanne_admin.api.app import build_api

    return TestClient(build_api(), client=(ip, 5000))


def _forged(client) -> int:
    body = json.dumps({"message": {"type": "status-update", "status": "ringing", "call": {"id": "c1"}}}).encode()
    return client.post("/webhooks/vapi", content=body, headers={
        "content-type": "application/json", "x-vapi-signature": vapi_hmac("not-the-secret", body)}).status_code


def _rows(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def _flush() -> int:
    from voxanne_admin.audit import flood

    with db.transaction() as session:
        return flood.flush_closed(session, now=utcnow() + timedelta(minutes=1))


def test_forged_webhooks_make_one_audit_row_per_ip_and_minute(clean_db, caplog):
    caplog.set_level(logging.WARNING, logger="voxanne_admin.api.webhooks")
    with _client("198.51.100.1") as one, _client("198.51.100.2") as two:
        assert [_forged(one) for _ in range(40)] == [401] * 40
        assert [_forged(two) for _ in range(5)] == [401] * 5
    assert _rows("select count(*) from audit_events")[0][0] == 0  # nothing per request
    warnings = [r for r in caplog.records if "webhook authentication failed" in r.getMessage()]
    assert len(warnings) == 2  # one per IP and minute, not 45
    assert _flush() == 2
    rows = _rows("select ip, actor_type, actor_id, diff from audit_events where action = 'webhook_auth_failed' "
                 "order by ip")
    assert [(r.ip, r.actor_type, r.actor_id, r.diff["count"]) for r in rows] == [
        ("198.51.100.1", "provider", "vapi", 40), ("198.51.100.2", "provider", "vapi", 5)]
    assert _rows("select count(*) from audit_flood_windows")[0][0] == 0
    assert _flush() == 0  # each window is written once


def test_open_window_is_not_flushed_early(clean_db):
    from voxanne_admin.audit import flood

    with db.transaction() as session:
        flood.count_refusal(session, action="webhook_auth_failed", actor=Actor(type="provider", id="vapi",
                                                                              ip="198.51.100.3"), reason="bad")
    with db.transaction() as session:
        assert flood.flush_closed(session) == 0  # the current minute is still open
    assert _rows("select count from audit_flood_windows")[0][0] == 1


def test_unknown_account_sign_ins_are_counted_not_written_per_attempt(clean_db):
    actor = Actor(type="anonymous", ip="198.51.100.7")
    for i in range(12):
        with db.transaction() as session:
            result = signin.authenticate_password(session, email=f"nobody{i}@clinic.example", password="x" * 12,
                                                  actor=actor)
            assert not result.ok and result.message == signin.GENERIC_FAILURE
    assert _rows("select count(*) from audit_events where action = 'login_failed'")[0][0] == 0
    _flush()
    rows = _rows("select ip, diff from audit_events where action = 'login_failed'")
    # One row per one-minute window: the 12 attempts can straddle a minute boundary (then two rows).
    assert 1 <= len(rows) <= 2 and {row.ip for row in rows} == {"198.51.100.7"}
    assert sum(row.diff["count"] for row in rows) == 12
    assert sum(row.diff["reasons"]["unknown account"] for row in rows) == 12
    assert all(set(row.diff["reasons"]) == {"unknown account"} for row in rows)


def test_known_account_failures_still_get_their_own_row(clean_db):
    with db.transaction() as session:
        user = make_staff(session)
        email = user.email
    with db.transaction() as session:
        signin.authenticate_password(session, email=email, password="wrong-" + PASSWORD,
                                     actor=Actor(type="anonymous", ip="198.51.100.8"))
    rows = _rows("select actor_email, diff from audit_events where action = 'login_failed'")
    assert len(rows) == 1 and rows[0].diff["reason"] == "wrong password"


def test_flushed_windows_are_sealed_and_verify(clean_db):
    with _client("198.51.100.9") as client:
        for _ in range(30):
            _forged(client)
    assert _rows("select count(*) from audit_events")[0][0] == 0  # nothing per request
    _flush()
    from voxanne_admin.audit import chain

    with db.transaction() as session:
        assert chain.seal_pending(session) == 1
    with db.read_only() as session:
        assert chain.verify(session).ok
