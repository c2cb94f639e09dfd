"""Chromium through HAProxy against the two-replica fleet: the per-IP sign-in limit counts attempts on both
replicas, "Sign out everywhere" on one replica ends a session held on the other, and a signed-in browser keeps
working when its replica is SIGKILLed (its websocket reconnects through the proxy to the other one, its state is in
Redis). A context is put on one replica with the test proxy's `X-Voxanne-Replica` rule (ignored once that replica
is down, so failover is HAProxy's ordinary balancing)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests import chromium
from tests.conftest import CALL_FAILED
from tests.e2e.conftest import E2E_PORT, PUBLIC_URL, SCREENSHOTS
from tests.e2e.helpers import create_account, enter_password, scalar, sign_in, wait_until
from tests.scale.conftest import ARTIFACTS, PROXY_PORT, Fleet


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from chromium.launched(serve_port_from=(E2E_PORT, PROXY_PORT))


@pytest.fixture
def page_on(browser, fleet: Fleet, request):
    """`page_on("app1")`: a fresh browser whose requests and websocket HAProxy sends to that replica."""
    contexts = []
    for name in fleet.replicas:  # a previous test may have stopped one
        fleet.ensure_up(name)

    def make(replica: str):
        context = browser.new_context(base_url=PUBLIC_URL, viewport={"width": 1366, "height": 860},
                                       extra_http_headers={"x-voxanne-replica": replica})
        contexts.append((replica, context))
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    keep = SCREENSHOTS == "steps" or request.node.stash.get(CALL_FAILED, True)
    for replica, context in contexts:
        for n, page in enumerate(context.pages if keep else ()):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{replica}-{n}.png"), full_page=True)
        context.close()


def _clear_sign_in_attempts(fleet: Fleet) -> None:
    with fleet.engine.begin() as conn:
        conn.exec_driver_sql("delete from login_attempts")


def test_per_ip_sign_in_limit_is_shared_by_the_replicas(fleet, page_on):
    from playwright.sync_api import expect

    account = create_account(fleet.engine, role="viewer", label="limit")
    limit = int(fleet.env["LOGIN_IP_LIMIT"])
    _clear_sign_in_attempts(fleet)
    try:
        pages = {"app1": page_on("app1"), "app2": page_on("app2")}
        for n in range(limit):  # half the attempts on each replica
            page = pages["app1" if n % 2 == 0 else "app2"]
            enter_password(page, account, password="not the password 1")
            expect(page.get_by_text(re.compile("(Email or password|Too many)", re.I)).first).to_be_visible()
            wait_until(lambda: scalar(fleet.engine, "select count(*) from login_attempts") == n + 1,
                       what=f"attempt {n + 1} recorded")
        for name, page in pages.items():  # both replicas refuse the next one: they counted the same attempts
            enter_password(page, account)
            expect(page.get_by_text("Too many sign-in attempts")).to_be_visible()
            assert page.get_by_role("heading", name="Two-factor check").count() == 0, name
        assert scalar(fleet.engine, "select count(distinct ip) from login_attempts") == 1
        assert scalar(fleet.engine, "select min(ip) from login_attempts") == "127.0.0.1"  # the client, via XFF
    finally:
        _clear_sign_in_attempts(fleet)


def test_sign_out_everywhere_on_one_replica_ends_the_session_on_the_other(fleet, page_on):
    from playwright.sync_api import expect

    account = create_account(fleet.engine, role="viewer", label="everywhere")
    a, b = page_on("app1"), page_on("app2")
    sign_in(a, fleet.engine, account)
    sign_in(b, fleet.engine, account)
    a.goto("/account")
    a.get_by_role("button", name="Sign out everywhere").click()
    expect(a).to_have_url(re.compile(r"/login/?\?signed_out=1$"))
    # B, on the other replica, is signed out at its next action (a sidebar click, no reload), if the page's
    # own refresh has not found it out first
    nav = b.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations")
    if "/login" not in b.url and nav.count():
        nav.click()
    expect(b).to_have_url(re.compile(r"/login/?\?ended=1$"))
    expect(b.get_by_text("Your session ended")).to_be_visible()
    assert scalar(fleet.engine, "select count(*) from staff_sessions where staff_id = :id and revoked_at is null "
                                "and token_hash not like 'handoff:%'", id=account.id) == 0
    _clear_sign_in_attempts(fleet)


def test_signed_in_browser_keeps_working_when_its_replica_is_killed(fleet, page_on):
    from playwright.sync_api import expect

    account = create_account(fleet.engine, role="viewer", label="failover")
    page = page_on("app2")
    sign_in(page, fleet.engine, account)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations").click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    expect(page.get_by_text("Harbor Dental Care").first).to_be_visible()
    fleet.kill("app2")
    # the next clicks go over a websocket that reconnected through the proxy to app1, signed in all along
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations").click()
    expect(page.get_by_text("Harbor Dental Care").first).to_be_visible()
    assert "/login" not in page.url
    _clear_sign_in_attempts(fleet)  # the last test of the package: the fleet is torn down next
