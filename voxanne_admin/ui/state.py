"""The root UI state: who is signed in (re-checked on the server at every event) and the org scope.

Every event handler that reads or changes data is wrapped by `guarded(role)`: it
resolves the HttpOnly session cookie of the websocket connection against the
database, so a revoked, expired or idle session loses access at its next event,
and a role below the minimum is refused whatever the page showed.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import reflex as rx

from voxanne_admin import db, metrics
from voxanne_admin.api.auth import COOKIE
from voxanne_admin.api.security import PRE_COOKIE
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip, reauth
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import ROLES
from voxanne_admin.auth.roles import has_role
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.errors import DomainError
from voxanne_admin.logging import org_id_var, request_id_var, staff_id_var
from voxanne_admin.orgs import service as org_service
from voxanne_admin.settings import get_settings
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.components.browser import UI_ONLY_ATTR, ui_only  # noqa: F401  (re-exported)
from voxanne_admin.ui.security import PUBLIC_ATTR, SessionEnd

log = logging.getLogger(__name__)
_current: contextvars.ContextVar[CurrentStaff | None] = contextvars.ContextVar("current_staff", default=None)

GUARD_ATTR = "_voxanne_min_role"


def _cookie(state: rx.State, name: str) -> str | None:
    raw = state.router.headers.cookie or ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _session_token(state: rx.State) -> str | None:
    return _cookie(state, COOKIE)


def presignin_binding(state: rx.State) -> str:
    """This browser's pre-sign-in cookie (sent with the websocket handshake); '' if the page never set one."""
    return _cookie(state, PRE_COOKIE) or ""


def end_visit(url: str):
    """Sign-out and ended sessions: wipe every state of this client token, new token, full load of `url`."""
    return SessionEnd.wipe(url)


def _without_scope(url: str) -> str:
    """This page's path and query without `org` and `agent` (the parts a shared link scopes itself by)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("org", "agent")]
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return (parts.path or "/") + (f"?{urlencode(query)}" if query else "") + fragment


def resolve(state: rx.State) -> CurrentStaff | None:
    """The signed-in staff member behind this websocket connection, checked against the database."""
    token = _session_token(state)
    if not token:
        return None
    with db.transaction() as session:
        return auth_service.resolve_session(session, token=token)


def current_staff() -> CurrentStaff:
    """The staff member the running guarded handler was authorised for."""
    staff = _current.get()
    if staff is None:
        raise RuntimeError("current_staff() used outside a guarded handler")
    return staff


def client_ip_of(state: rx.State) -> str:
    """The client address of this websocket connection (X-Forwarded-For only from TRUSTED_PROXIES)."""
    return client_ip.from_reflex_headers(state.router.session.client_ip, state.router.headers.raw_headers)


def actor_for(state: rx.State, staff: CurrentStaff | None = None) -> Actor:
    """Audit actor for the person behind this event (IP and user agent from the connection)."""
    ip = client_ip_of(state) or None
    ua = state.router.headers.user_agent or None
    rid = request_id_var.get()
    if staff is None:
        return Actor(type="anonymous", ip=ip, user_agent=ua, request_id=rid)
    return Actor(type="staff", id=str(staff.id), email=staff.email, ip=ip, user_agent=ua, request_id=rid)


def _deny(state: rx.State, staff: CurrentStaff | None, minimum: str):
    if staff is None:
        # A cookie that no longer resolves means the session ended; no cookie means never signed in. Either way
        # nothing of an earlier visit may stay in this client token's state.
        return end_visit(f"{routes.LOGIN}?ended=1" if _session_token(state) else routes.LOGIN)
    # Signed in, but short of the role. The role may have been lowered since this page loaded what it shows, so
    # nothing loaded under a higher role may stay in this client token's state: every state is wiped and the page
    # loads again with a new token, under the role the person has now, and says why (`denied`, read by
    # AppState.require_page_role).
    return end_visit(_with_denied(str(state.router.url), minimum))


def _refuse(state: rx.State, fn: Callable, staff: CurrentStaff | None, minimum: str):
    """What a refused handler answers. A page's own `load` (sync, async or a generator alike) refused to a
    signed-in person: the shell's access panel explains the refusal, and what this page's state loaded earlier
    (under a role since lowered) goes, in the browser too; a reload would only be refused again, forever. Any
    other refused handler: `_deny`."""
    if staff is not None and fn.__name__ == "load":
        if isinstance(state, rx.State):
            state.reset()
        return None
    return _deny(state, staff, minimum)


def _with_denied(url: str, minimum: str) -> str:
    """This page's path and query with `denied=<role>` (any earlier `denied` dropped)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "denied"]
    return (parts.path or "/") + "?" + urlencode([*query, ("denied", minimum)])


def denied_message(minimum: str) -> str:
    """What a person is told when an action needs a higher role than theirs."""
    return f"This needs the {minimum} role or higher. Ask an administrator if you need access."


