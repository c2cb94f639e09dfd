"""First run (create the founder, enrol TOTP, recovery codes) and sign-in (password, then code)."""

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
from voxanne_admin.ui.components import browser, form_error, text_field
from voxanne_admin.ui.layout import bare_page, centered_card
from voxanne_admin.ui.state import actor_for, presignin_binding, public, resolve

PENDING_TTL_S = 300


SETUP_CODE_FAILURE = ("That setup code is not right. It is printed in the server's log at start "
                      "(a line with 'setup code:').")
NO_BINDING = "Reload this page, then sign in again (your browser did not keep the sign-in cookie)."
# The sign-in and first-run forms are prerendered, so they are on screen before the app is live. Typed text would
# be lost when React takes over, and a click on the button would be the browser's own GET submit, with the
# password in the URL. Their fields are read-only and their button is disabled until the page is hydrated.
_NOT_READY = ~rx.State.is_hydrated


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


def _form_error() -> rx.Component:
    return form_error(AuthFlowState.errors.get("form", ""), id="form-error")


def _notice() -> rx.Component:
    return rx.cond(AuthFlowState.notice != "", rx.callout(AuthFlowState.notice, icon="info", width="100%",
                                                        id="notice", role="status"))


def _err(name: str):
    return AuthFlowState.errors.get(name, "")


def _founder_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Create the first founder account", size="4"),
            rx.text("This console has no staff accounts yet. The account you create now has full access; "
                    "you will set up two-factor sign-in next.", size="2", color_scheme="gray"),
            _form_error(),
            rx.cond(
                AuthFlowState.setup_code_required,
                text_field("Setup code", "setup_code", auto_complete="off", required=True, max_length=32,
                           read_only=_NOT_READY, error=_err("setup_code"),
                           hint="This console is reachable from other machines: the one-time code is in the "
                                "server's log (the line with 'setup code:')."),
            ),
            text_field("Your name", "name", auto_complete="name", required=True, max_length=120, auto_focus=True,
                       read_only=_NOT_READY, error=_err("name")),
            text_field("Work email", "email", type="email", auto_complete="email", required=True, max_length=254,
                       read_only=_NOT_READY, error=_err("email")),
            text_field("Password", "password", type="password", auto_complete="new-password", required=True,
                       read_only=_NOT_READY, max_length=256, error=_err("password"),
                       hint="At least 12 characters; a phrase of several words works well."),
            text_field("Repeat the password", "confirm", type="password", auto_complete="new-password",
                       read_only=_NOT_READY, required=True, max_length=256, error=_err("confirm")),
            rx.button("Create founder account", type="submit", disabled=_NOT_READY, width="100%", size="3"),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthFlowState.create_founder,
        reset_on_submit=False,
        width="100%",
    )


def _enrol_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Set up two-factor sign-in", size="4"),
            _notice(),
            rx.text("Scan this QR code with an authenticator app (Google Authenticator, 1Password, Authy...), "
                    "then enter the 6-digit code it shows.", size="2"),
            rx.center(rx.image(src=AuthFlowState.qr_data_uri, alt="QR code for your authenticator app",
                               width="12em", height="12em", id="totp-qr"), width="100%"),
            rx.text("Can't scan? Enter this key in the app:", size="2", color_scheme="gray"),
            rx.code(AuthFlowState.totp_secret, id="totp-secret", size="3"),
            text_field("6-digit code", "code", input_mode="numeric", auto_complete="one-time-code", max_length=8,
                       required=True, auto_focus=True, error=_err("code")),
            rx.button("Confirm and continue", type="submit", width="100%", size="3"),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthFlowState.confirm_enrolment,
        reset_on_submit=True,
        width="100%",
    )


def _codes_step() -> rx.Component:
    return rx.vstack(
        rx.heading("Save your recovery codes", size="4"),
        rx.text("Each code signs you in once if you lose your phone. They are shown only now: store them in "
                "your password manager.", size="2"),
        rx.grid(rx.foreach(AuthFlowState.recovery_codes, lambda c: rx.code(c, size="3")), columns="2",
                spacing="2", id="recovery-codes", width="100%"),
        rx.button("I saved them: continue to the console", on_click=AuthFlowState.finish_enrolment, width="100%",
                  size="3", id="finish"),
        spacing="3",
        width="100%",
    )


