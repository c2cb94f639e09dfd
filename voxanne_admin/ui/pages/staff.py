"""Staff accounts (admin and up): create, change role, disable, reset MFA."""

from __future__ import annotations

import secrets

import reflex as rx

from voxanne_admin import db
from voxanne_admin.auth import reauth
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import ROLES, StaffRead
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    MFA_STATUS,
    STAFF_STATUS,
    Column,
    browser,
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
    sort: str = "name"
    loaded: bool = False

    def _refresh(self) -> None:
        with db.read_only() as session:
            self.staff = sort_rows(auth_service.list_staff(session), self.sort)
        self.loaded = True

    @rx.event
    @ui_only
    def sort_by(self, key: str):
        """Sort the table by a column (again: the other way round)."""
        self.sort = next_sort(self.sort, key)
        self.staff = sort_rows(self.staff, self.sort)

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
        """Close the dialog (the generated initial password is forgotten with it)."""
        self.dialog_open = value
        if not value:
            self.initial_password = ""

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
        self.initial_password = ""  # given to the new person out of band; the server does not keep it
        self.created_notice = (f"{email} can now sign in with the initial password you gave them; they will choose "
                               "their own password and set up two-factor sign-in first.")
        self._refresh()
        return browser.toast_success("Staff account created.")

    def _act(self, fn, staff_id: int, message: str, *, reauth_for: str = "", **kwargs):
        staff = current_staff()
        try:
            with db.transaction() as session:
                if reauth_for:  # sensitive: the password or a code again within 5 minutes (the guard asks)
                    reauth.require_recent(session, session_id=staff.session_id, what=reauth_for)
                actor_user = auth_service.get(session, staff_id=staff.id)
                fn(session, actor_user=actor_user, staff_id=staff_id, actor=actor_for(self, staff), **kwargs)
        except reauth.ReauthRequired:
            raise
        except DomainError as exc:
            return browser.toast_error(str(exc))
        self._refresh()
        return browser.toast_success(message)

    @rx.event
    @guarded("admin")
    def change_role(self, staff_id: int, role: str):
        """Change a staff member's role."""
        return self._act(auth_service.change_role, staff_id, f"Role changed to {role}.", role=role,
                         reauth_for="changing a role")

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
                         "Two-factor sign-in reset. They will set it up again at their next sign-in.",
                         reauth_for="resetting two-factor sign-in")


def _status(s: StaffRead):
    return rx.cond(s.disabled, "disabled", rx.cond(s.locked, "locked", "active"))


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
                          custom_attrs={"aria-label": "Role of " + s.name}),
            )
        ),
        rx.table.cell(status_badge(rx.cond(s.mfa_enabled, "on", "off"), MFA_STATUS)),
        rx.table.cell(status_badge(_status(s), STAFF_STATUS)),
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
    return form_dialog(
        "New staff account",
        "Give them the initial password in person or through your password manager. They set up two-factor "
        "sign-in when they first sign in.",
        text_field("Name", "staff-name", name="name", max_length=120, required=True, auto_focus=True,
                   error=err.get("name", "")),
        text_field("Email", "staff-email", name="email", type="email", max_length=254, required=True,
                   error=err.get("email", "")),
        select_field("Role", "staff-role", list(ROLES), name="role", default_value="viewer", error=err.get("role", ""),
                     hint="viewer reads; operator changes configuration; admin manages staff and organizations; "
                          "founder has everything."),
        text_field("Initial password", "staff-password", name="password", default_value=StaffState.initial_password,
                   key=StaffState.initial_password, max_length=256, required=True, error=err.get("password", "")),
        open=StaffState.dialog_open,
        on_open_change=StaffState.set_dialog_open,
        on_submit=StaffState.create,
        submit_label="Create account",
        submit_id="staff-save",
        error=err.get("form", ""),
        id="staff-dialog",
    )


@page(routes.STAFF, "Staff", on_load=[StaffState.load])
def staff_page() -> rx.Component:
    """Staff accounts."""
    return rx.vstack(
        page_header("Staff", "Who can use this console, with which role.",
                    rx.button(rx.icon("user-plus", aria_hidden="true"), "New staff account",
                              on_click=StaffState.open_create, id="new-staff")),
        rx.cond(StaffState.created_notice != "", rx.callout(StaffState.created_notice, icon="info", role="status")),
        data_table(
            [Column("Person", "name"), Column("Role", "role"), Column("Two-factor", "mfa_enabled"),
             Column("Status"), Column("Last sign-in", "last_login_at"), Column("Actions", hide_label=True)],
            StaffState.staff, _row, label="Staff accounts", empty="No staff accounts.",
            loading=~StaffState.loaded, sort=StaffState.sort, on_sort=StaffState.sort_by, id="staff-table",
        ),
        _dialog(),
        width="100%",
        align="stretch",
    )
