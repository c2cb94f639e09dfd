"""Disaster recovery (admin and up): RPO now, the last drill's RTO, the last verification, backups, the 30-day
history, the latest checks, drills, the next scheduled runs, and "Back up now" / "Verify now" / "Run drill now"."""

from __future__ import annotations

import asyncio

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db
from voxanne_admin.auth import reauth
from voxanne_admin.dr import archive, flows
from voxanne_admin.dr import service as dr_service
from voxanne_admin.dr.models import BackupRead, CheckRead, DrillRead
from voxanne_admin.errors import DomainError
from voxanne_admin.jobs import scheduler
from voxanne_admin.jobs.registry import JOBS
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    Column,
    StatusMap,
    browser,
    chart,
    data_table,
    page_header,
    stat_card,
    status_badge,
    text_field,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded

CHECK_STATUS: StatusMap = {"pass": ("pass", "green"), "warning": ("warning", "amber"),
                           "failure": ("failure", "red"), "skipped": ("skipped", "gray")}
RUN_STATUS: StatusMap = {"succeeded": ("succeeded", "green"), "failed": ("failed", "red"),
                         "running": ("running", "blue"), "removed": ("removed", "gray")}
VERIFY_STATUS: StatusMap = {"success": ("success", "green"), "warning": ("warning", "amber"),
                            "failure": ("failure", "red"), "never run": ("never run", "gray")}
DR_JOBS = ("dr_base_backup", "dr_verify", "dr_drill", "dr_retention")
HEAD_KEYS = ("rpo_now", "rto_last", "rpo_last", "last_drill_at", "verification_status", "verification_at", "mode",
             "mode_meaning", "receiver_state", "receiver_error")


class NextRun(BaseModel):
    """A scheduled DR job and when it runs next."""

    title: str
    schedule: str
    next_run: str


class Snapshot(BaseModel):
    """Everything the page shows, read in one go off the event loop."""

    head: dict[str, str]
    backups: list[BackupRead]
    drills: list[DrillRead]
    checks: list[CheckRead]
    history: list[dict]
    next_runs: list[NextRun]


def _snapshot() -> Snapshot:
    try:
        mode = archive.resolve_source().mode
    except Exception:
        mode = None
    nxt = scheduler.next_run_times()
    with db.read_only() as session:
        return Snapshot(head=dr_service.headline(session, mode), backups=dr_service.list_backups(session),
                        drills=dr_service.list_drills(session), checks=dr_service.latest_checks(session),
                        history=dr_service.history(session),
                        next_runs=[NextRun(title=JOBS[n].title, schedule=JOBS[n].schedule, next_run=nxt.get(n, ""))
                                   for n in DR_JOBS if n in JOBS])


def _summary(history: list[dict]) -> str:
    ok = sum(d["success"] for d in history)
    warn = sum(d["warning"] for d in history)
    bad = sum(d["failure"] for d in history)
    drills_ok = sum(d["drill_ok"] for d in history)
    drills_bad = sum(d["drill_failed"] for d in history)
    return (f"Last 30 days: {ok} verifications passed, {warn} with warnings, {bad} failed; "
            f"{drills_ok} drills succeeded, {drills_bad} failed.")


