"""Issue #14 finding 10: behind the proxy, the client address comes from X-Forwarded-For, but only when the
connection really comes from one of TRUSTED_PROXIES; anyone else's header is ignored (no spoofed audit IPs, no
dodging the per-IP limits). Checked on both edges: an HTTP route (audit row of a refused webhook) and a Reflex
websocket connection (the router data Reflex builds from the socket, read by the audit actor)."""

from __future__ import annotations

import json
import types

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voxanne_admin import db
from voxanne_admin.settings import get_settings

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"
SPOOF = "198.51.100.66"


@pytest.fixture
def trusted(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", f"{PROXY},192.168.0.0/24")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("TRUSTED_PROXIES")
    get_settings.cache_clear()


def _refused_webhook_ip(peer: str, forwarded_for: str) -> str:
    from voxanne_admin.api.app import build_api

    with TestClient(build_api(), client=(peer, 5000)) as client:
        response = client.post("/webhooks/vapi", content=json.dumps({"message": {"type": "status-update"}}),
                               headers={"content-type": "application/json", "x-vapi-signature": "bad",
                                        "x-forwarded-for": forwarded_for})
    assert response.status_code == 401
    with db.get_engine().connect() as conn:
        # Refusals are counted per source IP and minute (audit/flood.py), so the window's IP is what the audit row
        # for this minute will carry. (Before the flood control each refusal wrote its own audit row: its IP.)
        per_request = conn.execute(sa.text("select ip from audit_events where action = 'webhook_auth_failed' "
                                           "order by id desc limit 1")).scalar()
        if per_request is not None:
            return per_request
        return conn.execute(sa.text("select ip from audit_flood_windows order by window_start desc limit 1")
                            ).scalar_one()


def test_http_route_takes_the_client_from_a_trusted_proxy(clean_db, trusted):
    assert _refused_webhook_ip(PROXY, f"{SPOOF}, {CLIENT}") == CLIENT  # rightmost untrusted hop, not the first


def test_http_route_walks_past_a_chain_of_trusted_proxies(clean_db, trusted):
    assert _refused_webhook_ip(PROXY, f"{CLIENT}, 192.168.0.9") == CLIENT


def test_http_route_ignores_the_header_from_an_untrusted_peer(clean_db, trusted):
    assert _refused_webhook_ip("198.51.100.9", CLIENT) == "198.51.100.9"


def test_http_route_ignores_the_header_without_trusted_proxies(clean_db):
    assert _refused_webhook_ip(PROXY, CLIENT) == PROXY


def _reflex_actor_ip(peer: str, forwarded_for: str) -> str | None:
    """The audit actor's IP for a websocket connection, from the router data Reflex itself builds."""
    from reflex.app import EventNamespace
    from reflex.istate.data import RouterData

    from voxanne_admin.ui.state import actor_for

    environ = {"asgi.scope": {"client": (peer, 41000), "headers": [
        (b"x-forwarded-for", forwarded_for.encode()), (b"user-agent", b"pytest")]}}
    namespace = EventNamespace.__new__(EventNamespace)
    router_data = namespace._build_static_router_data("sid-1", environ)
    state = types.SimpleNamespace(router=RouterData.from_router_data(router_data))
    return actor_for(state).ip  # type: ignore[arg-type]


def test_reflex_connection_takes_the_client_from_a_trusted_proxy(trusted):
    assert _reflex_actor_ip(PROXY, f"{SPOOF}, {CLIENT}") == CLIENT


def test_reflex_connection_ignores_the_header_from_an_untrusted_peer(trusted):
    assert _reflex_actor_ip("198.51.100.9", CLIENT) == "198.51.100.9"


def test_malformed_forwarded_hop_keeps_the_proxy_address(trusted):
    from voxanne_admin.auth import client_ip

    assert client_ip.resolve(PROXY, "not-an-ip") == PROXY
    assert client_ip.resolve(PROXY, "[2001:db8::1]:443") == "2001:db8::1"


def test_bad_trusted_proxies_setting_is_refused(monkeypatch):
    from voxanne_admin.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="TRUSTED_PROXIES: .*not proxy.example"):
        load_settings(trusted_proxies="10.0.0.1,proxy.example")
