"""The telephony page: the setup of the organization in scope, step by step, then the overview and the rules."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui import routes
from voxanne_admin.ui.components import page_header
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.pages.telephony.state import TelephonyState
from voxanne_admin.ui.pages.telephony.view_codes import step_line_and_codes, step_verify
from voxanne_admin.ui.pages.telephony.view_steps import buy_confirm, country_confirm, step_country, step_number
from voxanne_admin.ui.pages.telephony.view_tables import overview_section, rule_dialog, rules_section
from voxanne_admin.ui.pages.telephony.widgets import error_callout, short_badge
from voxanne_admin.ui.state import AppState


def setup_section() -> rx.Component:
    s = TelephonyState.setup
    line, codes = step_line_and_codes()
    return rx.vstack(
        rx.vstack(
            rx.hstack(
                rx.heading("Setup for ", s.org_name, size="5", as_="h2"),
                short_badge(s.status),
                rx.spacer(),
                rx.text("Last change ", rx.cond(s.updated_at != "", s.updated_at, "never"), size="1",
                        color_scheme="gray", white_space="nowrap"),
                align="center", width="100%", spacing="3",
            ),
            rx.text(s.status_label, size="2", color_scheme=rx.cond(s.status == "failed", "red", "gray")),
            spacing="1", width="100%", id="setup-status",
        ),
        rx.cond(~AppState.is_operator,
                rx.callout("You can read this setup; changing it needs the operator role.", icon="eye",
                           color_scheme="gray", size="1")),
        step_country(),
        step_number(),
        line,
        codes,
        step_verify(),
        spacing="3", width="100%", align="stretch",
    )



@page(routes.TELEPHONY, "Telephony", on_load=[TelephonyState.load])
def telephony_page() -> rx.Component:
    """Step-by-step telephony setup, overview and carrier rules."""
    return rx.vstack(
        page_header("Telephony",
                    "The clinic keeps its own phone number and forwards calls to a number we buy; the agent answers "
                    "them. Set it up step by step, then prove it with a test call.",
                    rx.button(rx.icon("refresh-cw"), "Refresh", variant="soft", on_click=TelephonyState.load)),
        error_callout(TelephonyState.page_error),
        rx.cond(TelephonyState.has_org, setup_section(),
                rx.callout("Pick an organization in the switcher at the top (or “Open setup” in the table below) to "
                           "set up its telephony.", icon="mouse-pointer-click", color_scheme="blue", width="100%",
                           id="pick-org")),
        overview_section(),
        rules_section(),
        buy_confirm(),
        country_confirm(),
        rule_dialog(),
        width="100%", align="stretch",
    )
