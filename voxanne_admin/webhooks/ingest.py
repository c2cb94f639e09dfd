"""Group commit for webhook ingest: concurrent requests are stored by ONE multi-row INSERT (one commit).

Each request awaits its own row's outcome (its event id, inserted or duplicate) before the route answers 2xx, so
nothing is acknowledged that is not stored. A flush collects the events submitted within WEBHOOK_FLUSH_DELAY_MS
(or WEBHOOK_FLUSH_MAX_ROWS of them) and writes them with one statement on an async psycopg connection:
`INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING`, whose CTEs also count duplicates of events
already stored and NOTIFY the apply workers when something is waiting to be applied. While one flush is in the
database, the next one collects, so the batch size grows with the load and a lone request waits only the delay.

A failed batch is retried row by row, so one bad row (say, a NUL escape PostgreSQL refuses) fails only its own
request. When the database cannot be reached, every request of the batch fails (the route answers 503 and the
provider retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from voxanne_admin import db
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import service

log = logging.getLogger(__name__)
CHANNEL = "webhook_inbox"  # NOTIFY channel: pending events were stored (spelled out in INSERT_SQL)
FLUSHERS = 2  # flushes in the database at once per process: one writes while the next collects
# Payload scrubbing and redaction are CPU work: done off the event loop, one thread (the GIL allows no more).
_PREPARE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare")

INSERT_SQL = """
with input as (
    select * from unnest(%(provider)s::text[], %(kind)s::text[], %(dedupe_key)s::text[], %(org_id)s::bigint[],
                         %(call_id)s::text[], %(payload)s::text[], %(status)s::text[], %(last_error)s::text[],
                         %(source_ip)s::text[], %(dups)s::int[], %(signed_with)s::text[])
        with ordinality as t(provider, kind, dedupe_key, org_id, call_id, payload, status, last_error, source_ip,
                             dups, signed_with, ord)
), ins as (
    insert into webhook_events (provider, kind, dedupe_key, org_id, call_id, payload, received_at, status, attempts,
                                next_attempt_at, last_error, source_ip, duplicates, processed_at, signed_with)
    select provider, kind, dedupe_key, org_id, call_id, payload::jsonb, now(), status, 0, now(), last_error,
           source_ip, dups, case when status <> 'pending' then now() end, signed_with
      from input order by ord
    on conflict on constraint uq_webhook_events_dedupe do nothing
    returning id, provider, dedupe_key, status
), dup as (
    update webhook_events w set duplicates = w.duplicates + i.dups + 1
      from input i where w.provider = i.provider and w.dedupe_key = i.dedupe_key
    returning w.id, w.provider, w.dedupe_key
), note as (
    select pg_notify('webhook_inbox', '') from ins where status = 'pending' limit 1
)
select id, provider, dedupe_key, true as inserted, (select count(*) from note) as notified from ins
union all
select id, provider, dedupe_key, false, 0 from dup
"""
# A duplicate of an event another flush was inserting at the same moment: that row is not in this statement's
# snapshot, so it is counted (and its id read) by a second statement.
LATE_DUPLICATE_SQL = """
update webhook_events w set duplicates = w.duplicates + i.dups + 1
  from unnest(%(provider)s::text[], %(dedupe_key)s::text[], %(dups)s::int[]) as i(provider, dedupe_key, dups)
 where w.provider = i.provider and w.dedupe_key = i.dedupe_key
