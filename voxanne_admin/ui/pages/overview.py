"""Overview: organizations, staff and recent activity at a glance."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.audit import service as audit_service
from voxanne_admin.audit.models import AuditEventRead
from voxanne_admin.auth import service as auth_service
from voxanne_admin.orgs import service as org_service
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, page_header, stat_card
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, guarded


class OverviewState(AppState):
    """Figures for the overview."""

    active_orgs: int = 0
    closed_orgs: int = 0
    staff_total: int = 0
    staff_without_mfa: int = 0
    activity: list[AuditEventRead] = []
    loaded: bool = False

    @rx.event
    @guarded("viewer")
    def load(self):
        """Counts and the latest audit events (scoped to the selected organization when one is chosen)."""
        with db.read_only() as session:
            counts = org_service.count(session)
            staff = auth_service.list_staff(session)
            org_id = int(self.selected_org) if self.selected_org.isdigit() else None
            self.activity = audit_service.list_recent(session, limit=15, org_id=org_id)
        self.active_orgs = counts.get("active", 0)
        self.closed_orgs = counts.get("closed", 0)
        self.staff_total = len(staff)
        self.staff_without_mfa = sum(1 for s in staff if not s.mfa_enabled)
        self.loaded = True


def _activity_row(event: AuditEventRead) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(event.occurred_at, size="1", white_space="nowrap")),
        rx.table.cell(event.actor),
        rx.table.cell(rx.code(event.action)),
        rx.table.cell(event.target),
        rx.table.cell(rx.text(event.summary, size="1", color_scheme="gray")),
    )


@page(routes.OVERVIEW, "Overview", on_load=[OverviewState.load])
def overview_page() -> rx.Component:
    """The first page after sign-in."""
    return rx.vstack(
        page_header("Overview", "What is running and what changed recently."),
        rx.flex(
            stat_card("Active organizations", OverviewState.active_orgs),
            stat_card("Closed organizations", OverviewState.closed_orgs, "Data is purged 30 days after closing"),
            stat_card("Staff accounts", OverviewState.staff_total),
            stat_card("Staff without two-factor", OverviewState.staff_without_mfa, "They must enrol at next sign-in"),
            spacing="3",
            wrap="wrap",
            width="100%",
            id="overview-stats",
        ),
        rx.heading("Recent activity", size="4", padding_top="1em"),
        rx.cond(
            OverviewState.activity.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("When"),
                        rx.table.column_header_cell("Who"),
                        rx.table.column_header_cell("Action"),
                        rx.table.column_header_cell("Target"),
                        rx.table.column_header_cell("Change"),
                    )
                ),
                rx.table.body(rx.foreach(OverviewState.activity, _activity_row)),
                width="100%",
                id="recent-activity",
            ),
            empty_state("No activity yet."),
        ),
        width="100%",
        align="stretch",
    )
