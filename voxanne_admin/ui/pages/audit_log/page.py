"""The Audit log page (admin and up): who did what, filtered and searched, each event's before/after, the chain's
state (sealer, checkpoints, SIEM stream) with "Verify now", and CSV/JSON export of the filter."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.audit.views import AuditRow, DiffLine
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    Column,
    code_view,
    control_attrs,
    data_table,
    field_error,
    form_error,
    page_header,
    stat_card,
    text_field,
    view_dialog,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.audit_log.state import ANY, GROUP_OPTIONS, AuditLogState
from voxanne_admin.ui.state import AppState

S = AuditLogState


def _control_id(field: str) -> str:
    return f"audit-{field.removeprefix('f_').replace('_', '-')}"


def _text(label: str, field: str, placeholder: str = "", width: str = "11em", type_: str = "text") -> rx.Component:
    return rx.box(
        text_field(label, _control_id(field), name=field, error=S.errors.get(field, ""),
                   value=getattr(S, field), on_change=lambda v: S.set_text(field, v), placeholder=placeholder,
                   type=type_, width=width, color_scheme=rx.cond(S.errors.contains(field), "red", "gray")),
        width=width,
    )


def _select(label: str, field: str, items: list[rx.Component], any_label: str, width: str = "13em"):
    control_id, error = _control_id(field), S.errors.get(field, "")
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", custom_attrs={"htmlFor": control_id}),
        rx.select.root(
            rx.select.trigger(id=control_id, min_width=width, custom_attrs=control_attrs(control_id, "", error)),
            rx.select.content(rx.select.item(any_label, value=ANY), *items),
            value=rx.cond(getattr(S, field) == "", ANY, getattr(S, field)),
            on_change=lambda v: S.set_choice(field, v),
        ),
        field_error(error, control_id),
        spacing="1",
    )


def _filters() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.hstack(
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16, aria_hidden="true")),
                        value=S.f_q, on_change=lambda v: S.set_text("f_q", v), name="f_q", id="audit-search",
                        type="search", placeholder="Search actions, people, targets and changes (press Enter)",
                        aria_label="Search the audit trail",
                        custom_attrs=control_attrs("audit-search", "", S.errors.get("f_q", "")), flex="1", size="3",
                    ),
                    rx.button(rx.icon("search", size=16, aria_hidden="true"), "Search", type="submit", size="3",
                              id="audit-search-button"),
                    width="100%",
                ),
                field_error(S.errors.get("f_q", ""), "audit-search"),
                rx.flex(
                    _select("Action group", "f_group", [rx.select.item(label, value=key)
                                                        for key, label in GROUP_OPTIONS], "Every group"),
                    _select("Organization", "f_org",
                            [rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"]))],
                            "Every organization"),
                    _text("Actor", "f_actor", "email or id"),
                    _text("Action", "f_action", "e.g. staff_role_changed", width="14em"),
                    _text("Target type", "f_target_type", "e.g. agent", width="9em"),
                    _text("Target id", "f_target_id", "e.g. 12", width="8em"),
                    _text("From (UTC)", "f_from", width="10em", type_="date"),
                    _text("To (UTC)", "f_to", width="10em", type_="date"),
                    rx.hstack(
                        rx.button("Apply", type="submit", variant="soft", id="audit-apply"),
                        rx.button("Clear filters", type="button", variant="ghost", color_scheme="gray",
                                  on_click=S.clear_filters, id="audit-clear"),
                        spacing="2", padding_top="1.6em",
                    ),
                    spacing="3", wrap="wrap", align="start",
                ),
                rx.text("Lists apply at once; text boxes and dates apply on Enter or Apply. The address bar keeps "
                        "the filter: copy it to share this view. Search matches whole words.", size="1",
                        color_scheme="gray"),
                form_error(S.errors.get("form", ""), id="audit-form-error"),
                spacing="3", width="100%",
            ),
            on_submit=S.apply_form, reset_on_submit=False, width="100%",
        ),
        width="100%", id="audit-filters",
    )


def _chain_panel() -> rx.Component:
    c = S.chain
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Chain status", size="4", as_="h2"),
                rx.spacer(),
                rx.button(rx.icon("refresh-cw", size=14, aria_hidden="true"), "Refresh", variant="ghost", size="2",
                          on_click=S.refresh_chain, id="chain-refresh"),
                rx.button(rx.icon("shield-check", size=16, aria_hidden="true"), "Verify now", on_click=S.verify_now,
                          loading=S.verifying, id="verify-now"),
                width="100%", align="center",
            ),
            rx.flex(
                stat_card("Sealed through", "event " + S.counts["sealed"],
                          "Rows up to here are linked into the chain.", id="chain-sealed"),
                stat_card("Waiting for the sealer", S.counts["unsealed"],
                          "Oldest has waited " + c.sealer_lag + " (normally under 3 s).", id="chain-lag"),
                stat_card("Last signed checkpoint", c.last_checkpoint, c.last_checkpoint_detail, id="chain-checkpoint"),
                stat_card("SIEM stream", rx.cond(c.stream_configured, S.counts["backlog"] + " queued", "Off"),
                          c.stream_status, id="chain-stream"),
                spacing="3", wrap="wrap", width="100%",
            ),
            rx.cond(
                S.verifying | (S.verify_total > 0),
                rx.vstack(
                    rx.text(rx.cond(S.verifying, "Verifying: ", "Checked: "), S.counts["done"], " of ",
                            S.counts["total"], " rows checked", size="2",
                            id="verify-progress-text"),
                    rx.progress(value=S.verify_percent, max=100, width="100%", id="verify-progress",
                                aria_label="Verification progress"),
                    spacing="2", width="100%",
                ),
            ),
            rx.cond(
                S.verify_result == "ok",
                rx.callout(rx.text("Intact: ", S.counts["rows"], " rows, their links and every checkpoint verified.",
                                   size="2"), icon="circle-check", color_scheme="green", width="100%",
                           id="verify-ok", role="status"),
            ),
            rx.cond(
                S.verify_result == "failed",
                rx.callout(
                    rx.vstack(
                        rx.text("Verification found problems: treat the trail as tampered with until explained.",
                                size="2", weight="medium"),
                        rx.el.ul(rx.foreach(S.verify_problems, lambda p: rx.el.li(rx.text(p, size="2")))),
                        spacing="1",
                    ),
                    icon="triangle-alert", color_scheme="red", width="100%", id="verify-failed", role="alert",
                ),
            ),
            spacing="3", width="100%",
        ),
        width="100%", id="chain-panel",
    )


def _row(row: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(row.occurred_at, size="2", white_space="nowrap")),
        rx.table.cell(rx.text(row.actor, size="2")),
        rx.table.cell(rx.vstack(rx.code(row.action, size="2"), rx.text(row.group, size="1", color_scheme="gray"),
                                spacing="1")),
        rx.table.cell(rx.text(row.target, size="2")),
        rx.table.cell(rx.text(row.org_id, size="2")),
        rx.table.cell(rx.text(row.summary, size="2")),
        rx.table.cell(rx.button(rx.icon("panel-right-open", size=14, aria_hidden="true"), "Details", size="1",
                                variant="soft", on_click=S.open_detail(row.id),
                                aria_label="Details of event " + row.id.to_string(),
                                id="details-" + row.id.to_string())),
    )


def _diff_line(line: DiffLine) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.code(line.field, size="2")),
        rx.table.cell(rx.text(line.before, size="2", color=rx.color("red", 11), white_space="pre-wrap")),
        rx.table.cell(rx.text(line.after, size="2", color=rx.color("green", 11), white_space="pre-wrap")),
    )


def _detail_dialog() -> rx.Component:
    d = S.detail
    fact = lambda label, value: rx.hstack(  # noqa: E731
        rx.text(label, size="2", color_scheme="gray", min_width="8em"), rx.text(value, size="2"), spacing="2")
    return view_dialog(
        "Event " + d.id.to_string() + ": " + d.action,
        d.occurred_at + " · " + d.group,
        rx.vstack(
            fact("Actor", d.actor + " (" + d.actor_type + ")"),
            fact("Target", rx.cond(
                S.detail_link != "",
                rx.link(d.target, href=S.detail_link, id="detail-target-link"),
                rx.text(rx.cond(d.target != "", d.target, "—")))),
            fact("Organization", rx.cond(d.org_id != "", d.org_id, "—")),
            fact("From", rx.cond(d.ip != "", d.ip, "—") + " · " + rx.cond(d.user_agent != "", d.user_agent, "—")),
            fact("Request id", rx.cond(d.request_id != "", d.request_id, "—")),
            fact("Chain", rx.cond(d.sealed, "Sealed (linked into the chain)", "Not sealed yet (within seconds)")),
            rx.cond(
                d.changes.length() > 0,
                data_table([Column("Field"), Column("Before"), Column("After")], d.changes, _diff_line,
                           label="Changes, before and after", id="detail-diff"),
                rx.text("No before/after changes recorded for this event.", size="2", color_scheme="gray"),
            ),
            rx.cond(d.details != "", code_view(d.details, label="Other details", id="detail-extra")),
            spacing="2", width="100%",
        ),
        open=S.detail_open, on_open_change=S.set_detail_open, id="audit-detail", max_width="64em",
    )


def _exports() -> rx.Component:
    def export(label: str, fmt: str) -> rx.Component:
        return rx.button(rx.icon("download", size=16, aria_hidden="true"), label, variant="soft",
                         on_click=S.export(fmt), id=f"export-{fmt}")

    return rx.hstack(export("Export CSV", "csv"), export("Export JSON", "json"), spacing="2")


@page(routes.AUDIT_LOG, "Audit log", on_load=[AuditLogState.load])
def audit_log_page() -> rx.Component:
    """The page."""
    return rx.vstack(
        page_header("Audit log", "Every change anyone made, and every refusal, on a tamper-evident record. "
                    "Exports are themselves recorded here.", _exports()),
        rx.cond(S.link_error != "", rx.callout(S.link_error, icon="info", color_scheme="amber", width="100%",
                                               id="audit-link-error")),
        _chain_panel(),
        _filters(),
        data_table(
            [Column("Time"), Column("Actor"), Column("Action"), Column("Target"), Column("Org"), Column("Summary"),
             Column("Details", hide_label=True)],
            S.rows, _row, label="Audit events, newest first",
            empty=rx.cond(S.filtered, "No events match this filter. Widen it or clear the filters.",
                          "No audit events yet."),
            loading=~S.loaded, id="audit-table",
        ),
        rx.hstack(
            rx.button("Previous", on_click=S.previous_page, disabled=S.page_no <= 1, variant="soft",
                      id="audit-prev"),
            rx.text("Page ", S.page_no.to_string(), size="2", id="audit-page-no"),
            rx.button("Next", on_click=S.next_page, disabled=~S.has_more, variant="soft", id="audit-next"),
            spacing="3", align="center",
        ),
        _detail_dialog(),
        width="100%", spacing="4",
    )
