"""Webhooks (operator and up): inbox health, success rates, failures, dead letters with replay, payloads."""

from __future__ import annotations

import dataclasses

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db
from voxanne_admin.errors import DomainError
from voxanne_admin.providers import resilience
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, page_header, stat_card
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
    rates: list[RateRow] = []
    failures: list[FailureRow] = []
    dead_letters: list[WebhookEventRead] = []
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
        self.counts = figures["counts"]
        age = figures["oldest_pending_s"]
        self.oldest_pending = "none" if age is None else (f"{age:.0f} s" if age < 120 else f"{age / 60:.0f} min")
        self.per_minute = figures["per_minute"]
        self.rates = [RateRow(**r) for r in figures["success_24h"]]
        self.breakers = [BreakerRow(**dataclasses.asdict(b)) for b in resilience.breaker_states()]
        live = {e.id for e in self.dead_letters}
        self.selected = [i for i in self.selected if i in live]

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
            return rx.toast.error(str(exc))
        from voxanne_admin.webhooks import worker

        worker.wake()
        self.selected = []
        self._refresh()
        return rx.toast.success(f"{count} event{'s' if count != 1 else ''} queued again; they are applied within "
                                "seconds (see the success rates after Refresh).")

    @rx.event
    @guarded("operator")
    def replay_selected(self):
        """Replay the ticked dead letters."""
        return WebhooksState.replay(self.selected)

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
        rx.table.cell(r.provider), rx.table.cell(rx.code(r.kind)), rx.table.cell(r.total),
        rx.table.cell(r.completed), rx.table.cell(r.failed), rx.table.cell(r.dead_letter),
        rx.table.cell(rx.text(r.success_rate, "%", weight="medium",
                              color_scheme=rx.cond(r.success_rate >= 99, "green", "amber"))),
    )


def _failure_row(f: FailureRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(f.at, size="1", white_space="nowrap")),
        rx.table.cell(rx.link(f"#{f.event_id}", on_click=WebhooksState.show_payload(f.event_id), href="#")),
        rx.table.cell(f.provider, " ", rx.code(f.kind)),
        rx.table.cell(f.attempt),
        rx.table.cell(rx.badge(f.outcome, color_scheme=rx.cond(f.outcome == "dead_letter", "red", "amber"))),
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
            rx.button("View", size="1", variant="soft", on_click=WebhooksState.show_payload(e.id)),
            rx.button("Replay", size="1", on_click=WebhooksState.replay([e.id])),
        )),
    )


def _breaker_row(b: BreakerRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(b.name)),
        rx.table.cell(rx.badge(b.state, color_scheme=rx.match(b.state, ("closed", "green"), ("open", "red"), "amber"))),
        rx.table.cell(b.failures),
        rx.table.cell(rx.cond(b.state == "open", rx.text(b.retry_in_s, " s"), "")),
    )


def _table(headers: list[str], body: rx.Component, table_id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(body), width="100%", id=table_id,
    )


def _payload_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(WebhooksState.payload_title),
            rx.dialog.description("Stored payload. Provider credentials are removed; emails, phone numbers and "
                                  "secrets are masked.", size="2"),
            rx.scroll_area(rx.code_block(WebhooksState.payload, language="json", wrap_long_lines=True),
                           max_height="60vh"),
            rx.hstack(rx.dialog.close(rx.button("Close", variant="soft")), justify="end", padding_top="1em"),
            max_width="56em",
        ),
        open=WebhooksState.payload_open,
        on_open_change=WebhooksState.set_payload_open,
    )


@page(routes.WEBHOOKS, "Webhooks", on_load=[WebhooksState.load])
def webhooks_page() -> rx.Component:
    """The webhook pipeline."""
    c = WebhooksState.counts
    return rx.vstack(
        page_header("Webhooks", "Events Vapi and Twilio send us: every accepted event is stored first, then applied "
                                "once. Failed events retry, then wait here as dead letters.",
                    rx.button(rx.icon("refresh-cw"), "Refresh", variant="soft", on_click=WebhooksState.load)),
        rx.flex(
            stat_card("Pending", c.get("pending", 0)),
            stat_card("Processing", c.get("processing", 0)),
            stat_card("Retrying", c.get("failed", 0)),
            stat_card("Dead letters", c.get("dead_letter", 0), "Need a look, then replay"),
            stat_card("Oldest pending", WebhooksState.oldest_pending),
            spacing="3", wrap="wrap", width="100%", id="queue-health",
        ),
        rx.heading("Events per minute (last hour)", size="4", padding_top="0.5em"),
        rx.cond(
            WebhooksState.per_minute.length() > 0,
            rx.recharts.bar_chart(
                rx.recharts.bar(data_key="events", fill=rx.color("indigo", 9)),
                rx.recharts.x_axis(data_key="minute"),
                rx.recharts.y_axis(allow_decimals=False),
                rx.recharts.graphing_tooltip(),
                data=WebhooksState.per_minute, height=180, width="100%",
            ),
            empty_state("No events in the last hour."),
        ),
        rx.heading("Success rate per provider and type (24 h)", size="4", padding_top="0.5em"),
        rx.cond(WebhooksState.rates.length() > 0,
                _table(["Provider", "Type", "Received", "Applied", "Retrying", "Dead", "Success"],
                       rx.foreach(WebhooksState.rates, _rate_row), "rates-table"),
                empty_state("No processed events in the last 24 hours.")),
        rx.hstack(
            rx.heading("Dead letters", size="4"),
            rx.spacer(),
            rx.button("Replay selected", on_click=WebhooksState.replay_selected,
                      disabled=WebhooksState.selected.length() == 0, id="replay-selected"),
            rx.button("Replay all", variant="soft", on_click=WebhooksState.replay_all,
                      disabled=WebhooksState.dead_letters.length() == 0),
            width="100%", padding_top="0.5em", align="center",
        ),
        rx.cond(WebhooksState.dead_letters.length() > 0,
                _table(["", "Event", "Type", "Received", "Attempts", "Last error", ""],
                       rx.foreach(WebhooksState.dead_letters, _dead_row), "dead-letters-table"),
                empty_state("No dead letters. Every accepted event was applied.")),
        rx.heading("Recent failures", size="4", padding_top="0.5em"),
        rx.cond(WebhooksState.failures.length() > 0,
                _table(["When", "Event", "Type", "Attempt", "Outcome", "Error"],
                       rx.foreach(WebhooksState.failures, _failure_row), "failures-table"),
                empty_state("No failed attempts.")),
        rx.heading("Provider circuit breakers (this server process)", size="4", padding_top="0.5em"),
        rx.cond(WebhooksState.breakers.length() > 0,
                _table(["Operation", "State", "Consecutive failures", "Retry in"],
                       rx.foreach(WebhooksState.breakers, _breaker_row), "breakers-table"),
                empty_state("No provider calls made by this server process yet.")),
        _payload_dialog(),
        width="100%", align="stretch",
    )
