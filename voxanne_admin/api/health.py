"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import dataclasses
import os

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from voxanne_admin import db, migrate
from voxanne_admin.auth import oidc
from voxanne_admin.jobs import scheduler
from voxanne_admin.providers import resilience
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import worker as inbox_worker

router = APIRouter()


@router.get("/health")
async def health() -> dict:
    """The process is alive (no database call)."""
    return {"status": "ok", "pid": os.getpid()}


def _check_database() -> tuple[list[str], dict]:
    reasons: list[str] = []
    checks: dict = {}
    try:
        with db.get_engine().connect() as conn:
            conn.execute(sa.text("select 1"))
            checks["database"] = "ok"
            current = migrate.current_revision(conn)
    except Exception as exc:
        checks["database"] = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}")
        return reasons, checks
    head = migrate.head_revision()
    checks["migrations"] = {"current": current, "head": head}
    if current != head:
        reasons.append(
            f"migrations not at head (database at {current}, code expects {head}): run voxanne-admin db upgrade"
        )
    return reasons, checks


@router.get("/health/ready")
async def ready() -> JSONResponse:
    """Database reachable, migrations at head, scheduler running: 200, else 503 with reasons."""
    if get_settings().drain_marker.exists():
        # Shutting down (SIGTERM): the load balancer stops sending new requests; in-flight ones still finish.
        return JSONResponse({"status": "not ready", "checks": {"shutdown": "draining"},
                             "reasons": ["shutting down: this replica is draining (SIGTERM received)"]},
                            status_code=503)
    reasons, checks = await asyncio.to_thread(_check_database)
    checks["scheduler"] = "running" if scheduler.is_running() else "stopped"
    if not scheduler.is_running():
        reasons.append("scheduler not running in this worker")
    if inbox_worker.applies_in_process():
        checks["webhook_worker"] = "running" if inbox_worker.is_running() else "stopped"
    else:
        checks["webhook_worker"] = "separate process (voxanne-admin webhooks work)"
    # Provider circuits inform operators; an open circuit is the provider's outage, not ours, so stays ready.
    # Single sign-on down is reported but keeps the console ready: password sign-in still works.
    # Bounded: a black-holed issuer must not make the probe itself time out (the check goes on and caches).
    try:
        configured, usable, why = await asyncio.wait_for(asyncio.to_thread(oidc.availability), timeout=2)
    except TimeoutError:
        configured, usable, why = True, False, "OIDC discovery did not answer within 2 s"
    checks["sso"] = "not configured" if not configured else ("ok" if usable else f"unavailable: {why}")
    checks["circuit_breakers"] = [dataclasses.asdict(b) for b in resilience.breaker_states()]
    status = 200 if not reasons else 503
    return JSONResponse({"status": "ready" if status == 200 else "not ready", "checks": checks, "reasons": reasons},
                        status_code=status)
