"""Founder console (admin and founder): pre-flight, place a sandbox or real test call, and watch it live."""

from __future__ import annotations

import asyncio
import time
import uuid

import reflex as rx
from pydantic import BaseModel
from sqlmodel import select

from voxanne_admin import db
from voxanne_admin.calls import outbound
from voxanne_admin.calls.models import Call
from voxanne_admin.errors import DomainError, ProviderError
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs.models import Organization
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, page_header
from voxanne_admin.ui.layout import page
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
WATCH_LIMIT_S = 900


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


def _masked(e164: str | None) -> str:
    return (e164[:-4] + "••••") if e164 and len(e164) > 6 else "••••"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


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
    _placed_at: float = 0.0

    @rx.var
    def step_index(self) -> int:
        """How far along the call is (for the step indicator)."""
        return STEPS.index(self.status) if self.status in STEPS else -1

    def _load_recent(self) -> None:
        with db.read_only() as session:
            rows = session.exec(
                select(Call, Organization.name)
                .join(Organization, Organization.id == Call.org_id)
                .where(Call.is_test)
                .order_by(Call.id.desc())  # type: ignore[union-attr]
                .limit(10)
            ).all()
        self.recent = [
            RecentCall(
                id=c.id or 0,
                created_at=c.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                org=name,
                to_number=_masked(c.customer_number),
                status=c.status,
                ended_reason=c.ended_reason or c.error or "",
                duration=_duration(c.duration_s),
                placed_by=c.placed_by or "",
            )
            for c, name in rows
        ]

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
        with db.read_only() as session:
            org = session.get(Organization, int(self.org_id)) if self.org_id.isdigit() else None
            return org.country if org else "US"

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
            yield rx.toast.error("Pick an organization first.")
            return
        self.running_preflight = True
        yield
        try:
            result = await outbound.preflight(org_id=int(self.org_id), to=self.number, role=self.role)
        except ProviderError as exc:
            self.running_preflight = False
            yield rx.toast.error(f"{exc}{outbound.sandbox_hint()}")
            return
        self.checks = [CheckRow(name=c.name, ok=c.ok, detail=c.detail) for c in result.checks]
        self.preflight_ok = result.ok
        self.running_preflight = False

    @rx.event
    @guarded("admin")
    async def place_call(self):
        """Dial once (the attempt key makes a double click harmless), then watch the call live."""
        staff = current_staff()
        if self.placing:
            return
        if self.role != "outbound":
            yield rx.toast.error("Test calls use the outbound agent. Switch the agent to outbound.")
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
        except DomainError as exc:
            self.placing = False
            self.call_error = str(exc)
            self._load_recent()
            yield rx.toast.error(str(exc))
            return
        self.call_id = placed.call_id
        self.attempt_key = uuid.uuid4().hex  # the next click is a new call
        self.placing = False
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
                    row = session.get(Call, call_id)
                    return row.model_copy() if row else None

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
                        self.duration = _duration(call.duration_s)
                        self.cost = f"${call.cost:.4f}" if call.cost is not None else ""
                        self.recording_url = (call.recording_url or "") if flag_gates.call_recording(
                            call.org_id) else ""
                        self._load_recent()
                        return
            await asyncio.sleep(WATCH_INTERVAL_S)


def _check(c: CheckRow) -> rx.Component:
    return rx.hstack(
        rx.cond(
            c.ok, rx.icon("circle-check", color=rx.color("green", 10)), rx.icon("circle-x", color=rx.color("red", 10))
        ),
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
        rx.table.cell(rx.text(c.created_at, size="1")),
        rx.table.cell(c.org),
        rx.table.cell(c.to_number),
        rx.table.cell(rx.badge(c.status)),
        rx.table.cell(rx.text(c.ended_reason, size="1")),
        rx.table.cell(c.duration),
        rx.table.cell(rx.text(c.placed_by, size="1")),
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
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.vstack(
                        rx.text("Organization", size="2", weight="medium"),
                        rx.select.root(
                            rx.select.trigger(placeholder="Pick an organization", id="console-org", min_width="16em"),
                            rx.select.content(
                                rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"]))
                            ),
                            value=ConsoleState.org_id,
                            on_change=ConsoleState.set_org,
                        ),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.text("Agent", size="2", weight="medium"),
                        rx.select(
                            ["outbound", "inbound"],
                            value=ConsoleState.role,
                            on_change=ConsoleState.set_role,
                            custom_attrs={"aria-label": "Agent"},  # on the trigger: rx.select drops aria_label
                        ),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.text("Number to call", size="2", weight="medium"),
                        rx.input(
                            value=ConsoleState.number,
                            on_change=ConsoleState.set_number,
                            placeholder="(415) 555-0123 or +44 20 7946 0958",
                            id="console-number",
                            input_mode="tel",
                            auto_complete="off",
                            min_width="18em",
                        ),
                        spacing="1",
                    ),
                    spacing="4",
                    wrap="wrap",
                    align="end",
                ),
                rx.hstack(
                    rx.button(
                        "Run pre-flight",
                        variant="soft",
                        on_click=ConsoleState.run_preflight,
                        loading=ConsoleState.running_preflight,
                        id="run-preflight",
                    ),
                    rx.button(
                        rx.icon("phone-outgoing"),
                        "Place test call",
                        on_click=ConsoleState.place_call,
                        disabled=~ConsoleState.preflight_ok | ConsoleState.placing,
                        loading=ConsoleState.placing,
                        id="place-call",
                    ),
                    spacing="3",
                ),
                rx.cond(
                    ConsoleState.checks.length() > 0,
                    rx.vstack(rx.foreach(ConsoleState.checks, _check), spacing="1", id="preflight-checks"),
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        _live(),
        rx.heading("Recent test calls", size="4", padding_top="0.5em"),
        rx.cond(
            ConsoleState.recent.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Placed", "Organization", "To", "Status", "Ended / error", "Duration", "By")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(ConsoleState.recent, _recent_row)),
                width="100%",
                id="recent-calls",
            ),
            empty_state("No test calls yet."),
        ),
        width="100%",
        align="stretch",
    )
