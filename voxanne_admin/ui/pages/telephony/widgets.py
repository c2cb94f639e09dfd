"""Small pieces of the telephony page: status and confidence badges, the numbered step card, error callouts."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui.components import StatusMap, status_badge
from voxanne_admin.ui.pages.telephony.state import TelephonyState

# Setup status in one or two words (a setup never touched has no row: "" reads as not started).
SETUP_STATUS: StatusMap = {
    "verified": ("Verified", "green"), "codes_issued": ("Codes issued", "blue"), "failed": ("Failed", "red"),
    "not_started": ("Not started", "gray"), "": ("Not started", "gray"),
}
# How sure we are of a carrier rule (the rules table and the note under the codes).
RULE_CONFIDENCE: StatusMap = {
    "confirmed": ("confirmed", "green"), "official": ("official", "green"),
    "secondary": ("secondary source", "amber"), "second-hand": ("second-hand", "amber"),
    "third-party": ("third-party", "amber"), "varies": ("varies by telco", "amber"),
}


def short_badge(status) -> rx.Component:
    """Setup status in one or two words: not started, codes issued, verified, failed."""
    return status_badge(status, SETUP_STATUS)


def confidence_badge(confidence) -> rx.Component:
    """How sure we are of a carrier rule; an unknown grade shows as itself."""
    return status_badge(confidence, RULE_CONFIDENCE)


def step_card(n: int, title: str, body: rx.Component, opens_at: int = 0) -> rx.Component:
    """One numbered step: done, next or waiting; its body shows once the steps before it allow."""
    step = TelephonyState.current_step
    done = step > n
    current = step == n
    marker = rx.cond(
        done,
        rx.icon("circle-check", color=rx.color("green", 9), size=26),
        rx.center(rx.text(str(n), weight="bold", size="2"), width="26px", height="26px", border_radius="50%",
                  background=rx.cond(current, rx.color("indigo", 9), rx.color("gray", 5)),
                  color=rx.cond(current, "white", rx.color("gray", 11))),
    )
    state_text = rx.cond(done, rx.badge("done", color_scheme="green", variant="soft"),
                         rx.cond(current, rx.badge("next step", color_scheme="indigo", variant="soft"),
                                 rx.badge("waiting", color_scheme="gray", variant="soft")))
    return rx.card(
        rx.vstack(
            rx.hstack(marker, rx.heading(f"{n}. {title}", size="4", as_="h2"), state_text, align="center",
                      width="100%", spacing="3"),
            rx.cond(step >= (opens_at or n), body,
                    rx.text("Finish the steps above first.", size="2", color_scheme="gray")),
            spacing="3", width="100%", align="stretch",
        ),
        width="100%", id=f"step-{n}",
        style={"border_left": rx.cond(current, f"3px solid {rx.color('indigo', 9)}", "3px solid transparent")},
    )


def error_callout(message) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert",
                                             width="100%"))

