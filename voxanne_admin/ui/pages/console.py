"""Founder console (admin and founder): pre-flight, place a sandbox or real test call, and watch it live."""

from __future__ import annotations

import asyncio
import time
import uuid

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db, formatting
from voxanne_admin.calls import flows as outbound
from voxanne_admin.calls import service as call_service
from voxanne_admin.calls.models import Call
from voxanne_admin.errors import DomainError, NotFound, ProviderError
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs import service as org_service
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    Column,
    StatusMap,
    browser,
    data_table,
    next_sort,
    page_header,
    select_field,
    sort_rows,
    status_badge,
    text_field,
    visually_hidden,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.fields import dynamic_select_field
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

STEPS = ["queued", "ringing", "in-progress", "ended"]
# Plain words for the ended reasons people meet most; anything else shows Vapi's code alone.
ENDED_REASONS = {
    "customer-ended-call": "the person called hung up",
    "assistant-ended-call": "the agent ended the call",
    "assistant-said-end-call-phrase": "the agent said goodbye",
    "customer-busy": "the line was busy",
    "customer-did-not-answer": "nobody answered",
    "voicemail": "it went to voicemail",
    "silence-timed-out": "nobody spoke for too long",
    "exceeded-max-duration": "it reached the agent's maximum call length",
    "manually-canceled": "it was cancelled",
    "call.start.error-vapi": "Vapi did not start the call",
}
WATCH_INTERVAL_S = 0.15
CALL_STATUS: StatusMap = {
    "dialing": ("dialing", "gray"), "queued": ("queued", "gray"), "ringing": ("ringing", "blue"),
    "in-progress": ("in progress", "blue"), "forwarding": ("forwarding", "blue"), "ended": ("ended", "green"),
    "failed": ("failed", "red"),
}
WATCH_LIMIT_S = 900
# Shown as a message, not escaped as "Something went wrong" (named both ways: ProviderError may be a DomainError).
SHOWN_ERRORS = (DomainError, ProviderError)


class CheckRow(BaseModel):
    """One pre-flight check as shown."""

    name: str
    ok: bool
    detail: str


class RecentCall(BaseModel):
    """A recent test call."""

    id: int
    created_at: str
    org: str
    to_number: str
    status: str
    ended_reason: str
    duration: str
    placed_by: str


