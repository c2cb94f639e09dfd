"""Credentials (founders only): provider credentials with their source, last 4 characters, age and last use;
rotation; the spend guard's limits and pauses; the emergency rotation after a leak.

No secret ever reaches the browser: the state holds only read models with the last 4 characters. A new value
typed into the rotate form goes to the handler and is never stored in a state var.
"""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.calls import spend_guard
from voxanne_admin.calls.spend_models import LimitsRead, TripRead
from voxanne_admin.credentials import flows as credential_flows
from voxanne_admin.credentials import runtime
from voxanne_admin.credentials import service as credential_service
from voxanne_admin.credentials.models import CredentialRead
from voxanne_admin.errors import DomainError
from voxanne_admin.flags import snapshot
from voxanne_admin.settings import get_settings
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    Column,
    browser,
    confirm_dialog,
    data_table,
    form_dialog,
    form_error,
    page_header,
    text_field,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

HINTS = {
    "vapi_key": "The new private key from Vapi's dashboard (API Keys). It is checked against Vapi before it "
                "becomes active.",
    "vapi_webhook_secret": "The new secret you set on Vapi's server URL (at least 16 characters). The old secret "
                           "stays accepted for the grace window.",
    "twilio_api_key": "SID:secret of an API Key from Twilio's console.",
    "twilio_auth_token": "The account's auth token from Twilio's console (it validates Twilio's signatures).",
    "slack_webhook_url": "The incoming-webhook URL from Slack (https://hooks.slack.com/...).",
}
GENERATED = {
    "vapi_key": "Sandbox: leave it empty and the sandbox issues a new key.",
    "vapi_webhook_secret": "Sandbox: leave it empty and a new secret is generated (the sandbox follows it).",
    "twilio_api_key": "Leave it empty and a new API Key is created at Twilio, verified, and the old one deleted.",
}


class CredentialsState(AppState):
    """Read models only: never a credential's value."""

    credentials: list[CredentialRead] = []
    old_count: int = 0
    trips: list[TripRead] = []
    limits: LimitsRead = LimitsRead(org_calls_per_hour=0, org_cost_per_day="", global_calls_per_hour=0,
                                    global_cost_per_day="")
    grace_hours: float = 24
    max_age_days: int = 90
    loaded: bool = False
    rotate_open: bool = False
    rotate_name: str = ""
    rotate_label: str = ""
    rotate_hint: str = ""
    rotate_busy: bool = False
    rotate_error: str = ""
    rotate_notes: list[str] = []
    limits_error: str = ""
    emergency_open: bool = False
    emergency_busy: bool = False
    emergency_done: list[str] = []

    def _refresh(self) -> None:
        settings = get_settings()
        runtime.flush_uses()
        with db.read_only() as session:
            self.credentials = credential_service.list_reads(session, settings=settings)
            self.trips = spend_guard.open_trips(session)
            self.limits = spend_guard.limits(session)
        self.old_count = sum(1 for c in self.credentials if c.old)
        self.grace_hours = settings.credential_grace_hours
        self.max_age_days = settings.credential_max_age_days
        self.loaded = True

    @rx.event
    @guarded("founder")
    def load(self):
        """Credentials, limits and open pauses."""
        self._refresh()

    @rx.event
    @guarded("founder")
    def open_rotate(self, name: str):
        """Open the rotate dialog for one credential."""
        k = credential_service.kind(name)
        self.rotate_name, self.rotate_label, self.rotate_error = k.name, k.label, ""
        extra = GENERATED.get(k.name, "") if (get_settings().sandbox or k.name == "twilio_api_key") else ""
        self.rotate_hint = " ".join(filter(None, [HINTS.get(k.name, ""), extra]))
        self.rotate_open = True

    @rx.event
    @ui_only
    def close_rotate(self, open_: bool = False):
        """Close the dialog."""
        if not open_:
            self.rotate_open = False

    @rx.event
    @guarded("founder")
    async def rotate(self, form: dict):
        """Verify the new value at the provider, then activate it; the value itself is never kept in the state."""
        staff = current_staff()
        self.rotate_busy, self.rotate_error = True, ""
        yield
        try:
            result = await credential_flows.rotate(self.rotate_name, actor=actor_for(self, staff),
                                                   actor_role=staff.role, value=str(form.get("value") or ""))
        except DomainError as exc:
            self.rotate_busy, self.rotate_error = False, str(exc)
            return
        self.rotate_busy, self.rotate_open = False, False
        self.rotate_notes = result.notes
        self._refresh()
        yield browser.toast_success(f"{self.rotate_label} rotated: now ••••{result.last4}.")

    @rx.event
    @guarded("founder")
    def save_limits(self, form: dict):
        """Set the spend guard's limits of one scope (org or global)."""
        staff = current_staff()
        scope = str(form.get("scope") or "")
        try:
            with db.transaction() as session:
                spend_guard.set_limits(session, scope=scope, calls_per_hour=str(form.get("calls_per_hour", "")),
                                       cost_per_day=str(form.get("cost_per_day", "")), actor=actor_for(self, staff),
                                       actor_role=staff.role)
        except DomainError as exc:
            self.limits_error = str(exc)
            return
        self.limits_error = ""
        self._refresh()
        return browser.toast_success("Spend guard limits saved.")

    @rx.event
    @guarded("founder")
    def resume(self, trip_id: int):
        """Turn outbound calling back on for a paused scope."""
        staff = current_staff()
        try:
            with db.transaction() as session:
                trip = spend_guard.resume(session, trip_id=int(trip_id), actor=actor_for(self, staff),
                                          actor_role=staff.role)
        except DomainError as exc:
            return browser.toast_error(str(exc))
        snapshot.mark_dirty()
        self._refresh()
        return browser.toast_success(f"Outbound calling is on again for {trip.scope}.")

    @rx.event
    @guarded("founder")
    def ask_emergency(self):
        """Open the emergency confirmation."""
        self.emergency_open = True

    @rx.event
    @ui_only
    def cancel_emergency(self):
        """Close it without doing anything."""
        self.emergency_open = False

    @rx.event
    @guarded("founder")
    async def emergency(self):
        """Pause outbound calling and rotate everything the console can."""
        staff = current_staff()
        self.emergency_busy = True
        yield
        try:
            self.emergency_done = await credential_flows.emergency_rotate(actor=actor_for(self, staff),
                                                                          actor_role=staff.role)
        except DomainError as exc:
            self.emergency_busy, self.emergency_open = False, False
            yield browser.toast_error(str(exc))
            return
        self.emergency_busy, self.emergency_open = False, False
        self._refresh()
        yield browser.toast_warning("Emergency rotation done: finish the steps listed at the providers.")


