"""The UI kit renders the accessibility attributes people depend on: labels bound to inputs, hints and errors
announced with the field, sortable headers that say how they sort, named charts and dialogs that can be left."""

from __future__ import annotations

import re
from dataclasses import dataclass

import reflex as rx

from voxanne_admin.ui.components import (
    JOB_OUTCOME,
    Column,
    chart,
    confirm_dialog,
    data_table,
    form_dialog,
    form_field,
    next_sort,
    select_field,
    sort_rows,
    stat_card,
    status_badge,
    summarize,
    text_field,
)


class KitState(rx.State):
    """Vars for rendering the kit in tests."""

    rows: list[dict[str, str]] = []
    sort: str = "name"
    busy: bool = False
    show: bool = False
    errors: dict[str, str] = {}
    status: str = "failed"

    @rx.event
    def on_sort(self, key: str):
        """Sort."""
        self.sort = key

    @rx.event
    def cancel(self):
        """Close."""
        self.show = False

    @rx.event
    def confirm(self):
        """Do it."""
        self.show = False

    @rx.event
    def set_show(self, value: bool):
        """Open or close."""
        self.show = value

    @rx.event
    def submit(self, form: dict):
        """Save."""
        self.show = False


def _row(r) -> rx.Component:
    return rx.table.row(rx.table.row_header_cell(r["name"]), rx.table.cell(r["role"]))


def test_text_field_label_is_bound_to_the_input_by_id():
    out = str(text_field("Email", "staff-email", name="email", type="email"))
    assert 'as:"label",htmlFor:"staff-email"' in out
    assert re.search(r'RadixThemesTextField\.Root,\{[^}]*id:"staff-email"', out)


def test_text_field_hint_and_error_are_linked_by_aria_describedby():
    out = str(text_field("Password", "pw", hint="At least 12 characters.", error=KitState.errors.get("pw", "")))
    assert 'id:"pw-hint"' in out and 'id:"pw-error"' in out
    # Both ids while there is an error, only the hint otherwise; aria-invalid follows the error.
    assert '"pw-hint pw-error"' in out and ': "pw-hint")' in out
    assert re.search(r'"aria-invalid":\(.*\? "true" : "false"\)', out)
    assert 'role:"alert"' in out


def test_static_error_marks_the_field_invalid():
    out = str(form_field("Code", "code", rx.input(), error="That code is not valid."))
    assert '"aria-invalid":"true"' in out and '"aria-describedby":"code-error"' in out
    assert 'id:"code"' in out


def test_field_without_hint_or_error_has_no_dangling_describedby():
    out = str(text_field("Name", "org-name"))
    assert "aria-describedby" not in out and "aria-invalid" not in out


def test_select_field_puts_id_and_aria_on_the_focusable_trigger():
    out = str(select_field("Role", "staff-role", ["viewer", "admin"], name="role", hint="What they may do.",
                           default_value="viewer"))
    assert 'htmlFor:"staff-role"' in out
    trigger = re.search(r"RadixThemesSelect\.Trigger,\{(.*?)ref:", out)
    assert trigger and 'id:"staff-role"' in trigger.group(1)
    assert '"aria-describedby":"staff-role-hint"' in trigger.group(1)
    assert 'name:"role"' in out


def test_data_table_sortable_header_is_a_button_with_aria_sort():
    out = str(data_table([Column("Name", "name"), Column("Role")], KitState.rows, _row, label="Staff accounts",
                         sort=KitState.sort, on_sort=KitState.on_sort, id="staff-table"))
    assert '"aria-label":"Staff accounts"' in out and 'id:"staff-table"' in out
    assert '"aria-sort":' in out and '? "ascending" :' in out and '? "descending" : "none"' in out
    assert re.search(r'jsx\("button",\{className:"vx-sort-button",onClick:.*?type:"button"', out)
    assert out.count('"aria-sort"') == 1  # the unsortable column says nothing about sorting
    assert 'scope:"col"' in out


def test_data_table_empty_and_loading_states():
    out = str(data_table(["Name"], KitState.rows, _row, label="Runs", empty="No runs yet.", loading=KitState.busy))
    assert "No runs yet." in out
    assert '"aria-busy":' in out and 'role:"status"' in out


