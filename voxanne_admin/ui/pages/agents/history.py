"""An agent's saved versions: restore one, or compare two field by field."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import AgentVersionRead
from voxanne_admin.ui.components import Column, data_table
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.pages.fields import dynamic_select_field
from voxanne_admin.ui.state import AppState


def _version_row(v: AgentVersionRead) -> rx.Component:
    # The version number stays a plain cell: the e2e suite reads it as the row's first <td>.
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
                rx.button("Restore", size="1", variant="soft", on_click=AgentsState.restore(v.version),
                          aria_label="Restore version " + v.version.to_string()),
            )
        ),
    )


def _diff_row(d: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(d["field"])),
        rx.table.cell(rx.text(d["before"], size="1", color_scheme="red")),
        rx.table.cell(rx.text(d["after"], size="1", color_scheme="green")),
    )


def _version_select(label: str, which: str, value) -> rx.Component:
    return rx.box(
        dynamic_select_field(label, f"diff-{which}",
                             rx.foreach(AgentsState.versions, lambda v: rx.select.item(v.version.to_string(),
                                                                                        value=v.version.to_string())),
                             value=value, on_change=lambda v: AgentsState.set_diff(which, v), placeholder="version"),
        min_width="9em",
    )


def history() -> rx.Component:
    """The versions table, the comparison of two versions, and what changed between them."""
    return rx.cond(
        AgentsState.versions.length() > 0,
        rx.vstack(
            rx.heading("History", size="3", padding_top="0.5em", as_="h3"),
            data_table(["Version", "Saved", "By", "What changed", Column("Actions", hide_label=True)],
                       AgentsState.versions, _version_row, label="Saved versions", id="versions-table"),
            rx.hstack(
                _version_select("First version", "a", AgentsState.diff_a),
                _version_select("Second version", "b", AgentsState.diff_b),
                rx.button("Compare", variant="soft", on_click=AgentsState.compare),
                align="end",
                spacing="3",
            ),
            rx.cond(
                AgentsState.diff_rows.length() > 0,
                data_table(["Field", "Before", "After"], AgentsState.diff_rows, _diff_row,
                           label="What changed between the two versions", id="diff-table"),
            ),
            spacing="2",
            width="100%",
        ),
    )