def _value_cell(c: CredentialRead) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.cond(c.masked != "", rx.code(c.masked), rx.text("—", color_scheme="gray")),
            rx.cond(c.sandbox, rx.badge("sandbox secret", color_scheme="blue")),
            rx.cond(c.old, rx.badge("rotation due", color_scheme="amber")),
            spacing="2", align="center", wrap="wrap",
        ),
        rx.cond(c.previous_masked != "", rx.text("Old ", c.previous_masked, " accepted until ", c.previous_until,
                                                 size="1", color_scheme="gray")),
        spacing="1",
    )


def _credential_row(c: CredentialRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(c.label, weight="medium")),
        rx.table.cell(_value_cell(c)),
        rx.table.cell(rx.text(c.source, size="1")),
        rx.table.cell(rx.cond(c.age != "", c.age, "—")),
        rx.table.cell(rx.cond(c.last_used != "", c.last_used, "—")),
        rx.table.cell(rx.cond(
            c.read_only,
            rx.text("Read-only: change it in the environment", size="1", color_scheme="gray"),
            rx.button("Rotate", size="1", aria_label="Rotate: " + c.label,
                      on_click=CredentialsState.open_rotate(c.name)),
        )),
    )


def _trip_row(t: TripRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(t.scope),
        rx.table.cell(rx.text(t.reason, size="1")),
        rx.table.cell(rx.text(t.tripped_at, size="1")),
        rx.table.cell(rx.button("Turn calling back on", size="1", aria_label="Turn outbound calling back on: " +
                                t.scope, on_click=CredentialsState.resume(t.id))),
    )


def _limits_form(scope: str, title: str, calls, cost) -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(title, size="3", as_="h3"),
            rx.el.input(type="hidden", name="scope", value=scope),
            text_field("Outbound calls per hour", f"{scope}-calls", name="calls_per_hour",
                       default_value=calls.to_string(), key=calls.to_string(), input_mode="numeric", required=True),
            text_field("Provider cost per day (USD)", f"{scope}-cost", name="cost_per_day", default_value=cost,
                       key=cost, input_mode="decimal", required=True),
            rx.button("Save", type="submit", id=f"save-{scope}-limits"),
            spacing="2", align="start",
        ),
        on_submit=CredentialsState.save_limits,
        flex="1", min_width="16em",
    )


