"""The inbox apply worker: `voxanne-admin webhooks work`, the process(es) `serve` starts and restarts
(WEBHOOK_APPLY_WORKERS), or a lifespan task of each backend worker when that setting is 0.

It wakes on the ingest writer's NOTIFY (`webhooks/ingest.py`, channel `webhook_inbox`), on `wake()` from routes in
the same process, and at least every IDLE_POLL_S."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import psycopg

from voxanne_admin import db
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import flows, ingest

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


async def _listen(wake_event: asyncio.Event) -> None:
    """Set `wake_event` on every NOTIFY from the ingest writer; reconnect with backoff when the link drops."""
    backoff = 1.0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(db.dsn(), autocommit=True,
                                                             application_name="voxanne-inbox-listener") as conn:
                await conn.execute(f"LISTEN {ingest.CHANNEL}")
                backoff = 1.0
                wake_event.set()  # anything stored while we were not listening
                async for _ in conn.notifies():
                    # Webhooks are arriving (in any backend worker): like `wake()` in-process, it also gives
                    # accepting them priority over applying for BUSY_WINDOW_S.
                    wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database restarted: the idle poll keeps working meanwhile
            log.warning("inbox listener disconnected; retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def run_forever(stop: asyncio.Event | None = None) -> None:
    """Claim and process due events until cancelled (or `stop` is set)."""
    global _wake, _running
    _wake = asyncio.Event()
    _running = True
    listener = asyncio.create_task(_listen(_wake))
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
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def applies_in_process() -> bool:
    """True when backend workers apply the inbox themselves (WEBHOOK_APPLY_WORKERS=0); else they only ingest."""
    return get_settings().webhook_apply_workers == 0


STOP_GRACE_S = 15.0  # graceful shutdown: the batch in hand is applied (its leases never left to expire)


@contextlib.asynccontextmanager
async def lifespan():
    """Run the inbox worker for the life of the backend worker, when no separate apply process does; on shutdown,
    finish the current batch first."""
    if not applies_in_process():
        yield
        return
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
