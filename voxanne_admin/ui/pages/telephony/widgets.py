"""Small pieces of the telephony page: status and confidence badges, the numbered step card, error callouts."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui.pages.telephony.state import TelephonyState


def short_badge(status) -> rx.Component:
    """Setup status in one or two words: not started, codes issued, verified, failed."""
    return rx.match(
        status,
        ("verified", rx.badge(rx.icon("circle-check", size=14), "Verified", color_scheme="green")),
        ("codes_issued", rx.badge(rx.icon("hash", size=14), "Codes issued", color_scheme="blue")),
        ("failed", rx.badge(rx.icon("circle-x", size=14), "Failed", color_scheme="red")),
        rx.badge(rx.icon("circle-dashed", size=14), "Not started", color_scheme="gray"),
    )


def confidence_badge(confidence) -> rx.Component:
    return rx.match(
        confidence,
        ("confirmed", rx.badge("confirmed", color_scheme="green")),
        ("official", rx.badge("official", color_scheme="green")),
        ("secondary", rx.badge("secondary source", color_scheme="amber")),
        ("second-hand", rx.badge("second-hand", color_scheme="amber")),
        ("third-party", rx.badge("third-party", color_scheme="amber")),
        ("varies", rx.badge("varies by telco", color_scheme="amber")),
        rx.badge(confidence, color_scheme="gray"),
    )


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

