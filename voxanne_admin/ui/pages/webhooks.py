"""Webhooks (operator and up): inbox health, success rates, failures, dead letters with replay, payloads."""

from __future__ import annotations

import dataclasses

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db
from voxanne_admin import formatting as fmt
from voxanne_admin.errors import DomainError
from voxanne_admin.providers import resilience
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    BREAKER_STATE,
    WEBHOOK_OUTCOME,
    Column,
    browser,
    chart,
    code_view,
    data_table,
    page_header,
    stat_card,
    status_badge,
    summarize,
    view_dialog,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.models import WebhookEventRead


class RateRow(BaseModel):
    """Success rate of one provider and message type over 24 h."""

    provider: str
    kind: str
    total: int
    completed: int
    failed: int
    dead_letter: int
    success_rate: float


class FailureRow(BaseModel):
    """One failed attempt."""

    event_id: int
    attempt: int
    at: str
    outcome: str
    error: str
    provider: str
    kind: str


class BreakerRow(BaseModel):
    """A provider operation's circuit breaker."""

    name: str
    state: str
    failures: int
    retry_in_s: float


class WebhooksState(AppState):
    """Figures, tables and the payload viewer."""

    counts: dict[str, int] = {}
    oldest_pending: str = "none"
    per_minute: list[dict[str, int | str]] = []
    per_minute_summary: str = ""
    loaded: bool = False
    rates: list[RateRow] = []
    failures: list[FailureRow] = []
    dead_letters: list[WebhookEventRead] = []
    recent: list[WebhookEventRead] = []
    breakers: list[BreakerRow] = []
    selected: list[int] = []
    payload: str = ""
    payload_title: str = ""
    payload_open: bool = False

    def _refresh(self) -> None:
        with db.read_only() as session:
            figures = inbox.stats(session)
            self.failures = [FailureRow(**f) for f in inbox.recent_failures(session, limit=15)]
            self.dead_letters = inbox.list_events(session, status="dead_letter", limit=100)
            self.recent = inbox.list_events(session, limit=25)
        self.counts = figures["counts"]
        age = figures["oldest_pending_s"]
        self.oldest_pending = fmt.age(age, empty="none")
        self.per_minute = figures["per_minute"]
        self.per_minute_summary = ("Minutes are UTC. " + summarize(self.per_minute, "minute", "events", "event")
                                   if self.per_minute else "")
        self.rates = [RateRow(**r) for r in figures["success_24h"]]
        self.breakers = [BreakerRow(**dataclasses.asdict(b)) for b in resilience.breaker_states()]
        live = {e.id for e in self.dead_letters}
        self.selected = [i for i in self.selected if i in live]
        self.loaded = True

    @rx.event
    @guarded("operator")
    def load(self):
        """Load everything; `?event=<id>` (a link from a call's detail page) opens that event's payload."""
        self._refresh()
        event = dict(self.router.url.query_parameters).get("event", "")
        if event.isdigit():
            self._open_payload(int(event))

    @rx.event
    @guarded("operator")
    def toggle(self, event_id: int, checked: bool):
        """Select a dead letter for replay."""
        if checked and event_id not in self.selected:
            self.selected = [*self.selected, event_id]
        elif not checked:
            self.selected = [i for i in self.selected if i != event_id]

    @rx.event
    @guarded("operator")
    def replay(self, event_ids: list[int]):
        """Send dead letters back to the queue (audited)."""
        staff = current_staff()
        try:
            with db.transaction() as session:
                count = inbox.replay(session, event_ids=[int(i) for i in event_ids], actor=actor_for(self, staff),
                                     actor_role=staff.role)
        except DomainError as exc:
            return browser.toast_error(str(exc))
        from voxanne_admin.webhooks import worker

        worker.wake()
        self.selected = []
        self._refresh()
        return browser.toast_success(f"{count} event{'s' if count != 1 else ''} queued again; they are applied within "
                                "seconds (see the success rates after Refresh).")

    @rx.event
    @guarded("operator")
    def replay_selected(self):
        """Replay the ticked dead letters."""
        return WebhooksState.replay([int(i) for i in self.selected])  # plain ints, not the state proxy

    @rx.event
    @guarded("operator")
    def replay_all(self):
        """Replay every listed dead letter."""
        return WebhooksState.replay([e.id for e in self.dead_letters])

    @rx.event
    @guarded("operator")
    def show_payload(self, event_id: int):
        """Open the payload viewer (secrets and personal data masked)."""
        self._open_payload(event_id)

    def _open_payload(self, event_id: int) -> None:
        with db.read_only() as session:
            self.payload = inbox.masked_payload(session, event_id=event_id) or "(this event was purged)"
        self.payload_title = f"Event {event_id}"
        self.payload_open = True

    @rx.event
    @ui_only
    def set_payload_open(self, value: bool):
        """Close the viewer."""
        self.payload_open = value


def _rate_row(r: RateRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(r.provider), rx.table.cell(rx.code(r.kind)), rx.table.cell(r.total),
        rx.table.cell(r.completed), rx.table.cell(r.failed), rx.table.cell(r.dead_letter),
        rx.table.cell(rx.text(r.success_rate, "%", weight="medium",
                              color_scheme=rx.cond(r.success_rate >= 99, "green", "amber"))),
    )


def _failure_row(f: FailureRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(f.at, size="1", white_space="nowrap")),
        rx.table.cell(rx.button(f"#{f.event_id}", variant="ghost", size="1", aria_label=f"#{f.event_id}: view payload",
                                on_click=WebhooksState.show_payload(f.event_id))),
        rx.table.cell(f.provider, " ", rx.code(f.kind)),
        rx.table.cell(f.attempt),
        rx.table.cell(status_badge(f.outcome, WEBHOOK_OUTCOME)),
        rx.table.cell(rx.text(f.error, size="1")),
    )


