"""Overview: organizations, staff and recent activity at a glance."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from voxanne_admin import db
from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit_service
from voxanne_admin.audit.models import AuditEventRead
from voxanne_admin.auth import service as auth_service
from voxanne_admin.calls import spend_guard
from voxanne_admin.calls import stats as call_stats
from voxanne_admin.calls.filters import CallFilter
from voxanne_admin.calls.models import OrgToday
from voxanne_admin.credentials import service as credential_service
from voxanne_admin.orgs import service as org_service
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import Column, data_table, page_header, stat_card
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, guarded


class OverviewState(AppState):
    """Figures for the overview."""

    active_orgs: int = 0
    closed_orgs: int = 0
    staff_total: int = 0
    staff_without_mfa: int = 0
    activity: list[AuditEventRead] = []
    today: list[OrgToday] = []
    today_links: dict[int, str] = {}
    today_date: str = ""
    old_credentials: list[str] = []
    paused: list[str] = []
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
            self.today = call_stats.today_by_org(session, org_ids=[org_id] if org_id else None)
            self.old_credentials = [f"{c.label} ({c.age})" for c in
                                    credential_service.old_credentials(session, settings=get_settings())]
            self.paused = [f"{t.scope}: {t.reason}" for t in spend_guard.open_trips(session)]
        self.today_date = fmt.day(utcnow())
        # Each organization's row opens its calls of today on the Call logs page.
        self.today_links = {
            t.org_id: routes.CALL_LOGS + "?" + urlencode(CallFilter(
                org_ids=[t.org_id], date_from=self.today_date, date_to=self.today_date).to_query())
            for t in self.today
        }
        self.active_orgs = counts.get("active", 0)
        self.closed_orgs = counts.get("closed", 0)
        self.staff_total = len(staff)
        self.staff_without_mfa = sum(1 for s in staff if not s.mfa_enabled)
        self.loaded = True


def _activity_row(event: AuditEventRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(event.occurred_at, size="1", white_space="nowrap")),
        rx.table.cell(event.actor),
        rx.table.cell(rx.code(event.action)),
        rx.table.cell(event.target),
        rx.table.cell(rx.text(event.summary, size="1", color_scheme="gray")),
    )


def _today_row(t: OrgToday) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.link(t.org_name, href=OverviewState.today_links[t.org_id])),
        rx.table.cell(t.calls, text_align="right"),
        rx.table.cell(t.answered, text_align="right"),
        rx.table.cell(rx.text(t.missed, color_scheme=rx.cond(t.missed > 0, "amber", "gray")), text_align="right"),
        rx.table.cell(rx.cond(t.avg_duration != "", t.avg_duration, "—"), text_align="right"),
        rx.table.cell(t.cost, text_align="right"),
        rx.table.cell(t.booked, text_align="right"),
    )


def _today() -> rx.Component:
    figures = ["Calls", "Answered", "Missed", "Avg. duration", "Cost", "Bookings"]
    return rx.vstack(
        rx.hstack(
            rx.heading("Calls today", size="4", as_="h2"),
            rx.cond(OverviewState.today_date != "",
                    rx.text("(", OverviewState.today_date, ", UTC day; open an organization to see its calls)",
                            size="2", color_scheme="gray")),
            align="baseline", spacing="2", wrap="wrap",
        ),
        data_table([Column("Organization"), *[Column(h, align="right") for h in figures]], OverviewState.today,
                   _today_row, label="Calls today per organization", empty="No active organizations.",
                   loading=~OverviewState.loaded, id="calls-today"),
        width="100%", spacing="2", padding_top="1em",
    )


@page(routes.OVERVIEW, "Overview", on_load=[OverviewState.load])
def overview_page() -> rx.Component:
    """The first page after sign-in."""
    return rx.vstack(
        page_header("Overview", "What is running and what changed recently."),
        rx.cond(OverviewState.paused.length() > 0, rx.callout(
            rx.vstack(rx.text("Outbound calling is paused by the spend guard. A founder turns it back on from the "
                              "Credentials page.", weight="medium"),
                      rx.foreach(OverviewState.paused, lambda p: rx.text(p, size="2")), spacing="1"),
            icon="octagon-x", color_scheme="red", width="100%", id="spend-guard-alert")),
        rx.cond(OverviewState.old_credentials.length() > 0, rx.callout(
            rx.vstack(rx.text("These credentials are due for rotation (Credentials page):", weight="medium"),
                      rx.foreach(OverviewState.old_credentials, lambda c: rx.text(c, size="2")), spacing="1"),
            icon="key-round", color_scheme="amber", width="100%", id="credentials-age-alert")),
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
        _today(),
        rx.heading("Recent activity", size="4", padding_top="1em", as_="h2"),
        data_table(["When", "Who", "Action", "Target", "Change"], OverviewState.activity, _activity_row,
                   label="Recent activity", empty="No activity yet.", loading=~OverviewState.loaded,
                   id="recent-activity"),
        width="100%",
        align="stretch",
    )
