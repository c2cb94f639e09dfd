"""The Call logs export: a sub-state of its own (progress, result, errors) and its panel.

The workflow (count, register, write the file in a worker thread, audit) is `calls.export_flow.run`; this State
only starts it with the list's current filter and shows its progress.
"""

from __future__ import annotations

import logging
from pathlib import Path

import reflex as rx

from voxanne_admin.calls import export_flow
from voxanne_admin.errors import DomainError
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.call_logs.state import CallLogsState
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

log = logging.getLogger(__name__)


class CallExportState(AppState):
    """One CSV export of the list's filter at a time: progress while it runs, the download link when done."""

    exporting: bool = False
    export_done: int = 0
    export_total: int = 0
    export_url: str = ""
    export_error: str = ""
    export_rows: int = 0

    @rx.var
    def export_percent(self) -> int:
        """Export progress for the bar (0-100)."""
        if self.export_total <= 0:
            return 0
        return min(100, int(self.export_done * 100 / self.export_total))

    @rx.var
    def export_counts(self) -> dict[str, str]:
        """Export progress and result counts with thousands separators."""
        return {"done": f"{self.export_done:,}", "total": f"{self.export_total:,}", "rows": f"{self.export_rows:,}"}

    @rx.event
    @ui_only
    def clear(self):
        """A fresh page: no export shown (one still running keeps its progress)."""
        if not self.exporting:
            self.export_url, self.export_error, self.export_done, self.export_total = "", "", 0, 0

    @rx.event
    @ui_only
    def dismiss_export(self):
        """Hide the export panel."""
        self.export_url, self.export_error, self.export_done, self.export_total = "", "", 0, 0

    @rx.event(background=True)
    @guarded("viewer")
    async def export(self):
        """Write the list's current filter's calls to a CSV in the background, with progress, then download it."""
        staff = current_staff()
        async with self:
            if self.exporting:
                return
            calls = await self.get_state(CallLogsState)
            if calls.needs_org:
                yield browser.toast_error("Pick an organization first: the export covers the calls shown.")
                return
            flt = calls._build_filter()
            if flt is None:
                yield browser.toast_error("Fix the highlighted filter fields first; the export uses the filter.")
                return
            self.exporting, self.export_done, self.export_total = True, 0, 0
            self.export_url, self.export_error, self.export_rows = "", "", 0
        actor = actor_for(self, staff)
        last = None
        try:
            async for step in export_flow.run(flt=flt, staff_id=staff.id, role=staff.role, actor=actor):
                last = step
                async with self:
                    self.export_total, self.export_done = step.total, step.written
        except DomainError as exc:
            async with self:
                self.exporting, self.export_error = False, f"Export refused: {exc}"
            return
        except Exception:
            log.exception("call export failed")
            async with self:
                self.exporting = False
                self.export_error = ("Export failed: a server error stopped it; nothing was downloaded. "
                                     "Try again; if it keeps failing, tell the on-call engineer.")
            return
        if last is None or not last.token:
            async with self:
                self.exporting = False
                self.export_error = "Nothing to export: no calls match this filter. Widen the filter."
            return
        url = routes.export_url(last.token)
        async with self:
            self.exporting = False
            self.export_rows = last.written
            self.export_done = self.export_total = last.total
            self.export_url = url
        yield rx.download(url=url, filename=Path(last.path).name)


def export_panel() -> rx.Component:
    """Progress while an export runs, then its download link (or why it failed)."""
    s = CallExportState
    return rx.fragment(
        rx.cond(
            s.exporting,
            rx.card(
                rx.vstack(
                    rx.text("Exporting: ", s.export_counts["done"], " of ", s.export_counts["total"], " calls written",
                            size="2", id="export-progress-text"),
                    rx.progress(value=s.export_percent, max=100, width="100%", id="export-progress"),
                    spacing="2", width="100%",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            s.export_url != "",
            rx.callout(
                rx.hstack(
                    rx.text("Export done: ", s.export_counts["rows"], rx.cond(s.export_rows == 1, " call", " calls"),
                            ". The download started; if it did not, ",
                            rx.link("download the CSV", href=s.export_url, id="export-link"), ". The file is "
                            "deleted after a while: export again for fresh data.", size="2", id="export-done"),
                    rx.spacer(),
                    rx.button(rx.icon("x", size=14), variant="ghost", size="1", on_click=s.dismiss_export,
                              aria_label="Dismiss"),
                    width="100%",
                ),
                icon="circle-check", color_scheme="green", width="100%",
            ),
        ),
        rx.cond(
            s.export_error != "",
            rx.callout(rx.text(s.export_error, size="2", id="export-error"),
                       icon="triangle-alert", color_scheme="red", width="100%"),
        ),
    )

