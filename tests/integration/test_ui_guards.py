"""Every Reflex event handler is guarded (or deliberately public / UI-only), and the guard holds at runtime."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import reflex as rx
from reflex.istate.data import ReflexURL
from sqlmodel import select

import voxanne_admin.voxanne_admin  # noqa: F401  (the app module: imports every page and its State)
from tests.unit.factories import make_staff, open_session
from voxanne_admin import db
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import signin
from voxanne_admin.auth.models import ROLES
from voxanne_admin.jobs.models import JobRun
from voxanne_admin.orgs import service as org_service
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.auth.state import AuthFlowState
from voxanne_admin.ui.pages.jobs import JobsState
from voxanne_admin.ui.pages.organizations import OrganizationsState
from voxanne_admin.ui.pages.staff import StaffState
from voxanne_admin.ui.state import GUARD_ATTR, PUBLIC_ATTR, UI_ONLY_ATTR, AppState

MARKS = (GUARD_ATTR, PUBLIC_ATTR, UI_ONLY_ATTR)


def _all_states(cls=rx.State):
    for sub in cls.get_substates():
        yield sub
        yield from _all_states(sub)


def _our_handlers():
    """(state, name, fn) for every handler written in voxanne_admin (Reflex's generated setters excluded)."""
    for state in _all_states():
        if not state.__module__.startswith("voxanne_admin"):
            continue
        for name, handler in state.event_handlers.items():
            if getattr(handler.fn, "__module__", "").startswith("voxanne_admin"):
                yield state, name, handler.fn


def _marks(fn) -> dict[str, object]:
    found: dict[str, object] = {}
    while fn is not None:
        for attr in MARKS:
            if hasattr(fn, attr):
                found.setdefault(attr, getattr(fn, attr))
        fn = getattr(fn, "__wrapped__", None)
    return found


def test_meta_every_state_handler_is_guarded_public_or_ui_only():
    handlers = list(_our_handlers())
    states = {state.__name__ for state, _, _ in handlers}
    assert {"AppState", "OrganizationsState", "StaffState", "JobsState", "AccountState", "OverviewState",
            "AuthFlowState"} <= states
    unmarked = [f"{state.__module__}.{state.__name__}.{name}" for state, name, fn in handlers if not _marks(fn)]
    assert unmarked == [], f"handlers without @guarded/@public/@ui_only: {unmarked}"


def test_meta_guarded_handlers_name_a_real_role():
    roles = {_marks(fn).get(GUARD_ATTR) for _, _, fn in _our_handlers()} - {None}
    assert roles and roles <= set(ROLES)


def test_meta_public_handlers_only_in_sign_in_flow():
    public = {(state.__name__, name) for state, name, fn in _our_handlers() if PUBLIC_ATTR in _marks(fn)}
    # SessionEnd.wipe: the end of a visit (ui/security.py) only forgets this browser's own state.
    assert public and {state for state, _ in public} == {"AuthFlowState", "SessionEnd"}
    assert {name for state, name in public if state == "SessionEnd"} == {"wipe"}


def test_meta_staff_and_job_handlers_need_admin():
    for state in (StaffState, JobsState):
        for name, handler in state.event_handlers.items():
            marks = _marks(handler.fn)
            if GUARD_ATTR in marks and handler.fn.__module__ == state.__module__:
                assert marks[GUARD_ATTR] in ("admin", "founder"), f"{state.__name__}.{name}"


# ---------------------------------------------------------------- the guard at runtime


def _fake_state(cookie: str = "", url: str = "http://localhost:3000/organizations?org=3") -> SimpleNamespace:
    """Just enough of a Reflex state for `guarded`: the websocket's cookie header, client IP, user agent and the
    page's address."""
    return SimpleNamespace(router=SimpleNamespace(headers=SimpleNamespace(cookie=cookie, user_agent="pytest-browser",
                                                                          raw_headers={}),
                                                  session=SimpleNamespace(client_ip="203.0.113.9"),
                                                  url=ReflexURL(url)))


def _event(spec) -> tuple[str, str]:
    """(kind, text) of an EventSpec a handler returned, e.g. ("_redirect", '"/login" ...')."""
    return spec.handler.fn.__qualname__, " ".join(str(value) for _, value in spec.args)


def _signed_in(role: str) -> tuple[int, str]:
    with db.transaction() as session:
        user = make_staff(session, role=role)
        return user.id, f"theme=dark; vx_session={open_session(session, user)}"


def _handler(state, name):
    return state.event_handlers[name].fn


def test_guarded_handler_redirects_to_login_without_running_when_no_cookie(database_url):
    fake = _fake_state(cookie="")
    result = _handler(OrganizationsState, "open_create")(fake)
    kind, text = _event(result)
    # Denied without a session: every state of this client token is wiped on the way to the sign-in page.
    assert kind == "SessionEnd.wipe" and '"/login"' in text
    assert not hasattr(fake, "dialog_open")


def test_guarded_handler_redirects_to_login_when_cookie_unknown(database_url):
    fake = _fake_state(cookie="vx_session=forged-token-value")
    kind, text = _event(_handler(AppState, "select_org")(fake, "7"))
    # A cookie that no longer resolves: the session ended, and the sign-in page says so.
    assert kind == "SessionEnd.wipe" and '"/login?ended=1"' in text
    assert not hasattr(fake, "selected_org")


def test_guarded_handler_refused_by_role_wipes_and_reloads_the_page(clean_db):
    """Signed in but short of the role (perhaps lowered since the page loaded): every state of the client token is
    wiped and this page loads again with a new token, saying why."""
    _, cookie = _signed_in("viewer")
    fake = _fake_state(cookie)
    kind, text = _event(_handler(OrganizationsState, "open_create")(fake))
    assert kind == "SessionEnd.wipe" and '"/organizations?org=3&denied=admin"' in text
    assert not hasattr(fake, "dialog_open")


def test_the_reloaded_page_says_which_role_was_needed_and_tidies_the_address(clean_db):
    _, cookie = _signed_in("viewer")
    fake = _fake_state(cookie, "http://localhost:3000/organizations?org=3&denied=admin")
    toast, address = (browser.command_of(spec) for spec in _handler(AppState, "require_page_role")(fake, "viewer"))
    assert toast is not None and (toast["do"], toast["level"]) == ("toast", "error")
    assert toast["text"] == "This needs the admin role or higher. Ask an administrator if you need access."
    assert address is not None and address["url"] == "/organizations?org=3"
    assert fake.access_denied == ""  # the page itself is open to viewers
    plain = _fake_state(cookie, "http://localhost:3000/organizations?denied=not-a-role")
    assert _handler(AppState, "require_page_role")(plain, "viewer") is None


def test_every_page_load_refused_by_role_answers_with_the_access_panel_not_a_reload(clean_db):
    """A viewer opening an admin page: its `load` is refused. Reloading the page would run the same refused
    `load` again, forever (seen on the async Disaster recovery `load`), so a refused `load` of any kind (sync,
    async, generator) answers nothing and the shell's access panel explains."""
    import inspect

    _, cookie = _signed_in("viewer")
    checked = []
    for state, name, fn in _our_handlers():
        minimum = _marks(fn).get(GUARD_ATTR)
        if name != "load" or minimum in (None, "viewer"):
            continue
        fake = _fake_state(cookie, "http://localhost:3000/some-page")
        handler = _handler(state, name)
        if inspect.isasyncgenfunction(handler):
            async def drain():
                return [item async for item in handler(fake)]
            result = asyncio.run(drain())
            assert result == [None], (state.__name__, result)
        elif inspect.iscoroutinefunction(handler):
            assert asyncio.run(handler(fake)) is None, state.__name__
        else:
            assert handler(fake) is None, state.__name__
        checked.append(state.__name__)
    assert "DrState" in checked and len(checked) >= 5, checked


def test_guarded_handler_runs_body_when_role_sufficient(clean_db):
    _, cookie = _signed_in("admin")
    fake = _fake_state(cookie)
    assert _handler(OrganizationsState, "open_create")(fake) is None
    assert fake.dialog_open is True and fake.editing_id == 0 and fake.form_country == "US"


def test_guarded_handler_redirects_to_login_after_session_revoked(clean_db):
    staff_id, cookie = _signed_in("admin")
    with db.transaction() as session:
        auth_service.revoke_all_sessions(session, staff_id=staff_id, actor=auth_service.Actor.system())
    fake = _fake_state(cookie)
    kind, text = _event(_handler(OrganizationsState, "open_create")(fake))
    assert kind == "SessionEnd.wipe" and '"/login?ended=1"' in text
    assert not hasattr(fake, "dialog_open")


def test_async_guarded_handler_refuses_operator_without_running_job(clean_db):
    _, cookie = _signed_in("operator")
    fake = _fake_state(cookie)
    result = asyncio.run(_handler(JobsState, "run_now")(fake, "purge_login_attempts"))
    kind, text = _event(result)
    assert kind == "SessionEnd.wipe" and "denied=admin" in text
    assert not hasattr(fake, "running")  # the handler body never started
    with db.read_only() as session:
        assert session.exec(select(JobRun)).all() == []


def test_guarded_handler_shows_domain_error_as_toast(clean_db):
    _, cookie = _signed_in("admin")
    with db.transaction() as session:
        org = org_service.create(session, name="Harbor Dental", slug="harbor", country="US",
                                 timezone="America/New_York", actor=auth_service.Actor.system(), actor_role="founder")
        org_id = org.id
    toast = browser.command_of(_handler(OrganizationsState, "reopen")(_fake_state(cookie), org_id))
    assert toast is not None and (toast["level"], toast["text"]) == ("error", "This organization is not closed.")


def test_sign_out_revokes_session_and_writes_logout_event(clean_db):
    staff_id, cookie = _signed_in("viewer")
    token = cookie.split("vx_session=")[1]
    kind, text = _event(_handler(AppState, "sign_out")(_fake_state(cookie)))
    assert kind == "SessionEnd.wipe" and "/api/auth/signed-out" in text
    with db.read_only() as session:
        assert auth_service.resolve_session(session, token=token) is None
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "logout")).one()
        assert (event.actor_id, event.ip, event.user_agent) == (str(staff_id), "203.0.113.9", "pytest-browser")
        assert event.request_id  # ties the audit row to this event's log lines


def test_public_sign_in_handler_reports_wrong_password_without_session(clean_db):
    with db.transaction() as session:
        user = make_staff(session)
        email = user.email
    fake = _fake_state("vx_presignin=this-browser")
    fake.errors, fake.notice = {}, ""
    form = {"email": email, "password": "wrong-password-1"}
    assert asyncio.run(_handler(AuthFlowState, "submit_password")(fake, form)) is None
    assert fake.errors == {"form": signin.GENERIC_FAILURE}
    with db.read_only() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "login_failed")).one()
        assert event.ip == "203.0.113.9"
