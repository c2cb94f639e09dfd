"""The embedded APScheduler, started once per backend worker by a Reflex lifespan task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import sealer, stream
from voxanne_admin.jobs import service
from voxanne_admin.jobs.registry import JOBS
from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)
_scheduler: AsyncIOScheduler | None = None


def is_running() -> bool:
    """True when this process's scheduler is running."""
    return _scheduler is not None and _scheduler.running


def next_run_times() -> dict[str, str]:
    """Next run time per job, from this process's scheduler (or computed from the trigger)."""
    out = {}
    now = datetime.now(UTC)
    for name, spec in JOBS.items():
        job = _scheduler.get_job(name) if _scheduler else None
        nxt = job.next_run_time if job else spec.trigger().get_next_fire_time(None, now)
        out[name] = fmt.timestamp(nxt)
    return out


async def _seal() -> None:
    await asyncio.to_thread(sealer.tick_once)


async def _stream() -> None:
    await asyncio.to_thread(stream.tick_once)


async def _run(job_name: str) -> None:
    # Jobs use the synchronous database layer: keep the event loop free.
    await asyncio.to_thread(service.run_scheduled, job_name, datetime.now(UTC))


@contextlib.asynccontextmanager
async def lifespan():
    """Run the scheduler for the life of the worker."""
    global _scheduler
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                               "misfire_grace_time": 300})
    for name, spec in JOBS.items():
        scheduler.add_job(_run, trigger=spec.trigger(), args=[name], id=name, name=spec.title)
    # Agents saved while no server ran (demo data, interrupted syncs) go to Vapi shortly after start.
    scheduler.add_job(_run, trigger="date", run_date=datetime.now(UTC) + timedelta(seconds=3),
                      args=["sync_pending_agents"], id="sync_pending_agents_at_start")
    # The audit sealer: every worker ticks; one takes the sealer lock and links, the others skip at once.
    scheduler.add_job(_seal, trigger="interval", seconds=sealer.TICK_SECONDS, id="audit_sealer",
                      name="Audit sealer", misfire_grace_time=5)
    if get_settings().audit_stream_url:
        # The SIEM stream: every worker ticks; one holds the stream lock and sends, the others skip.
        scheduler.add_job(_stream, trigger="interval", seconds=get_settings().audit_stream_interval_seconds,
                          id="audit_stream", name="Audit SIEM stream", max_instances=1, misfire_grace_time=30)
    scheduler.start()
    _scheduler = scheduler
    log.info("scheduler started", extra={"jobs": list(JOBS)})
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        _scheduler = None
