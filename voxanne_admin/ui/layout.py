"""The app shell (sidebar, header with org switcher and user menu, sandbox banner) and the page decorator."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from voxanne_admin.ui import routes, styles
from voxanne_admin.ui.components.basics import visually_hidden
from voxanne_admin.ui.components.dialogs import form_dialog
from voxanne_admin.ui.components.forms import text_field
from voxanne_admin.ui.state import AppState

MIN_ROLE = {route: role for _, route, _, role in routes.NAV}


def _nav_item(label: str, route: str, icon: str) -> rx.Component:
    path = rx.State.router.page.path
    active = (path == route) | path.startswith(route + "/")  # a call's detail page belongs to Call logs
    return rx.link(
        rx.hstack(rx.icon(icon, size=18, aria_hidden="true"), rx.text(label, size="3"), spacing="3", align="center"),
        href=route,
        underline="none",
        padding_x="0.75em",
        padding_y="0.5em",
        border_radius="var(--radius-3)",
        width="100%",
        color=rx.cond(active, rx.color(styles.ACCENT, 11), rx.color("gray", 12)),
        background=rx.cond(active, rx.color(styles.ACCENT, 3), "transparent"),
        _hover={"background": rx.color("gray", 3)},
        aria_current=rx.cond(active, "page", "false"),
    )


def sidebar() -> rx.Component:
    """Navigation: only pages that exist and that the signed-in role may open."""
    items = []
    for label, route, icon, _role in routes.NAV:
        item = _nav_item(label, route, icon)
        minimum = MIN_ROLE[route]
        if minimum == "founder":
            item = rx.cond(AppState.is_founder, item)
        elif minimum == "admin":
            item = rx.cond(AppState.is_admin, item)
        elif minimum == "operator":
            item = rx.cond(AppState.is_operator, item)
        items.append(item)
    # The outer column stretches to the page's full height (its background and border go all the way down on
    # long pages); the inner column sticks to the top of the viewport while the page scrolls.
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.icon("audio-waveform", size=22, color=rx.color(styles.ACCENT, 11), aria_hidden="true"),
                rx.text("Voxanne Admin", size="4", weight="bold"),
                align="center",
                padding_bottom="1em",
            ),
            rx.el.nav(rx.vstack(*items, spacing="1", width="100%"), aria_label="Main", width="100%"),
            rx.spacer(),
            rx.text("Internal console · staff only", size="1", color_scheme="gray"),
            height="100vh",
            position="sticky",
            top="0",
            padding="1em",
            overflow_y="auto",
        ),
        width=styles.SIDEBAR_WIDTH,
        min_width=styles.SIDEBAR_WIDTH,
        align_self="stretch",
        min_height="100vh",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        id="sidebar",
    )


def org_switcher() -> rx.Component:
    """The organization scope every page uses."""
    return rx.hstack(
        rx.text("Organization", size="2", color_scheme="gray", as_="label",
                custom_attrs={"htmlFor": "org-switcher"}),
        rx.select.root(
            rx.select.trigger(placeholder="All organizations", id="org-switcher", min_width="14em"),
            rx.select.content(
                rx.select.item("All organizations", value="all"),
                rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"])),
            ),
            value=rx.cond(AppState.selected_org == "", "all", AppState.selected_org),
            on_change=AppState.select_org,
        ),
        align="center",
        spacing="2",
    )


def user_menu() -> rx.Component:
    """Name, role, account and sign out."""
    # Not modal: a modal menu hides the page with aria-hidden while its links stay focusable (axe aria-hidden-focus).
    return rx.menu.root(
        rx.menu.trigger(
            # Named by its visible text plus "User menu" (a label that hid the visible name would fail WCAG 2.5.3).
            rx.button(
                rx.icon("circle-user", size=18, aria_hidden="true"),
                visually_hidden("User menu: "),
                rx.text(AppState.staff_name),
                rx.badge(AppState.staff_role, variant="soft"),
                variant="ghost",
                id="user-menu",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AppState.staff_email, size="1", color_scheme="gray"), padding_x="0.75em", padding_y="0.25em"
            ),
            rx.menu.item("Account and sessions", on_click=rx.redirect(routes.ACCOUNT)),
            rx.menu.separator(),
            rx.menu.item("Sign out", on_click=AppState.sign_out, color_scheme="red"),
        ),
        modal=False,
    )


def sandbox_banner() -> rx.Component:
    """Visible whenever providers run in sandbox mode."""
    return rx.cond(
        AppState.sandbox,
        rx.callout(
            "Sandbox mode: Vapi and Twilio credentials are not set, so no real calls are placed and no real "
            "numbers are bought.",
            icon="flask-conical",
            color_scheme="amber",
            size="1",
            width="100%",
            role="status",
        ),
    )


def header() -> rx.Component:
    """Top bar."""
    return rx.el.header(rx.hstack(
        org_switcher(),
        rx.spacer(),
        rx.color_mode.button(size="2", variant="ghost", aria_label="Toggle light or dark mode"),
        user_menu(),
        width="100%",
        align="center",
        padding_y="0.75em",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        margin_bottom="1em",
        wrap="wrap",
    ), width="100%")


def _denied() -> rx.Component:
    return rx.callout(AppState.access_denied, icon="lock", color_scheme="gray", size="2", id="access-denied")


def reauth_dialog() -> rx.Component:
    """Sensitive actions ask for the password or a code again (ASVS 3.7.1); confirming runs the action."""
    return form_dialog(
        "Confirm it is you",
        AppState.reauth_reason,
        text_field("Password or authenticator code", "reauth", type="password", required=True,
                   auto_complete="current-password", max_length=200,
                   hint="Your current password, or the 6-digit code your authenticator app shows now."),
        open=AppState.reauth_open,
        on_open_change=AppState.set_reauth_open,
        on_submit=AppState.confirm_reauth,
        submit_label="Confirm",
        error=AppState.reauth_error,
        id="reauth-dialog",
        submit_id="reauth-submit",
        reset_on_submit=True,
    )


def shell(content: rx.Component) -> rx.Component:
    """Sidebar on the left, header and content on the right."""
    return rx.fragment(
        rx.el.a("Skip to the page content", href="#main-content", class_name="vx-skip-link"),
        reauth_dialog(),
        rx.hstack(
            sidebar(),
            rx.box(
                rx.vstack(
                    header(),
                    sandbox_banner(),
                    rx.el.main(content, width="100%", id="main-content", tab_index=-1),
                    width="100%",
                    max_width=styles.CONTENT_MAX,
                    spacing="3",
                ),
                padding_x="2em",
                padding_bottom="2em",
                flex="1",
                min_width="0",
            ),
            spacing="0",
            align="start",
            width="100%",
            min_height="100vh",
        ),
    )


def page(route: str, title: str, on_load: list | None = None) -> Callable:
    """Register a console page: wrapped in the shell, identity and page access checked first on every visit."""
    minimum = MIN_ROLE.get(route, "viewer")

    def decorate(fn: Callable[[], rx.Component]):
        fn._voxanne_page = {  # type: ignore[attr-defined]
            "route": route,
            "title": f"{title} · Voxanne Admin",
            "on_load": [AppState.load_shell, AppState.require_page_role(minimum), *(on_load or [])],
            "component": lambda: shell(rx.cond(AppState.access_denied != "", _denied(), fn())),
        }
        return fn

    return decorate


def bare_page(route: str, title: str, on_load: list | None = None) -> Callable:
    """Register a page without the shell (sign-in, first run)."""

    def decorate(fn: Callable[[], rx.Component]):
        fn._voxanne_page = {  # type: ignore[attr-defined]
            "route": route,
            "title": f"{title} · Voxanne Admin",
            "on_load": on_load or [],
            "component": fn,
        }
        return fn

    return decorate


def centered_card(*children: rx.Component) -> rx.Component:
    """A narrow card in the middle of the screen, for sign-in and first run."""
    return rx.el.main(rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("audio-waveform", size=24, color=rx.color(styles.ACCENT, 11), aria_hidden="true"),
                    rx.text("Voxanne Admin", size="5", weight="bold"),
                    align="center",
                ),
                *children,
                spacing="4",
                width="100%",
            ),
            width="100%",
            max_width="30em",
            size="4",
        ),
        min_height="100vh",
        padding="1em",
        background=rx.color("gray", 2),
    ))
