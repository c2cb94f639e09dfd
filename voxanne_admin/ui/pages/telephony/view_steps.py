"""The views of steps 1 and 2: the country, the number search and its results, and their confirmations."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.telephony.models import AvailableNumberRead
from voxanne_admin.ui.components import Column, confirm_dialog, data_table, empty_state, text_field
from voxanne_admin.ui.pages.fields import dynamic_select_field
from voxanne_admin.ui.pages.telephony.common import FOREIGN_CAVEATS
from voxanne_admin.ui.pages.telephony.state import TelephonyState
from voxanne_admin.ui.pages.telephony.widgets import error_callout, step_card
from voxanne_admin.ui.state import AppState


def step_country() -> rx.Component:
    s = TelephonyState.setup
    c = TelephonyState.country
    body = rx.vstack(
        dynamic_select_field(
            "Clinic's country", "tel-country",
            rx.foreach(
                TelephonyState.countries,
                lambda co: rx.select.item(co.name + " (" + co.iso + ", " + co.calling_code + ")", value=co.iso)),
            placeholder="Choose a country", trigger_props={"max_width": "24em"},
            value=TelephonyState.country_choice, on_change=TelephonyState.choose_country,
            disabled=~AppState.is_operator, error=TelephonyState.country_error,
            hint="Supported: United States, United Kingdom, Nigeria, Türkiye. The organization is registered in "
                 "its own country; pick where the clinic's existing line is.",
        ),
        rx.cond(
            s.country != "",
            rx.callout(
                rx.vstack(
                    rx.text(c.name, " (", c.calling_code, ")", weight="bold"),
                    rx.text(c.guidance),
                    rx.hstack(
                        rx.cond(c.self_serve, rx.badge("numbers self-serve", color_scheme="green"),
                                rx.badge("numbers not self-serve", color_scheme="amber")),
                        rx.cond(c.needs_address, rx.badge("address required", color_scheme="amber")),
                        rx.cond(c.needs_bundle, rx.badge("regulatory bundle required", color_scheme="amber")),
                        rx.cond(c.two_way_sms, rx.badge("two-way SMS", color_scheme="green"),
                                rx.badge("no two-way SMS", color_scheme="gray")),
                        wrap="wrap", spacing="2",
                    ),
                    spacing="2", align="start",
                ),
                icon="info", color_scheme="blue", width="100%", id="country-guidance",
            ),
        ),
        spacing="3", width="100%", align="stretch",
    )
    return step_card(1, "Country", body)


def _number_row(n: AvailableNumberRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(n.display, weight="medium", white_space="nowrap")),
        rx.table.cell(rx.cond(n.locality != "", n.locality + ", " + n.region,
                              rx.cond(n.region != "", n.region, "—"))),
        rx.table.cell(rx.text(n.capabilities, size="1")),
        rx.table.cell(rx.text(rx.match(n.address_requirements, ("", "none"), ("none", "none"),
                                       ("any", "yes, any address"), ("local", "yes, a local address"),
                                       ("foreign", "yes, a foreign address"), n.address_requirements), size="1")),
        rx.table.cell(rx.cond(AppState.is_operator,
                              rx.button("Buy", size="1", on_click=TelephonyState.ask_buy(n.e164),
                                        disabled=~TelephonyState.can_buy,
                                        aria_label="Buy " + n.display))),
    )


def _foreign_caveats() -> rx.Component:
    c = TelephonyState.country
    return rx.cond(
        TelephonyState.foreign_number,
        rx.callout(
            rx.vstack(
                rx.text("A number in ", TelephonyState.number_country_info.name, " for a clinic in ", c.name,
                        ": read this with the clinic BEFORE buying.", weight="bold"),
                rx.el.ul(*[rx.el.li(rx.text(line, size="2")) for line in FOREIGN_CAVEATS],
                         style={"padding_left": "1.2em", "margin": "0"}),
                rx.cond(AppState.is_operator, rx.hstack(
                    rx.checkbox(checked=TelephonyState.caveats_ok, on_change=TelephonyState.set_caveats_ok,
                                id="caveats-ok",
                                aria_label="The clinic knows the call is forwarded abroad and billed to its line."),
                    rx.text("The clinic knows the call is forwarded abroad and billed to its line.", as_="label",
                            custom_attrs={"htmlFor": "caveats-ok"}, size="2", weight="medium"),
                    rx.cond(~TelephonyState.caveats_ok,
                            rx.text("(tick this to enable Buy)", size="1", color_scheme="gray")),
                    align="center", spacing="2")),
                spacing="2", align="start",
            ),
            icon="triangle-alert", color_scheme="amber", width="100%", id="forwarding-caveats",
        ),
    )


def step_number() -> rx.Component:
    s = TelephonyState.setup
    nc = TelephonyState.number_country_info
    search_form = rx.form(
        rx.hstack(
            dynamic_select_field("Number in", "tel-number-country",
                                 rx.foreach(TelephonyState.number_country_options,
                                            lambda o: rx.select.item(o["label"], value=o["iso"])),
                                 value=TelephonyState.number_country, on_change=TelephonyState.set_number_country),
            dynamic_select_field("Type", "tel-number-type",
                                 rx.foreach(nc.number_types, lambda t: rx.select.item(t, value=t)),
                                 value=TelephonyState.number_type, on_change=TelephonyState.set_number_type),
            text_field("Area code", "tel-area-code", name="area_code", default_value=TelephonyState.area_code,
                       placeholder="e.g. 201", max_length=6, input_mode="numeric"),
            text_field("Contains", "tel-contains", name="contains", default_value=TelephonyState.contains,
                       placeholder="digits, e.g. 555", max_length=10, input_mode="numeric"),
            rx.button(rx.icon("search", size=16), "Search numbers", type="submit", id="tel-search",
                      loading=TelephonyState.searching, flex_shrink="0"),
            align="end", spacing="3", width="100%",
        ),
        on_submit=TelephonyState.search, reset_on_submit=False, width="100%",
    )
    requirements = rx.cond(
        (nc.needs_address | nc.needs_bundle),
        rx.callout(
            rx.text("Numbers in ", nc.name, " need ",
                    rx.cond(nc.needs_address & nc.needs_bundle, "an approved address and regulatory bundle",
                            rx.cond(nc.needs_address, "an approved address", "a regulatory bundle")),
                    " on the Twilio account before they can be bought; without them the purchase is refused."),
            icon="file-text", color_scheme="amber", size="1", width="100%", id="number-requirements"),
    )
    have_number = rx.callout(
        rx.text("Our number for this organization: ", rx.text.strong(s.number_display), " (", s.number_country,
                "). Calls forwarded to it reach the organization's inbound agent."),
        icon="phone", color_scheme="green", width="100%", id="our-number",
    )
    shopping = rx.vstack(
        rx.cond(
            AppState.is_operator,
            rx.vstack(
                _foreign_caveats(),
                requirements,
                search_form,
                error_callout(TelephonyState.search_error),
                error_callout(TelephonyState.buy_error),
                rx.cond(TelephonyState.buying,
                        rx.callout(rx.hstack(rx.spinner(size="2"),
                                             rx.text("Buying the number, pointing its webhooks at us and importing "
                                                     "it into Vapi… If any part fails, the number is released.")),
                                   color_scheme="blue", width="100%", id="buying")),
                rx.cond(
                    TelephonyState.searching,
                    rx.hstack(rx.spinner(size="2"), rx.text("Searching available numbers…", size="2"),
                              id="searching", padding="1em"),
                    rx.cond(
                        TelephonyState.numbers.length() > 0,
                        rx.vstack(
                            rx.text(TelephonyState.numbers.length(), " available ", TelephonyState.searched_for,
                                    size="2", color_scheme="gray", id="search-summary"),
                            data_table([Column("Number", "e164"), Column("Where", "locality"), "Can do",
                                        "Address needed", Column("Actions", hide_label=True)],
                                       TelephonyState.numbers, _number_row, label="Available numbers",
                                       sort=TelephonyState.numbers_sort, on_sort=TelephonyState.sort_numbers,
                                       id="numbers-table"),
                            width="100%",
                        ),
                        rx.cond(TelephonyState.searched_for != "",
                                empty_state("No " + TelephonyState.searched_for + ". Try another area code or "
                                            "fewer digits in “Contains”."),
                                rx.fragment()),
                    ),
                ),
                spacing="3", width="100%", align="stretch",
            ),
            rx.text("No number bought yet. An operator buys one here.", size="2", color_scheme="gray"),
        ),
        width="100%", align="stretch",
    )
    return step_card(2, "Our number", rx.cond(s.number_e164 != "", have_number, shopping))


def buy_confirm() -> rx.Component:
    return confirm_dialog(
        "Buy " + TelephonyState.buy_display + "?",
        rx.text("It is bought for ", TelephonyState.setup.org_name, ", its webhooks point at Voxanne and it is "
                "imported into Vapi. The monthly cost is charged to our Twilio account. If any part fails, the "
                "number is released again and nothing is recorded."),
        open=TelephonyState.buy_e164 != "", on_confirm=TelephonyState.confirm_buy,
        on_cancel=TelephonyState.cancel_buy, confirm_label="Buy this number", danger=False, id="buy-confirm",
    )


def country_confirm() -> rx.Component:
    return confirm_dialog(
        "Change the country?",
        "The clinic line, carrier and codes belong to the current country and are cleared; the setup must be "
        "configured and verified again. If the clinic already dialled the activation code, give it the cancel "
        "code first. Our number is kept.",
        open=TelephonyState.pending_country != "", on_confirm=TelephonyState.confirm_country,
        on_cancel=TelephonyState.keep_country, confirm_label="Change the country",
        cancel_label="Keep the current country", id="country-confirm",
    )
