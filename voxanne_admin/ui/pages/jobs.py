"""Jobs (admin and up): each scheduled job, its schedule, next run, recent runs, and run now."""

from __future__ import annotations

import asyncio

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db
from voxanne_admin.errors import DomainError
from voxanne_admin.jobs import scheduler
from voxanne_admin.jobs import service as job_service
from voxanne_admin.jobs.models import JobRunRead
from voxanne_admin.jobs.registry import JOBS
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import JOB_OUTCOME, Column, browser, data_table, page_header, status_badge
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded


class JobRow(BaseModel):
    """A job as the page lists it."""

    name: str
    title: str
    description: str
    schedule: str
    next_run: str
    last_outcome: str
    last_run: str


class JobsState(AppState):
    """Jobs table and recent runs."""

    jobs: list[JobRow] = []
    runs: list[JobRunRead] = []
    running: str = ""
    loaded: bool = False

    def _refresh(self) -> None:
        nxt = scheduler.next_run_times()
        with db.read_only() as session:
            self.runs = job_service.list_runs(session, limit=30)
            rows = []
            for name, spec in JOBS.items():
                last = job_service.list_runs(session, job_name=name, limit=1)
                rows.append(JobRow(name=name, title=spec.title, description=spec.description, schedule=spec.schedule,
                                   next_run=nxt.get(name, ""), last_outcome=last[0].outcome if last else "never run",
                                   last_run=last[0].started_at if last else ""))
        self.jobs = rows

    @rx.event
    @guarded("admin")
    def load(self):
        """Load jobs and runs."""
        self._refresh()
        self.loaded = True

    @rx.event
    @guarded("admin")
    async def run_now(self, job_name: str):
        """Run a job immediately (audited); the result shows in the table."""
        staff = current_staff()
        self.running = job_name
        try:
            outcome = await asyncio.to_thread(job_service.run_now, job_name, actor=actor_for(self, staff),
                                              actor_role=staff.role)
        except DomainError as exc:
            self.running = ""
            return browser.toast_error(str(exc))
        self.running = ""
        self._refresh()
        if outcome == "succeeded":
            return browser.toast_success(f"{JOBS[job_name].title}: done.")
        return browser.toast_warning(f"{JOBS[job_name].title}: {outcome}. See the runs below.")


def _job_row(job: JobRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.vstack(rx.text(job.title, weight="medium"),
                                           rx.text(job.description, size="1", color_scheme="gray"), spacing="0")),
        rx.table.cell(job.schedule),
        rx.table.cell(rx.text(job.next_run, size="1")),
        rx.table.cell(rx.vstack(status_badge(job.last_outcome, JOB_OUTCOME), rx.text(job.last_run, size="1"),
                                spacing="1")),
        rx.table.cell(rx.button("Run now", size="1", loading=JobsState.running == job.name,
                                aria_label="Run now: " + job.title, on_click=JobsState.run_now(job.name))),
    )


def _run_row(run: JobRunRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(run.started_at, size="1", white_space="nowrap")),
        rx.table.cell(run.job_title),
        rx.table.cell(run.trigger),
        rx.table.cell(status_badge(run.outcome, JOB_OUTCOME)),
        rx.table.cell(run.duration),
        rx.table.cell(rx.text(rx.cond(run.error != "", run.error, run.detail), size="1")),
    )


@page(routes.JOBS, "Jobs", on_load=[JobsState.load])
def jobs_page() -> rx.Component:
    """Scheduled jobs."""
    return rx.vstack(
        page_header("Jobs", "Background work the console runs on a schedule. Each run happens once across all "
                            "servers."),
        data_table(["Job", "Schedule", "Next run", "Last run", Column("Actions", hide_label=True)], JobsState.jobs,
                   _job_row, label="Scheduled jobs", empty="No jobs are registered.", loading=~JobsState.loaded,
                   id="jobs-table"),
        rx.heading("Recent runs", size="4", padding_top="1em", as_="h2"),
        data_table(["Started", "Job", "Trigger", "Outcome", "Duration", "Detail"], JobsState.runs, _run_row,
                   label="Recent job runs", empty="No runs yet.", loading=~JobsState.loaded, id="runs-table"),
        width="100%",
        align="stretch",
    )
