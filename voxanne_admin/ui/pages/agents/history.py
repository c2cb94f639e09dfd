"""An agent's saved versions: restore one, or compare two field by field."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import AgentVersionRead
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.state import AppState


def _version_row(v: AgentVersionRead) -> rx.Component:
    return rx.table.row(
        rx.table.cell(v.version),
        rx.table.cell(rx.text(v.created_at, size="1")),
        rx.table.cell(v.created_by),
        rx.table.cell(
            rx.text(
                v.changed, rx.cond(v.restored_from > 0, rx.text(" (restored from ", v.restored_from, ")"), ""), size="1"
            )
        ),
        rx.table.cell(
            rx.cond(
                AppState.is_operator,
                rx.button("Restore", size="1", variant="soft", on_click=AgentsState.restore(v.version)),
            )
        ),
    )


def history() -> rx.Component:
    return rx.cond(
        AgentsState.versions.length() > 0,
        rx.vstack(
            rx.heading("History", size="3", padding_top="0.5em"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in ("Version", "Saved", "By", "What changed", "")]
                    )
                ),
                rx.table.body(rx.foreach(AgentsState.versions, _version_row)),
                width="100%",
                id="versions-table",
            ),
            rx.hstack(
                rx.text("Compare version", size="2"),
                rx.select(
                    AgentsState.versions.map(lambda v: v.version.to_string()),
                    value=AgentsState.diff_a,
                    on_change=lambda v: AgentsState.set_diff("a", v),
                    custom_attrs={"aria-label": "First version"},  # on the trigger: rx.select drops aria_label
                ),
                rx.text("with", size="2"),
                rx.select(
                    AgentsState.versions.map(lambda v: v.version.to_string()),
                    value=AgentsState.diff_b,
                    on_change=lambda v: AgentsState.set_diff("b", v),
                    custom_attrs={"aria-label": "Second version"},
                ),
                rx.button("Compare", variant="soft", on_click=AgentsState.compare),
                align="center",
            ),
            rx.cond(
                AgentsState.diff_rows.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Field"),
                            rx.table.column_header_cell("Before"),
                            rx.table.column_header_cell("After"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            AgentsState.diff_rows,
                            lambda d: rx.table.row(
                                rx.table.cell(rx.code(d["field"])),
                                rx.table.cell(rx.text(d["before"], size="1", color_scheme="red")),
                                rx.table.cell(rx.text(d["after"], size="1", color_scheme="green")),
                            ),
                        )
                    ),
                    width="100%",
                    id="diff-table",
                ),
            ),
            spacing="2",
            width="100%",
        ),
    )

