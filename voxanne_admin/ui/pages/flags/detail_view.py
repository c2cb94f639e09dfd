"""One flag: state and rollout with the live preview, overrides, constraints, schedule, requests, history."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.audit.models import AuditEventRead
from voxanne_admin.flags.models import OverrideRead, RequestRead, ScheduleRead
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import (
    Column,
    data_table,
    empty_state,
    field_error,
    form_error,
    page_header,
    select_field,
    status_badge,
    text_field,
)
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.flags.state import ConstraintRow, FlagDetailState

S = FlagDetailState
REQUEST_STATE = {"draft": ("draft", "gray"), "in_review": ("in review", "blue"), "approved": ("approved", "green"),
                 "applied": ("applied", "green"), "rejected": ("rejected", "red"), "cancelled": ("cancelled", "gray")}
SCHEDULE_STATE = {"pending": ("pending", "blue"), "applied": ("applied", "green"), "cancelled": ("cancelled", "gray"),
                  "failed": ("failed", "red")}


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.card(rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="3", align="stretch"),
                   width="100%")


def _slugs(items, id: str) -> rx.Component:
    return rx.box(rx.foreach(items, lambda s: rx.badge(s, variant="surface", margin="2px")), id=id)


def _state_form() -> rx.Component:
    flag = S.flag
    return _section(
        "State and rollout",
        rx.hstack(
            rx.text("Enabled", as_="label", size="2", weight="medium", custom_attrs={"htmlFor": "flag-enabled"}),
            rx.switch(id="flag-enabled", checked=S.form_enabled, on_change=S.set_enabled,
                      disabled=~S.is_operator),
            align="center", spacing="2"),
        rx.vstack(
            rx.text("Rollout (percent of organizations)", as_="label", size="2", weight="medium",
                    custom_attrs={"htmlFor": "flag-rollout"}),
            rx.input(id="flag-rollout", value=S.form_rollout, on_change=S.set_rollout.debounce(150), type="number",
                     min=0, max=100, width="8em", disabled=~S.is_operator,
                     aria_describedby="flag-preview", aria_invalid=rx.cond(S.rollout_error != "", "true", "false")),
            field_error(S.rollout_error, "flag-rollout"),
            spacing="1"),
        rx.box(
            rx.text(rx.text.strong(S.preview_now.length()), " of ", S.preview_total,
                    " organizations get it now", size="2", id="preview-now-count"),
            _slugs(S.preview_now, "preview-now"),
            rx.cond(S.dirty, rx.vstack(
                rx.text("If you save: ", rx.text.strong(S.preview_after.length()), " of ", S.preview_total,
                        size="2", id="preview-after-count"),
                _slugs(S.preview_after, "preview-after"),
                rx.cond(S.preview_gained.length() > 0,
                        rx.text("Gain it: ", S.preview_gained.join(", "), size="1", color_scheme="green"),
                        rx.fragment()),
                rx.cond(S.preview_lost.length() > 0,
                        rx.text("Lose it: ", S.preview_lost.join(", "), size="1", color_scheme="red"),
                        rx.fragment()),
                spacing="1", align="stretch"), rx.fragment()),
            id="flag-preview", aria_live="polite"),
        form_error(S.form_error, id="flag-form-error"),
        rx.cond(
            flag.protected,
            rx.form(rx.hstack(
                rx.input(name="comment", placeholder="Why (for the approver)", aria_label="Reason for the request",
                         width="20em"),
                rx.button("Request change", type="submit", loading=S.saving, disabled=~S.dirty | ~S.is_operator,
                          id="flag-request"),
                spacing="2"), on_submit=S.request_change, reset_on_submit=True),
            rx.button("Save", on_click=S.save, loading=S.saving, disabled=~S.dirty | ~S.is_operator, id="flag-save",
                      width="fit-content"),
        ),
    )


def _override_row(o: OverrideRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(o.org_name),
        rx.table.cell(rx.cond(o.enabled, rx.badge("forced on", color_scheme="green"),
                              rx.badge("forced off", color_scheme="red"))),
        rx.table.cell(o.reason),
        rx.table.cell(rx.text(o.created_by, " · ", o.created_at, size="1")),
        rx.table.cell(rx.cond(S.is_operator, rx.button("Remove", size="1", variant="soft",
                                                       on_click=S.remove_override(o.org_id),
                                                       aria_label="Remove override of " + o.org_name),
                              rx.fragment())),
    )


def _overrides() -> rx.Component:
    return _section(
        "Overrides",
        data_table([Column("Organization"), Column("Override"), Column("Reason"), Column("By"),
                    Column("Actions", hide_label=True)], S.overrides, _override_row, label="Overrides",
                   empty="No organization is forced on or off."),
        rx.cond(S.is_operator, rx.form(rx.hstack(
            rx.vstack(rx.text("Organization", as_="label", size="2", weight="medium",
                              custom_attrs={"htmlFor": "override-org"}),
                      rx.select.root(rx.select.trigger(id="override-org", placeholder="Choose"),
                                     rx.select.content(rx.foreach(
                                         S.org_options, lambda o: rx.select.item(o["label"], value=o["id"]))),
                                     name="org_id"), spacing="1"),
            select_field("Force", "override-value", [("on", "on"), ("off", "off")], name="value", default_value="on"),
            text_field("Reason", "override-reason", name="reason", placeholder="e.g. pilot clinic"),
            rx.button("Add override", type="submit", id="override-add"),
            spacing="3", align="end", wrap="wrap"), on_submit=S.add_override, reset_on_submit=True),
            rx.fragment()),
    )


def _constraint_row(c: ConstraintRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(c.text),
        rx.table.cell(rx.cond(S.is_operator, rx.button("Remove", size="1", variant="soft",
                                                       on_click=S.remove_constraint(c.index),
                                                       aria_label="Remove constraint " + c.text), rx.fragment())),
    )


def _constraints() -> rx.Component:
    return _section(
        "Targeting constraints",
        rx.text("Every constraint must hold for the rollout to apply; overrides come first.", size="2",
                color_scheme="gray"),
        data_table([Column("Constraint"), Column("Actions", hide_label=True)], S.constraints, _constraint_row,
                   label="Constraints", empty="No constraints: the rollout applies to every organization."),
        rx.cond(S.is_operator, rx.form(rx.hstack(
            select_field("Attribute", "constraint-attribute", [("country", "country"), ("status", "status"),
                                                               ("created", "created_at")], name="attribute",
                         default_value="country"),
            select_field("Operator", "constraint-operator", [("in", "in"), ("not in", "not_in"),
                                                             ("before", "before"), ("after", "after")],
                         name="operator", default_value="in"),
            text_field("Values", "constraint-values", name="values", placeholder="US, GB or 2026-01-01"),
            rx.button("Add constraint", type="submit"),
            spacing="3", align="end", wrap="wrap"), on_submit=S.add_constraint, reset_on_submit=True),
            rx.fragment()),
    )


def _schedule_row(s: ScheduleRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(s.run_at),
        rx.table.cell(rx.cond(s.action == "rollout", rx.text("rollout ", s.rollout, "%"), s.action)),
        rx.table.cell(status_badge(s.status, SCHEDULE_STATE)),
        rx.table.cell(rx.text(s.created_by, size="1")),
        rx.table.cell(rx.text(s.result, size="1")),
        rx.table.cell(rx.cond((s.status == "pending") & S.is_operator,
                              rx.button("Cancel", size="1", variant="soft", on_click=S.cancel_schedule(s.id),
                                        aria_label="Cancel the change at " + s.run_at), rx.fragment())),
    )


def _schedule() -> rx.Component:
    return _section(
        "Schedule",
        data_table([Column("When"), Column("Change"), Column("Status"), Column("By"), Column("Result"),
                    Column("Actions", hide_label=True)], S.schedules, _schedule_row, label="Scheduled changes",
                   empty="Nothing scheduled."),
        rx.cond(S.is_operator & ~S.flag.protected, rx.form(rx.vstack(
            rx.hstack(
                select_field("Change", "schedule-action", [("set rollout", "rollout"), ("enable", "enable"),
                                                           ("disable", "disable")], name="action",
                             default_value="rollout"),
                text_field("Rollout %", "schedule-rollout", name="rollout", type="number"),
                text_field("At (UTC)", "schedule-at", name="run_at", type="datetime-local"),
                spacing="3", align="end", wrap="wrap"),
            text_field("Or a ramp plan", "schedule-plan", name="plan",
                       hint="percent and time per step, e.g. 10 2026-12-02T09:00, 50 2026-12-05T09:00, "
                            "100 2026-12-09T09:00"),
            rx.button("Schedule", type="submit", width="fit-content"),
            spacing="2", align="stretch"), on_submit=S.add_schedule, reset_on_submit=True), rx.fragment()),
    )


def _request_row(r: RequestRead) -> rx.Component:
    def step(label: str, name: str, show) -> rx.Component:
        return rx.cond(show, rx.button(label, size="1", variant="soft", on_click=S.request_step(r.id, name)),
                       rx.fragment())

    return rx.table.row(
        rx.table.row_header_cell(r.summary),
        rx.table.cell(status_badge(r.state, REQUEST_STATE)),
        rx.table.cell(rx.text(r.requested_by, size="1")),
        rx.table.cell(rx.text(r.approved_by, size="1")),
        rx.table.cell(rx.text(r.comment, size="1")),
        rx.table.cell(rx.hstack(
            step("Approve", "approve", (r.state == "in_review") & S.is_admin & (r.requested_by != S.staff_email)),
            step("Reject", "reject", ((r.state == "in_review") | (r.state == "approved")) & S.is_admin
                 & (r.requested_by != S.staff_email)),
            step("Apply", "apply", r.state == "approved"),
            step("Cancel", "cancel", (r.state == "draft") | (r.state == "in_review") | (r.state == "approved")),
            spacing="1")),
    )


def _history_row(e: AuditEventRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(e.occurred_at, size="1", white_space="nowrap")),
        rx.table.cell(e.action), rx.table.cell(rx.text(e.actor, size="1")), rx.table.cell(rx.text(e.summary, size="1")),
    )


def _detail() -> rx.Component:
    flag = S.flag
    return rx.vstack(
        page_header(flag.key, flag.description),
        rx.hstack(
            rx.badge(flag.type), rx.cond(flag.protected, rx.badge("protected", color_scheme="amber"), rx.fragment()),
            rx.cond(flag.archived, rx.badge("archived"), rx.fragment()),
            rx.cond(flag.stale, rx.badge("stale: " + flag.stale_reason, color_scheme="orange"), rx.fragment()),
            rx.text("Owner ", flag.owner, " · version ", flag.version, " · evaluated ", flag.evaluation_count,
                    " times, last ", flag.last_evaluated, size="1", color_scheme="gray"),
            spacing="2", wrap="wrap", align="center"),
        _state_form(), _overrides(), _constraints(), _schedule(),
        _section("Change requests", data_table(
            [Column("Change"), Column("State"), Column("Requested by"), Column("Approved by"), Column("Comment"),
             Column("Actions", hide_label=True)], S.requests, _request_row, label="Change requests",
            empty="No change requests.")),
        _section("History", data_table([Column("When"), Column("Action"), Column("Who"), Column("Change")],
                                       S.history, _history_row, label="History", empty="No changes yet.",
                                       id="flag-history")),
        rx.hstack(
            rx.cond(S.is_admin & ~flag.protected, rx.button("Protect flag", variant="soft", on_click=S.protect,
                                                           id="flag-protect"), rx.fragment()),
            rx.cond(S.is_operator, rx.button(rx.cond(flag.archived, "Restore flag", "Archive flag"), variant="soft",
                                             color_scheme="gray", on_click=S.set_archived(~flag.archived)),
                    rx.fragment()),
            spacing="3"),
        rx.link("All flags", href=routes.FLAGS),
        width="100%", align="stretch", spacing="4",
    )


@page(routes.FLAG_DETAIL, "Feature flag", on_load=[FlagDetailState.load])
def flag_detail_page() -> rx.Component:
    """One flag."""
    return rx.cond(S.flag, _detail(), rx.cond(S.not_found != "", rx.vstack(
        page_header("Feature flag"), empty_state(S.not_found), rx.link("All flags", href=routes.FLAGS)),
        rx.center(rx.spinner(), padding="2em")))
