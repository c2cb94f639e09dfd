"""The inbox worker: a lifespan task in every backend worker (and `voxanne-admin webhooks work`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from voxanne_admin.webhooks import flows

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.5
BATCH = 100
BUSY_WINDOW_S = 0.25  # webhooks arrived this recently: ingestion has priority over applying
_wake: asyncio.Event | None = None
_running = False
_last_arrival = 0.0


def wake() -> None:
    """A new event arrived in this process: stop idling."""
    global _last_arrival
    _last_arrival = time.monotonic()
    if _wake is not None:
        _wake.set()


def _ingesting() -> bool:
    return time.monotonic() - _last_arrival < BUSY_WINDOW_S


def is_running() -> bool:
    """True while this process's inbox worker loop runs."""
    return _running


async def run_forever(stop: asyncio.Event | None = None) -> None:
    """Claim and process due events until cancelled (or `stop` is set)."""
    global _wake, _running
    _wake = asyncio.Event()
    _running = True
    try:
        while stop is None or not stop.is_set():
            try:
                groups = await asyncio.to_thread(flows.claim_batch, BATCH)
            except Exception:
                log.exception("inbox claim failed; retrying")
                groups = []
                await asyncio.sleep(2)
            if groups:
                if _ingesting():
                    # Providers are posting: accepting (storing) comes first; events are durable, so applying
                    # them one group at a time with a pause costs only a little delay.
                    results: list[dict[int, str] | BaseException] = []
                    for group in groups:
                        try:
                            await asyncio.to_thread(flows.process_batch, group)
                        except Exception as exc:
                            results.append(exc)
                        await asyncio.sleep(0.02)
                else:
                    results = list(await asyncio.gather(*(asyncio.to_thread(flows.process_batch, g) for g in groups),
                                                   return_exceptions=True))
                for result in results:
                    if isinstance(result, BaseException):
                        log.error("inbox batch failed; its leases expire and it is claimed again",
                                  exc_info=result)
                continue
            _wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_wake.wait(), IDLE_POLL_S)
    finally:
        _running = False


STOP_GRACE_S = 15.0  # graceful shutdown: the batch in hand is applied (its leases never left to expire)


@contextlib.asynccontextmanager
async def lifespan():
    """Run the inbox worker for the life of the backend worker; on shutdown, finish the current batch first."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        if _wake is not None:
            _wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_S)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
