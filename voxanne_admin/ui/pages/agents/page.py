"""The agents page: each organization's inbound and outbound agent, with the editor below the list."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import AgentRead
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, page_header
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.agents.editor import editor
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.state import AppState


def _sync_badge(status) -> rx.Component:
    return rx.match(
        status,
        ("synced", rx.badge("synced", color_scheme="green")),
        ("failed", rx.badge("sync failed", color_scheme="red")),
        ("syncing", rx.badge("syncing", color_scheme="blue")),
        ("pending", rx.badge("waiting to sync", color_scheme="amber")),
        rx.badge("never synced", color_scheme="gray"),
    )


def _agent_row(a: AgentRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(a.org_name),
        rx.table.cell(rx.badge(a.role, variant="soft")),
        rx.table.cell(rx.text(a.name, weight="medium")),
        rx.table.cell(a.version),
        rx.table.cell(
            rx.vstack(
                _sync_badge(a.sync_status),
                rx.cond(
                    a.sync_error != "",
                    rx.text(a.sync_error, size="1", color_scheme=rx.cond(a.sync_status == "synced", "amber", "red")),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(
                    "assistant ", rx.code(rx.cond(a.vapi_assistant_id != "", a.vapi_assistant_id[:8], "none")), size="1"
                ),
                rx.text(
                    "number ",
                    rx.code(rx.cond(a.vapi_phone_number_id != "", a.vapi_phone_number_id[:8], "none")),
                    size="1",
                ),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(a.updated_at, size="1"), rx.text(a.updated_by, size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                rx.cond(AppState.is_operator, "Edit", "View"),
                size="1",
                variant="soft",
                on_click=AgentsState.open_agent(a.id.to_string()),
            )
        ),
    )



def _discard_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Discard unsaved changes?"),
            rx.alert_dialog.description("The agent has changes that are not saved. They will be lost."),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep editing", variant="soft", color_scheme="gray", on_click=AgentsState.keep_editing)
                ),
                rx.alert_dialog.action(
                    rx.button("Discard changes", color_scheme="red", on_click=AgentsState.discard_and_open)
                ),
                justify="end",
                spacing="3",
                padding_top="1em",
            ),
        ),
        open=AgentsState.confirm_discard,
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
        rx.cond(
            AgentsState.missing.length() > 0,
            rx.hstack(
                rx.foreach(
                    AgentsState.missing,
                    lambda m: rx.cond(
                        AppState.is_operator,
                        rx.button(
                            rx.icon("plus"),
                            "Create ",
                            m["role"],
                            " agent for ",
                            m["org_name"],
                            variant="soft",
                            on_click=AgentsState.open_agent("new:" + m["org_id"] + ":" + m["role"]),
                        ),
                        rx.text(m["org_name"], " has no ", m["role"], " agent.", size="2"),
                    ),
                )
            ),
        ),
        rx.cond(
            AgentsState.agents.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Organization",
                                "Role",
                                "Name",
                                "Version",
                                "Vapi sync",
                                "Vapi ids",
                                "Last saved",
                                "",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(AgentsState.agents, _agent_row)),
                width="100%",
                id="agents-table",
            ),
            empty_state("No agents here yet. Pick an organization in the switcher above to create its agents."),
        ),
        rx.cond(AgentsState.editing, editor()),
        _discard_dialog(),
        width="100%",
        align="stretch",
    )
