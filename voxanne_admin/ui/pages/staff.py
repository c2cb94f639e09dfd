"""Staff accounts (admin and up): create, change role, disable, reset MFA."""

from __future__ import annotations

import secrets

import reflex as rx

from voxanne_admin import db
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import ROLES, StaffRead
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import labelled, page_header
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

WORDS = ("amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "harbor", "indigo", "juniper", "kestrel",
         "lumen", "meadow", "nectar", "orchid", "pepper", "quartz", "rowan", "saffron", "tundra", "umber",
         "velvet", "willow", "yarrow", "zephyr")


def _generated_password() -> str:
    return "-".join(secrets.choice(WORDS) for _ in range(4)) + f"-{secrets.randbelow(90) + 10}"


class StaffState(AppState):
    """Staff table and the create dialog."""

    staff: list[StaffRead] = []
    dialog_open: bool = False
    errors: dict[str, str] = {}
    initial_password: str = ""
    created_notice: str = ""
    confirm: dict[str, str] = {}

    def _refresh(self) -> None:
        with db.read_only() as session:
            self.staff = auth_service.list_staff(session)

    @rx.event
    @guarded("admin")
    def load(self):
        """Load the table."""
        self._refresh()

    @rx.event
    @guarded("admin")
    def open_create(self):
        """Empty create form with a generated initial password."""
        self.errors = {}
        self.created_notice = ""
        self.initial_password = _generated_password()
        self.dialog_open = True

    @rx.event
    @ui_only
    def set_dialog_open(self, value: bool):
        """Close the dialog."""
        self.dialog_open = value

    @rx.event
    @guarded("admin")
    def create(self, form: dict):
        """Create the account; they must set up two-factor sign-in at first sign-in."""
        staff = current_staff()
        self.errors = {}
        try:
            with db.transaction() as session:
                user = auth_service.create_staff(
                    session, email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "viewer"),
                    password=form.get("password", ""), actor=actor_for(self, staff), actor_role=staff.role,
                )
                email = user.email
        except InvalidInput as exc:
            self.errors = {exc.field or "form": str(exc)}
            return None
        except DomainError as exc:
            self.errors = {"form": str(exc)}
            return None
        self.dialog_open = False
        self.created_notice = (f"{email} can now sign in with the initial password you gave them, and will set up "
                               "two-factor sign-in first.")
        self._refresh()
        return rx.toast.success("Staff account created.")

    def _act(self, fn, staff_id: int, message: str, **kwargs):
        staff = current_staff()
        try:
            with db.transaction() as session:
                actor_user = auth_service.get(session, staff_id=staff.id)
                fn(session, actor_user=actor_user, staff_id=staff_id, actor=actor_for(self, staff), **kwargs)
        except DomainError as exc:
            return rx.toast.error(str(exc))
        self._refresh()
        return rx.toast.success(message)

    @rx.event
    @guarded("admin")
    def change_role(self, staff_id: int, role: str):
        """Change a staff member's role."""
        return self._act(auth_service.change_role, staff_id, f"Role changed to {role}.", role=role)

    @rx.event
    @guarded("admin")
    def set_disabled(self, staff_id: int, disabled: bool):
        """Disable (signs them out everywhere) or re-enable an account."""
        return self._act(auth_service.set_disabled, staff_id,
                         "Account disabled and signed out everywhere." if disabled else "Account enabled.",
                         disabled=disabled)

    @rx.event
    @guarded("admin")
    def unlock(self, staff_id: int):
        """Lift a lockout now."""
        return self._act(auth_service.unlock, staff_id, "Account unlocked. They can sign in again.")

    @rx.event
    @guarded("admin")
    def reset_mfa(self, staff_id: int):
        """Clear a staff member's two-factor setup; they enrol again at next sign-in."""
        return self._act(auth_service.reset_mfa, staff_id,
                         "Two-factor sign-in reset. They will set it up again at their next sign-in.")


