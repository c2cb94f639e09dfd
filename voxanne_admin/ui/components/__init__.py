"""Stateless components: values in, component out."""

from __future__ import annotations

import reflex as rx


def page_header(title: str, subtitle: str = "", *actions: rx.Component) -> rx.Component:
    """Title, a line of explanation for someone new to the page, and actions on the right."""
    return rx.hstack(
        rx.vstack(
            rx.heading(title, size="6", as_="h1"),
            rx.cond(subtitle != "", rx.text(subtitle, color_scheme="gray", size="2")),
            spacing="1",
            align="start",
        ),
        rx.spacer(),
        *actions,
        width="100%",
        align="center",
        padding_bottom="1em",
    )


def stat_card(label: str, value, hint: str = "") -> rx.Component:
    """One figure with its label."""
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.heading(value, size="7"),
            rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
            spacing="1",
        ),
        min_width="12em",
        flex="1",
    )


def field_error(message) -> rx.Component:
    """An inline validation message under a form field."""
    return rx.cond(message != "", rx.text(message, color_scheme="red", size="1", role="alert"))


def labelled(label: str, control: rx.Component, error=None, hint: str = "", html_for: str = "") -> rx.Component:
    """Label above (tied to the control's id when `html_for` is given), control, optional hint and inline error."""
    # rx.text turns html_for into a CSS property; the attribute must be passed as is.
    extra = {"custom_attrs": {"htmlFor": html_for}} if html_for else {}
    children = [rx.text(label, as_="label", size="2", weight="medium", **extra), control]
    if hint:
        children.append(rx.text(hint, size="1", color_scheme="gray"))
    if error is not None:
        children.append(field_error(error))
    return rx.vstack(*children, spacing="1", width="100%", align="stretch")


def badge_for_status(status) -> rx.Component:
    """Coloured badge for common statuses."""
    return rx.match(
        status,
        ("active", rx.badge("active", color_scheme="green")),
        ("closed", rx.badge("closed", color_scheme="gray")),
        ("succeeded", rx.badge("succeeded", color_scheme="green")),
        ("failed", rx.badge("failed", color_scheme="red")),
        ("running", rx.badge("running", color_scheme="blue")),
        ("skipped", rx.badge("skipped", color_scheme="amber")),
        ("booked", rx.badge("booked", color_scheme="green")),
        ("cancelled", rx.badge("cancelled", color_scheme="gray")),
        rx.badge(status),
    )


def empty_state(message: str) -> rx.Component:
    """Shown instead of an empty table."""
    return rx.center(rx.text(message, color_scheme="gray", size="2"), padding="2em", width="100%")
