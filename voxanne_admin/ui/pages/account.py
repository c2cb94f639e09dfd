"""Account: your sessions (sign out one or everywhere), password, recovery codes."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.auth import reauth, signin
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import tokens as token_service
from voxanne_admin.auth.models import ApiTokenRead, SessionRead
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import Column, browser, data_table, form_error, page_header, text_field
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, end_visit, guarded, ui_only


class AccountState(AppState):
    """The signed-in person's own account."""

    sessions: list[SessionRead] = []
    recovery_left: int = 0
    new_codes: list[str] = []
    errors: dict[str, str] = {}
    api_tokens: list[ApiTokenRead] = []
    new_token: str = ""
    loaded: bool = False

    def _refresh(self) -> None:
        staff = current_staff()
        with db.transaction() as session:
            self.sessions = auth_service.list_sessions(session, staff_id=staff.id,
                                                       current_session_id=staff.session_id)
            self.recovery_left = signin.remaining_recovery_codes(session, staff.id)
            self.api_tokens = token_service.list_tokens(session, staff_id=staff.id)

    @rx.event
    @guarded("viewer")
    def load(self):
        """Sessions and recovery-code count."""
        self.new_codes = []
        self.new_token = ""
        self.errors = {}
        self._refresh()
        self.loaded = True

    @rx.event
    @guarded("operator")
    def create_token(self, form: dict):
        """A monitoring token for /api/webhooks/* (shown once)."""
        staff = current_staff()
        self.errors = {}
        try:
            with db.transaction() as session:
                reauth.require_recent(session, session_id=staff.session_id, what="creating an API token")
                self.new_token = token_service.create(session, staff_id=staff.id, name=form.get("token_name", ""),
                                                      actor=actor_for(self, staff))
        except InvalidInput as exc:
            self.errors = {exc.field or "form": str(exc)}
            return None
        self._refresh()
        return None

    @rx.event
    @guarded("operator")
    def revoke_token(self, token_id: int):
        """Revoke one of your tokens."""
        staff = current_staff()
        with db.transaction() as session:
            token_service.revoke(session, staff_id=staff.id, token_id=token_id, actor=actor_for(self, staff))
        self.new_token = ""
        self._refresh()
        return browser.toast_success("Token revoked.")

    @rx.event
    @guarded("viewer")
    def revoke(self, session_id: str):
        """Sign out one session; signing out the current one ends this visit."""
        staff = current_staff()
        with db.transaction() as session:
            auth_service.revoke_session(session, staff_id=staff.id, session_id=session_id,
                                        actor=actor_for(self, staff))
        if session_id == staff.session_id:
            return end_visit(routes.SIGNED_OUT_URL)
        self._refresh()
        return browser.toast_success("That session is signed out.")

    @rx.event
    @guarded("viewer")
    def revoke_all(self):
        """Sign out everywhere, including here."""
        staff = current_staff()
        with db.transaction() as session:
            auth_service.revoke_all_sessions(session, staff_id=staff.id, actor=actor_for(self, staff))
        return end_visit(routes.SIGNED_OUT_URL)

    @rx.event
    @guarded("viewer")
    def change_password(self, form: dict):
        """Change your password (current one required)."""
        staff = current_staff()
        self.errors = {}
        if form.get("password", "") != form.get("confirm", ""):
            self.errors = {"confirm": "The two new passwords do not match."}
            return None
        try:
            with db.transaction() as session:
                user = auth_service.get(session, staff_id=staff.id)
                ended = auth_service.change_password(session, user=user, current=form.get("current", ""),
                                                     new=form.get("password", ""), actor=actor_for(self, staff),
                                                     keep_session_id=staff.session_id)
        except InvalidInput as exc:
            self.errors = {exc.field or "form": str(exc)}
            return None
        self._refresh()
        return browser.toast_success("Password changed. " + (f"{ended} other session{'s' if ended != 1 else ''} signed "
                                                        "out; " if ended else "") + "your API tokens were revoked.")

    @rx.event
    @ui_only
    def forget_shown_secrets(self):
        """The person saved the new codes / token: the server forgets them too (they were shown once)."""
        self.new_codes = []
        self.new_token = ""

    @rx.event
    @guarded("viewer")
    def regenerate_codes(self):
        """New recovery codes, shown once; the old ones stop working."""
        staff = current_staff()
        try:
            with db.transaction() as session:
                reauth.require_recent(session, session_id=staff.session_id, what="new recovery codes")
                user = auth_service.get(session, staff_id=staff.id)
                self.new_codes = signin.regenerate_recovery_codes(session, user=user,
                                                                        actor=actor_for(self, staff))
        except reauth.ReauthRequired:
            raise
        except DomainError as exc:
            return browser.toast_error(str(exc))
        self._refresh()
        return None


def _session_row(s: SessionRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.hstack(rx.text(s.user_agent, size="1", max_width="28em", trim="both"),
                                           rx.badge("via ", s.provider, variant="outline", color_scheme="gray"),
                                           rx.cond(s.current, rx.badge("this session", color_scheme="green")))),
        rx.table.cell(s.ip),
        rx.table.cell(rx.text(s.created_at, size="1")),
        rx.table.cell(rx.text(s.last_seen_at, size="1")),
        rx.table.cell(rx.button("Sign out this session", size="1", variant="soft", color_scheme="red",
                                on_click=AccountState.revoke(s.id))),
    )


