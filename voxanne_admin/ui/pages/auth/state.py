"""The state of first run (create the founder, enrol TOTP, recovery codes) and sign-in (password, then code)."""

from __future__ import annotations

import asyncio
import time

import reflex as rx
import segno

from voxanne_admin import db
from voxanne_admin.api.auth import bound_establish_url
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import oidc, setup_code, signin, sso
from voxanne_admin.auth import service as auth_service
from voxanne_admin.errors import Conflict, DomainError, InvalidInput, RateLimited
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.state import actor_for, presignin_binding, public, resolve

PENDING_TTL_S = 300


SETUP_CODE_FAILURE = ("That setup code is not right. It is printed in the server's log at start "
                      "(a line with 'setup code:').")
NO_BINDING = "Reload this page, then sign in again (your browser did not keep the sign-in cookie)."


def _password_step(email: str, password: str, actor: Actor) -> signin.SignInResult:
    """argon2 and the database on a worker thread; the caller pads without blocking the event loop."""
    with db.transaction() as session:
        return signin.authenticate_password(session, email=email, password=password, actor=actor, pad=False)


def _create_founder(form: dict, actor: Actor) -> int:
    """Password policy, argon2 and the insert on a worker thread (zxcvbn and argon2 are CPU-bound)."""
    with db.transaction() as session:
        user = auth_service.create_first_founder(session, email=form.get("email", ""), name=form.get("name", ""),
                                                 password=form.get("password", ""), actor=actor)
        return user.id or 0


def _qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


