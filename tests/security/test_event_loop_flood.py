"""Issue 15: nothing blocks the event loop on the webhook hot path. A flood of signed Vapi events (large bodies
whose signature check and parse run on a thread, slow senders, duplicates) and agent tool calls: /health keeps
answering within 50 ms, and every acknowledged event is stored exactly once."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa

from tests.security.conftest import HealthProbe, post
from voxanne_admin import db
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks.signatures import vapi_hmac


def _signed(message: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"message": message}).encode()
    return body, {"content-type": "application/json", "x-vapi-signature": vapi_hmac(get_settings().webhook_secret,
                                                                                   body)}


def test_health_answers_within_50_ms_under_a_flood_of_vapi_webhooks_and_tool_calls(flood_server):
    port = flood_server
    filler = "word " * 60_000  # ~300 KB of transcript-like text per large event
    large = [_signed({"type": "status-update", "status": "ringing", "call": {"id": f"flood-big-{i}"},
                      "note": filler}) for i in range(12)]
    small = [_signed({"type": "status-update", "status": "ringing", "call": {"id": f"flood-{i}"}})
             for i in range(150)]
    tools = [_signed({"type": "tool-calls", "call": {"id": f"flood-tool-{i}", "metadata": {"org_id": "999999"}},
                      "toolCallList": [{"id": f"t{i}", "function": {"name": "check_availability",
                                                                    "arguments": {"date": "2030-01-07"}}}]})
             for i in range(30)]

    async def flood():
        probe = await HealthProbe.start(port)
        statuses = await asyncio.gather(
            *(post(port, "/webhooks/vapi", b, h) for b, h in large),
            *(post(port, "/webhooks/vapi", b, h, trickle_s=0.02, chunk=32 * 1024) for b, h in large[:4]),
            *(post(port, "/webhooks/vapi", b, h) for b, h in small),
            *(post(port, "/webhooks/vapi", b, h) for b, h in small[:30]),  # duplicates
            *(post(port, "/webhooks/vapi", b, h) for b, h in tools),
        )
        await probe.stop()
        return list(statuses), probe

    statuses, probe = asyncio.run(flood())

    assert statuses == [200] * len(statuses), sorted(set(statuses))
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.text(
            "select call_id, duplicates from webhook_events where call_id like 'flood-%'")).all()
    counts = {r.call_id: r.duplicates for r in rows}
    assert len(rows) == len(counts) == 12 + 150 + 30  # every acknowledged event stored, once
    assert sum(counts.values()) == 4 + 30  # the resent ones counted as duplicates
    probe.assert_answered()