def test_hidden_column_label_stays_for_screen_readers():
    out = str(data_table([Column("Name"), Column("Actions", hide_label=True)], KitState.rows, _row, label="Orgs"))
    assert "Actions" in out and "clip" in out


def test_sort_rows_toggles_and_keeps_empty_values_last():
    @dataclass
    class R:
        name: str
        last: str

    rows = [R("b", "2026-01-02"), R("a", ""), R("C", "2026-01-01")]
    assert [r.name for r in sort_rows(rows, "name")] == ["a", "b", "C"]
    assert [r.name for r in sort_rows(rows, "-last")] == ["b", "C", "a"]
    assert [r.name for r in sort_rows(rows, "last")] == ["C", "b", "a"]
    assert next_sort("name", "name") == "-name" and next_sort("-name", "name") == "name"
    assert next_sort("name", "role") == "role"


def test_confirm_dialog_escape_calls_cancel_and_confirm_is_a_button():
    out = str(confirm_dialog("Close this organization?", "Its data is purged in 30 days.", open=KitState.show,
                             on_confirm=KitState.confirm, on_cancel=KitState.cancel,
                             confirm_label="Close organization", busy=KitState.busy, id="close-org"))
    assert "RadixThemesAlertDialog.Root" in out
    on_open_change = re.search(r"onOpenChange:(.*?)open:", out, re.S)
    assert on_open_change and "cancel" in on_open_change.group(1)
    assert "AlertDialog.Title" in out and "AlertDialog.Description" in out
    assert 'id:"close-org-confirm"' in out and "Close organization" in out


def test_confirm_dialog_with_confirm_text_needs_the_text_typed():
    out = str(confirm_dialog("Turn off calls?", "Every agent stops.", open=KitState.show, on_confirm=KitState.confirm,
                             on_cancel=KitState.cancel, confirm_text="outbound_calls", id="kill"))
    assert 'htmlFor:"kill-typed"' in out and 'id:"kill-typed"' in out
    assert re.search(r'disabled:\(.*!== "outbound_calls"', out) or '"outbound_calls"' in out.split("disabled:")[1]


def test_form_dialog_has_title_description_cancel_and_submit():
    out = str(form_dialog("New organization", "Each clinic Voxanne runs agents for.",
                          text_field("Name", "org-name", required=True), open=KitState.show,
                          on_open_change=KitState.set_show, on_submit=KitState.submit, submit_label="Create",
                          busy=KitState.busy, error=KitState.errors.get("form", ""), id="org-dialog"))
    assert "RadixThemesDialog.Root" in out and "Dialog.Title" in out and "Dialog.Description" in out
    assert "RadixThemesDialog.Close" in out and 'type:"submit"' in out and "Create" in out
    assert 'htmlFor:"org-name"' in out and 'id:"org-dialog-error"' in out


def test_status_badge_maps_values_and_shows_unknown_ones():
    static = str(status_badge("failed", JOB_OUTCOME))
    assert 'color:"red"' in static and '"failed"' in static
    assert 'color:"gray"' in str(status_badge("brand-new", JOB_OUTCOME))
    dynamic = str(status_badge(KitState.status, JOB_OUTCOME))
    assert "switch" in dynamic and 'JSON.stringify("succeeded")' in dynamic and 'color:"green"' in dynamic


def test_chart_is_a_named_image_with_its_text_summary():
    out = str(chart("bar", KitState.rows, x_key="minute", series=[("events", "Events")],
                    label="Webhook events per minute", summary="12 events in total", id="events-chart"))
    assert 'role:"img"' in out and '"aria-label":"Webhook events per minute"' in out
    assert '"aria-describedby":"events-chart-summary"' in out and 'id:"events-chart-summary"' in out
    assert "figcaption" in out and "12 events in total" in out


def test_summarize_names_total_peak_and_low():
    points = [{"m": "09:00", "n": 3}, {"m": "09:01", "n": 14}, {"m": "09:02", "n": 0}]
    assert summarize(points, "m", "n", "events") == (
        "17 events in total over 3 points; highest 14 at 09:01, lowest 0 at 09:02.")
    assert summarize([], "m", "n") == "No data."


def test_stat_card_shows_label_value_and_hint():
    out = str(stat_card("Dead letters", 3, "Need a look, then replay"))
    assert "Dead letters" in out and "Need a look, then replay" in out
