"""The first-run page (founder form, TOTP enrolment, recovery codes) and the sign-in page (password, code,
password change), drawn from `AuthFlowState`."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui import routes
from voxanne_admin.ui.components import form_error, text_field
from voxanne_admin.ui.layout import bare_page, centered_card
from voxanne_admin.ui.pages.auth.state import AuthFlowState

# The sign-in and first-run forms are prerendered, so they are on screen before the app is live. Typed text would
# be lost when React takes over, and a click on the button would be the browser's own GET submit, with the
# password in the URL. Their fields are read-only and their button is disabled until the page is hydrated.
_NOT_READY = ~rx.State.is_hydrated

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
