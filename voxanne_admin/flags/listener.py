"""Keeps this process's flag snapshot fresh: LISTEN feature_flags, a periodic full reload as the safety net, and
the evaluation counts flushed every minute. Runs once per backend worker (a lifespan task)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from voxanne_admin import db
from voxanne_admin.flags import snapshot
from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)


def _dsn() -> str:
    return db.ensure_database().replace("postgresql+psycopg://", "postgresql://", 1)


async def listen_forever(reload_seconds: float | None = None) -> None:
    """Reload on every NOTIFY and at least every `reload_seconds`; reconnect with backoff when the link drops."""
    period = reload_seconds or get_settings().flags_reload_seconds
    backoff = 1.0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(_dsn(), autocommit=True,
                                                             application_name="voxanne-flags-listener") as conn:
                await conn.execute(f"LISTEN {snapshot.CHANNEL}")
                # Listening first, then loading: nothing committed in between is missed.
                await asyncio.to_thread(snapshot.reload)
                snapshot.set_listening(True)
                backoff = 1.0
                while True:
                    got = False
                    async for _ in conn.notifies(timeout=period, stop_after=1):
                        got = True
                    # Several changes committed together arrive together: one reload covers them.
                    await asyncio.to_thread(snapshot.reload)
                    if not got:
                        log.debug("periodic flag reload")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database restarted or the link dropped: evaluate from TTL reloads meanwhile
            snapshot.set_listening(False)
            log.warning("flag listener disconnected; retrying", extra={"error": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def flush_forever(every_seconds: float = 60.0) -> None:
    """Write this process's evaluation counts every minute."""
    while True:
        await asyncio.sleep(every_seconds)
        await asyncio.to_thread(snapshot.flush_counts)


@contextlib.asynccontextmanager
async def lifespan():
    """For the life of the worker: listen, reload, flush (and flush once more at shutdown)."""
    tasks = [asyncio.create_task(listen_forever()), asyncio.create_task(flush_forever())]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        snapshot.set_listening(False)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(snapshot.flush_counts)
