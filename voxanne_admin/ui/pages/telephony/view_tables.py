"""Every organization's telephony status, the carrier rules table and the rule editor dialog."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.telephony import forwarding
from voxanne_admin.telephony.models import OverviewRow, RuleRead
from voxanne_admin.ui.components import Column, data_table, form_dialog, select_field, text_field
from voxanne_admin.ui.pages.telephony.common import FORMAT_LABELS, RULE_TYPES
from voxanne_admin.ui.pages.telephony.state import TelephonyState
from voxanne_admin.ui.pages.telephony.widgets import confidence_badge, short_badge
from voxanne_admin.ui.state import AppState


def _overview_row(r: OverviewRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(r.org_name, weight="medium")),
        rx.table.cell(rx.cond(r.country != "", r.country, "—")),
        rx.table.cell(rx.vstack(
            short_badge(r.status),
            # The plain-words label adds something except for "verified" and a setup never touched.
            rx.cond((r.status == "verified") | (r.status_label == "Not started"), rx.fragment(),
                    rx.text(r.status_label, size="1", color_scheme="gray")),
            spacing="1"), max_width="18em"),
        rx.table.cell(rx.text(r.number_display, white_space="nowrap")),
        rx.table.cell(rx.text(r.clinic_display, white_space="nowrap")),
        rx.table.cell(r.carrier),
        rx.table.cell(rx.text(r.updated_at, size="1")),
        rx.table.cell(rx.cond(
            AppState.selected_org == r.org_id.to_string(),
            rx.badge("in scope", variant="soft"),
            rx.button("Open setup", size="1", variant="soft", on_click=AppState.select_org(r.org_id.to_string()),
                      aria_label="Open setup for " + r.org_name, white_space="nowrap"))),
    )


def overview_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Every organization", size="5", as_="h2", padding_top="1em"),
        data_table([Column("Organization", "org_name"), Column("Country", "country"), Column("Status", "status"),
                    "Our number", "Clinic line", Column("Carrier", "carrier"), Column("Updated", "updated_at"),
                    Column("Actions", hide_label=True)],
                   TelephonyState.overview, _overview_row, label="Telephony of every organization",
                   empty="No active organizations.", sort=TelephonyState.overview_sort,
                   on_sort=TelephonyState.sort_overview, size="1", id="telephony-overview"),
        width="100%", align="stretch",
    )


def _rule_cell(activate, cancel, check) -> rx.Component:
    return rx.table.cell(rx.cond(
        activate != "",
        rx.vstack(rx.code(activate, size="1", white_space="nowrap"),
                  rx.text("cancel ", rx.code(cancel, size="1", variant="ghost"), size="1", color_scheme="gray",
                          white_space="nowrap"),
                  rx.cond(check != "", rx.text("check ", rx.code(check, size="1", variant="ghost"), size="1",
                                               color_scheme="gray", white_space="nowrap")),
                  spacing="1"),
        rx.text("not offered", size="1", color_scheme="gray")))


def _rule_row(r: RuleRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.vstack(rx.text(r.carrier, weight="medium"),
                                           rx.text(r.country, " · ", r.line_type, size="1", color_scheme="gray"),
                                           spacing="0")),
        _rule_cell(r.unconditional, r.unconditional_cancel, r.unconditional_check),
        _rule_cell(r.busy, r.busy_cancel, r.busy_check),
        _rule_cell(r.no_answer, r.no_answer_cancel, r.no_answer_check),
        _rule_cell(r.unreachable, r.unreachable_cancel, r.unreachable_check),
        rx.table.cell(rx.vstack(rx.text(r.number_format.replace("_", " "), size="1"),
                                rx.cond(r.forwards_international, rx.badge("forwards abroad", color_scheme="green"),
                                        rx.badge("domestic only", color_scheme="amber")), spacing="1")),
        rx.table.cell(rx.vstack(confidence_badge(r.confidence), rx.text(r.source, size="1", color_scheme="gray"),
                                spacing="1"), max_width="16em"),
        rx.table.cell(rx.vstack(rx.text(r.updated_at, size="1"), rx.text(r.updated_by, size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(rx.cond(AppState.is_admin,
                              rx.button("Edit", size="1", variant="soft", on_click=TelephonyState.open_rule(r.id),
                                        aria_label="Edit the rule for " + r.carrier))),
    )


def rules_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Carrier forwarding rules", size="5", as_="h2"),
            rx.spacer(),
            rx.text("Country", size="2", color_scheme="gray", as_="label", custom_attrs={"htmlFor": "rule-filter"}),
            rx.select.root(
                rx.select.trigger(id="rule-filter", min_width="10em"),
                rx.select.content(rx.select.item("All countries", value="all"),
                                  rx.foreach(TelephonyState.countries,
                                             lambda c: rx.select.item(c.name, value=c.iso))),
                value=TelephonyState.rule_filter, on_change=TelephonyState.set_rule_filter),
            align="center", width="100%", padding_top="1em", spacing="2",
        ),
        rx.text("The codes each carrier uses ({N} is our number as the carrier expects it, {T} the ring time). The "
                "confidence says how sure we are; check a low-confidence rule with the clinic's carrier. "
                "Admins edit; every change is audited.", size="2", color_scheme="gray"),
        data_table([Column("Carrier", "carrier"), "All calls", "Busy", "No answer", "Unreachable", "Number format",
                    Column("Confidence / source", "confidence"), Column("Updated", "updated_at"),
                    Column("Actions", hide_label=True)],
                   TelephonyState.rules, _rule_row, label="Carrier forwarding rules",
                   empty="No rules for this country.", sort=TelephonyState.rules_sort,
                   on_sort=TelephonyState.sort_rules, size="1", id="rules-table"),
        width="100%", align="stretch",
    )


def _rule_input(key: str, label: str, placeholder: str = "") -> rx.Component:
    return text_field(label, f"rule-{key}", name=key, default_value=TelephonyState.rule_form.get(key, ""),
                      key=TelephonyState.rule_id.to_string() + key, placeholder=placeholder,
                      max_length=300 if key in ("source", "domestic_only_reason") else 64,
                      error=TelephonyState.rule_errors.get(key, ""))


def rule_dialog() -> rx.Component:
    err = TelephonyState.rule_errors
    type_rows = [
        rx.grid(
            rx.text(forwarding.TYPES[t].capitalize(), size="2", weight="medium", align_self="center"),
            _rule_input(t, "Activate", "e.g. **21*{N}#"),
            _rule_input(f"{t}_cancel", "Cancel", "e.g. ##21#"),
            _rule_input(f"{t}_check", "Check", "e.g. *#21#"),
            columns="4", spacing="2", width="100%",
        )
        for t in RULE_TYPES
    ]
    return form_dialog(
        "Edit rule: " + TelephonyState.rule_title,
        "Leave a field empty when the carrier does not offer it. Codes already given to clinics do not change; new "
        "codes use the rule.",
        *type_rows,
        rx.grid(
            select_field("Number format", "rule-number-format", [(v, k) for k, v in FORMAT_LABELS.items()],
                         name="number_format", value=TelephonyState.rule_format,
                         on_change=TelephonyState.set_rule_format, error=err.get("number_format", "")),
            rx.text(rx.flex(rx.checkbox(checked=TelephonyState.rule_intl, on_change=TelephonyState.set_rule_intl,
                                        aria_label="Forwards to numbers abroad"),
                            "Forwards to numbers abroad", spacing="2", align="center"),
                    as_="label", size="2", padding_top="1.8em"),
            columns="2", spacing="3", width="100%",
        ),
        _rule_input("domestic_only_reason", "Why it is domestic only (shown when refusing)"),
        rx.grid(_rule_input("confidence", "Confidence", "confirmed, secondary, unconfirmed…"),
                _rule_input("source", "Source", "where this comes from"), columns="2", spacing="3", width="100%"),
        open=TelephonyState.rule_open, on_open_change=TelephonyState.set_rule_open,
        on_submit=TelephonyState.save_rule, submit_label="Save rule", submit_id="rule-save",
        error=err.get("form", ""), id="rule-dialog", max_width="52em",
    )