def _row(s: StaffRead) -> rx.Component:
    # Your own account, and founders seen by a non-founder, cannot be changed here: show no controls for them.
    is_me = (s.email == AppState.staff_email) | ((s.role == "founder") & (AppState.staff_role != "founder"))
    return rx.table.row(
        rx.table.row_header_cell(rx.vstack(rx.text(s.name, weight="medium"), rx.text(s.email, size="1",
                                                                                      color_scheme="gray"),
                                           spacing="0")),
        rx.table.cell(
            rx.cond(
                is_me,
                rx.badge(s.role),
                rx.select(list(ROLES), value=s.role, on_change=lambda r: StaffState.change_role(s.id, r), size="1",
                          custom_attrs={"aria-label": "Role"}),
            )
        ),
        rx.table.cell(rx.cond(s.mfa_enabled, rx.badge("on", color_scheme="green"),
                              rx.badge("not set up", color_scheme="amber"))),
        rx.table.cell(
            rx.cond(s.disabled, rx.badge("disabled", color_scheme="gray"),
                    rx.cond(s.locked, rx.badge("locked", color_scheme="red"), rx.badge("active", color_scheme="green")))
        ),
        rx.table.cell(rx.text(s.last_login_at, size="1")),
        rx.table.cell(
            rx.cond(
                is_me,
                rx.text(rx.cond(s.email == AppState.staff_email, "you", "only founders can change this account"),
                        size="1", color_scheme="gray"),
                rx.hstack(
                    rx.cond(
                        s.disabled,
                        rx.button("Enable", size="1", variant="soft", on_click=StaffState.set_disabled(s.id, False)),
                        rx.button("Disable", size="1", variant="soft", color_scheme="red",
                                  on_click=StaffState.set_disabled(s.id, True)),
                    ),
                    rx.cond(s.locked, rx.button("Unlock", size="1", variant="soft", color_scheme="amber",
                                                on_click=StaffState.unlock(s.id))),
                    rx.button("Reset MFA", size="1", variant="soft", on_click=StaffState.reset_mfa(s.id)),
                ),
            )
        ),
    )


def _dialog() -> rx.Component:
    err = StaffState.errors
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New staff account"),
            rx.dialog.description("Give them the initial password in person or through your password manager. "
                                  "They set up two-factor sign-in when they first sign in.", size="2"),
            rx.form(
                rx.vstack(
                    rx.cond(err.contains("form"), rx.callout(err["form"], color_scheme="red", icon="triangle-alert",
                                                             role="alert")),
                    labelled("Name", rx.input(name="name", id="staff-name", max_length=120, required=True,
                                               auto_focus=True), err.get("name", "")),
                    labelled("Email", rx.input(name="email", id="staff-email", type="email", max_length=254,
                                                required=True), err.get("email", "")),
                    labelled("Role", rx.select(list(ROLES), name="role", default_value="viewer", id="staff-role"),
                             err.get("role", ""),
                             hint="viewer reads; operator changes configuration; admin manages staff and "
                                  "organizations; founder has everything."),
                    labelled("Initial password", rx.input(name="password", id="staff-password",
                                                           default_value=StaffState.initial_password,
                                                           key=StaffState.initial_password, max_length=256,
                                                           required=True), err.get("password", "")),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                        rx.button("Create account", type="submit", id="staff-save"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=StaffState.create,
                reset_on_submit=False,
            ),
            max_width="32em",
        ),
        open=StaffState.dialog_open,
        on_open_change=StaffState.set_dialog_open,
    )


@page(routes.STAFF, "Staff", on_load=[StaffState.load])
def staff_page() -> rx.Component:
    """Staff accounts."""
    return rx.vstack(
        page_header("Staff", "Who can use this console, with which role.",
                    rx.button(rx.icon("user-plus"), "New staff account", on_click=StaffState.open_create,
                              id="new-staff")),
        rx.cond(StaffState.created_notice != "", rx.callout(StaffState.created_notice, icon="info")),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Person", "Role", "Two-factor", "Status", "Last sign-in", "")])),
            rx.table.body(rx.foreach(StaffState.staff, _row)),
            width="100%",
            id="staff-table",
        ),
        _dialog(),
        width="100%",
        align="stretch",
    )