def _token_row(t: ApiTokenRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(t.name), rx.table.cell(rx.code(t.prefix, "…")),
        rx.table.cell(rx.text(t.created_at, size="1")), rx.table.cell(rx.text(t.last_used_at, size="1")),
        rx.table.cell(rx.text(t.expires_at, size="1")),
        rx.table.cell(rx.button("Revoke", size="1", variant="soft", color_scheme="red",
                                aria_label="Revoke token " + t.name, on_click=AccountState.revoke_token(t.id))),
    )


def _tokens_card() -> rx.Component:
    err = AccountState.errors
    return rx.card(
        rx.vstack(
            rx.heading("API tokens for monitoring", size="3", as_="h2"),
            rx.text("Tokens read the webhook figures under /api/webhooks/ with your role. Send them as "
                    "'Authorization: Bearer vxt_…'.", size="2", color_scheme="gray"),
            rx.cond(AccountState.new_token != "",
                    rx.callout(rx.vstack(rx.text("Copy this token now; it is not shown again:"),
                                         rx.code(AccountState.new_token, id="new-token"),
                                         rx.button("I copied it: hide the token", size="1", variant="soft",
                                                   on_click=AccountState.forget_shown_secrets)),
                               icon="key-round",
                               color_scheme="green", width="100%", role="status")),
            rx.form(
                rx.hstack(
                    text_field("Token name", "token-name", name="token_name",
                               placeholder="What will use it, e.g. Grafana", max_length=80, required=True,
                               error=err.get("token_name", "")),
                    rx.button("Create token", type="submit", margin_top="1.6em"),
                    align="start", width="100%", max_width="32em",
                ),
                on_submit=AccountState.create_token,
                reset_on_submit=True,
            ),
            data_table(["Name", "Token", "Created", "Last used", "Expires", Column("Actions", hide_label=True)],
                       AccountState.api_tokens, _token_row, label="Your API tokens", empty="No tokens yet.",
                       id="tokens-table"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _password_card() -> rx.Component:
    err = AccountState.errors
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Change password", size="3", as_="h2"),
                form_error(err.get("form", ""), id="password-form-error"),
                text_field("Current password", "current-password", name="current", type="password", required=True,
                           auto_complete="current-password", max_length=256, error=err.get("current", "")),
                text_field("New password", "new-password", name="password", type="password", required=True,
                           auto_complete="new-password", max_length=256, error=err.get("password", ""),
                           hint="At least 12 characters."),
                text_field("Repeat the new password", "confirm-password", name="confirm", type="password",
                           required=True, auto_complete="new-password", max_length=256,
                           error=err.get("confirm", "")),
                rx.button("Change password", type="submit"),
                spacing="3",
            ),
            on_submit=AccountState.change_password,
            reset_on_submit=True,
            id="password-form",
        ),
        flex="1",
        min_width="20em",
    )


def _codes_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Recovery codes", size="3", as_="h2"),
            rx.text(AccountState.recovery_left, " unused recovery codes left.", size="2", id="codes-left"),
            rx.cond(
                AccountState.new_codes.length() > 0,
                rx.vstack(
                    rx.text("Your new codes (shown once):", size="2", weight="medium"),
                    rx.grid(rx.foreach(AccountState.new_codes, lambda c: rx.code(c)), columns="2", spacing="2",
                            id="new-codes"),
                    rx.button("I saved them: hide the codes", size="1", variant="soft", id="hide-codes",
                              on_click=AccountState.forget_shown_secrets),
                    role="status",
                ),
            ),
            rx.button("Make new recovery codes", variant="soft", on_click=AccountState.regenerate_codes),
            spacing="3",
        ),
        flex="1",
        min_width="20em",
    )


@page(routes.ACCOUNT, "Account", on_load=[AccountState.load])
def account_page() -> rx.Component:
    """Your account."""
    return rx.vstack(
        page_header("Account", "Your sessions, password and recovery codes.",
                    rx.button("Sign out everywhere", color_scheme="red", variant="soft",
                              on_click=AccountState.revoke_all, id="revoke-all")),
        rx.card(
            rx.vstack(
                rx.heading("Signed in as", size="3", as_="h2"),
                rx.text(AppState.staff_name, " · ", AppState.staff_email, " · role ", rx.badge(AppState.staff_role)),
            ),
            width="100%",
        ),
        rx.heading("Active sessions", size="4", padding_top="0.5em", as_="h2"),
        data_table(["Browser", "IP address", "Signed in", "Last seen", Column("Actions", hide_label=True)],
                   AccountState.sessions, _session_row, label="Your active sessions", empty="No active sessions.",
                   loading=~AccountState.loaded, id="sessions-table"),
        rx.flex(_password_card(), _codes_card(), spacing="3", wrap="wrap", width="100%"),
        rx.cond(AppState.is_operator, _tokens_card()),
        width="100%",
        align="stretch",
    )