returning w.id, w.provider, w.dedupe_key
"""


class IngestUnavailable(Exception):
    """The event could not be stored (database unreachable or the row refused): answer 503."""


@dataclass
class _Item:
    provider: str
    parsed: service.Parsed
    payload: dict[str, Any]
    source_ip: str | None
    future: asyncio.Future = field(repr=False)
    signed_with: str | None = None  # which Vapi webhook secret authenticated it (a rotation's grace window)


class GroupCommit:
    """Collects submitted events and writes them in batches; one per event loop."""

    def __init__(self, *, max_rows: int, delay_s: float):
        self.max_rows = max_rows
        self.delay_s = delay_s
        self._queue: list[_Item] = []
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def submit(self, provider: str, parsed: service.Parsed, payload: dict[str, Any],
                     source_ip: str | None, signed_with: str | None = None) -> tuple[int, bool]:
        """Store one event with the next flush; returns (event id, inserted). Raises IngestUnavailable."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._flush_forever()) for _ in range(FLUSHERS)]
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(provider, parsed, payload, source_ip, future, signed_with))
        self._arrived.set()
        return await future

    async def close(self) -> None:
        """Stop the flushers; events not yet written fail (their requests answer 503)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(IngestUnavailable("the server is shutting down"))
        self._queue.clear()

    async def _flush_forever(self) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            if self.delay_s and len(self._queue) < self.max_rows:
                await asyncio.sleep(self.delay_s)
            batch, self._queue = self._queue[:self.max_rows], self._queue[self.max_rows:]
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[_Item]) -> None:
        try:
            pool = await db.async_pool()
            async with pool.connection() as conn:
                try:
                    await _store(conn, batch)
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise
                except Exception as exc:
                    if len(batch) == 1:
                        raise
                    log.warning("ingest batch failed; storing its events one by one",
                                extra={"events": len(batch), "error": type(exc).__name__})
                    for item in batch:
                        try:
                            await _store(conn, [item])
                        except (psycopg.OperationalError, psycopg.InterfaceError):
                            raise
                        except Exception as row_exc:
                            log.error("a webhook event could not be stored",
                                      extra={"provider": item.provider, "kind": item.parsed.kind,
                                             "error": f"{type(row_exc).__name__}"})
                            _fail([item], row_exc)
        except Exception as exc:  # database unreachable, pool timeout: nothing of this batch is stored
            log.error("webhook ingest unavailable", extra={"events": len(batch), "error": type(exc).__name__})
            _fail(batch, exc)


def _fail(items: list[_Item], exc: BaseException) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(IngestUnavailable(f"{type(exc).__name__}"))


async def _store(conn: psycopg.AsyncConnection, batch: list[_Item]) -> None:
    """Write one batch in one statement (one transaction) and resolve each item's future."""
    # One row per (provider, dedupe key); later items with the same key are duplicates of the first.
    unique: dict[tuple[str, str], list[_Item]] = {}
    for item in batch:
        unique.setdefault((item.provider, item.parsed.dedupe_key), []).append(item)
    firsts = [items[0] for items in unique.values()]
    org_ids = sorted({org for item in firsts if service.needs_region(item.parsed)
                      and (org := service.payload_org_id(item.payload)) is not None})
    regions: dict[int, str] = {}
    if org_ids:
        cursor = await conn.execute("select id, country from organizations where id = any(%s)", [org_ids])
        regions = {int(row[0]): str(row[1] or "US").upper() for row in await cursor.fetchall()}
    loop = asyncio.get_running_loop()
    payloads = await loop.run_in_executor(_PREPARE, _prepare, firsts, regions)
    params = {
        "provider": [i.provider for i in firsts], "kind": [i.parsed.kind for i in firsts],
        "dedupe_key": [i.parsed.dedupe_key for i in firsts], "org_id": [i.parsed.org_id for i in firsts],
        "call_id": [i.parsed.call_id for i in firsts], "payload": payloads,
        "status": [i.parsed.status for i in firsts], "last_error": [i.parsed.reason or None for i in firsts],
        "source_ip": [i.source_ip for i in firsts], "dups": [len(unique[(i.provider, i.parsed.dedupe_key)]) - 1
                                                             for i in firsts],
        "signed_with": [i.signed_with for i in firsts],
    }
    cursor = await conn.execute(INSERT_SQL, params)
    outcome = {(row[1], row[2]): (int(row[0]), bool(row[3])) for row in await cursor.fetchall()}
    late = [i for i in firsts if (i.provider, i.parsed.dedupe_key) not in outcome]
    if late:
        cursor = await conn.execute(LATE_DUPLICATE_SQL, {
            "provider": [i.provider for i in late], "dedupe_key": [i.parsed.dedupe_key for i in late],
            "dups": [len(unique[(i.provider, i.parsed.dedupe_key)]) - 1 for i in late]})
        outcome.update({(row[1], row[2]): (int(row[0]), False) for row in await cursor.fetchall()})
    for key, items in unique.items():
        if key not in outcome:  # deleted between the two statements (retention): store it again next time
            _fail(items, RuntimeError("event vanished while being stored"))
            continue
        event_id, inserted = outcome[key]
        for n, item in enumerate(items):
            if not item.future.done():
                item.future.set_result((event_id, inserted and n == 0))


def _prepare(items: list[_Item], regions: dict[int, str]) -> list[str]:
    """The stored (scrubbed or redacted) payloads as JSON text."""
    out = []
    for item in items:
        region = "US"
        if service.needs_region(item.parsed):
            org = service.payload_org_id(item.payload)
            region = regions.get(org, "US") if org is not None else "US"
        out.append(json.dumps(service.stored_payload(item.parsed, item.payload, region), default=str))
    return out


_writers: dict[int, tuple[asyncio.AbstractEventLoop, GroupCommit]] = {}


def writer() -> GroupCommit:
    """This event loop's group-commit writer (created on first use with the current settings)."""
    loop = asyncio.get_running_loop()
    entry = _writers.get(id(loop))
    if entry is None or entry[0] is not loop:
        settings = get_settings()
        entry = (loop, GroupCommit(max_rows=settings.webhook_flush_max_rows,
                                   delay_s=settings.webhook_flush_delay_ms / 1000))
        _writers[id(loop)] = entry
    return entry[1]


async def store(provider: str, parsed: service.Parsed, payload: dict[str, Any],
                source_ip: str | None, signed_with: str | None = None) -> tuple[int, bool]:
    """Store one event with this process's next flush; returns (event id, inserted)."""
    return await writer().submit(provider, parsed, payload, source_ip, signed_with)


@contextlib.asynccontextmanager
async def lifespan():
    """Close this loop's writer and async pool when the server stops."""
    try:
        yield
    finally:
        entry = _writers.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[1].close()
        await db.close_async_pool()

