"""Group commit of webhook ingest on real PostgreSQL: concurrent events share one INSERT (one transaction), each
request gets its own row's outcome, a bad row fails only itself, and an unreachable database fails every request
of the batch (503) with nothing stored."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voxanne_admin import db
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import ingest
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.signatures import vapi_hmac


def _status(call_id: str, status: str) -> dict:
    return {"message": {"type": "status-update", "status": status, "call": {"id": call_id, "status": "queued"}}}


def _rows(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).all()


async def _submit_all(writer: ingest.GroupCommit, envelopes: list[dict]) -> list:
    tasks = [writer.submit("vapi", inbox.parse_vapi(e), e, "203.0.113.7") for e in envelopes]
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await writer.close()
        await db.close_async_pool()


def test_concurrent_events_are_one_transaction_each_with_its_own_outcome(clean_db):
    with db.transaction() as session:
        inbox.ingest(session, provider="vapi", parsed=inbox.parse_vapi(_status("gc-old", "ringing")),
                     payload=_status("gc-old", "ringing"), source_ip=None)
    envelopes = [_status(f"gc-{i}", "ringing") for i in range(20)]
    envelopes += [_status("gc-3", "ringing"), _status("gc-old", "ringing")]  # a duplicate in the batch, an old one
    writer = ingest.GroupCommit(max_rows=100, delay_s=0.05)
    outcomes = asyncio.run(_submit_all(writer, envelopes))

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    rows = {r.call_id: r for r in _rows(
        "select id, call_id, received_at, duplicates, status from webhook_events where call_id like 'gc-%'")}
    for i in range(20):
        event_id, inserted = outcomes[i]
        assert inserted is True and rows[f"gc-{i}"].id == event_id
    assert outcomes[20] == (rows["gc-3"].id, False)
    assert outcomes[21] == (rows["gc-old"].id, False)
    assert rows["gc-3"].duplicates == 1 and rows["gc-old"].duplicates == 1 and rows["gc-0"].duplicates == 0
    # now() is the transaction's start: the 20 new rows were written by one statement in one transaction.
    assert len({rows[f"gc-{i}"].received_at for i in range(20)}) == 1
    assert rows["gc-old"].received_at != rows["gc-0"].received_at
    assert [rows[f"gc-{i}"].id for i in range(20)] == sorted(rows[f"gc-{i}"].id for i in range(20))


def test_a_row_the_database_refuses_fails_only_its_own_request(clean_db):
    envelopes = [_status(f"gcbad-{i}", "ringing") for i in range(6)]
    envelopes[2]["message"]["note"] = "nul \x00 inside"  # jsonb refuses \u0000: that INSERT fails
    writer = ingest.GroupCommit(max_rows=100, delay_s=0.05)
    outcomes = asyncio.run(_submit_all(writer, envelopes))

    assert isinstance(outcomes[2], ingest.IngestUnavailable)
    assert [isinstance(o, tuple) and o[1] for i, o in enumerate(outcomes) if i != 2] == [True] * 5
    stored = {r.call_id for r in _rows("select call_id from webhook_events where call_id like 'gcbad-%'")}
    assert stored == {f"gcbad-{i}" for i in range(6) if i != 2}


@pytest.fixture
def unreachable_database(clean_db, monkeypatch):
    """The async pool points at a port where nothing listens (a database outage)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(db, "dsn", lambda: f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=1")


def test_database_outage_answers_503_to_every_request_of_the_batch(unreachable_database):
    from voxanne_admin.api.app import build_api

    secret = get_settings().webhook_secret
    bodies = [json.dumps(_status(f"gcout-{i}", "ringing")).encode() for i in range(8)]

    async def post_all():
        import httpx

        transport = httpx.ASGITransport(app=build_api(), client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            try:
                return await asyncio.gather(*(client.post("/webhooks/vapi", content=b, headers={
                    "content-type": "application/json", "x-vapi-signature": vapi_hmac(secret, b)}) for b in bodies))
            finally:
                writer = ingest.writer()
                await writer.close()
                await db.close_async_pool()

    responses = asyncio.run(post_all())
    assert [r.status_code for r in responses] == [503] * 8
    assert all(r.json() == {"error": "temporarily unavailable, retry"} for r in responses)
    assert _rows("select id from webhook_events where call_id like 'gcout-%'") == []


def test_route_answers_with_the_stored_id_through_the_writer(clean_db):
    from voxanne_admin.api.app import build_api

    body = json.dumps(_status("gc-route", "ringing")).encode()
    sig = vapi_hmac(get_settings().webhook_secret, body)
    with TestClient(build_api()) as client:
        first = client.post("/webhooks/vapi", content=body, headers={"x-vapi-signature": sig})
        second = client.post("/webhooks/vapi", content=body, headers={"x-vapi-signature": sig})
    (row,) = _rows("select id, duplicates, status from webhook_events where call_id = 'gc-route'")
    assert first.json() == {"received": True, "id": row.id, "duplicate": False, "status": "pending"}
    assert second.json() == {"received": True, "id": row.id, "duplicate": True, "status": "pending"}
    assert row.duplicates == 1 and row.status == "pending"
