"""The call detail page (/calls/<id>): one call in full, with "Back" to the same filtered list."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.calls import detail
from voxanne_admin.calls.models import CallDetail, CostLine, EventLine, Turn
from voxanne_admin.errors import DomainError
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import WEBHOOK_OUTCOME, Column, code_view, data_table, page_header, status_badge
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.call_logs.components import CALL_STATUS
from voxanne_admin.ui.pages.call_logs.state import CallLogsState, is_admin
from voxanne_admin.ui.state import AppState, current_staff, guarded
from voxanne_admin.webhooks import service as inbox


class CallDetailState(AppState):
    """One call: header facts, cost breakdown, transcript turns, summary, analysis, recording, webhook events."""

    call: CallDetail = CallDetail()
    found: bool = False
    error: str = ""

    @rx.event
    @guarded("viewer")
    def load(self):
        """Read the call id from the address (/calls/<id>) and load it."""
        staff = current_staff()
        ref = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        self.found, self.error = False, ""
        if not ref.isdigit():
            self.error = f"'{ref}' is not a call number. Open calls from the Call logs page."
            return
        # A shared link opens the call wherever it belongs for admins; others see their switcher's organization.
        org_ids = [] if is_admin(staff.role) else ([int(self.selected_org)] if self.selected_org.isdigit() else [])
        if not org_ids and not is_admin(staff.role):
            # Without an organization picked, look the call up for the organization it belongs to.
            org_ids = [o["id"] for o in self.org_options if o["id"].isdigit()]
            org_ids = [int(i) for i in org_ids]
        try:
            with db.read_only() as session:
                call = detail.get_call(session, call_id=int(ref), org_ids=org_ids, role=staff.role)
                call.events = inbox.call_events(session, vapi_call_id=call.vapi_call_id)
                self.call = call
        except DomainError as exc:
            self.error = str(exc)
            self.call = CallDetail()
            return
        self.found = True


def _fact(label: str, value, mono: bool = False) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(rx.cond(value != "", value, "—"), size="2", weight="medium",
                font_family="monospace" if mono else None),
        spacing="0", min_width="10em",
    )


def _turn(t: Turn) -> rx.Component:
    return rx.cond(
        t.kind == "tool",
        rx.hstack(
            rx.text(t.at, size="1", color_scheme="gray", min_width="3.5em", font_family="monospace"),
            rx.box(
                rx.hstack(rx.icon("wrench", size=14), rx.text(t.speaker, size="1", weight="medium"), spacing="1",
                          align="center"),
                rx.text(t.text, size="1", font_family="monospace", white_space="pre-wrap"),
                background=rx.color("amber", 2), border=f"1px dashed {rx.color('amber', 7)}",
                border_radius="var(--radius-2)", padding="0.4em 0.6em", width="100%",
            ),
            width="100%", align="start", class_name="turn turn-tool",
        ),
        rx.hstack(
            rx.text(t.at, size="1", color_scheme="gray", min_width="3.5em", font_family="monospace",
                    padding_top="0.15em"),
            rx.badge(t.speaker, color_scheme=rx.match(t.role, ("assistant", "indigo"), ("customer", "gray"), "amber"),
                     min_width="4.5em", justify_content="center"),
            rx.text(t.text, size="2"),
            width="100%", align="start", class_name="turn turn-speech",
        ),
    )


def _event_row(e: EventLine) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.cond(AppState.is_operator,
                                         rx.link(f"#{e.id}", href="/webhook-events?event=" + e.id.to_string()),
                                         rx.text("#", e.id))),
        rx.table.cell(rx.code(e.kind, white_space="nowrap")),
        rx.table.cell(status_badge(e.status, WEBHOOK_OUTCOME)),
        rx.table.cell(rx.text(e.received_at, size="1")),
    )


def _cost_row(c: CostLine) -> rx.Component:
    return rx.table.row(rx.table.cell(c.label), rx.table.cell(rx.text(c.amount, white_space="nowrap"),
                                                               text_align="right"))


def _detail_body() -> rx.Component:
    c = CallDetailState.call
    return rx.vstack(
        rx.card(
            rx.vstack(
                rx.hstack(
                    status_badge(c.status, CALL_STATUS),
                    rx.cond(c.is_test, rx.badge("test call", color_scheme="amber")),
                    rx.cond(c.ended_family_label != "", rx.text(c.ended_family_label, size="2", weight="medium")),
                    rx.cond(c.ended_reason != "", rx.code(c.ended_reason, size="1")),
                    spacing="2", align="center",
                ),
                rx.flex(
                    _fact("Organization", c.org_name),
                    _fact("Agent", c.agent_name),
                    _fact("Direction", c.direction),
                    _fact("Caller", c.customer_masked, mono=True),
                    _fact("Our number", c.phone_number_masked, mono=True),
                    _fact("Started (UTC)", c.started_at),
                    _fact("Ended (UTC)", c.ended_at),
                    _fact("Duration", c.duration),
                    _fact("Cost", c.cost),
                    spacing="5", wrap="wrap", row_gap="1em",
                ),
                spacing="3", width="100%",
            ),
            width="100%", id="call-facts",
        ),
        rx.flex(
            rx.vstack(
                rx.heading("Recording", size="4"),
                rx.cond(
                    c.recording_url != "",
                    rx.vstack(
                        rx.el.audio(src=c.recording_url, controls=True, preload="none", id="call-recording",
                                    style={"width": "100%"}),
                        rx.link("Open the recording in a new tab", href=c.recording_url, is_external=True, size="1"),
                        width="100%", spacing="1",
                    ),
                    rx.text("No recording for this call (recording was off, the call was not answered, or the link "
                            "expired under the recordings retention).", size="2", color_scheme="gray"),
                ),
                rx.heading("Summary", size="4", padding_top="0.5em"),
                rx.cond(c.summary != "", rx.text(c.summary, size="2", id="call-summary"),
                        rx.text("No summary: Vapi sends one in the end-of-call report.", size="2",
                                color_scheme="gray")),
                rx.heading("Transcript", size="4", padding_top="0.5em"),
                rx.cond(
                    c.turns.length() > 0,
                    rx.vstack(rx.foreach(c.turns, _turn), spacing="2", width="100%", id="call-transcript"),
                    rx.text("No transcript for this call.", size="2", color_scheme="gray"),
                ),
                flex="3", min_width="22em", spacing="2",
            ),
            rx.vstack(
                rx.heading("Cost breakdown", size="4"),
                rx.cond(
                    c.cost_breakdown.length() > 0,
                    rx.table.root(
                        rx.table.body(rx.foreach(c.cost_breakdown, _cost_row),
                                      rx.table.row(rx.table.row_header_cell("Total"),
                                                   rx.table.cell(rx.text(c.cost, weight="bold"),
                                                                 text_align="right"))),
                        size="1", width="100%", id="cost-breakdown",
                    ),
                    rx.text(rx.cond(c.cost != "", "No breakdown reported; total " + c.cost, "No cost reported."),
                            size="2", color_scheme="gray"),
                ),
                rx.heading("Structured analysis", size="4", padding_top="0.5em"),
                rx.cond(c.analysis_json != "",
                        code_view(c.analysis_json, "json", label="Structured analysis", id="call-analysis",
                                  width="100%"),
                        rx.text("No analysis reported.", size="2", color_scheme="gray")),
                rx.heading("Webhook events", size="4", padding_top="0.5em"),
                rx.text("The events Vapi sent for this call, in the order received.",
                        rx.cond(AppState.is_operator, " Open one to see its payload on the Webhooks page.", ""),
                        size="1", color_scheme="gray"),
                data_table([Column("Event"), Column("Type"), Column("Status"), Column("Received")], c.events,
                           _event_row, label="Webhook events of this call", size="1", id="call-events",
                           empty="No webhook events stored for this call (events are purged after their retention)."),
                flex="2", min_width="18em", spacing="2",
            ),
            spacing="5", wrap="wrap", width="100%", align="start",
        ),
        width="100%", spacing="4",
    )


@page(routes.CALL_DETAIL, "Call", on_load=[CallDetailState.load])
def call_detail_page() -> rx.Component:
    """One call in full."""
    c = CallDetailState.call
    return rx.vstack(
        rx.link(rx.icon("arrow-left", size=14), "Back to call logs", href=CallLogsState.last_list_url,
                size="2", display="flex", align_items="center", gap="0.3em", id="back-to-list"),
        page_header(rx.cond(CallDetailState.found, "Call " + c.id.to_string(), "Call"),
                    rx.cond(c.vapi_call_id != "", "Vapi call id " + c.vapi_call_id, ""),
                    rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft",
                              on_click=CallDetailState.load, id="refresh-call")),
        rx.cond(
            CallDetailState.error != "",
            rx.callout(CallDetailState.error, icon="search-x", color_scheme="amber", width="100%", id="call-error"),
            rx.cond(CallDetailState.found, _detail_body(),
                    rx.center(rx.spinner(size="3"), padding="2em", width="100%")),
        ),
        width="100%", align="stretch",
    )