class ConsoleState(AppState):
    """The console's form, pre-flight, and the live view of the call being watched."""

    org_id: str = ""
    role: str = "outbound"
    number: str = ""
    checks: list[CheckRow] = []
    preflight_ok: bool = False
    running_preflight: bool = False
    placing: bool = False
    attempt_key: str = ""
    call_id: int = 0
    status: str = ""
    transcript: list[dict[str, str]] = []
    summary: str = ""
    ended_reason: str = ""
    ended_reason_text: str = ""
    duration: str = ""
    cost: str = ""
    recording_url: str = ""
    call_error: str = ""
    first_status_ms: int = 0
    recent: list[RecentCall] = []
    recent_sort: str = ""
    _placed_at: float = 0.0

    @rx.var
    def step_index(self) -> int:
        """How far along the call is (for the step indicator)."""
        return STEPS.index(self.status) if self.status in STEPS else -1

    def _load_recent(self) -> None:
        with db.read_only() as session:
            rows = call_service.list_test_calls(session, limit=10)
        self.recent = sort_rows([
            RecentCall(
                id=c.id or 0,
                created_at=formatting.timestamp(c.created_at, seconds=True),
                org=name,
                to_number=formatting.masked_phone(c.customer_number),
                status=c.status,
                ended_reason=c.ended_reason or c.error or "",
                duration=formatting.duration(c.duration_s),
                placed_by=c.placed_by or "",
            )
            for c, name in rows
        ], self.recent_sort)

    @rx.event
    @ui_only
    def sort_recent(self, key: str):
        """Sort the recent test calls by a column (again: the other way round)."""
        self.recent_sort = next_sort(self.recent_sort, key)
        self.recent = sort_rows(self.recent, self.recent_sort)

    @rx.event
    @guarded("admin")
    def load(self):
        """Default organization from the switcher; recent test calls."""
        if not self.org_id and self.selected_org:
            self.org_id = self.selected_org
        if not self.org_id and self.org_options:
            self.org_id = self.org_options[0]["id"]
        self.attempt_key = uuid.uuid4().hex
        self._load_recent()

    def _country(self) -> str:
        if not self.org_id.isdigit():
            return "US"
        with db.read_only() as session:
            try:
                return org_service.get(session, org_id=int(self.org_id)).country
            except NotFound:
                return "US"

    @rx.event
    @guarded("admin")
    def set_org(self, value: str):
        """Pick the organization; the number is re-formatted for its country."""
        self.org_id = value
        self.checks, self.preflight_ok = [], False
        self.attempt_key = uuid.uuid4().hex

    @rx.event
    @ui_only
    def set_role(self, value: str):
        """Pick the agent."""
        self.role = value
        self.checks, self.preflight_ok = [], False

    @rx.event
    @guarded("admin")
    def set_number(self, value: str):
        """Format the number as typed, the way the organization's country writes it."""
        self.number = outbound.format_as_typed(value, self._country()) if value else ""
        self.checks, self.preflight_ok = [], False
        self.attempt_key = uuid.uuid4().hex

    @rx.event
    @guarded("admin")
    async def run_preflight(self):
        """Resolve the agent, the Vapi number and the customer number; show each check."""
        if not self.org_id.isdigit():
            yield browser.toast_error("Pick an organization first.")
            return
        self.running_preflight = True
        yield
        try:
            result = await outbound.preflight(org_id=int(self.org_id), to=self.number, role=self.role)
        except SHOWN_ERRORS as exc:
            hint = outbound.sandbox_hint() if isinstance(exc, ProviderError) else ""
            yield browser.toast_error(f"{exc}{hint}")
            return
        finally:
            self.running_preflight = False
        self.checks = [CheckRow(name=c.name, ok=c.ok, detail=c.detail) for c in result.checks]
        self.preflight_ok = result.ok

    @rx.event
    @guarded("admin")
    async def place_call(self):
        """Dial once (the attempt key makes a double click harmless), then watch the call live."""
        staff = current_staff()
        if self.placing:
            return
        if self.role != "outbound":
            yield browser.toast_error("Test calls use the outbound agent. Switch the agent to outbound.")
            return
        self.placing = True
        self._placed_at = time.monotonic()
        self.call_id, self.status, self.transcript, self.summary = 0, "", [], ""
        self.ended_reason, self.duration, self.cost, self.recording_url, self.call_error = "", "", "", "", ""
        self.ended_reason_text = ""
        self.first_status_ms = 0
        yield
        try:
            placed = await outbound.place_call(
                org_id=int(self.org_id),
                to=self.number,
                idempotency_key=self.attempt_key,
                placed_by=staff.email,
                actor=actor_for(self, staff),
                actor_role=staff.role,
            )
        except SHOWN_ERRORS as exc:
            self.call_error = str(exc)
            self._load_recent()
            yield browser.toast_error(str(exc))
            return
        finally:
            self.placing = False
        self.call_id = placed.call_id
        self.attempt_key = uuid.uuid4().hex  # the next click is a new call
        yield ConsoleState.watch(placed.call_id)

    @rx.event(background=True)
    @guarded("admin")
    async def watch(self, call_id: int):
        """Follow the call row the webhook pipeline fills in, until the end-of-call report arrives."""
        deadline = time.monotonic() + WATCH_LIMIT_S
        last_seen = None
        while time.monotonic() < deadline:

            def read() -> Call | None:
                with db.read_only() as session:
                    try:
                        return call_service.get(session, call_id=call_id)
                    except NotFound:
                        return None

            call = await asyncio.to_thread(read)
            if call is None:
                return
            snapshot = (call.status, len(call.live_transcript or []), call.report_received, call.error)
            if snapshot != last_seen:
                last_seen = snapshot
                async with self:
                    if self.call_id != call_id:
                        return  # another call is being watched now
                    if call.status != "dialing" and not self.first_status_ms:
                        self.first_status_ms = int((time.monotonic() - self._placed_at) * 1000)
                    self.status = "ended" if call.status == "failed" else call.status
                    self.transcript = [
                        {"role": str(t.get("role", "")), "text": str(t.get("text", ""))}
                        for t in (call.live_transcript or [])
                    ]
                    self.call_error = call.error or ""
                    if call.report_received or call.status == "failed":
                        self.summary = call.summary or ""
                        self.ended_reason = call.ended_reason or ""
                        self.ended_reason_text = ENDED_REASONS.get(self.ended_reason, "")
                        self.duration = formatting.duration(call.duration_s)
                        self.cost = formatting.money(call.cost)
                        self.recording_url = (call.recording_url or "") if flag_gates.call_recording(
                            call.org_id) else ""
                        self._load_recent()
                        return
            await asyncio.sleep(WATCH_INTERVAL_S)


def _check(c: CheckRow) -> rx.Component:
    return rx.hstack(
        rx.cond(
            c.ok, rx.icon("circle-check", color=rx.color("green", 11), aria_hidden="true"),
            rx.icon("circle-x", color=rx.color("red", 11), aria_hidden="true"),
        ),
        visually_hidden(rx.cond(c.ok, "Passed: ", "Failed: ")),
        rx.text(c.name, weight="medium", size="2", min_width="10em"),
        rx.text(c.detail, size="2"),
        align="center",
    )


def _step(name: str, index: int) -> rx.Component:
    reached = ConsoleState.step_index >= index
    return rx.badge(
        name,
        size="2",
        variant=rx.cond(reached, "solid", "outline"),
        color_scheme=rx.cond(reached, "indigo", "gray"),
        id=f"step-{name}",
    )


