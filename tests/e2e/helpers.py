"""Helpers for the end-to-end tests: staff accounts made directly in the server's database through the
services (password, enrolled TOTP, recovery codes), fresh TOTP codes, the sign-in steps, and reads of
what the server wrote."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session

PASSWORD = "quiet meadow lantern 2026"


@dataclass
class Account:
    """A staff account the tests know every secret of."""

    id: int
    email: str
    name: str
    role: str
    password: str
    secret: str
    recovery_codes: list[str] = field(default_factory=list)


def create_account(engine: Engine, *, role: str, label: str, password: str = PASSWORD) -> Account:
    """Create a staff account with TOTP enrolled, committed, as the founder tooling would."""
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import signin

    email = f"{label}-{secrets.token_hex(3)}@e2e.voxanne.example"
    name = f"E2E {label.replace('-', ' ').title()}"
    actor = Actor.system("e2e-tests")
    with Session(engine, expire_on_commit=False) as session:
        # The person already replaced the administrator's initial password (that step has its own test).
        user = auth_service.create_staff(session, email=email, name=name, role=role, password=password,
                                         actor=actor, actor_role="founder", must_change_password=False)
        secret, _uri = signin.begin_totp_enrolment(session, user=user)
        # Enrol with the previous step's code (inside the server's +-1 window): the step is then recorded as
        # used, and two sign-ins right away can take the current and the next step without waiting.
        totp = pyotp.TOTP(secret)
        while time.time() % totp.interval > totp.interval - 2:
            time.sleep(0.5)
        code = totp.at(time.time() - totp.interval)
        codes = signin.confirm_totp_enrolment(session, user=user, code=code, actor=actor)
        session.commit()
        return Account(id=user.id or 0, email=email, name=name, role=role, password=password, secret=secret,
                       recovery_codes=codes)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    """One value from the e2e database."""
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: Any) -> list[sa.Row]:
    """Rows from the e2e database."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def audit_actions(engine: Engine, *, since_id: int = 0) -> list[sa.Row]:
    """Audit events written after `since_id` (id, action, actor_id, target_type, target_id, diff)."""
    return rows(engine, "select id, action, actor_id, target_type, target_id, diff from audit_events "
                        "where id > :since order by id", since=since_id)


def last_audit_id(engine: Engine) -> int:
    """The newest audit event id (0 when there is none)."""
    return scalar(engine, "select coalesce(max(id), 0) from audit_events")


def wait_until(predicate: Callable[[], Any], *, timeout: float = 20, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def totp_code(engine: Engine, account: Account) -> str:
    """A TOTP code the server accepts now: in its +-1 step window and later than the last step used.

    The server refuses a code from a step it has already seen (replay protection), so two sign-ins of one
    account within 30 s take the current and then the next step; a third waits for the clock.
    """
    totp = pyotp.TOTP(account.secret)
    while True:
        last = scalar(engine, "select totp_last_step from staff_users where id = :id", id=account.id)
        current = int(time.time() // totp.interval)
        step = current if last is None or last < current else last + 1
        if step <= current + 1:
            return totp.generate_otp(step)
        time.sleep(1)


def wrong_totp_code(account: Account) -> str:
    """Six digits that are not valid in any step the server would accept."""
    totp = pyotp.TOTP(account.secret)
    now = time.time()
    valid = {totp.at(now + d * totp.interval) for d in (-2, -1, 0, 1, 2)}
    code = "000000"
    while code in valid:
        code = f"{(int(code) + 111111) % 1_000_000:06d}"
    return code


def enter_password(page: Page, account: Account, password: str | None = None) -> None:
    """Open /login and submit email and password (step 1)."""
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#email", account.email)
    page.fill("#password", account.password if password is None else password)
    page.get_by_role("button", name="Continue").click()


def open_from_sidebar(page: Page, route: str) -> None:
    """Open an in-app page as staff do, with its link in the sidebar: a route change inside the loaded app, not a
    new document (a full load costs the browser most of a second of CPU here, and reloads axe-core)."""
    page.get_by_role("navigation", name="Main").locator(f'a[href="{route}"]').click()
    # A page that keeps its filter in the address bar may add it at once (the call logs add the chosen ?org=).
    expect(page).to_have_url(re.compile(re.escape(route) + r"/?(\?.*)?$"))


def sign_in(page: Page, engine: Engine, account: Account) -> None:
    """The whole sign-in through the UI: password, TOTP code, overview."""
    enter_password(page, account)
    expect(page.get_by_role("heading", name="Two-factor check")).to_be_visible()
    page.fill("#code", totp_code(engine, account))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/overview/?$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def signed_in(page: Page, engine: Engine, account: Account) -> None:
    """Start signed in, for a test about what comes after: a session opened as the sign-in opens one (the same
    `create_session` and `establish_session`, so the same row and `login_success` audit event), its HttpOnly
    cookie in the browser, then the Overview. The sign-in pages themselves are driven in test_sign_in,
    test_first_run, test_sessions, the accessibility scans and tests/security; through the UI each sign-in cost
    about two page loads (some 1.5 s of browser CPU) and often a wait for the next TOTP step."""
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth.models import StaffUser

    with Session(engine) as session:
        user = session.get(StaffUser, account.id)
        assert user is not None, f"no staff account {account.id}"
        actor = Actor(type="staff", id=str(user.id), email=user.email, ip="127.0.0.1",
                      user_agent=page.evaluate("() => navigator.userAgent"))
        token = auth_service.establish_session(session, ticket=auth_service.create_session(
            session, user=user, actor=actor))
        session.commit()
    assert token is not None
    # For the console's public host (tests/e2e/conftest.py PUBLIC_URL; cookies do not name a port).
    page.context.add_cookies([{"name": "vx_session", "value": token, "domain": "localhost", "path": "/",
                               "httpOnly": True, "sameSite": "Strict"}])
    page.goto("/overview")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def make_confirmation_stale(page: Page, engine: Engine, account: Account) -> None:
    """Make this account's last confirmation stale (over 5 minutes), so the next sensitive action opens the
    re-authentication dialog; `reauthenticate` then answers it."""
    with engine.begin() as conn:
        conn.execute(sa.text("update staff_sessions set reauth_at = now() - interval '6 minutes' "
                             "where staff_id = :id"), {"id": account.id})


def reauthenticate(page: Page, account: Account) -> None:
    """Answer the re-authentication dialog with the password (it then runs the action that asked)."""
    dialog = page.get_by_role("dialog").filter(has=page.get_by_role("heading", name="Confirm it is you"))
    expect(dialog).to_be_visible()
    dialog.get_by_label("Password or authenticator code").fill(account.password)
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_have_count(0)