@contextlib.contextmanager
def _event_context(state: rx.State, staff: CurrentStaff, handler: str = ""):
    """Bind the staff member, a request id and the org scope for logs, audit rows and current_staff(); time the
    handler for Prometheus (voxanne_ui_event_duration_seconds)."""
    selected = getattr(state, "selected_org", "")
    tokens = [
        (_current, _current.set(staff)),
        (staff_id_var, staff_id_var.set(staff.id)),
        (request_id_var, request_id_var.set(uuid.uuid4().hex[:16])),
        (org_id_var, org_id_var.set(int(selected) if isinstance(selected, str) and selected.isdigit() else None)),
    ]
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        if handler:
            metrics.EVENT_SECONDS.labels(handler, outcome).observe(time.perf_counter() - started)
        for var, token in reversed(tokens):
            var.reset(token)


def guarded(minimum: str) -> Callable:
    """Decorator for State event handlers: sign-in and role are checked on the server first."""

    def decorate(fn: Callable) -> Callable:
        handler = f"{fn.__qualname__}"

        def authorise(self) -> tuple[CurrentStaff | None, bool]:
            staff = resolve(self)
            return staff, bool(staff and has_role(staff.role, minimum))

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(self, *args, **kwargs):
                staff, ok = authorise(self)
                if not ok:
                    yield _refuse(self, fn, staff, minimum)
                    return
                with _event_context(self, staff, handler):
                    try:
                        async for item in fn(self, *args, **kwargs):
                            yield item
                    except reauth.ReauthRequired as exc:
                        yield _ask_reauth(self, fn, args, kwargs, exc)
                    except DomainError as exc:  # ProviderError too: the provider's actionable message
                        yield browser.toast_error(str(exc))

            wrapper: Callable = agen_wrapper
        elif inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(self, *args, **kwargs):
                staff, ok = authorise(self)
                if not ok:
                    return _refuse(self, fn, staff, minimum)
                with _event_context(self, staff, handler):
                    try:
                        return await fn(self, *args, **kwargs)
                    except reauth.ReauthRequired as exc:
                        return _ask_reauth(self, fn, args, kwargs, exc)
                    except DomainError as exc:
                        return browser.toast_error(str(exc))

            wrapper = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(self, *args, **kwargs):
                staff, ok = authorise(self)
                if not ok:
                    return _refuse(self, fn, staff, minimum)
                with _event_context(self, staff, handler):
                    try:
                        return fn(self, *args, **kwargs)
                    except reauth.ReauthRequired as exc:
                        return _ask_reauth(self, fn, args, kwargs, exc)
                    except DomainError as exc:
                        return browser.toast_error(str(exc))

            wrapper = sync_wrapper
        setattr(wrapper, GUARD_ATTR, minimum)
        return wrapper

    return decorate


# Handlers waiting for a re-authentication, by "<state full name>.<handler>": the dialog's confirm runs them again.
_REAUTH_HANDLERS: dict[str, tuple[type, str]] = {}


def _ask_reauth(state: Any, fn: Callable, args: tuple, kwargs: dict, exc: reauth.ReauthRequired):
    """A sensitive handler needs the password or a code again: open the re-authentication dialog and remember
    the action (server-side) so confirming runs it. Reflex passes the payload by name: keep it in the
    handler's parameter order, which is how an event is built again."""
    key = f"{type(state).get_full_name()}.{fn.__name__}"
    _REAUTH_HANDLERS[key] = (type(state), fn.__name__)
    bound = inspect.signature(fn).bind(state, *args, **kwargs)
    state.reauth_open = True
    state.reauth_error = ""
    state.reauth_reason = str(exc)
    state._reauth_pending = key
    state._reauth_args = list(bound.arguments.values())[1:]
    return None


def public(fn: Callable) -> Callable:
    """Marks a handler that is deliberately reachable without a session (sign-in, first run)."""
    setattr(fn, PUBLIC_ATTR, True)
    return fn