def _dead_row(e: WebhookEventRead) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.checkbox(checked=WebhooksState.selected.contains(e.id),
                                  on_change=lambda v: WebhooksState.toggle(e.id, v),
                                  aria_label=f"Select event {e.id}")),
        rx.table.cell(e.id),
        rx.table.cell(e.provider, " ", rx.code(e.kind)),
        rx.table.cell(rx.text(e.received_at, size="1")),
        rx.table.cell(e.attempts),
        rx.table.cell(rx.text(e.last_error, size="1")),
        rx.table.cell(rx.hstack(
            rx.button("View", size="1", variant="soft", aria_label=f"View event {e.id}",
                      on_click=WebhooksState.show_payload(e.id)),
            rx.button("Replay", size="1", aria_label=f"Replay event {e.id}", on_click=WebhooksState.replay([e.id])),
        )),
    )


def _recent_row(e: WebhookEventRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(e.received_at, size="1", white_space="nowrap")),
        rx.table.cell(e.id),
        rx.table.cell(e.provider, " ", rx.code(e.kind)),
        rx.table.cell(rx.text(e.call_id, size="1")),
        rx.table.cell(status_badge(e.status, WEBHOOK_OUTCOME)),
        rx.table.cell(e.signed_with),
    )


def _breaker_row(b: BreakerRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.code(b.name)),
        rx.table.cell(status_badge(b.state, BREAKER_STATE)),
        rx.table.cell(b.failures),
        rx.table.cell(rx.cond(b.state == "open", rx.text(b.retry_in_s, " s"), "")),
    )


def _payload_dialog() -> rx.Component:
    return view_dialog(
        WebhooksState.payload_title,
        "Stored payload. Provider credentials are removed; emails, phone numbers and secrets are masked.",
        rx.scroll_area(code_view(WebhooksState.payload, "json", label="Event payload", id="payload"),
                       max_height="60vh"),
        open=WebhooksState.payload_open,
        on_open_change=WebhooksState.set_payload_open,
        id="payload-dialog",
    )


def _section(title: str, *actions: rx.Component) -> rx.Component:
    return rx.hstack(rx.heading(title, size="4", as_="h2"), rx.spacer(), *actions, width="100%", padding_top="0.5em",
                     align="center")


@page(routes.WEBHOOKS, "Webhooks", on_load=[WebhooksState.load])
def webhooks_page() -> rx.Component:
    """The webhook pipeline."""
    c = WebhooksState.counts
    loading = ~WebhooksState.loaded
    return rx.vstack(
        page_header("Webhooks", "Events Vapi and Twilio send us: every accepted event is stored first, then applied "
                                "once. Failed events retry, then wait here as dead letters.",
                    rx.button(rx.icon("refresh-cw", aria_hidden="true"), "Refresh", variant="soft",
                              on_click=WebhooksState.load)),
        rx.flex(
            stat_card("Pending", c.get("pending", 0)),
            stat_card("Processing", c.get("processing", 0)),
            stat_card("Retrying", c.get("failed", 0)),
            stat_card("Dead letters", c.get("dead_letter", 0), "Need a look, then replay"),
            stat_card("Oldest pending", WebhooksState.oldest_pending),
            spacing="3", wrap="wrap", width="100%", id="queue-health",
        ),
        _section("Events per minute (last hour)"),
        chart("bar", WebhooksState.per_minute, x_key="minute", series=[("events", "Events")],
              label="Webhook events per minute over the last hour", summary=WebhooksState.per_minute_summary,
              height=180, empty="No events in the last hour.", id="events-per-minute"),
        _section("Success rate per provider and type (24 h)"),
        data_table(["Provider", "Type", "Received", "Applied", "Retrying", "Dead", "Success"], WebhooksState.rates,
                   _rate_row, label="Success rate per provider and type", loading=loading,
                   empty="No processed events in the last 24 hours.", id="rates-table"),
        _section(
            "Dead letters",
            rx.button("Replay selected", on_click=WebhooksState.replay_selected,
                      disabled=WebhooksState.selected.length() == 0, id="replay-selected"),
            rx.button("Replay all", variant="soft", on_click=WebhooksState.replay_all,
                      disabled=WebhooksState.dead_letters.length() == 0),
        ),
        data_table([Column("Select", hide_label=True), "Event", "Type", "Received", "Attempts", "Last error",
                    Column("Actions", hide_label=True)], WebhooksState.dead_letters, _dead_row, label="Dead letters",
                   loading=loading, empty="No dead letters. Every accepted event was applied.",
                   id="dead-letters-table"),
        _section("Recent events"),
        data_table(["Received", "Event", "Type", "Call", "Status", "Signed with"], WebhooksState.recent, _recent_row,
                   label="Recent webhook events and the secret that signed each", loading=loading,
                   empty="No events yet.", id="recent-events-table"),
        _section("Recent failures"),
        data_table(["When", "Event", "Type", "Attempt", "Outcome", "Error"], WebhooksState.failures, _failure_row,
                   label="Recent failed attempts", loading=loading, empty="No failed attempts.", id="failures-table"),
        _section("Provider circuit breakers (this server process)"),
        data_table(["Operation", "State", "Consecutive failures", "Retry in"], WebhooksState.breakers, _breaker_row,
                   label="Provider circuit breakers", loading=loading,
                   empty="No provider calls made by this server process yet.", id="breakers-table"),
        _payload_dialog(),
        width="100%", align="stretch",
    )
