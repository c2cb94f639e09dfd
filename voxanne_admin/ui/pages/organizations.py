"""Organizations: list, create, edit, close and reopen (admin and up change; everyone reads)."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.appointments import service as appointment_service
from voxanne_admin.appointments.models import AppointmentRead
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.orgs import service as org_service
from voxanne_admin.orgs.models import COUNTRIES, DEFAULT_TIMEZONES, OrganizationRead
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    APPOINTMENT_STATUS,
    ORG_STATUS,
    Column,
    browser,
    confirm_dialog,
    data_table,
    form_dialog,
    next_sort,
    page_header,
    select_field,
    sort_rows,
    status_badge,
    text_field,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only


class OrganizationsState(AppState):
    """The organizations table and its edit dialog."""

    orgs: list[OrganizationRead] = []
    dialog_open: bool = False
    editing_id: int = 0
    form_name: str = ""
    form_slug: str = ""
    form_country: str = "US"
    form_timezone: str = DEFAULT_TIMEZONES["US"]
    errors: dict[str, str] = {}
    confirm_close_id: int = 0
    appointments: list[AppointmentRead] = []
    sort: str = "name"
    loaded: bool = False

    def _refresh(self) -> None:
        with db.read_only() as session:
            self.orgs = sort_rows(org_service.list_organizations(session), self.sort)
            org_id = int(self.selected_org) if self.selected_org.isdigit() else 0
            self.appointments = appointment_service.list_for_org(session, org_id=org_id) if org_id else []
        self.loaded = True

    @rx.event
    @ui_only
    def sort_by(self, key: str):
        """Sort the table by a column (again: the other way round)."""
        self.sort = next_sort(self.sort, key)
        self.orgs = sort_rows(self.orgs, self.sort)

    @rx.event
    @guarded("viewer")
    def load(self):
        """Load the table."""
        self._refresh()

    @rx.event
    @guarded("operator")
    def cancel_appointment(self, appointment_id: int):
        """Cancel a booking made by an agent or staff (audited); the slot becomes free. Only a booking of the
        organization in scope, as listed on this page, is accepted (the id comes from the browser)."""
        staff = current_staff()
        org_id = int(self.selected_org) if self.selected_org.isdigit() else 0
        if not org_id or not any(a.id == appointment_id for a in self.appointments):
            self._refresh()
            return browser.toast_error("That appointment is not one of this organization's. Reload the page.")
        with db.transaction() as session:
            appointment_service.cancel(session, appointment_id=appointment_id, actor=actor_for(self, staff),
                                       actor_role=staff.role, org_id=org_id)
        self._refresh()
        return browser.toast_success("Appointment cancelled; the time is free again.")

    @rx.event
    @guarded("admin")
    def open_create(self):
        """Empty form for a new organization."""
        self.editing_id = 0
        self.form_name, self.form_slug, self.form_country = "", "", "US"
        self.form_timezone = DEFAULT_TIMEZONES["US"]
        self.errors = {}
        self.dialog_open = True

    @rx.event
    @guarded("admin")
    def open_edit(self, org_id: int):
        """Form filled with an organization's details."""
        for org in self.orgs:
            if org.id == org_id:
                self.editing_id = org.id
                self.form_name, self.form_slug = org.name, org.slug
                self.form_country, self.form_timezone = org.country, org.timezone
        self.errors = {}
        self.dialog_open = True

    @rx.event
    @ui_only
    def set_dialog_open(self, value: bool):
        """Close the dialog (Escape, Cancel)."""
        self.dialog_open = value

    @rx.event
    @ui_only
    def set_form_country(self, value: str):
        """Country changes suggest that country's time zone."""
        if DEFAULT_TIMEZONES.get(self.form_country) == self.form_timezone or not self.form_timezone:
            self.form_timezone = DEFAULT_TIMEZONES.get(value, self.form_timezone)
        self.form_country = value

    @rx.event
    @guarded("admin")
    def save(self, form: dict):
        """Create or update, audited in the same transaction."""
        staff = current_staff()
        self.errors = {}
        try:
            with db.transaction() as session:
                if self.editing_id:
                    org_service.update(session, org_id=self.editing_id, name=form.get("name", ""),
                                       slug=form.get("slug", ""), country=self.form_country,
                                       timezone=form.get("timezone", ""), actor=actor_for(self, staff),
                                       actor_role=staff.role)
                else:
                    org_service.create(session, name=form.get("name", ""), slug=form.get("slug", ""),
                                       country=self.form_country, timezone=form.get("timezone", ""),
                                       actor=actor_for(self, staff), actor_role=staff.role)
        except InvalidInput as exc:
            self.errors = {exc.field or "form": str(exc)}
            return None
        except DomainError as exc:
            self.errors = {"form": str(exc)}
            return None
        was_edit = bool(self.editing_id)
        self.dialog_open = False
        self._refresh()
        return browser.toast_success("Organization saved." if was_edit else "Organization created.")

    @rx.event
    @guarded("admin")
    def ask_close(self, org_id: int):
        """Ask for confirmation before closing."""
        self.confirm_close_id = org_id

    @rx.event
    @ui_only
    def cancel_close(self):
        """Dismiss the confirmation."""
        self.confirm_close_id = 0

    @rx.event
    @guarded("admin")
    def confirm_close(self):
        """Close the organization (data purged 30 days later)."""
        staff = current_staff()
        org_id, self.confirm_close_id = self.confirm_close_id, 0
        with db.transaction() as session:
            org_service.close(session, org_id=org_id, actor=actor_for(self, staff), actor_role=staff.role)
        self._refresh()
        return browser.toast_success("Organization closed. Its data will be purged in 30 days unless reopened.")

    @rx.event
    @guarded("admin")
    def reopen(self, org_id: int):
        """Reopen a closed organization."""
        staff = current_staff()
        with db.transaction() as session:
            org_service.reopen(session, org_id=org_id, actor=actor_for(self, staff), actor_role=staff.role)
        self._refresh()
        return browser.toast_success("Organization reopened.")


