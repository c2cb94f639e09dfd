"""Feature flags over HTTP: our JSON API and Unleash's client API (token or staff session, role-checked)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from voxanne_admin.api.deps import require_staff
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip
from voxanne_admin.errors import DomainError, NotFound
from voxanne_admin.flags import flows, snapshot, unleash
from voxanne_admin.flags import service as flag_service

router = APIRouter()


class FlagPatch(BaseModel):
    """What PATCH may change; `version` (optional) is the version the caller read."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    rollout: Any = None
    constraints: list[dict[str, Any]] | None = None
    name: str | None = None
    description: str | None = None
    owner: str | None = None
    protected: bool | None = None
    version: int | None = None


class FlagCreate(BaseModel):
    """A new flag."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name: str
    type: str
    description: str = ""
    owner: str = ""
    enabled: bool = False
    rollout: Any = 0
    protected: bool = False


def _error(exc: DomainError) -> HTTPException:
    return HTTPException(exc.status_code, str(exc))


def _actor(staff, request: Request) -> Actor:
    return Actor(type="staff", id=str(staff.id), email=staff.email,
                 ip=client_ip.from_request(request) or None,
                 user_agent=request.headers.get("user-agent"), request_id=request.headers.get("x-request-id"))


@router.get("/api/feature-flags")
async def list_flags(request: Request, search: str = "", type: str = "", state: str = "",
                     stale: bool | None = None) -> list[dict]:
    """Every flag (viewer and up, `flags` scope)."""
    await require_staff(request, "viewer", "flags")
    rows = await asyncio.to_thread(flows.read, flag_service.list_flags, search=search, type=type, state=state,
                                   stale=stale)
    return [r.model_dump() for r in rows]


@router.post("/api/feature-flags", status_code=201)
async def create_flag(body: FlagCreate, request: Request) -> dict:
    """Create a flag (admin only, `flags:write`); a duplicate or malformed key is refused with the reason."""
    staff = await require_staff(request, "admin", "flags:write")
    try:
        flag = await asyncio.to_thread(flows.create, **body.model_dump(), actor=_actor(staff, request),
                                       actor_role=staff.role)
    except DomainError as exc:
        raise _error(exc) from None
    return flag.model_dump()


@router.get("/api/feature-flags/evaluate")
async def evaluate(request: Request, org: str = "") -> dict:
    """Every flag for one organization: {"org", "flags": {key: bool}, "reasons": {key: why}}."""
    await require_staff(request, "viewer", "flags")
    if not org:
        raise HTTPException(422, "Give the organization's slug: /api/feature-flags/evaluate?org=<slug>.")
    try:
        ctx, results = await asyncio.to_thread(flows.evaluate_org, org)
    except DomainError as exc:
        raise _error(exc) from None
    return {"org": ctx.slug, "flags": {k: v[0] for k, v in results.items()},
            "reasons": {k: v[1] for k, v in results.items()}}


@router.get("/api/feature-flags/{key}")
async def get_flag(key: str, request: Request) -> dict:
    """One flag with its overrides, schedules and requests."""
    await require_staff(request, "viewer", "flags")
    from voxanne_admin.flags import requests as request_service
    from voxanne_admin.flags import schedules as schedule_service

    def load() -> dict:
        flag = flows.read(flag_service.list_flags)
        match = next((f for f in flag if f.key == key), None)
        if match is None:
            raise NotFound(f"There is no feature flag called '{key}'.")
        return {**match.model_dump(),
                "override_list": [o.model_dump() for o in flows.read(flag_service.list_overrides, key=key)],
                "schedules": [s.model_dump() for s in flows.read(schedule_service.list_schedules, key=key)],
                "requests": [r.model_dump() for r in flows.read(request_service.list_requests, key=key)]}

    try:
        return await asyncio.to_thread(load)
    except DomainError as exc:
        raise _error(exc) from None


@router.patch("/api/feature-flags/{key}")
async def patch_flag(key: str, body: FlagPatch, request: Request) -> dict:
    """Change a flag (admin only, `flags:write` scope), audited; 409 when it changed since `version`."""
    staff = await require_staff(request, "admin", "flags:write")
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    try:
        flag = await asyncio.to_thread(flows.update, key=key, changes=changes, actor=_actor(staff, request),
                                       actor_role=staff.role, expected_version=body.version)
    except DomainError as exc:
        raise _error(exc) from None
    return flag.model_dump()


@router.get("/api/client/features")
async def client_features(request: Request) -> Response:
    """Unleash's client API (token bare in Authorization, `flags` scope), with ETag / If-None-Match."""
    await require_staff(request, "viewer", "flags")
    snap = await asyncio.to_thread(snapshot.current)
    etag = f'"{snap.revision}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    body = unleash.client_features(list(snap.flags.values()), snap.revision, snap.descriptions)
    return JSONResponse(body, headers={"ETag": etag, "Cache-Control": "no-cache"})


@router.post("/api/client/register", status_code=202)
async def client_register(request: Request) -> Response:
    """SDKs register themselves at start; accepted (we keep no SDK inventory)."""
    await require_staff(request, "viewer", "flags")
    return Response(status_code=202)


@router.post("/api/client/metrics", status_code=202)
async def client_metrics(request: Request) -> Response:
    """SDK usage metrics: accepted and dropped (our own evaluations are counted in-process)."""
    await require_staff(request, "viewer", "flags")
    return Response(status_code=202)
