"""Prometheus instruments measured in-process (prometheus_client; multiprocess mode across granian workers).

A leaf: it imports only prometheus_client, so any layer may count or time. `voxanne-admin serve` points
PROMETHEUS_MULTIPROC_DIR at a fresh directory under VOXANNE_DATA_DIR before the workers start, so each worker
writes its samples to files and `GET /metrics` adds them up. Figures read from the database (inbox depth, dead
letters, backups, flag evaluations) are collected at scrape time by `api/metrics.py`, not here.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("voxanne_http_requests_total", "HTTP requests answered, by route template and status.",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("voxanne_http_request_duration_seconds", "HTTP request latency by route and status.",
                         ["route", "method", "status"], buckets=_LATENCY)
EVENT_SECONDS = Histogram("voxanne_ui_event_duration_seconds",
                          "Websocket (Reflex) event handler latency, by handler.", ["handler", "outcome"],
                          buckets=_LATENCY)
JOB_SECONDS = Histogram("voxanne_job_duration_seconds", "Scheduled and manual job runs, by job and outcome.",
                        ["job", "outcome"], buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800))
INBOX_BATCHES = Counter("voxanne_inbox_batches_total", "Inbox batches processed by this fleet's workers.",
                        ["outcome"])
