"""Small building blocks: page header, empty and loading states, stat cards, visually hidden text."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui import styles


def page_header(title: str, subtitle: str = "", *actions: rx.Component) -> rx.Component:
    """Title (the page's only h1), a line of explanation for someone new to the page, and actions on the right.

    Example: `page_header("Staff", "Who can use this console.", rx.button("New staff account"))`
    """
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
        wrap="wrap",
    )


def visually_hidden(*children, **props) -> rx.Component:
    """Text for screen readers only (still in the accessibility tree, not on screen).

    Example: `rx.table.column_header_cell(visually_hidden("Actions"))`
    """
    return rx.el.span(*children, style=styles.SR_ONLY, **props)


def empty_state(message, *, id: str = "") -> rx.Component:
    """Shown instead of an empty table or chart; announced politely when it appears.

    Example: `empty_state("No runs yet.")`
    """
    return rx.center(rx.text(message, color_scheme="gray", size="2"), padding="2em", width="100%", role="status",
                     **({"id": id} if id else {}))


def loading_state(label: str = "Loading…") -> rx.Component:
    """A spinner with a spoken label, marked `aria-busy` until the data arrives.

    Example: `rx.cond(State.loaded, table, loading_state("Loading calls…"))`
    """
    return rx.center(
        rx.hstack(rx.spinner(size="2"), rx.text(label, size="2", color_scheme="gray"), align="center", spacing="2"),
        role="status", aria_busy="true", aria_live="polite", padding="1.5em", width="100%",
    )


def stat_card(label: str, value, hint: str = "", *, id: str = "") -> rx.Component:
    """One figure with its label and an optional hint (e.g. what to do about it).

    Example: `stat_card("Dead letters", State.dead_count, "Need a look, then replay")`
    """
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray", weight="medium"),
            rx.text(value, size="7", weight="bold", class_name="vx-stat-value"),
            rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
            spacing="1",
        ),
        min_width="12em",
        flex="1",
        **({"id": id} if id else {}),
    )


def code_view(code, language: str = "json", *, label: str = "Code", **props) -> rx.Component:
    """A block of code or JSON in a theme whose every token meets 4.5:1 (prism a11y-dark) in both colour modes
    (the default one-light/one-dark themes do not). The block is a named, focusable region so a keyboard can
    scroll it.

    Example: `code_view(State.payload, "json", label="Event payload", id="payload")`
    """
    return rx.el.div(
        rx.code_block(code, language=language, wrap_long_lines=True, theme=rx.code_block.themes.a11y_dark),
        tab_index=0, role="region", aria_label=label, class_name="vx-code", **props,
    )
