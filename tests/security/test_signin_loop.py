"""Finding 2 (sign-in part): anonymous sign-in attempts must not freeze the event loop. argon2 runs on a worker
thread and the constant-time padding is an asyncio sleep, so /health answers while six sign-ins are in flight.

No wall-clock threshold: the test checks the order of events. Each sign-in takes at least MIN_RESPONSE_S (the
padding); with the loop blocked, /health could only answer after the first of them had finished. /health is
asked a moment (HEALTH_AFTER_S, well under the padding) after the sign-ins were sent, so that the server is
already working on them: asked at once, its request could reach the loop before the first sign-in had started,
and a blocking loop would then pass (it did on the code before the fixes)."""

from __future__ import annotations

import threading
import time

import httpx

from tests.security.conftest import direct_url
from tests.security.sio import AUTH_FLOW, HYDRATE, EventSocket, event

ATTEMPTS = 6
HEALTH_AFTER_S = 0.1


def test_health_answers_while_sign_ins_are_in_flight(live_server):
    base, direct = live_server["base"], direct_url(live_server)
    sockets = []
    for i in range(ATTEMPTS):
        sock = EventSocket(direct, origin=base, cookie=f"vx_presignin=loop-test-{i}")
        sock.boot(event(HYDRATE, "/login"))
        sock.collect(10, until="is_hydrated")
        sock.received.clear()
        sockets.append(sock)
    answered: list[float] = []

    def wait_for_answer(sock: EventSocket) -> None:
        sock.collect(30, until="Email or password is incorrect")
        answered.append(time.monotonic())

    threads = [threading.Thread(target=wait_for_answer, args=(s,)) for s in sockets]
    for thread in threads:
        thread.start()
    for i, sock in enumerate(sockets):
        sock.emit(event(f"{AUTH_FLOW}.submit_password", "/login",
                        form={"email": f"nobody-{i}@example.test", "password": "not the password at all"}))
    time.sleep(HEALTH_AFTER_S)
    health = httpx.get(f"{direct}/health", timeout=30)
    health_done = time.monotonic()
    for thread in threads:
        thread.join(40)
    for sock in sockets:
        sock.close()

    assert health.status_code == 200
    assert len(answered) == ATTEMPTS, "every sign-in got its answer"
    assert health_done < min(answered), "/health waited behind a sign-in: the event loop was blocked"