def _row(org: OrganizationRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(org.name, weight="medium")),
        rx.table.cell(rx.code(org.slug)),
        rx.table.cell(org.country),
        rx.table.cell(org.timezone),
        rx.table.cell(rx.vstack(status_badge(org.status, ORG_STATUS),
                                rx.cond(org.closed_at != "", rx.text("closed ", org.closed_at, size="1",
                                                                     color_scheme="gray")), spacing="1")),
        rx.table.cell(org.created_at),
        rx.table.cell(
            rx.cond(
                AppState.is_admin,
                rx.hstack(
                    rx.cond(
                        org.status == "active",
                        rx.hstack(
                            rx.button("Edit", size="1", variant="soft", on_click=OrganizationsState.open_edit(org.id)),
                            rx.button("Close", size="1", variant="soft", color_scheme="red",
                                      on_click=OrganizationsState.ask_close(org.id)),
                        ),
                        rx.button("Reopen", size="1", variant="soft", on_click=OrganizationsState.reopen(org.id)),
                    ),
                ),
            )
        ),
    )


def _appointment_row(a: AppointmentRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(a.starts_at), rx.table.cell(a.contact_name), rx.table.cell(a.contact_phone),
        rx.table.cell(a.source), rx.table.cell(status_badge(a.status, APPOINTMENT_STATUS)),
        rx.table.cell(rx.cond((a.status == "booked") & AppState.is_operator,
                              rx.button("Cancel", size="1", variant="soft", color_scheme="red",
                                        aria_label="Cancel the appointment of " + a.contact_name,
                                        on_click=OrganizationsState.cancel_appointment(a.id)))),
    )


def _dialog() -> rx.Component:
    err = OrganizationsState.errors
    return form_dialog(
        rx.cond(OrganizationsState.editing_id > 0, "Edit organization", "New organization"),
        "A clinic or business Voxanne runs phone agents for.",
        text_field("Name", "org-name", name="name", default_value=OrganizationsState.form_name, max_length=120,
                   required=True, auto_focus=True, error=err.get("name", "")),
        text_field("Slug", "org-slug", name="slug", default_value=OrganizationsState.form_slug, max_length=63,
                   placeholder="made from the name when empty", error=err.get("slug", ""),
                   hint="Lowercase letters, digits and dashes; used in URLs and the CLI."),
        select_field("Country", "org-country", [(f"{name} ({code})", code) for code, name in COUNTRIES.items()],
                     name="country", value=OrganizationsState.form_country,
                     on_change=OrganizationsState.set_form_country, error=err.get("country", "")),
        text_field("Time zone", "org-timezone", name="timezone", default_value=OrganizationsState.form_timezone,
                   key=OrganizationsState.form_timezone, max_length=64, required=True,
                   error=err.get("timezone", ""), hint="IANA name, like America/Chicago."),
        open=OrganizationsState.dialog_open,
        on_open_change=OrganizationsState.set_dialog_open,
        on_submit=OrganizationsState.save,
        submit_label="Save",
        submit_id="org-save",
        error=err.get("form", ""),
        id="org-dialog",
    )


def _close_confirm() -> rx.Component:
    return confirm_dialog(
        "Close this organization?",
        "Its agents stop being managed here and all of its data is purged 30 days from now. You can reopen it "
        "before then.",
        open=OrganizationsState.confirm_close_id > 0,
        on_confirm=OrganizationsState.confirm_close,
        on_cancel=OrganizationsState.cancel_close,
        confirm_label="Close organization",
        cancel_label="Keep it open",
        id="close-org-dialog",
    )


@page(routes.ORGANIZATIONS, "Organizations", on_load=[OrganizationsState.load])
def organizations_page() -> rx.Component:
    """Organizations table with create/edit/close."""
    return rx.vstack(
        page_header(
            "Organizations",
            "Each clinic or business Voxanne runs phone agents for.",
            rx.cond(AppState.is_admin, rx.button(rx.icon("plus", aria_hidden="true"), "New organization",
                                                  on_click=OrganizationsState.open_create, id="new-org")),
        ),
        data_table(
            [Column("Name", "name"), Column("Slug", "slug"), Column("Country", "country"),
             Column("Time zone", "timezone"), Column("Status", "status"), Column("Created", "created_at"),
             Column("Actions", hide_label=True)],
            OrganizationsState.orgs, _row, label="Organizations", empty="No organizations yet.",
            loading=~OrganizationsState.loaded, sort=OrganizationsState.sort, on_sort=OrganizationsState.sort_by,
            id="orgs-table",
        ),
        rx.cond(
            AppState.selected_org != "",
            rx.vstack(
                rx.heading("Appointments for ", AppState.selected_org_name, size="4", padding_top="1em", as_="h2"),
                rx.text("Booked by the phone agents (book_appointment) in the clinic's local time. Patients' numbers "
                        "are shortened.", size="2", color_scheme="gray"),
                data_table(["When", "Patient", "Phone", "Booked by", "Status", Column("Actions", hide_label=True)],
                           OrganizationsState.appointments, _appointment_row, label="Appointments",
                           empty="No appointments in the last week or upcoming.", id="appointments-table"),
                width="100%",
            ),
            rx.text("Pick an organization in the switcher above to see its appointments.", size="2",
                    color_scheme="gray", padding_top="1em"),
        ),
        _dialog(),
        _close_confirm(),
        width="100%",
        align="stretch",
    )
