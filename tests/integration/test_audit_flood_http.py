"""Flood control over real HTTP: forged webhooks against the granian-served API (as the least-privileged app
role) become one counted audit row per source IP and minute, and the server logs one warning, not one per
request."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import sqlalchemy as sa

from voxanne_admin import db
from voxanne_admin.audit import chain, flood
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks.signatures import vapi_hmac


def test_forged_webhook_flood_is_one_counted_row(api_server, _api_server_process):
    body = json.dumps({"message": {"type": "status-update", "status": "ringing", "call": {"id": "x"}}}).encode()
    headers = {"content-type": "application/json", "x-vapi-signature": vapi_hmac("forged-secret", body)}
    log_files = sorted(_api_server_process.log_dir.glob("server-*.log"))
    before = log_files[-1].read_text().count("webhook authentication failed") if log_files else 0
    with httpx.Client(base_url=api_server, timeout=10) as client:
        statuses = [client.post("/webhooks/vapi", content=body, headers=headers).status_code for _ in range(60)]
    assert statuses == [401] * 60
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.text("select count(*) from audit_events")).scalar() == 0
        windows = conn.execute(sa.text("select ip, count from audit_flood_windows")).all()
    # One window per minute (two if the burst crossed a minute boundary), all from this client's address.
    assert {w.ip for w in windows} == {"127.0.0.1"} and len(windows) in (1, 2)
    assert sum(w.count for w in windows) == 60
    log_text = sorted(_api_server_process.log_dir.glob("server-*.log"))[-1].read_text()
    assert log_text.count("webhook authentication failed") - before <= len(windows)
    with db.transaction() as session:
        flood.flush_closed(session, now=utcnow() + timedelta(minutes=2))
    with db.transaction() as session:
        chain.seal_pending(session)
    with db.read_only() as session:
        rows = session.execute(sa.text(
            "select ip, diff from audit_events where action = 'webhook_auth_failed'")).all()
        assert sum(r.diff["count"] for r in rows) == 60 and len(rows) == len(windows)
        assert chain.verify(session).ok