def _rotate_dialog() -> rx.Component:
    return form_dialog(
        rx.text("Rotate: ", CredentialsState.rotate_label),
        CredentialsState.rotate_hint,
        text_field("New value", "credential-value", name="value", type="password", auto_complete="off",
                   spell_check=False, hint="Shown nowhere after saving: only its last 4 characters."),
        open=CredentialsState.rotate_open, on_open_change=CredentialsState.close_rotate,
        on_submit=CredentialsState.rotate, submit_label="Verify and activate", busy=CredentialsState.rotate_busy,
        error=CredentialsState.rotate_error, id="rotate-dialog", submit_id="rotate-submit", reset_on_submit=True,
    )


@page(routes.CREDENTIALS, "Credentials", on_load=[CredentialsState.load])
def credentials_page() -> rx.Component:
    """Provider credentials, the spend guard and the leak response."""
    loading = ~CredentialsState.loaded
    return rx.vstack(
        page_header("Credentials", "Provider keys, stored encrypted at rest. Only the last 4 characters are ever "
                                   "shown. A new key is checked against the provider before it becomes active."),
        rx.cond(CredentialsState.old_count > 0, rx.callout(
            rx.text(CredentialsState.old_count, " credentials are ", CredentialsState.max_age_days,
                    " days old or older: rotate them (Twilio recommends every 90 days)."),
            icon="triangle-alert", color_scheme="amber", id="credentials-age-warning")),
        data_table(["Credential", "Value", "Source", "Age", "Last used", Column("Actions", hide_label=True)],
                   CredentialsState.credentials, _credential_row, label="Provider credentials", loading=loading,
                   empty="No credentials.", id="credentials-table"),
        rx.cond(CredentialsState.rotate_notes.length() > 0, rx.callout(
            rx.vstack(rx.foreach(CredentialsState.rotate_notes, lambda n: rx.text(n, size="2")), spacing="1"),
            icon="info", color_scheme="blue", id="rotation-notes")),
        rx.heading("Spend guard", size="4", as_="h2", padding_top="1em"),
        rx.text("Reaching a limit turns outbound calling off (for the organization, or for all) and alerts Slack. "
                "Counting restarts when a founder turns it back on.", size="2", color_scheme="gray"),
        data_table(["Paused", "Why", "Since", Column("Actions", hide_label=True)], CredentialsState.trips, _trip_row,
                   label="Outbound calling paused by the spend guard", loading=loading,
                   empty="Outbound calling is not paused anywhere.", id="spend-guard-trips"),
        form_error(CredentialsState.limits_error, id="limits-error"),
        rx.flex(
            _limits_form("org", "Each organization", CredentialsState.limits.org_calls_per_hour,
                         CredentialsState.limits.org_cost_per_day),
            _limits_form("global", "All organizations together", CredentialsState.limits.global_calls_per_hour,
                         CredentialsState.limits.global_cost_per_day),
            spacing="5", wrap="wrap", width="100%",
        ),
        rx.heading("A key leaked", size="4", as_="h2", padding_top="1em"),
        rx.text("Emergency rotation pauses all outbound calling, replaces the webhook secret (the old one is refused "
                "at once), and creates new Vapi (sandbox) and Twilio keys, deleting the old ones where it can. Then "
                "follow the runbook in docs/security.md: revoke at the providers, review the audit trail and the "
                "calls placed since.", size="2", color_scheme="gray"),
        rx.box(rx.button(rx.icon("siren", aria_hidden="true"), "Emergency rotate", color_scheme="red",
                         on_click=CredentialsState.ask_emergency, id="emergency-rotate")),
        rx.cond(CredentialsState.emergency_done.length() > 0, rx.callout(
            rx.vstack(rx.foreach(CredentialsState.emergency_done, lambda n: rx.text(n, size="2")), spacing="1"),
            icon="siren", color_scheme="red", id="emergency-result")),
        confirm_dialog("Emergency rotation", "All outbound calling stops until a founder turns it back on, and "
                       "Vapi must be given the new webhook secret before its events are accepted again.",
                       open=CredentialsState.emergency_open, on_confirm=CredentialsState.emergency,
                       on_cancel=CredentialsState.cancel_emergency, confirm_label="Rotate now",
                       busy=CredentialsState.emergency_busy, confirm_text="ROTATE", id="emergency-dialog"),
        _rotate_dialog(),
        width="100%",
        align="stretch",
    )
