"""Prometheus `GET /metrics`: in-process instruments of every worker (multiprocess mode) plus fleet figures read
from PostgreSQL at scrape time (inbox depth, oldest pending age, dead letters, job runs, flag evaluations, last
backup age, last drill RTO, audit sealer lag) and this worker's circuit breakers.

Protected by an API token (`Authorization: Bearer vxt_...`, operator role and the `monitoring` scope), or served
without a token on METRICS_BIND (a private address only the Prometheus server reaches), by the serve process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from voxanne_admin import db, metrics
from voxanne_admin.api.deps import require_staff
from voxanne_admin.audit import chain
from voxanne_admin.providers import resilience

log = logging.getLogger(__name__)
router = APIRouter()
BREAKER_VALUE = {"closed": 0.0, "half-open": 0.5, "half_open": 0.5, "open": 1.0}

FLEET_SQL = {
    "inbox": "select status, count(*) from webhook_events group by status",
    "oldest": "select extract(epoch from now() - min(received_at)) from webhook_events where status = 'pending'",
    "jobs": "select job_name, outcome, count(*) from job_runs group by job_name, outcome",
    "job_last": """select distinct on (job_name) job_name, extract(epoch from now() - started_at), outcome
                   from job_runs where outcome not in ('running', 'skipped') order by job_name, started_at desc""",
    "flags": "select key, evaluation_count from feature_flags",
    "backup": """select extract(epoch from now() - max(finished_at)) from dr_backups
                 where status = 'succeeded'""",
    "drill": """select rto_s from dr_drills where kind = 'drill' and status = 'succeeded' and rto_s is not null
                order by finished_at desc nulls last limit 1""",
}


def _sealer_lag(conn: Any) -> float:
    """Seconds the oldest committed audit row has waited for the sealer (0 when every row is sealed)."""
    from sqlmodel import Session

    with Session(bind=conn) as session:
        status = chain.chain_status(session)
    return float(status.sealer_lag_s or 0.0) if status.unsealed else 0.0


class FleetCollector(Collector):
    """Figures every replica agrees on, read from PostgreSQL when Prometheus scrapes."""

    def __init__(self, connect: Callable[[], Any]):
        self._connect = connect

    def collect(self) -> Iterator[Any]:
        try:
            with self._connect() as conn:
                rows = {name: conn.execute(sa.text(sql)).all() for name, sql in FLEET_SQL.items()}
                lag = _sealer_lag(conn)
        except Exception as exc:
            log.warning("metrics: database figures unavailable (%s)", type(exc).__name__)
            up = GaugeMetricFamily("voxanne_database_up", "1 when /metrics could read the database.")
            up.add_metric([], 0.0)
            yield up
            return
        up = GaugeMetricFamily("voxanne_database_up", "1 when /metrics could read the database.")
        up.add_metric([], 1.0)
        yield up
        counts = {status: int(n) for status, n in rows["inbox"]}
        depth = GaugeMetricFamily("voxanne_inbox_events", "Webhook inbox events by status.", labels=["status"])
        for status in ("pending", "processing", "failed", "dead_letter", "completed"):
            depth.add_metric([status], float(counts.get(status, 0)))
        yield depth
        dead = GaugeMetricFamily("voxanne_inbox_dead_letters", "Inbox events that exhausted their attempts.")
        dead.add_metric([], float(counts.get("dead_letter", 0)))
        yield dead
        oldest = GaugeMetricFamily("voxanne_inbox_oldest_pending_seconds", "Age of the oldest pending event (0: "
                                   "none pending).")
        oldest.add_metric([], float(rows["oldest"][0][0] or 0.0))
        yield oldest
        runs = CounterMetricFamily("voxanne_job_runs", "Recorded job runs (job_runs) by job and outcome.",
                                   labels=["job", "outcome"])
        for job, outcome, n in rows["jobs"]:
            runs.add_metric([job, outcome], float(n))
        yield runs
        last = GaugeMetricFamily("voxanne_job_last_failed", "1 when the job's latest finished run failed.",
                                 labels=["job"])
        for job, _age, outcome in rows["job_last"]:
            last.add_metric([job], 1.0 if outcome == "failed" else 0.0)
        yield last
        flags = CounterMetricFamily("voxanne_flag_evaluations", "Feature flag evaluations (fleet-wide, flushed "
                                    "from each process's snapshot).", labels=["flag"])
        for key, n in rows["flags"]:
            flags.add_metric([key], float(n or 0))
        yield flags
        backup = GaugeMetricFamily("voxanne_backup_last_success_age_seconds", "Seconds since the last successful "
                                   "backup finished (absent: none yet).")
        if rows["backup"] and rows["backup"][0][0] is not None:
            backup.add_metric([], float(rows["backup"][0][0]))
        yield backup
        drill = GaugeMetricFamily("voxanne_dr_last_drill_rto_seconds", "Measured RTO of the latest restore drill.")
        if rows["drill"]:
            drill.add_metric([], float(rows["drill"][0][0]))
        yield drill
        sealer = GaugeMetricFamily("voxanne_audit_sealer_lag_seconds", "Seconds the oldest committed audit row has "
                                   "waited for the sealer (0: everything sealed).")
        sealer.add_metric([], lag)
        yield sealer


class BreakerCollector(Collector):
    """This worker's circuit breakers (0 closed, 0.5 half-open, 1 open)."""

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily("voxanne_circuit_breaker_state", "Circuit breaker state in the worker that "
                                   "answered: 0 closed, 0.5 half-open, 1 open.", labels=["breaker", "pid"])
        for b in resilience.breaker_states():
            family.add_metric([b.name, str(os.getpid())], BREAKER_VALUE.get(b.state, 1.0))
        yield family


INSTRUMENTS = (metrics.HTTP_REQUESTS, metrics.HTTP_SECONDS, metrics.EVENT_SECONDS, metrics.JOB_SECONDS,
               metrics.INBOX_BATCHES)


def render(connect: Callable[[], Any] | None = None) -> bytes:
    """The Prometheus text exposition: every worker's samples (multiprocess) plus the fleet and breaker figures."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (tests, `voxanne-admin serve` without the multiprocess directory)
        for collector in INSTRUMENTS:
            registry.register(collector)
    registry.register(FleetCollector(connect or (lambda: db.get_engine().connect())))
    registry.register(BreakerCollector())
    return generate_latest(registry)


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    """Prometheus text; needs an API token (or a session) of an operator, with the `monitoring` scope."""
    await require_staff(request, "operator", "monitoring")
    body = await asyncio.to_thread(render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # (template, method, status) -> its two series


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path: no ids in labels)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/_event" if scope.get("path", "").startswith("/_event")
                                                        else "reflex")
            labels = (template, scope.get("method", ""), status["code"])
            children = _children.get(labels)
            if children is None:  # labels() takes a lock and builds the key each time: look each series up once
                text = (template, labels[1], str(labels[2]))
                children = _children[labels] = (metrics.HTTP_REQUESTS.labels(*text), metrics.HTTP_SECONDS.labels(*text))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
