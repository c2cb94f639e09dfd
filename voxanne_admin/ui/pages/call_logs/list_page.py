"""The Call logs page (viewer and up): find one call among millions, filter and search, statistics, CSV export."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.calls import listing
from voxanne_admin.calls.models import CallRow
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import chart, empty_state, page_header, stat_card, status_badge
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.call_logs.components import CALL_STATUS
from voxanne_admin.ui.pages.call_logs.export import CallExportState, export_panel
from voxanne_admin.ui.pages.call_logs.filters import filter_form
from voxanne_admin.ui.pages.call_logs.state import PAGE_SIZE, CallLogsState


def _stats() -> rx.Component:
    s = CallLogsState
    return rx.vstack(
        rx.flex(
            stat_card("Calls", s.figures["total"], "matching the filter"),
            stat_card("Answered", s.figures["answered"], s.figures["missed"] + " missed"),
            stat_card("Average duration", rx.cond(s.avg_duration != "", s.avg_duration, "—"),
                      rx.cond(s.p90_duration != "", "90% of answered calls were shorter than " + s.p90_duration,
                              "No answered calls")),
            stat_card("Total cost", rx.cond(s.total_cost != "", s.total_cost, "—")),
            stat_card("Bookings", s.figures["booked"], rx.cond(s.booking_conversion != "",
                                                    s.booking_conversion + " of answered calls booked an appointment",
                                                    "No answered calls yet")),
            spacing="3", wrap="wrap", width="100%", id="call-stats",
        ),
        rx.cond(
            s.total > 0,
            rx.flex(
                rx.card(
                    rx.text("Calls per day (UTC)", size="2", weight="medium"),
                    chart("bar", s.per_day, x_key="day", series=[("calls", "Calls")], label="Calls per day (UTC)",
                          summary=s.per_day_summary, height=s.reasons_height, id="calls-per-day-chart"),
                    flex="3", min_width="20em", id="calls-per-day",
                ),
                rx.card(
                    rx.text("How calls ended", size="2", weight="medium"),
                    # A horizontal bar chart (the kit's chart draws vertical bars only), with the same text
                    # alternative: the drawing is an image named by its summary.
                    rx.el.figure(
                        rx.box(
                            rx.recharts.bar_chart(
                                rx.recharts.bar(data_key="calls", fill=rx.color("teal", 9), name="Calls",
                                                max_bar_size=28),
                                rx.recharts.x_axis(type_="number", allow_decimals=False, stroke=rx.color("gray", 11)),
                                rx.recharts.y_axis(data_key="label", type_="category", width=150, interval=0,
                                                   stroke=rx.color("gray", 11)),
                                rx.recharts.graphing_tooltip(),
                                data=s.reasons, layout="vertical", height=s.reasons_height, width="100%",
                            ),
                            role="img", aria_label="How calls ended", aria_describedby="ended-reasons-summary",
                            width="100%",
                        ),
                        rx.el.figcaption(rx.text(s.reasons_summary, size="1", color_scheme="gray"),
                                         id="ended-reasons-summary"),
                        margin="0", width="100%",
                    ),
                    flex="2", min_width="18em", id="ended-reasons",
                ),
                spacing="3", wrap="wrap", width="100%",
            ),
        ),
        width="100%", spacing="3",
    )


def _columns_menu() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(rx.button(rx.icon("columns-3", size=16), "Columns", variant="soft", color_scheme="gray",
                                     id="columns-button")),
        rx.popover.content(
            rx.vstack(
                rx.text("Visible columns (remembered for you)", size="2", weight="medium"),
                *[
                    rx.checkbox(label, checked=CallLogsState.columns.contains(key),
                                on_change=lambda v, key=key: CallLogsState.toggle_column(key, v),
                                id=f"column-{key}")
                    for key, label in listing.ALL_COLUMNS
                ],
                rx.button("Default columns", size="1", variant="ghost", on_click=CallLogsState.reset_columns),
                spacing="2",
            ),
        ),
    )



# Column key -> (how a cell shows the row, the sort key or "" when the column cannot be sorted).
def _cell_content(key: str, r: CallRow):
    return {
        "started": rx.text(r.started_at, size="2", min_width="8em"),
        "org": r.org_name,
        "agent": r.agent_name,
        "direction": r.direction,
        "customer": rx.text(r.customer_masked, white_space="nowrap", font_family="monospace", size="2"),
        "status": status_badge(r.status, CALL_STATUS),
        "ended_reason": rx.tooltip(rx.text(r.ended_family_label, size="2"), content=r.ended_reason),
        "duration": rx.text(r.duration, white_space="nowrap"),
        "cost": rx.text(r.cost, white_space="nowrap"),
        "test": rx.cond(r.is_test, rx.badge("test", color_scheme="amber"), ""),
        "snippet": rx.text(r.snippet, size="1", color_scheme="gray", class_name="call-snippet", min_width="12em"),
    }.get(key, "")


SORTABLE = {"started": "started", "duration": "duration", "cost": "cost", "status": "status", "org": "org"}


def _header_cell(key: str, label: str) -> rx.Component:
    sort_key = SORTABLE.get(key, "")
    if not sort_key:
        return rx.cond(CallLogsState.columns.contains(key), rx.table.column_header_cell(label))
    active = CallLogsState.sort == sort_key
    arrow = rx.cond(active, rx.cond(CallLogsState.desc, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
                    rx.icon("arrow-up-down", size=14, color=rx.color("gray", 8)))
    return rx.cond(
        CallLogsState.columns.contains(key),
        rx.table.column_header_cell(
            rx.button(label, arrow, variant="ghost", size="2", color_scheme="gray", high_contrast=True,
                      on_click=CallLogsState.sort_by(sort_key), id=f"sort-{key}", font_weight="bold",
                      aria_label=f"Sort by {label}", margin_x="-0.5em"),
            aria_sort=rx.cond(active, rx.cond(CallLogsState.desc, "descending", "ascending"), "none"),
        ),
    )


def _row(r: CallRow) -> rx.Component:
    cells = [rx.cond(CallLogsState.columns.contains(key), rx.table.cell(_cell_content(key, r)))
             for key, _ in listing.ALL_COLUMNS]
    href = "/calls/" + r.id.to_string()
    return rx.table.row(
        *cells,
        rx.table.cell(rx.link("Open", rx.icon("chevron-right", size=14), href=href, aria_label="Open call",
                              white_space="nowrap", display="flex", align_items="center")),
        _hover={"background": rx.color("gray", 2)},
    )


def _table() -> rx.Component:
    s = CallLogsState
    return rx.cond(
        s.rows.length() > 0,
        rx.vstack(
            rx.box(
                rx.table.root(
                    rx.table.header(rx.table.row(*[_header_cell(k, label) for k, label in listing.ALL_COLUMNS],
                                                 rx.table.column_header_cell(""))),
                    rx.table.body(rx.foreach(s.rows, _row)),
                    width="100%", id="calls-table", size="1",
                ),
                width="100%", overflow_x="auto",
            ),
            rx.hstack(
                rx.button(rx.icon("chevron-left", size=16), "Previous", variant="soft",
                          disabled=s.page_no <= 1, on_click=s.previous_page, id="previous-page"),
                rx.text("Page ", s.page_no, size="2", id="page-number"),
                rx.button("Next", rx.icon("chevron-right", size=16), variant="soft",
                          disabled=~s.has_more, on_click=s.next_page, id="next-page"),
                rx.spacer(),
                rx.text(f"{PAGE_SIZE} calls per page, newest first unless you sort by a column.", size="1",
                        color_scheme="gray"),
                width="100%", align="center",
            ),
            width="100%",
        ),
        rx.cond(
            s.loaded,
            rx.cond(
                s.refused,
                empty_state("Nothing searched: fix the highlighted field above, then search again."),
                rx.cond(
                    s.filtered,
                    rx.vstack(
                        empty_state("No calls match this filter. Widen the dates, clear a filter, or try other "
                                    "search words (search matches whole words in transcripts and summaries)."),
                        rx.button("Clear filters", variant="soft", on_click=CallLogsState.clear_filters),
                        align="center", width="100%", padding_bottom="1em",
                    ),
                    empty_state("No calls recorded for this organization yet. Calls appear here as Vapi reports "
                                "them; a test call from the Founder console shows up within seconds."),
                ),
            ),
            rx.center(rx.spinner(size="3"), padding="2em", width="100%"),
        ),
    )


@page(routes.CALL_LOGS, "Call logs", on_load=[CallLogsState.load, CallExportState.clear])
def call_logs_page() -> rx.Component:
    """Find, filter and export calls."""
    s = CallLogsState
    return rx.vstack(
        page_header(
            "Call logs",
            "Every call the agents handled, newest first. Search what was said, narrow it down with the filters, "
            "and open a call to read its transcript and play its recording. Phone numbers are masked and "
            "personal details in transcripts are redacted.",
            rx.hstack(
                rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft", on_click=s.refresh,
                          disabled=s.needs_org, id="refresh-calls"),
                rx.button(rx.icon("download", size=16), "Export CSV", on_click=CallExportState.export,
                          loading=CallExportState.exporting,
                          disabled=s.needs_org, id="export-csv"),
                spacing="2", flex_shrink="0",
            ),
        ),
        rx.cond(s.link_error != "", rx.callout(s.link_error, icon="link-2-off", color_scheme="amber", width="100%",
                                                id="link-error")),
        filter_form(),
        rx.cond(
            s.needs_org,
            rx.callout("Pick an organization in the Organization list above (or in the switcher at the top) to see "
                       "its calls. Only administrators can list every organization's calls at once.",
                       icon="building-2", color_scheme="indigo", width="100%", id="needs-org"),
            rx.vstack(
                export_panel(),
                _stats(),
                rx.hstack(
                    rx.heading("Calls in ", s.scope_label, size="4"),
                    rx.spacer(),
                    _columns_menu(),
                    width="100%", align="center", padding_top="0.5em",
                ),
                _table(),
                width="100%", spacing="3",
            ),
        ),
        width="100%",
        align="stretch",
    )