class DrState(AppState):
    """The DR page: read models and the three actions with progress."""

    head: dict[str, str] = dict.fromkeys(HEAD_KEYS, "")
    backups: list[BackupRead] = []
    drills: list[DrillRead] = []
    checks: list[CheckRead] = []
    history: list[dict] = []
    history_summary: str = ""
    next_runs: list[NextRun] = []
    busy: str = ""
    progress: str = ""
    target_time: str = ""
    target_error: str = ""
    loaded: bool = False

    def _apply(self, snap: Snapshot) -> None:
        self.head, self.backups, self.drills, self.checks = snap.head, snap.backups, snap.drills, snap.checks
        self.history, self.history_summary = snap.history, _summary(snap.history)
        self.next_runs = snap.next_runs
        self.loaded = True

    @rx.event
    @guarded("admin")
    async def load(self):
        """Load the figures, lists and schedule."""
        self._apply(await asyncio.to_thread(_snapshot))

    @rx.event
    @guarded("admin")
    def set_target_time(self, value: str):
        """The drill's optional target time (ISO)."""
        self.target_time = value
        self.target_error = ""

    @rx.event
    @guarded("admin")
    def start(self, action: str):
        """Start "backup", "verify" or "drill" (one at a time on this page)."""
        if self.busy:
            return browser.toast_warning(f"A {self.busy} is already running.")
        if action == "drill":
            try:
                flows.parse_target(self.target_time)
            except DomainError as exc:
                self.target_error = str(exc)
                return browser.toast_error(str(exc))
            with db.read_only() as session:  # a restore: the password or a code again (the guard asks)
                reauth.require_recent(session, session_id=current_staff().session_id, what="a restore drill")
        self.busy = action
        self.progress = {"backup": "Taking a base backup…", "verify": "Running the checks…",
                         "drill": "Starting the restore drill…"}[action]
        return DrState.run_action(action, self.target_time)

    @rx.event(background=True)
    @guarded("admin")
    async def run_action(self, action: str, target_text: str):
        """Run the action in a worker thread (audited by the flow); refresh the page while it runs."""
        staff = current_staff()
        if action == "drill" and not await db.run_read_only(reauth.is_recent, session_id=staff.session_id):
            # `start` asked for the re-authentication; an event sent straight here is refused on the server.
            async with self:
                self.busy, self.progress = "", ""
            return browser.toast_error(str(reauth.ReauthRequired("a restore drill")))
        async with self:
            actor = actor_for(self, staff)
        kwargs = {"actor": actor, "actor_role": staff.role}
        if action == "backup":
            task = asyncio.create_task(asyncio.to_thread(flows.run_backup, **kwargs))
        elif action == "verify":
            task = asyncio.create_task(asyncio.to_thread(flows.run_verify, **kwargs))
        else:
            task = asyncio.create_task(asyncio.to_thread(flows.run_drill, target_time=flows.parse_target(target_text),
                                                         **kwargs))
        while not task.done():
            await asyncio.wait({task}, timeout=1.5)
            snap = await asyncio.to_thread(_snapshot)
            async with self:
                self._apply(snap)
                running = next((d for d in snap.drills if d.status == "running"), None)
                if action == "drill" and running:
                    self.progress = f"Drill {running.id}: {running.phase}…"
        message, error = "", ""
        try:
            result = task.result()
            if action == "backup":
                message = f"Backup {result.label} taken and {'verified' if result.verified_ok else 'NOT verified'}."
            elif action == "verify":
                message = f"Verification {result.status}: {result.checks_passed} passed, {result.checks_failed} not."
                if result.status == "failure":
                    error = message
            else:
                message = f"Drill {result.id}: RTO {result.rto_s:.1f} s, RPO {result.rpo_s:.1f} s."
        except DomainError as exc:
            error = str(exc)
        snap = await asyncio.to_thread(_snapshot)
        async with self:
            self._apply(snap)
            self.busy, self.progress = "", error or message
            return browser.toast_error(error) if error else browser.toast_success(message)


def _check_row(c: CheckRead) -> rx.Component:
    return rx.table.row(rx.table.row_header_cell(c.name), rx.table.cell(status_badge(c.status, CHECK_STATUS)),
                        rx.table.cell(rx.text(c.detail, size="1")))


def _backup_row(b: BackupRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(b.label, size="1", white_space="nowrap")), rx.table.cell(b.kind),
        rx.table.cell(status_badge(b.status, RUN_STATUS)), rx.table.cell(rx.text(b.started_at, size="1")),
        rx.table.cell(b.duration), rx.table.cell(b.size), rx.table.cell(b.verified),
        rx.table.cell(rx.text(b.error, size="1")))


def _drill_row(d: DrillRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(d.id), rx.table.cell(d.kind), rx.table.cell(status_badge(d.status, RUN_STATUS)),
        rx.table.cell(rx.text(d.started_at, size="1")), rx.table.cell(rx.text(d.target, size="1")),
        rx.table.cell(d.rto), rx.table.cell(d.rpo),
        rx.table.cell(rx.text(rx.cond(d.error != "", d.error, d.phase), size="1")))


def _next_row(n: NextRun) -> rx.Component:
    return rx.table.row(rx.table.row_header_cell(n.title), rx.table.cell(n.schedule),
                        rx.table.cell(rx.text(n.next_run, size="1")))


def _banner() -> rx.Component:
    failing = DrState.head["receiver_error"] != ""
    bad = DrState.head["verification_status"] == "failure"
    return rx.fragment(
        rx.cond(failing, rx.callout(rx.text("WAL archiving is failing: ", DrState.head["receiver_error"]),
                                    icon="triangle-alert", color_scheme="red", role="alert", id="dr-archiving-banner")),
        rx.cond(bad, rx.callout("The last verification failed: see the checks below.", icon="triangle-alert",
                                color_scheme="red", role="alert", id="dr-verify-banner")),
    )