class AuthFlowState(rx.State):
    """Sign-in and first-run steps. The pending staff id lives only on the server."""

    step: str = "form"  # form | code | enrol | codes | change
    errors: dict[str, str] = {}
    notice: str = ""
    qr_data_uri: str = ""
    totp_secret: str = ""
    recovery_codes: list[str] = []
    busy: bool = False
    sso_label: str = ""  # "Sign in with Okta" when single sign-on is configured
    sso_down: bool = False
    setup_code_required: bool = False
    _pending_staff_id: int = 0
    _pending_provider: str = ""
    _pending_until: float = 0.0
    _enrolled: bool = False
    _must_change: bool = False  # an administrator chose the password: replace it before the session opens
    _factors_done: bool = False

    def _reset_flow(self) -> None:
        self.step = "form"
        self.errors = {}
        self.qr_data_uri = ""
        self.totp_secret = ""
        self.recovery_codes = []
        self._pending_staff_id = 0
        self._pending_until = 0.0
        self._pending_provider = ""
        self._enrolled = False
        self._must_change = False
        self._factors_done = False

    def _pending(self) -> int | None:
        if self._pending_staff_id and time.time() < self._pending_until:
            return self._pending_staff_id
        return None

    def _start_enrolment(self, staff_id: int) -> None:
        with db.transaction() as session:
            user = auth_service.get(session, staff_id=staff_id)
            secret, uri = signin.begin_totp_enrolment(session, user=user)
        self.totp_secret = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        self.qr_data_uri = _qr_data_uri(uri)
        self.step = "enrol"

    # ------------------------------------------------------------ first run

    @rx.event
    @public
    def check_setup(self):
        """The first-run page is only open while no staff account exists."""
        self.notice = ""
        with db.read_only() as session:
            exists = auth_service.staff_exists(session)
        if exists and self.step == "form":
            return rx.redirect(routes.LOGIN)
        self.setup_code_required = not exists and setup_code.required()
        return None

    def _handoff(self, ticket: str):
        """Send this browser (only this one: the link is bound to its pre-sign-in cookie) to the hand-off."""
        return browser.load(bound_establish_url(ticket, presignin_binding(self)))

    @rx.event
    @public
    async def create_founder(self, form: dict):
        """Create the first founder account (with the setup code when one is required), then start TOTP."""
        self.errors = {}
        password = form.get("password", "")
        if password != form.get("confirm", ""):
            self.errors = {"confirm": "The two passwords do not match."}
            return None
        if not presignin_binding(self):
            self.errors = {"form": NO_BINDING}
            return None
        if not setup_code.check(str(form.get("setup_code", ""))):
            self.setup_code_required = True
            self.errors = {"setup_code": SETUP_CODE_FAILURE}
            return None
        try:
            staff_id = await asyncio.to_thread(_create_founder, form, actor_for(self))
            setup_code.clear()
            self.setup_code_required = False
        except InvalidInput as exc:
            self.errors = {exc.field or "form": str(exc)}
            return None
        except Conflict as exc:
            self.errors = {"form": str(exc)}
            return rx.redirect(routes.LOGIN)
        self._pending_staff_id = staff_id
        self._pending_until = time.time() + PENDING_TTL_S * 2
        self._start_enrolment(staff_id)
        return None

    # ------------------------------------------------------------ enrolment (first run and first sign-in)

    @rx.event
    @public
    def confirm_enrolment(self, form: dict):
        """Check the first code from the authenticator app; show recovery codes once."""
        self.errors = {}
        staff_id = self._pending()
        if staff_id is None:
            self._reset_flow()
            self.notice = "Your setup session expired. Sign in again to finish two-factor setup."
            return rx.redirect(routes.LOGIN)
        try:
            with db.transaction() as session:
                user = auth_service.get(session, staff_id=staff_id)
                actor = actor_for(self)
                actor = type(actor)(type="staff", id=str(user.id), email=user.email, ip=actor.ip,
                                    user_agent=actor.user_agent)
                codes = signin.confirm_totp_enrolment(session, user=user, code=form.get("code", ""),
                                                            actor=actor)
        except InvalidInput as exc:
            self.errors = {"code": str(exc)}
            return None
        self.recovery_codes = codes
        self.qr_data_uri = ""
        self.totp_secret = ""
        self._enrolled = True
        self.step = "codes"
        return None

    @rx.event
    @public
    def finish_enrolment(self):
        """After the recovery codes were shown: open the session and go to the console."""
        staff_id = self._pending()
        if staff_id is None or not self._enrolled:
            self._reset_flow()
            return rx.redirect(routes.LOGIN)
        if self._must_change:
            return self._ask_new_password()
        with db.transaction() as session:
            user = auth_service.get(session, staff_id=staff_id)
            user.last_login_at = auth_service.utcnow()
            ticket = auth_service.create_session(session, user=user, actor=actor_for(self),
                                                 provider=self._pending_provider)
        self._reset_flow()
        return self._handoff(ticket)

    # ------------------------------------------------------------ single sign-on

    def _load_sso(self) -> None:
        configured, usable, _why = oidc.availability()
        self.sso_label = f"Sign in with {oidc.provider_name()}" if configured else ""
        self.sso_down = configured and not usable

    def _redeem_sso(self, ticket: str) -> None:
        """After the IdP step: the TOTP check (or enrolment) for the person the IdP named."""
        with db.transaction() as session:
            found = sso.redeem_ticket(session, ticket=ticket)
            user = auth_service.get(session, staff_id=found[0]) if found else None
            needs_enrolment = user is not None and not user.mfa_enabled
        if user is None:
            self.errors = {"form": sso.MESSAGES["state mismatch"]}
            return
        self._pending_staff_id = user.id or 0
        self._pending_until = time.time() + PENDING_TTL_S
        self._pending_provider = oidc.provider_name()
        if needs_enrolment:
            self.notice = "Two-factor sign-in is required. Set it up now to continue."
            self._start_enrolment(self._pending_staff_id)
        else:
            self.notice = f"Signed in with {self._pending_provider}. Now confirm with your authenticator app."
            self.step = "code"

    # ------------------------------------------------------------ sign-in

    @rx.event
    @public
    def check_login(self):
        """Fresh install: go to first run; already signed in: go to the console."""
        params = self.router.url.query_parameters
        with db.read_only() as session:
            exists = auth_service.staff_exists(session)
        if not exists:
            return rx.redirect(routes.SETUP)
        if resolve(self) is not None:
            return rx.redirect(routes.OVERVIEW)
        if self.step in ("codes",):
            return None
        self._reset_flow()
        self._load_sso()
        if params.get("sso_ticket"):
            self._redeem_sso(str(params.get("sso_ticket")))
            return None
        if params.get("sso_error"):
            self.notice = ""
            self.errors = {"form": sso.message_for(str(params.get("sso_error")))}
            return None
        if params.get("signed_out"):
            self.notice = "You are signed out."
        elif params.get("expired"):
            self.notice = "That sign-in link expired. Sign in again."
        elif params.get("ended"):
            self.notice = ("Your session ended: it was signed out from another place, timed out after inactivity, "
                           "or reached its 7-day limit. Sign in again.")
        else:
            self.notice = ""
        return None

    @rx.event
    @public
    async def submit_password(self, form: dict):
        """Step 1: email and password (argon2 on a worker thread; the constant-time padding never blocks)."""
        self.errors = {}
        self.notice = ""
        if not presignin_binding(self):
            self.errors = {"form": NO_BINDING}
            return None
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(_password_step, str(form.get("email", "")),
                                             str(form.get("password", "")), actor_for(self))
        except RateLimited as exc:
            self.errors = {"form": f"{exc} (HTTP 429)"}
            return None
        finally:
            await asyncio.sleep(max(0.0, signin.MIN_RESPONSE_S - (time.monotonic() - started)))
        if not result.ok:
            self.errors = {"form": result.message}
            return None
        self._pending_staff_id = result.staff_id or 0
        self._pending_until = time.time() + PENDING_TTL_S
        self._must_change = result.must_change_password
        if result.needs_enrolment:
            self.notice = "Two-factor sign-in is required. Set it up now to continue."
            self._start_enrolment(self._pending_staff_id)
        else:
            self.step = "code"
        return None

    @rx.event
    @public
    def submit_code(self, form: dict):
        """Step 2: a TOTP code or a recovery code."""
        self.errors = {}
        staff_id = self._pending()
        if staff_id is None:
            self._reset_flow()
            self.errors = {"form": "Your sign-in expired. Enter your email and password again."}
            return None
        try:
            with db.transaction() as session:
                result = signin.verify_second_factor(session, staff_id=staff_id, code=form.get("code", ""),
                                                           actor=actor_for(self))
        except RateLimited as exc:
            self.errors = {"code": f"{exc} (HTTP 429)"}
            return None
        if not result.ok:
            self.errors = {"code": result.message}
            if result.locked_until:
                self._reset_flow()
                self.errors = {"form": result.message}
            return None
        if self._must_change:
            return self._ask_new_password()
        with db.transaction() as session:
            user = auth_service.get(session, staff_id=staff_id)
            ticket = auth_service.create_session(session, user=user, actor=actor_for(self),
                                                 provider=self._pending_provider)
        self._reset_flow()
        return self._handoff(ticket)

    def _ask_new_password(self) -> None:
        """Both factors passed, but the password was chosen by an administrator: replace it first."""
        self._factors_done = True
        self._pending_until = time.time() + PENDING_TTL_S
        self.recovery_codes = []
        self.notice = "Your password was set by an administrator. Choose your own to continue."
        self.step = "change"

    @rx.event
    @public
    def submit_new_password(self, form: dict):
        """First sign-in with an administrator's password: the new password, then the session opens."""
        self.errors = {}
        staff_id = self._pending()
        if staff_id is None or not (self._factors_done and self._must_change):
            self._reset_flow()
            self.errors = {"form": "Your sign-in expired. Enter your email and password again."}
            return None
        if form.get("password", "") != form.get("confirm", ""):
            self.errors = {"confirm": "The two passwords do not match."}
            return None
        try:
            with db.transaction() as session:
                user = auth_service.get(session, staff_id=staff_id)
                actor = actor_for(self)
                staff_actor = type(actor)(type="staff", id=str(user.id), email=user.email, ip=actor.ip,
                                          user_agent=actor.user_agent)
                auth_service.replace_initial_password(session, user=user, new=form.get("password", ""),
                                                      actor=staff_actor)
                ticket = auth_service.create_session(session, user=user, actor=actor,
                                                     provider=self._pending_provider)
        except InvalidInput as exc:
            self.errors = {exc.field or "password": str(exc)}
            return None
        except DomainError as exc:
            self._reset_flow()
            self.errors = {"form": str(exc)}
            return None
        self._reset_flow()
        return self._handoff(ticket)  # bound to this browser's pre-sign-in cookie (login CSRF)

    @rx.event
    @public
    def back_to_password(self):
        """Start the sign-in again."""
        self._reset_flow()
