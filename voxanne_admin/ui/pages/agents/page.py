"""The agents page: each organization's inbound and outbound agent, with the editor below the list."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import AgentRead
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import Column, StatusMap, confirm_dialog, data_table, page_header, status_badge
from voxanne_admin.ui.components.browser import leave_guard
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.agents.editor import editor
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.state import AppState

AGENT_SYNC: StatusMap = {
    "synced": ("synced", "green"), "failed": ("sync failed", "red"), "syncing": ("syncing", "blue"),
    "pending": ("waiting to sync", "amber"), "never": ("never synced", "gray"), "": ("never synced", "gray"),
}


def _vapi_ids(a: AgentRead) -> rx.Component:
    return rx.vstack(
        rx.text("assistant ", rx.code(rx.cond(a.vapi_assistant_id != "", a.vapi_assistant_id[:8], "none")), size="1"),
        rx.text("number ", rx.code(rx.cond(a.vapi_phone_number_id != "", a.vapi_phone_number_id[:8], "none")),
                size="1"),
        spacing="0",
    )


def _agent_row(a: AgentRead) -> rx.Component:
    verb = rx.cond(AppState.is_operator, "Edit", "View")
    return rx.table.row(
        rx.table.row_header_cell(a.org_name),
        rx.table.cell(rx.badge(a.role, variant="soft")),
        rx.table.cell(rx.text(a.name, weight="medium")),
        rx.table.cell(a.version),
        rx.table.cell(
            rx.vstack(
                status_badge(a.sync_status, AGENT_SYNC),
                rx.cond(
                    a.sync_error != "",
                    rx.text(a.sync_error, size="1", color_scheme=rx.cond(a.sync_status == "synced", "amber", "red")),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(_vapi_ids(a)),
        rx.table.cell(rx.text(a.updated_at, size="1"), rx.text(a.updated_by, size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(verb, size="1", variant="soft", on_click=AgentsState.open_agent(a.id.to_string()),
                      aria_label=verb + " the " + a.role + " agent of " + a.org_name)
        ),
    )


def _discard_dialog() -> rx.Component:
    return confirm_dialog(
        "Discard unsaved changes?", "The agent has changes that are not saved. They will be lost.",
        open=AgentsState.confirm_discard, on_confirm=AgentsState.discard_and_open,
        on_cancel=AgentsState.keep_editing, confirm_label="Discard changes", cancel_label="Keep editing",
        id="discard-confirm",
    )


def _missing_agents() -> rx.Component:
    return rx.cond(
        AgentsState.missing.length() > 0,
        rx.hstack(
            rx.foreach(
                AgentsState.missing,
                lambda m: rx.cond(
                    AppState.is_operator,
                    rx.button(rx.icon("plus", aria_hidden="true"), "Create ", m["role"], " agent for ", m["org_name"],
                              variant="soft",
                              on_click=AgentsState.open_agent("new:" + m["org_id"] + ":" + m["role"])),
                    rx.text(m["org_name"], " has no ", m["role"], " agent.", size="2"),
                ),
            ),
            wrap="wrap",
        ),
    )


@page(routes.AGENTS, "Agents", on_load=[AgentsState.load])
def agents_page() -> rx.Component:
    """Agents per organization."""
    return rx.vstack(
        page_header(
            "Agents",
            "Each clinic has an inbound agent that answers calls and an outbound agent that calls "
            "back. Saving keeps a version and syncs the agent to Vapi.",
        ),
        _missing_agents(),
        data_table(
            [Column("Organization", "org_name"), Column("Role", "role"), Column("Name", "name"),
             Column("Version", "version"), Column("Vapi sync", "sync_status"), "Vapi ids",
             Column("Last saved", "updated_at"), Column("Actions", hide_label=True)],
            AgentsState.agents, _agent_row, label="Agents",
            empty="No agents here yet. Pick an organization in the switcher above to create its agents.",
            sort=AgentsState.agents_sort, on_sort=AgentsState.sort_agents, id="agents-table",
        ),
        rx.cond(AgentsState.editing, editor()),
        _discard_dialog(),
        leave_guard(AgentsState.dirty),  # unsaved changes: leaving or reloading the page asks first
        width="100%",
        align="stretch",
    )