class AppState(rx.State):
    """Shell state: signed-in identity for display, organization scope, sandbox banner."""

    staff_name: str = ""
    staff_email: str = ""
    staff_role: str = ""
    org_options: list[dict[str, str]] = []
    selected_org: str = rx.LocalStorage("", name="vx_org", sync=True)
    sandbox: bool = True
    access_denied: str = ""
    # The re-authentication dialog (ASVS 3.7.1): open, its message, and the action it will run (server-side).
    reauth_open: bool = False
    reauth_error: str = ""
    reauth_reason: str = ""
    _reauth_pending: str = ""
    _reauth_args: list = []

    @rx.var
    def is_admin(self) -> bool:
        """Admin or founder: show admin-only navigation."""
        return self.staff_role in ("admin", "founder")

    @rx.var
    def is_founder(self) -> bool:
        """Founder: show founder-only navigation (Credentials)."""
        return self.staff_role == "founder"

    @rx.var
    def is_operator(self) -> bool:
        """Operator and up: show operator navigation."""
        return self.staff_role in ("operator", "admin", "founder")

    @rx.var
    def selected_org_name(self) -> str:
        """Name of the organization in scope, or 'All organizations'."""
        for option in self.org_options:
            if option["id"] == self.selected_org:
                return option["name"]
        return "All organizations"

    @rx.event
    @guarded("viewer")
    def load_shell(self):
        """Runs first on every console page: identity, organizations for the switcher, sandbox flag."""
        staff = current_staff()
        self.staff_name, self.staff_email, self.staff_role = staff.name, staff.email, staff.role
        self.sandbox = get_settings().sandbox
        with db.read_only() as session:
            orgs = org_service.list_organizations(session, include_closed=False)
        self.org_options = [{"id": str(o.id), "name": o.name} for o in orgs]
        if self.selected_org and self.selected_org not in {o["id"] for o in self.org_options}:
            self.selected_org = ""

    @rx.event
    @guarded("viewer")
    def require_page_role(self, minimum: str):
        """A page for a higher role explains itself instead of showing empty tables."""
        staff = current_staff()
        if has_role(staff.role, minimum):
            self.access_denied = ""
        else:
            self.access_denied = (f"This page is for the {minimum} role and above; you are signed in as "
                                  f"{staff.role}. Ask an administrator (admin or founder) if you need access.")
        denied = self.router.url.query_parameters.get("denied", "")
        if denied in ROLES:  # the page was loaded again after an action was refused (`_deny`): say why, once
            query = [(k, v) for k, v in parse_qsl(self.router.url.query, keep_blank_values=True) if k != "denied"]
            return [browser.toast_error(denied_message(denied), id="access-denied"),
                    browser.set_address((self.router.url.path or "/") + (f"?{urlencode(query)}" if query else ""))]
        return None

    @rx.event
    @guarded("viewer")
    def select_org(self, value: str):
        """Change the organization scope every page uses."""
        self.selected_org = "" if value == "all" else value
        # Every page scopes its data by the switcher: load the page again for the new scope. A page whose address
        # names an organization (a shared Call logs link) would override the switcher, so that part goes.
        return browser.load(_without_scope(str(self.router.url)), replace=True)

    @rx.event
    @guarded("viewer")
    async def confirm_reauth(self, form: dict):
        """The re-authentication dialog: check the password or code (off the event loop), then run the action
        that asked for it."""
        staff = current_staff()
        actor = actor_for(self, staff)
        try:
            ok = await db.run_in_transaction(lambda session: reauth.confirm(
                session, staff_id=staff.id, session_id=staff.session_id, secret=str(form.get("reauth", "")),
                actor=actor))
        except DomainError as exc:
            self.reauth_error = str(exc)
            return None
        if not ok:
            self.reauth_error = reauth.WRONG
            return None
        self.reauth_open, self.reauth_error, self.reauth_reason = False, "", ""
        pending, args = self._reauth_pending, self._reauth_args
        self._reauth_pending, self._reauth_args = "", []
        target = _REAUTH_HANDLERS.get(pending)
        if target is None:
            return browser.toast_success("Confirmed. You can now do it.")
        cls, name = target
        return getattr(cls, name)(*args)

    @rx.event
    @ui_only
    def set_reauth_open(self, value: bool):
        """Open or close the re-authentication dialog (closing drops the pending action)."""
        self.reauth_open = value
        if not value:
            self.reauth_error, self._reauth_pending, self._reauth_args = "", "", []

    @rx.event
    @guarded("viewer")
    def sign_out(self):
        """Revoke this session on the server, then clear the cookie."""
        staff = current_staff()
        with db.transaction() as session:
            auth_service.revoke_session(session, staff_id=staff.id, session_id=staff.session_id,
                                        actor=actor_for(self, staff), action="logout")
        return end_visit(routes.SIGNED_OUT_URL)

    @rx.var
    def org_scope_id(self) -> int:
        """Selected organization id, or 0 for all."""
        return int(self.selected_org) if self.selected_org.isdigit() else 0


def field_errors(exc: DomainError) -> dict[str, Any]:
    """Map an InvalidInput to {field: message} for inline messages."""
    field = getattr(exc, "field", None)
    return {field or "form": str(exc)}


RECONNECTING = ("Reconnecting: the console lost its session store for a moment. Nothing was saved; "
                "try again in a few seconds.")


def _session_store_lost(exception: BaseException) -> bool:
    """A Redis connection or timeout error, raised directly or as the cause of another error."""
    import redis.exceptions

    seen: BaseException | None = exception
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def backend_exception_handler(exception: Exception):
    """Domain errors (provider errors among them) become their own message; anything else is logged with a
    reference the user can quote."""
    if isinstance(exception, DomainError):
        return browser.toast_error(str(exception))
    if _session_store_lost(exception):
        # Redis (REDIS_URL) is gone: every page event fails the same way until it is back, then works again by
        # itself (redis-py reconnects). Say so once (one toast id), not "something went wrong" per click.
        log.warning("session store unreachable", extra={"error": type(exception).__name__})
        return browser.toast_warning(RECONNECTING, id="session-store-lost", duration=8000)
    reference = uuid.uuid4().hex[:8]
    log.error("unhandled error in an event handler", exc_info=exception, extra={"reference": reference})
    return browser.toast_error(
        f"Something went wrong on the server (reference {reference}). Nothing was saved. "
        "Try again; if it keeps happening, give the reference to the on-call engineer."
    )
