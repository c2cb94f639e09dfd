"""Webhook pipeline figures as JSON for monitoring (operator and up; session or API token)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from voxanne_admin import db
from voxanne_admin.api.deps import require_staff
from voxanne_admin.providers import resilience
from voxanne_admin.webhooks import service as inbox

router = APIRouter(prefix="/api/webhooks")


@router.get("/stats")
async def stats(request: Request) -> dict:
    """Queue counts, oldest pending age, events per minute (last hour), 24 h success rates, breakers."""
    await require_staff(request, "operator", "monitoring")
    data = await db.run_read_only(inbox.stats)
    data["breakers"] = [dataclasses.asdict(b) for b in resilience.breaker_states()]
    return data


@router.get("/dead-letters")
async def dead_letters(request: Request, limit: int = 100) -> list[dict]:
    """Events that exhausted their attempts."""
    await require_staff(request, "operator", "monitoring")
    rows = await db.run_read_only(inbox.list_events, status="dead_letter", limit=min(max(limit, 1), 1000))
    return [r.model_dump() for r in rows]


@router.get("/failures")
async def failures(request: Request, limit: int = 50) -> list[dict]:
    """Latest failed processing attempts."""
    await require_staff(request, "operator", "monitoring")
    return await db.run_read_only(inbox.recent_failures, limit=min(max(limit, 1), 500))
