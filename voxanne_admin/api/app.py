"""The FastAPI app that wraps Reflex's ASGI app (mounted through `api_transformer`)."""

from __future__ import annotations

import logging
import os

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from voxanne_admin.api import auth, calls, compliance, flags, health, metrics, monitoring, oidc, webhooks
from voxanne_admin.api.security import SecurityMiddleware, require_sandbox_access
from voxanne_admin.errors import DomainError, ProviderError, RateLimited
from voxanne_admin.logging import request_id_var
from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Gives every HTTP request an id (echoed as X-Request-ID) for logs and audit rows. Plain ASGI: Starlette's
    BaseHTTPMiddleware costs a task and a stream per request on the webhook hot path."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value[:64]
                break
        rid = given.decode("latin-1") if given else os.urandom(16).hex()  # 128 random bits, as uuid4().hex
        token = request_id_var.set(rid)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


async def domain_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The one mapping of domain errors to HTTP: the class's status code and its message; a provider error
    (502 refused, 503 unreachable) also names the provider and its code."""
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"error": str(exc)}
    headers = {}
    field = getattr(exc, "field", None)
    if field:
        body["field"] = field
    if isinstance(exc, ProviderError):
        body["provider"], body["code"] = exc.provider, exc.code
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def build_api() -> FastAPI:
    """Routes only (health, auth hand-off); testable without Reflex."""
    from voxanne_admin.appointments import service as appointment_service
    from voxanne_admin.appointments import tools as appointment_tools
    from voxanne_admin.credentials import runtime as credentials_runtime
    from voxanne_admin.webhooks import service as inbox

    credentials_runtime.install()  # settings consult the credentials stored (encrypted) in the database
    inbox.TOOL_HANDLERS.update(appointment_service.TOOLS)  # the agents' tools, answered on /webhooks/vapi
    inbox.ASYNC_TOOL_HANDLERS.update(appointment_tools.TOOLS)  # ... on the event loop (preferred by the route)
    from voxanne_admin.webhooks import ingest

    api = FastAPI(title="Voxanne Admin API", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lambda _app: ingest.lifespan())
    api.add_exception_handler(DomainError, domain_error_response)
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(oidc.router)
    api.include_router(webhooks.router)
    api.include_router(monitoring.router)
    api.include_router(metrics.router)
    api.include_router(calls.router)
    api.include_router(flags.router)
    api.include_router(compliance.router)
    if get_settings().sandbox:
        # Only without real credentials: the sandbox signs webhooks with our own secret.
        from voxanne_admin.sandbox import carrier as sandbox_carrier
        from voxanne_admin.sandbox import twilio as sandbox_twilio
        from voxanne_admin.sandbox import vapi as sandbox_vapi

        # Loopback (our own provider clients) or the sandbox secret: never the open network.
        guard = [Depends(require_sandbox_access)]
        api.include_router(sandbox_vapi.router, dependencies=guard)
        api.include_router(sandbox_twilio.router, dependencies=guard)
        api.include_router(sandbox_twilio.accounts, dependencies=guard)
        api.include_router(sandbox_carrier.router, dependencies=guard)
    return api


def mount(asgi_app) -> FastAPI:
    """api_transformer factory: our routes first, then everything else goes to Reflex."""
    api = build_api()
    api.add_middleware(RequestIdMiddleware)
    api.add_middleware(metrics.MetricsMiddleware)
    api.add_middleware(SecurityMiddleware)  # outermost of ours: Origin refused before any route runs
    api.mount("", asgi_app)
    return api


def webhook_dispatch(fallback):
    """The provider webhook routes as one plain ASGI app: an exact (method, path) lookup calls the route function
    with a Starlette Request and sends its response, mapping a DomainError like `domain_error_response`. No
    router, dependency solving, exit stacks or exception middleware per request (most of a webhook's CPU under
    FastAPI). Anything else (another method, a path no route has) goes to `fallback`, which answers as FastAPI
    does (404, 405). `scope["route"]` is set to the route, so the metrics label it by its template."""
    from fastapi.routing import APIRoute

    table = {(method, route.path): route for route in webhooks.router.routes if isinstance(route, APIRoute)
             for method in route.methods or ()}

    async def app(scope, receive, send):
        route = table.get((scope["method"], scope["path"]))
        if route is None:
            await fallback(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except DomainError as exc:
            response = await domain_error_response(request, exc)
        except Exception:  # as Starlette's ServerErrorMiddleware: a 500 that still carries the security headers
            log.exception("webhook route failed", extra={"path": scope["path"]})
            response = JSONResponse({"error": "Internal Server Error"}, status_code=500)
        await response(scope, receive, send)

    return app


def front(rest):
    """The production ASGI entry: provider webhooks go straight to `webhook_dispatch` (with the request id, the
    metrics and the security headers), skipping the per-request layers Reflex puts in front of everything else (its
    context middleware, CORS, the mount chain) and FastAPI's routing; every other request, and the lifespan, go to
    `rest` (Reflex's app, which also serves these routes through `mount`)."""
    from voxanne_admin.webhooks import ingest  # noqa: F401  (the writer the routes use; closed by Reflex's lifespan)

    fallback = FastAPI(title="Voxanne Admin webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    fallback.add_exception_handler(DomainError, domain_error_response)
    fallback.include_router(webhooks.router)
    hooks = SecurityMiddleware(  # the security headers on every answer (a foreign Origin is refused)
        metrics.MetricsMiddleware(  # webhooks are counted in /metrics like every other route
            RequestIdMiddleware(webhook_dispatch(fallback))))

    async def dispatch(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/webhooks/"):
            await hooks(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return dispatch
