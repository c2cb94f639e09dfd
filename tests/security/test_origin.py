"""Finding 1: cross-site websocket hijacking and permissive CORS. Only VOXANNE_PUBLIC_URL's origin (and
localhost / 127.0.0.1 on PORT while it is the default) may open the websocket, send an event or call an HTTP
route with the browser's cookie."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.security.conftest import direct_url
from tests.security.sio import HYDRATE, EventSocket, event

FOREIGN = ["https://evil.example", "http://localhost:9", "http://admin.localhost:3000", "null"]


def _routes():
    """Every (method, path) our HTTP app serves, from its OpenAPI description (path parameters filled in)."""
    from voxanne_admin.api.app import build_api

    for path, operations in build_api().openapi()["paths"].items():
        for method in operations:
            yield method.upper(), re.sub(r"\{[^}]+\}", "x", path)


def test_every_http_route_refuses_a_foreign_origin(api_server):
    refused = []
    routes = list(_routes())
    assert len(routes) > 20
    with httpx.Client(base_url=api_server, timeout=20, cookies={"vx_session": "stolen"}) as client:
        for method, path in routes:
            response = client.request(method, path, headers={"Origin": "https://evil.example"})
            if response.status_code != 403 or "must be opened from http://localhost:" not in response.text:
                refused.append(f"{method} {path}: {response.status_code}")
            assert response.headers.get("access-control-allow-origin") is None
    assert refused == [], refused


def test_same_origin_and_server_to_server_requests_still_work(api_server):
    port = api_server.rsplit(":", 1)[1]
    for headers in ({}, {"Origin": f"http://localhost:{port}"}, {"Origin": f"http://127.0.0.1:{port}"}):
        assert httpx.get(f"{api_server}/health", headers=headers).status_code == 200


@pytest.mark.parametrize("origin", FOREIGN)
def test_websocket_handshake_refuses_a_foreign_origin(live_server, origin):
    with pytest.raises(InvalidStatus) as refused:
        EventSocket(direct_url(live_server), origin=origin, cookie="vx_session=victims-cookie")
    assert refused.value.response.status_code == 403


def test_websocket_accepts_the_console_origin(live_server):
    sock = EventSocket(direct_url(live_server), origin=live_server["base"])
    try:
        sock.boot(event(HYDRATE, "/login"))
        assert "is_hydrated" in sock.collect(10, until="is_hydrated")
    finally:
        sock.close()


def test_cors_never_echoes_a_foreign_origin_with_credentials(live_server):
    base = direct_url(live_server)
    preflight = httpx.options(f"{base}/api/webhooks/stats", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert preflight.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    page = httpx.get(f"{base}/login", headers={"Origin": "https://evil.example"})
    assert page.status_code == 403
    assert page.headers.get("access-control-allow-origin") is None
    ours = httpx.get(f"{base}/health", headers={"Origin": live_server["base"]})
    assert ours.status_code == 200 and ours.headers.get("access-control-allow-origin") == live_server["base"]


def _all_states(cls):
    for sub in cls.get_substates():
        yield sub
        yield from _all_states(sub)


def test_every_event_handler_refuses_a_foreign_origin():
    """The per-event check (defence in depth behind the handshake): registered on the app, and it refuses every
    handler's event when the connection's Origin is foreign, public sign-in handlers included."""
    import reflex as rx

    from voxanne_admin.ui.security import OriginGuard
    from voxanne_admin.voxanne_admin import app

    guards = [m for m in app._middlewares if isinstance(m, OriginGuard)]
    assert len(guards) == 1
    names = [f"{state.get_full_name()}.{name}" for state in _all_states(rx.State)
             if state.__module__.startswith("voxanne_admin") for name in state.event_handlers]
    assert len(names) > 100

    def outcome(origin: str, name: str):
        state = SimpleNamespace(router=SimpleNamespace(headers=SimpleNamespace(origin=origin)))
        return asyncio.run(guards[0].preprocess(app, state, SimpleNamespace(name=name)))

    passed = [n for n in names if outcome("https://evil.example", n) is None]
    assert passed == []
    from voxanne_admin.settings import get_settings

    assert all(outcome(get_settings().public_url, n) is None for n in names[:5])
