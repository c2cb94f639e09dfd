"""The flag list: search, type/state/stale filters, rollout bar, overrides, last evaluated, kill switch."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.flags.models import FLAG_TYPES, FlagRead
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import Column, confirm_dialog, data_table, page_header, status_badge
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.flags.state import KILL_DIALOG, FlagsState

FLAG_STATE = {"on": ("on", "green"), "off": ("off", "gray"), "partial": ("partial", "blue"),
              "archived": ("archived", "gray")}


def rollout_bar(value, label) -> rx.Component:
    """A labelled bar 0-100 % (the number is also written beside it)."""
    return rx.hstack(
        rx.progress(value=value, max=100, width="6em", aria_label=label),
        rx.text(value, "%", size="1"),
        align="center", spacing="2",
    )


def _state(flag: FlagRead):
    return rx.cond(flag.archived, "archived",
                   rx.cond(~flag.enabled | (flag.rollout == 0), "off",
                           rx.cond(flag.rollout == 100, "on", "partial")))


def _row(flag: FlagRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.vstack(
            rx.link(flag.key, href=f"{routes.FLAGS}/" + flag.key, weight="medium", id="flag-link-" + flag.key),
            rx.text(flag.name, size="1", color_scheme="gray"),
            spacing="0")),
        rx.table.cell(flag.type),
        rx.table.cell(rx.hstack(
            status_badge(_state(flag), FLAG_STATE),
            rx.cond(flag.protected, rx.badge("protected", color_scheme="amber"), rx.fragment()),
            rx.cond(flag.stale, rx.tooltip(rx.badge("stale", color_scheme="orange"), content=flag.stale_reason),
                    rx.fragment()),
            spacing="1", wrap="wrap")),
        rx.table.cell(rollout_bar(flag.rollout, "Rollout of " + flag.key)),
        rx.table.cell(flag.overrides),
        rx.table.cell(rx.text(flag.last_evaluated, size="1", white_space="nowrap")),
        rx.table.cell(rx.cond(
            (flag.type == "kill_switch") & flag.enabled & FlagsState.is_operator,
            rx.button("Turn off", size="1", variant="soft", color_scheme="red", on_click=FlagsState.ask_kill(flag.key),
                      aria_label="Turn off kill switch " + flag.key),
            rx.fragment())),
    )


def _filter(label: str, control_id: str, options: list[tuple[str, str]], value, which: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="1", weight="medium", custom_attrs={"htmlFor": control_id}),
        rx.select.root(
            rx.select.trigger(id=control_id, aria_label=label),
            rx.select.content(*[rx.select.item(text, value=val) for text, val in options]),
            value=value, on_change=lambda v: FlagsState.set_filter(which, v), size="2"),
        spacing="1")


@page(routes.FLAGS, "Feature flags", on_load=[FlagsState.load])
def flags_page() -> rx.Component:
    """Every flag."""
    return rx.vstack(
        page_header("Feature flags", "Turn features on for one clinic, ramp them to a share of organizations, "
                                     "or kill one everywhere. Open a flag to preview who gets it."),
        rx.hstack(
            rx.vstack(
                rx.text("Search", as_="label", size="1", weight="medium", custom_attrs={"htmlFor": "flags-search"}),
                rx.input(id="flags-search", placeholder="key, name or description", value=FlagsState.search,
                         on_change=FlagsState.set_search.debounce(250), width="16em"),
                spacing="1"),
            _filter("Type", "flags-type", [("All types", "all"), *[(t.replace("_", " "), t) for t in FLAG_TYPES]],
                    FlagsState.type_filter, "type_filter"),
            _filter("State", "flags-state", [("Any state", "all"), ("On", "on"), ("Partial", "partial"),
                                             ("Off", "off"), ("Archived", "archived")],
                    FlagsState.state_filter, "state_filter"),
            _filter("Stale", "flags-stale", [("All", "all"), ("Potentially stale", "stale"), ("Fresh", "fresh")],
                    FlagsState.stale_filter, "stale_filter"),
            spacing="4", wrap="wrap", align="end"),
        data_table(
            [Column("Flag", "key"), Column("Type"), Column("State"), Column("Rollout"), Column("Overrides"),
             Column("Last evaluated"), Column("Actions", hide_label=True)],
            FlagsState.flags, _row, label="Feature flags", loading=FlagsState.loading,
            empty="No flags match these filters.", id="flags-table"),
        confirm_dialog(
            "Turn off " + FlagsState.kill_key + "?",
            "The feature stops for every organization within a second. Kill switches never need approval.",
            open=FlagsState.kill_key != "", on_confirm=FlagsState.confirm_kill, on_cancel=FlagsState.cancel_kill,
            confirm_label="Turn off everywhere", busy=FlagsState.killing, confirm_text=FlagsState.kill_key,
            id=KILL_DIALOG),
        width="100%", align="stretch", spacing="4",
    )
