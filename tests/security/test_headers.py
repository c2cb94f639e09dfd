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
from tests.security.conftest import direct_url
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
    scripts = csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "'unsafe-inline'" not in scripts, f"{what}: inline scripts"
    assert "'unsafe-eval'" not in scripts and "unsafe-eval" not in csp, f"{what}: eval allowed"
    assert "camera=()" in headers.get("permissions-policy", ""), what
    assert "strict-transport-security" not in headers, f"{what}: HSTS over plain http"


def test_every_kind_of_response_carries_the_headers(live_server):
    base = live_server["base"]
    with httpx.Client(base_url=direct_url(live_server), timeout=20, follow_redirects=False) as client:
        page = client.get("/login/")
        _check(page.headers, "page")
        asset = re.search(r'"(/assets/[^"]+\.js)"', page.text)
        assert asset, "no script asset in the page"
        static = client.get(asset.group(1))
        assert static.status_code == 200
        _check(static.headers, "static asset")
        # Content-hashed build files are kept by the browser (a page load fetches only its HTML); pages are not.
        assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "immutable" not in page.headers.get("cache-control", "")
        assert client.get("/assets/no-such-file.js").headers.get("cache-control") is None  # a 404 is not kept
        _check(client.get("/health").headers, "health")
        _check(client.get("/health/ready").headers, "readiness")
        _check(client.get("/api/webhooks/stats").headers, "API (401)")
        _check(client.post("/webhooks/vapi", content=b"{}").headers, "webhook (refused)")
        _check(client.get("/api/auth/establish").headers, "hand-off redirect")
        _check(client.get("/no-such-page/").headers, "404 page")
        _check(client.get("/login").headers, "trailing-slash redirect")
    # The websocket's 101 answer: granian sends only the upgrade headers (ASGI `websocket.accept` headers are not
    # passed on), so the refusal path is what is checked there (tests/security/test_origin.py).
    with connect(event_url(direct_url(live_server), "headers-check"), origin=base, open_timeout=20) as ws:  # type: ignore[arg-type]
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


# Every violation of every document the tab loads (an init script runs in each; the binding outlives navigations).
CSP_PROBE = """
document.addEventListener('securitypolicyviolation',
  (e) => window.vxCspViolation(
    `${location.pathname}: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""

PAGES = [  # every page of the console (founder), with its heading
    ("/overview", "Overview"), ("/organizations", "Organizations"), ("/agents", "Agents"), ("/calls", "Call logs"),
    ("/telephony", "Telephony"), ("/flags", "Feature flags"), ("/console", "Founder console"),
    ("/webhook-events", "Webhooks"), ("/staff", "Staff"), ("/jobs", "Jobs"), ("/audit-log", "Audit log"),
    ("/disaster-recovery", "Disaster recovery"), ("/credentials", "Credentials"), ("/account", "Account"),
]


# The beforeunload listeners of the page, counted as they are added and removed. (Dispatching a test beforeunload
# would also run Reflex's own listener, which closes the websocket.)
LISTENER_PROBE = """
window.vxUnloadListeners = 0;
const vxAdd = window.addEventListener, vxRemove = window.removeEventListener;
window.addEventListener = function (type, fn, options) {
  if (type === 'beforeunload') window.vxUnloadListeners += 1;
  return vxAdd.call(this, type, fn, options);
};
window.removeEventListener = function (type, fn, options) {
  if (type === 'beforeunload') window.vxUnloadListeners -= 1;
  return vxRemove.call(this, type, fn, options);
};
"""


def _unload_listeners(page) -> int:
    return page.evaluate("() => window.vxUnloadListeners")


def _open(page, path: str, heading: str) -> None:
    """Go to a page and wait for its data (its load handler has answered when no loading marker is left)."""
    page.goto(path)
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('[aria-busy=\"true\"]').length === 0",
                           timeout=30_000)
    page.wait_for_timeout(300)


def _choose(page, trigger, option: str) -> None:
    trigger.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_the_production_build_runs_under_the_csp(browser_page, e2e_db, make_account, live_server):
    """No eval anywhere the console goes: sign-in hand-off, every page, toasts, scrolling, the unsaved-changes guard,
    filters in the address bar, the organization switcher's reload, sign-out with a new client token. The CSP has
    no 'unsafe-eval', so any eval left (Reflex's call_script, a backend rx.toast) is a violation here."""
    page = browser_page
    violations: list[str] = []
    page.expose_function("vxCspViolation", lambda text: violations.append(text))
    page.add_init_script(CSP_PROBE)
    page.add_init_script(LISTENER_PROBE)
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    with httpx.Client(base_url=direct_url(live_server), timeout=20) as client:
        csp = client.get("/login/").headers["content-security-policy"]
    assert "unsafe-eval" not in csp and "script-src 'self'" in csp

    account = make_account("founder", "csp")
    sign_in(page, e2e_db, account)  # the hand-off: a full load of /api/auth/establish, then /overview
    for path, heading in PAGES:
        _open(page, path, heading)
        assert violations == [], violations

    # Agents: the editor (scrolled to), unsaved changes guard the page, a server toast, discarding drops the guard.
    _open(page, "/agents", "Agents")
    row = page.locator("#agents-table tbody tr").filter(has_text="Harbor Dental Care").first
    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#agent-editor")).to_be_in_viewport()
    clean = _unload_listeners(page)  # Reflex's own (it closes the websocket on leaving)
    page.fill("#agent-name", "Harbor Dental Care outbound callback agent")  # 42 characters: refused on save
    expect(page.get_by_text("unsaved changes", exact=True)).to_be_visible()
    page.wait_for_function(f"() => window.vxUnloadListeners === {clean + 1}")  # leave_guard: asks before leaving
    page.locator("#agent-save").click()
    expect(page.get_by_text("Fix the highlighted fields, then save again.")).to_be_visible()  # a backend toast
    assert _unload_listeners(page) == clean + 1
    page.get_by_role("button", name="Close the editor").click()
    page.get_by_role("button", name="Discard changes").click()
    expect(page.get_by_text("unsaved changes", exact=True)).to_have_count(0)
    page.wait_for_function(f"() => window.vxUnloadListeners === {clean}")

    # Filters go to the address bar without a reload (history.replaceState).
    _open(page, "/audit-log", "Audit log")
    page.evaluate("() => { window.vxSamePage = true; }")
    page.fill("#audit-search", "zephyr")
    page.press("#audit-search", "Enter")
    expect(page).to_have_url(re.compile(r"/audit-log\?q=zephyr$"))
    assert page.evaluate("() => window.vxSamePage === true"), "the filter reloaded the page"
    _open(page, "/calls", "Call logs")
    page.evaluate("() => { window.vxSamePage = true; }")
    page.fill("#call-search", "cleaning")
    page.press("#call-search", "Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=cleaning\b"))
    assert page.evaluate("() => window.vxSamePage === true"), "the filter reloaded the page"

    # The switcher reloads the page in full, without the address's organization and agent (the rest is kept).
    _open(page, "/calls?q=cleaning&agent=999999", "Call logs")
    with page.expect_navigation():
        _choose(page, page.locator("#org-switcher"), "Harbor Dental Care")
    expect(page.locator("#filter-org")).to_have_text("Harbor Dental Care")
    expect(page).to_have_url(re.compile(r"[?&]q=cleaning\b"))
    assert "agent=" not in page.url, page.url
    assert violations == [], violations

    token = page.evaluate("() => window.sessionStorage.getItem('token')")
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    new_token = page.evaluate("() => window.sessionStorage.getItem('token')")
    assert token and new_token and new_token != token, "sign-out kept the client token"
    assert violations == [], violations
