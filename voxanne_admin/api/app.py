"""The FastAPI app that wraps Reflex's ASGI app (mounted through `api_transformer`)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

from voxanne_admin.api import auth, health, monitoring, webhooks
from voxanne_admin.logging import request_id_var
from voxanne_admin.settings import get_settings


class RequestIdMiddleware(BaseHTTPMiddleware):
    """Gives every HTTP request an id (echoed as X-Request-ID) for logs and audit rows."""

    async def dispatch(self, request: Request, call_next):
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        token = request_id_var.set(rid)
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = rid
        return response


def build_api() -> FastAPI:
    """Routes only (health, auth hand-off); testable without Reflex."""
    from voxanne_admin.appointments import service as appointment_service

    appointment_service.register_tools()
    api = FastAPI(title="Voxanne Admin API", docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(webhooks.router)
    api.include_router(monitoring.router)
    if get_settings().sandbox:
        # Only without real credentials: the sandbox signs webhooks with our own secret.
        from voxanne_admin.sandbox import twilio as sandbox_twilio
        from voxanne_admin.sandbox import vapi as sandbox_vapi

        api.include_router(sandbox_vapi.router)
        api.include_router(sandbox_twilio.router)
    return api


def mount(asgi_app) -> FastAPI:
    """api_transformer factory: our routes first, then everything else goes to Reflex."""
    api = build_api()
    api.add_middleware(RequestIdMiddleware)
    api.mount("", asgi_app)
    return api
