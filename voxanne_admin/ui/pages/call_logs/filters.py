"""The Call logs filter form: search box, selects that apply at once, and text fields that apply on Enter."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.calls.families import ENDED_FAMILIES
from voxanne_admin.ui.components import control_attrs, field_error, form_error, text_field
from voxanne_admin.ui.pages.call_logs.state import ANY, STATUSES, CallLogsState
from voxanne_admin.ui.state import AppState


def _control_id(field: str) -> str:
    return f"filter-{field.removeprefix('f_').replace('_', '-')}"


def _select(label: str, field: str, value, items: list[rx.Component], any_label: str, width: str = "11em"):
    """A select that applies at once. Its items may be dynamic (organizations, agents), so it is built here with
    the kit's label binding and error links on the trigger (the focusable part) rather than `select_field`."""
    control_id, error = _control_id(field), CallLogsState.errors.get(field, "")
    return rx.vstack(
        rx.text(label, as_="label", size="1", weight="medium", custom_attrs={"htmlFor": control_id}),
        rx.select.root(
            rx.select.trigger(id=control_id, min_width=width, custom_attrs=control_attrs(control_id, "", error)),
            rx.select.content(rx.select.item(any_label, value=ANY), *items),
            value=rx.cond(value == "", ANY, value),
            on_change=lambda v: CallLogsState.set_choice(field, v),
        ),
        field_error(error, control_id),
        spacing="1",
    )


def _text(label: str, field: str, placeholder: str = "", width: str = "8em", type_: str = "text",
          hint: str = "") -> rx.Component:
    """A text field that applies on Enter or Apply (its value is also submitted with the form)."""
    return rx.box(
        text_field(label, _control_id(field), name=field, hint=hint, error=CallLogsState.errors.get(field, ""),
                   value=getattr(CallLogsState, field), on_change=lambda v: CallLogsState.set_text(field, v),
                   placeholder=placeholder, type=type_, width=width,
                   color_scheme=rx.cond(CallLogsState.errors.contains(field), "red", "gray")),
        width=width,
    )


def filter_form() -> rx.Component:
    """The filter card (a form: Enter in any text field applies it)."""
    org_items = [rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"]))]
    return rx.card(
        rx.form(
            rx.vstack(
                rx.hstack(
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16)),
                        value=CallLogsState.f_q,
                        on_change=lambda v: CallLogsState.set_text("f_q", v),
                        name="f_q", id="call-search", type="search",
                        placeholder="Search transcripts and summaries, e.g. appointment Tuesday (press Enter)",
                        aria_label="Search transcripts and summaries",
                        custom_attrs=control_attrs("call-search", "", CallLogsState.errors.get("f_q", "")),
                        flex="1", size="3",
                    ),
                    rx.button(rx.icon("search", size=16), "Search", type="submit", size="3", id="search-button",
                              loading=CallLogsState.loading),
                    width="100%",
                ),
                field_error(CallLogsState.errors.get("f_q", ""), "call-search"),
                rx.flex(
                    _select("Organization", "f_org", CallLogsState.f_org, org_items,
                            rx.cond(AppState.is_admin, "All organizations", "Pick an organization"), "13em"),
                    _select("Agent", "f_agent", CallLogsState.f_agent,
                            [rx.foreach(CallLogsState.agents, lambda a: rx.select.item(a["name"], value=a["id"]))],
                            "Any agent", "12em"),
                    _select("Direction", "f_direction", CallLogsState.f_direction,
                            [rx.select.item("Inbound", value="inbound"), rx.select.item("Outbound", value="outbound")],
                            "Both"),
                    _select("Status", "f_status", CallLogsState.f_status,
                            [rx.select.item(s, value=s) for s in STATUSES], "Any status", "9em"),
                    _select("Ended reason", "f_family", CallLogsState.f_family,
                            [rx.select.item(label, value=key) for key, label in ENDED_FAMILIES], "Any reason"),
                    rx.vstack(
                        rx.text("Test calls", size="1", weight="medium"),
                        rx.checkbox("Test calls only", checked=CallLogsState.f_test,
                                    on_change=CallLogsState.set_test_only, id="filter-test-only", name="f_test"),
                        spacing="2", padding_top="0.1em",
                    ),
                    spacing="3", wrap="wrap", align="start",
                ),
                rx.flex(
                    _text("From (UTC)", "f_from", width="10em", type_="date"),
                    _text("To (UTC)", "f_to", width="10em", type_="date"),
                    _text("Shortest (s)", "f_min_dur", "e.g. 30", width="7em"),
                    _text("Longest (s)", "f_max_dur", "e.g. 600", width="7em"),
                    _text("Lowest cost ($)", "f_min_cost", "e.g. 0.10", width="7em"),
                    _text("Highest cost ($)", "f_max_cost", "e.g. 2.00", width="7em"),
                    rx.hstack(
                        rx.button("Apply", type="submit", variant="soft", id="apply-filters"),
                        rx.button("Clear filters", type="button", variant="ghost", color_scheme="gray",
                                  on_click=CallLogsState.clear_filters, id="clear-filters"),
                        spacing="2", padding_top="1.4em",
                    ),
                    spacing="3", wrap="wrap", align="start",
                ),
                rx.text("Lists and the checkbox apply at once; dates, durations, costs and the search box apply "
                        "on Enter or Apply. The address bar keeps the filter: copy it to share this view.",
                        size="1", color_scheme="gray"),
                form_error(CallLogsState.errors.get("form", ""), id="filter-form-error"),
                spacing="3", width="100%",
            ),
            on_submit=CallLogsState.apply_form,
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        id="call-filters",
    )

