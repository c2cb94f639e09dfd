"""The HTTP routes without the Reflex UI (webhooks, health, monitoring, sandbox) with the inbox worker running.

Used by integration tests and as an API-only replica: `granian --interface asgi --factory
voxanne_admin.api.standalone:create_app`.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI

from voxanne_admin import error_reporting
from voxanne_admin import logging as vx_logging
from voxanne_admin.api.app import RequestIdMiddleware, build_api
from voxanne_admin.api.metrics import MetricsMiddleware
from voxanne_admin.api.security import SecurityMiddleware
from voxanne_admin.flags import listener as flag_listener
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import ingest, worker


def create_app() -> FastAPI:
    """API routes plus the inbox worker and flag listener lifespans."""
    vx_logging.configure(get_settings().log_level)
    error_reporting.init(get_settings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with worker.lifespan(), flag_listener.lifespan(), ingest.lifespan():
            yield

    api = build_api()
    api.router.lifespan_context = lifespan
    api.add_middleware(RequestIdMiddleware)
    api.add_middleware(MetricsMiddleware)
    api.add_middleware(SecurityMiddleware)
    return api
