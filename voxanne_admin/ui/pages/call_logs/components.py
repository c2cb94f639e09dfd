"""Pieces the Call logs list and the call detail share."""

from __future__ import annotations

import reflex as rx


def status_badge(status) -> rx.Component:
    """A call's status as a coloured badge."""
    return rx.match(
        status,
        ("ended", rx.badge("ended", color_scheme="green")),
        ("failed", rx.badge("failed", color_scheme="red")),
        ("in-progress", rx.badge("in progress", color_scheme="blue")),
        ("ringing", rx.badge("ringing", color_scheme="blue")),
        rx.badge(status, color_scheme="gray"),
    )