def _live() -> rx.Component:
    return rx.cond(
        ConsoleState.call_id > 0,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Live call", size="4"),
                    rx.spacer(),
                    rx.cond(
                        ConsoleState.first_status_ms > 0,
                        rx.text(
                            "first status after ", ConsoleState.first_status_ms, " ms", size="1", color_scheme="gray"
                        ),
                    ),
                    width="100%",
                ),
                rx.hstack(*[_step(name, i) for i, name in enumerate(STEPS)], spacing="2", id="call-steps"),
                rx.text("Status: ", rx.text.strong(ConsoleState.status, id="call-status"), size="2"),
                rx.cond(ConsoleState.call_error != "", rx.callout(ConsoleState.call_error, color_scheme="red")),
                rx.heading("Transcript", size="3"),
                rx.cond(
                    ConsoleState.transcript.length() > 0,
                    rx.vstack(
                        rx.foreach(
                            ConsoleState.transcript,
                            lambda t: rx.hstack(
                                rx.badge(
                                    rx.cond(t["role"] == "assistant", "Agent", "Caller"),
                                    color_scheme=rx.cond(t["role"] == "assistant", "indigo", "gray"),
                                ),
                                rx.text(t["text"], size="2"),
                                align="start",
                            ),
                        ),
                        spacing="1",
                        id="live-transcript",
                    ),
                    rx.text("Waiting for the first words...", size="2", color_scheme="gray"),
                ),
                rx.cond(
                    ConsoleState.ended_reason != "",
                    rx.vstack(
                        rx.heading("End-of-call report", size="3"),
                        rx.text(ConsoleState.summary, size="2", id="call-summary"),
                        rx.hstack(
                            rx.text("Ended: ", rx.code(ConsoleState.ended_reason),
                                    rx.cond(ConsoleState.ended_reason_text != "",
                                            rx.text.span(" (", ConsoleState.ended_reason_text, ")")), size="2"),
                            rx.text("Duration: ", ConsoleState.duration, size="2"),
                            rx.text("Cost: ", ConsoleState.cost, size="2"),
                            spacing="5",
                        ),
                        rx.cond(
                            ConsoleState.recording_url != "",
                            rx.hstack(
                                rx.el.audio(src=ConsoleState.recording_url, controls=True),
                                rx.link("Recording", href=ConsoleState.recording_url, is_external=True),
                            ),
                        ),
                        spacing="2",
                        id="call-report",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
    )


def _recent_row(c: RecentCall) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(c.created_at, size="1", white_space="nowrap")),
        rx.table.cell(c.org),
        rx.table.cell(c.to_number),
        rx.table.cell(status_badge(c.status, CALL_STATUS)),
        rx.table.cell(rx.text(c.ended_reason, size="1")),
        rx.table.cell(c.duration),
        rx.table.cell(rx.text(c.placed_by, size="1")),
    )


def _call_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.box(dynamic_select_field(
                    "Organization", "console-org",
                    rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"])),
                    placeholder="Pick an organization", value=ConsoleState.org_id, on_change=ConsoleState.set_org,
                ), min_width="16em"),
                rx.box(select_field("Agent", "console-agent", ["outbound", "inbound"], value=ConsoleState.role,
                                    on_change=ConsoleState.set_role), min_width="10em"),
                rx.box(text_field("Number to call", "console-number", value=ConsoleState.number,
                                  on_change=ConsoleState.set_number, placeholder="(415) 555-0123 or +44 20 7946 0958",
                                  input_mode="tel", auto_complete="off"), min_width="18em"),
                spacing="4",
                wrap="wrap",
                align="end",
            ),
            rx.hstack(
                rx.button("Run pre-flight", variant="soft", on_click=ConsoleState.run_preflight,
                          loading=ConsoleState.running_preflight, id="run-preflight"),
                rx.button(rx.icon("phone-outgoing", aria_hidden="true"), "Place test call",
                          on_click=ConsoleState.place_call, disabled=~ConsoleState.preflight_ok | ConsoleState.placing,
                          loading=ConsoleState.placing, id="place-call"),
                spacing="3",
            ),
            rx.cond(
                ConsoleState.checks.length() > 0,
                rx.vstack(rx.foreach(ConsoleState.checks, _check), spacing="1", id="preflight-checks", role="list",
                          aria_label="Pre-flight checks"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@page(routes.CONSOLE, "Founder console", on_load=[ConsoleState.load])
def console_page() -> rx.Component:
    """Place and watch test calls."""
    return rx.vstack(
        page_header(
            "Founder console",
            "Place a test call with an organization's outbound agent and watch it live. "
            "Sandbox mode simulates the call end to end.",
        ),
        _call_form(),
        _live(),
        rx.heading("Recent test calls", size="4", padding_top="0.5em", as_="h2"),
        data_table(
            [Column("Placed", "created_at"), Column("Organization", "org"), "To", Column("Status", "status"),
             "Ended / error", "Duration", Column("By", "placed_by")],
            ConsoleState.recent, _recent_row, label="Recent test calls", empty="No test calls yet.",
            sort=ConsoleState.recent_sort, on_sort=ConsoleState.sort_recent, id="recent-calls",
        ),
        width="100%",
        align="stretch",
    )
