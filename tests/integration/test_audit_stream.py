"""Streaming the sealed audit trail to a SIEM: a real HTTP receiver on loopback, batches with checkpoints, a bearer
token, the receiver down for a while (the "minute" is the setting-driven backoff, shortened here), nothing lost,
the backlog visible in the compliance API, at-least-once redelivery, and one streamer across workers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxanne_admin import db, locks
from voxanne_admin.api.app import build_api
from voxanne_admin.audit import chain, stream
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import tokens
from voxanne_admin.settings import get_settings

TOKEN = "siem-test-token-6f2a"


class Receiver:
    """A SIEM stand-in: stores every batch it accepts; can be stopped (connection refused) and started again on
    the same port, or told to store a batch and still answer 500 (a receiver that crashed after writing)."""

    def __init__(self):
        self.batches: list[dict] = []
        self.auth: list[str] = []
        self.fail_after_store = 0
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.auth.append(self.headers.get("Authorization", ""))
                receiver.batches.append(body)
                status = 200
                if receiver.fail_after_store:
                    receiver.fail_after_store -= 1
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def event_ids(self) -> list[int]:
        return [e["id"] for b in self.batches for e in b["events"]]


@pytest.fixture
def receiver(clean_db, monkeypatch):
    r = Receiver()
    r.start()
    for key, value in {"AUDIT_STREAM_URL": f"http://127.0.0.1:{r.port}/ingest", "AUDIT_STREAM_TOKEN": TOKEN,
                       "AUDIT_STREAM_BATCH": "4", "AUDIT_STREAM_ATTEMPTS": "3",
                       "AUDIT_STREAM_BACKOFF_SECONDS": "0.05", "AUDIT_STREAM_BACKOFF_MAX_SECONDS": "0.2"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield r
    r.stop()
    monkeypatch.undo()
    get_settings.cache_clear()


def _record_and_seal(n: int, tag: str) -> list[int]:
    with db.transaction() as session:
        ids = [audit.record(session, actor=Actor.system("test"), action="staff_role_changed", target_type="staff",
                            target_id=i, diff={"tag": tag, "n": i}).id for i in range(n)]
    with db.transaction() as session:
        assert chain.seal_pending(session) >= n
    return [int(i) for i in ids if i is not None]


def _all_ids() -> list[int]:
    with db.read_only() as session:
        return [int(i) for i in session.execute(sa.text("select id from audit_events order by id")).scalars()]


def test_sealed_events_and_checkpoints_reach_the_siem_in_batches(receiver):
    _record_and_seal(10, "first")
    with db.transaction() as session:
        checkpoint = chain.take_checkpoint(session)
    result = stream.deliver()
    assert result.error == "" and result.sent_events == 10 and result.batches == 3  # batches of 4, 4, 2
    assert receiver.event_ids() == _all_ids()
    assert set(receiver.auth) == {f"Bearer {TOKEN}"}
    first = receiver.batches[0]
    assert first["source"] == "voxanne-admin" and first["batch"] == f"{first['events'][0]['id']}-" \
        f"{first['events'][-1]['id']}"
    event = first["events"][0]
    assert set(event) == {"id", "occurred_at", "actor", "action", "targets", "org_id", "context", "diff", "chain"}
    assert event["chain"]["seq"] == 1 and len(event["chain"]["link"]) == 64
    assert [c["seq"] for b in receiver.batches for c in b["checkpoints"]] == [checkpoint["seq"]]
    assert stream.deliver().sent_events == 0  # nothing new: nothing sent again
    assert len(receiver.batches) == 3


def test_a_receiver_down_for_a_while_loses_nothing_and_the_backlog_shows(receiver):
    _record_and_seal(5, "before")
    assert stream.deliver().sent_events == 5
    receiver.stop()
    queued = _record_and_seal(7, "while down")
    # "Down for a minute": several scheduler runs, each retrying with backoff, all refused.
    for _ in range(3):
        result = stream.deliver()
        assert result.sent_events == 0 and "could not be reached" in result.error
    with db.read_only() as session:
        status = stream.status(session)
    assert status.backlog_events == 7 and status.failing_since is not None and status.attempts == 9
    assert "nothing is lost" in status.summary
    admin = _admin_token()
    body = TestClient(build_api()).get("/api/compliance/audit-chain",
                                       headers={"Authorization": f"Bearer {admin}"}).json()
    # (the admin's account and token, just recorded, are not sealed yet: the backlog counts sealed events)
    assert body["stream"]["backlog_events"] == len(queued) == 7
    assert body["stream"]["failing_since"] is not None
    assert "could not be reached" in body["stream"]["last_error"]
    receiver.start()  # back, on the same port
    with db.transaction() as session:
        chain.seal_pending(session)  # the admin's token and account, made while it was down
    assert stream.deliver().error == ""
    assert receiver.event_ids() == _all_ids()  # every event, in order, none twice
    with db.read_only() as session:
        status = stream.status(session)
    assert status.backlog_events == 0 and status.failing_since is None and status.last_error == ""


def test_a_batch_stored_but_not_acknowledged_is_sent_again(receiver):
    _record_and_seal(3, "ack")
    receiver.fail_after_store = 1  # stores the batch, then answers 500: we must send it again
    assert stream.deliver().sent_events == 3
    ids = receiver.event_ids()
    assert len(ids) == 6 and sorted(set(ids)) == _all_ids()  # at least once; the receiver dedupes by id


def test_only_one_worker_streams_at_a_time(receiver):
    _record_and_seal(2, "lock")
    with db.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as other:
        other.execute(sa.text("select pg_advisory_lock(:k)"), {"k": locks.AUDIT_STREAM})
        try:
            assert stream.deliver().skipped == "another worker is streaming"
            assert receiver.batches == []
        finally:
            other.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.AUDIT_STREAM})
    assert stream.deliver().sent_events == 2


def test_stream_url_must_be_https_or_loopback(monkeypatch):
    from pydantic import ValidationError

    from voxanne_admin.settings import Settings

    with pytest.raises(ValidationError, match="must be an https:// URL"):
        Settings(audit_stream_url="http://siem.example.com/ingest")
    assert Settings(audit_stream_url="https://siem.example.com/ingest").audit_stream_url
    assert Settings(audit_stream_url="http://127.0.0.1:9/x").audit_stream_url


def _admin_token() -> str:
    with db.transaction() as session:
        user = auth_service.create_staff(session, email="admin@voxanne.test", name="Admin", role="admin",
                                         password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
        return tokens.create(session, staff_id=user.id, name="siem", actor=Actor())
