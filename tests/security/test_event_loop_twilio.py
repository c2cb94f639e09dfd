"""Finding 2 of the security review: the Twilio routes parsed and checked signatures on the event loop with a
1 MB body limit, so a few anonymous requests with huge forms froze every route of the worker. Now the body limit
is TWILIO_MAX_BODY_BYTES (64 KB), forms over TWILIO_MAX_FIELDS pairs are refused, and parsing and the signature
check run on a thread: under a flood of slow and large anonymous requests, /health keeps answering."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from tests.security.conftest import HealthProbe, post
from voxanne_admin import db

PATH = "/webhooks/twilio/voice-status"
FORM = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "bm90IGEgc2lnbmF0dXJl"}


def _form(size: int) -> bytes:
    """A form body of about `size` bytes made of many short name=value pairs."""
    pairs = []
    total = 0
    i = 0
    while total < size:
        pair = f"f{i}=v{i}"
        pairs.append(pair)
        total += len(pair) + 1
        i += 1
    return "&".join(pairs).encode()[:size]


def test_health_answers_within_50_ms_under_a_flood_of_slow_and_large_anonymous_twilio_requests(flood_server):
    port = flood_server
    huge = _form(1024 * 1024)  # what the old 1 MB limit let through: ~100k pairs parsed on the loop
    big = _form(60 * 1024)  # under the 64 KB limit, over TWILIO_MAX_FIELDS
    small = b"CallSid=CA123&CallStatus=ringing&AccountSid=AC1"

    async def flood():
        probe = await HealthProbe.start(port)
        statuses = await asyncio.gather(
            *(post(port, PATH, huge, FORM) for _ in range(20)),
            *(post(port, PATH, huge, FORM, declared=len(huge), trickle_s=0.02, chunk=16 * 1024) for _ in range(10)),
            *(post(port, PATH, big, FORM) for _ in range(40)),
            *(post(port, PATH, big[:8 * 1024], FORM, trickle_s=0.05) for _ in range(30)),
            *(post(port, PATH, small, FORM) for _ in range(40)),
            # Content-Length of 1 MB and no body yet: the answer must come from the header alone.
            *(post(port, PATH, b"", FORM, declared=len(huge)) for _ in range(10)),
        )
        await probe.stop()
        return list(statuses), probe

    statuses, probe = asyncio.run(flood())
    if not probe.answered():
        # Once more (the flood is stateless: every request is refused). Parsing on the loop holds every probe on
        # every attempt; what a second attempt forgives is a stall of the whole machine (other CI workers on its
        # two cores) during a flood that lasts under a second.
        first = probe.summary()
        statuses, probe = asyncio.run(flood())
        print(f"/health flood, first attempt over the bound: {first}; second: {probe.summary()}")

    # The event loop kept answering: a loop blocked by parsing makes every probe wait.
    probe.assert_answered()
    # Each request got its answer (the server did the work, it did not just drop connections) ...
    oversized, slow_oversized, many_fields, slow_small_form, unsigned, declared_only = (
        statuses[:20], statuses[20:30], statuses[30:70], statuses[70:100], statuses[100:140], statuses[140:])
    # Refused by Content-Length before the body is read: the server answers 413 and closes, so a client still
    # writing its 1 MB can see the connection reset instead of the answer (0; on a loaded machine every one of
    # them can). A client that waits for the answer before sending its body always reads the 413.
    assert set(oversized) <= {413, 0}
    assert set(declared_only) == {413}
    assert set(slow_oversized) <= {413, 0}  # refused by Content-Length; the server may close before we finish
    assert set(many_fields) == {400}
    assert set(slow_small_form) == {400}  # ~800 pairs: over TWILIO_MAX_FIELDS
    assert set(unsigned) == {401}
    # ... and nothing anonymous was stored.
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.text("select count(*) from webhook_events")).scalar() == 0
