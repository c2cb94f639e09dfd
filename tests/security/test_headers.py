"""Security headers on every response the production server gives: pages, static assets, API, webhooks,
health, the auth hand-off and the websocket handshake; HSTS only when the public URL is https. And the CSP
holds for the real production build in Chromium (no violation while signing in and using the console)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from starlette.testclient import TestClient
from websockets.sync.client import connect

from tests.e2e.helpers import sign_in
from tests.security.sio import event_url

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def _check(headers, what: str) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, f"{what}: {name} is {headers.get(name)!r}"
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp, what
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0], f"{what}: inline scripts"
    assert "camera=()" in headers.get("permissions-policy", ""), what
    assert "strict-transport-security" not in headers, f"{what}: HSTS over plain http"


def test_every_kind_of_response_carries_the_headers(live_server):
    base = live_server["base"]
    with httpx.Client(base_url=base, timeout=20, follow_redirects=False) as client:
        page = client.get("/login/")
        _check(page.headers, "page")
        asset = re.search(r'"(/assets/[^"]+\.js)"', page.text)
        assert asset, "no script asset in the page"
        static = client.get(asset.group(1))
        assert static.status_code == 200
        _check(static.headers, "static asset")
        _check(client.get("/health").headers, "health")
        _check(client.get("/health/ready").headers, "readiness")
        _check(client.get("/api/webhooks/stats").headers, "API (401)")
        _check(client.post("/webhooks/vapi", content=b"{}").headers, "webhook (refused)")
        _check(client.get("/api/auth/establish").headers, "hand-off redirect")
        _check(client.get("/no-such-page/").headers, "404 page")
        _check(client.get("/login").headers, "trailing-slash redirect")
    # The websocket's 101 answer: granian sends only the upgrade headers (ASGI `websocket.accept` headers are not
    # passed on), so the refusal path is what is checked there (tests/security/test_origin.py).
    with connect(event_url(base, "headers-check"), origin=base, open_timeout=20) as ws:  # type: ignore[arg-type]
        assert ws.response.status_code == 101


@pytest.fixture
def https_settings(monkeypatch, database_url):
    from voxanne_admin.settings import get_settings

    monkeypatch.setenv("VOXANNE_PUBLIC_URL", "https://admin.example.test")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_hsts_only_when_the_public_url_is_https(https_settings):
    from voxanne_admin.api.standalone import create_app

    response = TestClient(create_app()).get("/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "wss://admin.example.test" in response.headers["content-security-policy"]


CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_the_production_build_runs_under_the_csp(browser_page, e2e_db, make_account):
    page = browser_page
    page.add_init_script(CSP_PROBE)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None)
    account = make_account("admin", "csp")
    sign_in(page, e2e_db, account)
    for path, heading in (("/account", "Account"), ("/staff", "Staff"), ("/calls", "Call logs")):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert page.evaluate("window.__csp") == [], f"{path}: {page.evaluate('window.__csp')}"
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()  # rx.call_script: needs 'unsafe-eval'
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert page.evaluate("window.__csp") == [] and messages == [], messages