def _actions() -> rx.Component:
    busy = DrState.busy != ""
    return rx.vstack(
        rx.hstack(
            rx.button("Back up now", on_click=DrState.start("backup"), loading=DrState.busy == "backup",
                      disabled=busy, id="dr-backup-now"),
            rx.button("Verify now", on_click=DrState.start("verify"), loading=DrState.busy == "verify",
                      disabled=busy, id="dr-verify-now"),
            rx.button("Run drill now", on_click=DrState.start("drill"), loading=DrState.busy == "drill",
                      disabled=busy, id="dr-drill-now"),
            align="end", spacing="3", wrap="wrap",
        ),
        rx.box(text_field("Drill target time (optional, ISO 8601 UTC)", "dr-target-time",
                          hint="Empty: the latest point. Example: 2026-12-01T09:30:00Z",
                          error=DrState.target_error, value=DrState.target_time,
                          on_change=DrState.set_target_time, placeholder="latest point"), max_width="28em"),
        rx.text(DrState.progress, size="2", role="status", aria_live="polite", id="dr-progress"),
        spacing="2", width="100%",
    )


@page(routes.DR, "Disaster recovery", on_load=[DrState.load])
def dr_page() -> rx.Component:
    """The DR status page."""
    return rx.vstack(
        page_header("Disaster recovery", "Backups, continuous WAL archiving, daily verification and restore drills "
                                         "with measured recovery times."),
        _banner(),
        rx.hstack(
            stat_card("RPO now", DrState.head["rpo_now"], "Age of the newest archived WAL (or dump)", id="dr-rpo-now"),
            stat_card("RTO of the last drill", DrState.head["rto_last"], DrState.head["last_drill_at"],
                      id="dr-rto-last"),
            stat_card("RPO of the last drill", rx.cond(DrState.head["rpo_last"] != "", DrState.head["rpo_last"], "—"),
                      "Newest transaction recovered vs target", id="dr-rpo-last"),
            stat_card("Last verification", DrState.head["verification_status"], DrState.head["verification_at"],
                      id="dr-last-verification"),
            spacing="3", width="100%", wrap="wrap",
        ),
        rx.text(DrState.head["mode_meaning"], size="2", color_scheme="gray", id="dr-mode"),
        _actions(),
        rx.heading("Latest checks", size="4", as_="h2", padding_top="0.5em"),
        data_table(["Check", "Status", "Detail"], DrState.checks, _check_row, label="Latest verification checks",
                   empty="No verification yet: press Verify now.", loading=~DrState.loaded, id="dr-checks"),
        rx.heading("History (30 days)", size="4", as_="h2", padding_top="0.5em"),
        chart("bar", DrState.history, x_key="day", stacked=True,
              # The kit's palette in order: accent, teal, amber, crimson, gray.
              series=[("success", "Verification passed"), ("drill_ok", "Drill succeeded"),
                      ("warning", "Verification warning"), ("failure", "Verification failed"),
                      ("drill_failed", "Drill failed")],
              label="Verifications and drills per day over the last 30 days", summary=DrState.history_summary,
              id="dr-history"),
        rx.heading("Backups", size="4", as_="h2", padding_top="0.5em"),
        data_table(["Backup", "Kind", "Status", "Started", "Duration", "Size", "Verified", "Detail"], DrState.backups,
                   _backup_row, label="Backups", empty="No backups yet: press Back up now.", loading=~DrState.loaded,
                   id="dr-backups"),
        rx.heading("Drills and restores", size="4", as_="h2", padding_top="0.5em"),
        data_table(["#", "Kind", "Status", "Started", "Target", "RTO", "RPO", Column("Detail")], DrState.drills,
                   _drill_row, label="Restore drills", empty="No drill yet: press Run drill now.",
                   loading=~DrState.loaded, id="dr-drills"),
        rx.heading("Next scheduled runs", size="4", as_="h2", padding_top="0.5em"),
        data_table(["Job", "Schedule", "Next run"], DrState.next_runs, _next_row, label="Next scheduled DR runs",
                   loading=~DrState.loaded, id="dr-next-runs"),
        width="100%", align="stretch", spacing="3",
    )