@bare_page(routes.SETUP, "First run", on_load=[AuthFlowState.check_setup])
def setup_page() -> rx.Component:
    """First run: founder account, TOTP, recovery codes."""
    return centered_card(
        rx.match(
            AuthFlowState.step,
            ("enrol", _enrol_step()),
            ("codes", _codes_step()),
            _founder_form(),
        )
    )


def _password_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Sign in", size="4"),
            _notice(),
            _form_error(),
            text_field("Email", "email", type="email", auto_complete="username", required=True, max_length=254,
                       read_only=_NOT_READY, auto_focus=True),
            text_field("Password", "password", type="password", auto_complete="current-password", required=True,
                       read_only=_NOT_READY, max_length=256),
            rx.button("Continue", type="submit", disabled=_NOT_READY, width="100%", size="3"),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthFlowState.submit_password,
        reset_on_submit=False,
        width="100%",
    )


def _sso_button() -> rx.Component:
    """'Sign in with <provider>': a real link (keyboard and screen-reader friendly) styled as a button."""
    return rx.cond(
        AuthFlowState.sso_label != "",
        rx.vstack(
            rx.hstack(rx.separator(size="4"), rx.text("or", size="2", color_scheme="gray"),
                      rx.separator(size="4"), align="center", width="100%"),
            rx.cond(
                AuthFlowState.sso_down,
                rx.callout("Single sign-on is unavailable right now. Sign in with your password above.",
                           icon="triangle-alert", color_scheme="amber", width="100%", id="sso-unavailable"),
                rx.button(rx.el.a(rx.icon("key-round", size=18, aria_hidden="true"), AuthFlowState.sso_label,
                                  href="/api/auth/oidc/start", id="sso-start",
                                  custom_attrs={"reloadDocument": True}),  # a full page load, not a route
                          as_child=True, size="3", width="100%", variant="outline"),
            ),
            spacing="3",
            width="100%",
        ),
    )


def _code_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Two-factor check", size="4"),
            _notice(),
            _form_error(),
            rx.text("Enter the 6-digit code from your authenticator app, or one of your recovery codes "
                    "(like a1b2c-3d4e5).", size="2"),
            text_field("Code", "code", auto_complete="one-time-code", max_length=16, required=True,
                       auto_focus=True, error=_err("code"), hint="6 digits, or a recovery code."),
            rx.button("Sign in", type="submit", width="100%", size="3"),
            rx.button("Start again", on_click=AuthFlowState.back_to_password, variant="ghost", type="button"),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthFlowState.submit_code,
        reset_on_submit=True,
        width="100%",
    )


def _change_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Choose your own password", size="4"),
            _notice(),
            _form_error(),
            text_field("New password", "password", type="password", auto_complete="new-password", required=True,
                       max_length=256, auto_focus=True, error=_err("password"),
                       hint="At least 12 characters; a phrase of several words works well."),
            text_field("Repeat the new password", "confirm", type="password", auto_complete="new-password",
                       required=True, max_length=256, error=_err("confirm")),
            rx.button("Save and continue", type="submit", width="100%", size="3", id="save-new-password"),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthFlowState.submit_new_password,
        reset_on_submit=False,
        width="100%",
    )


@bare_page(routes.LOGIN, "Sign in", on_load=[AuthFlowState.check_login])
def login_page() -> rx.Component:
    """Sign-in: password, then TOTP or recovery code; enrolment if the account has none."""
    return centered_card(
        rx.match(
            AuthFlowState.step,
            ("code", _code_form()),
            ("enrol", _enrol_step()),
            ("codes", _codes_step()),
            ("change", _change_form()),
            rx.vstack(_password_form(), _sso_button(), spacing="3", width="100%"),
        )
    )


__all__ = ["AuthFlowState", "DomainError", "login_page", "setup_page"]
