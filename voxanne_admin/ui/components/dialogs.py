"""Dialogs on Radix (focus moves in and stays inside, Escape and Cancel close, focus returns to the opener).

    form_dialog("New organization", "Each clinic Voxanne runs agents for.",
                text_field("Name", "org-name", name="name", required=True),
                open=State.dialog_open, on_open_change=State.set_dialog_open, on_submit=State.save,
                submit_label="Save", busy=State.saving, error=State.errors.get("form", ""), id="org-dialog")

    confirm_dialog("Close this organization?", "Its data is purged 30 days from now.",
                   open=State.confirm_close_id > 0, on_confirm=State.confirm_close, on_cancel=State.cancel_close,
                   confirm_label="Close organization", busy=State.closing)

    # A kill switch: the confirm button stays disabled until the person types the flag's key.
    confirm_dialog("Turn off outbound calls everywhere?", "...", open=..., on_confirm=..., on_cancel=...,
                   confirm_text=State.flag_key, id="kill-switch")
    # ...and the handler checks it again on the server:
    #     if await typed_confirmation(self, "kill-switch") != self.flag_key: return browser.toast_error(...)
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from voxanne_admin.ui.components.browser import ui_only
from voxanne_admin.ui.components.forms import form_error


class ConfirmTextState(rx.State):
    """What was typed into each "type X to confirm" field, per dialog id (only this browser's view)."""

    typed: dict[str, str] = {}

    @rx.event
    @ui_only
    def set_typed(self, dialog_id: str, value: str):
        """Remember what the person typed into a dialog's confirmation field."""
        self.typed = {**self.typed, dialog_id: value}

    @rx.event
    @ui_only
    def clear(self, dialog_id: str):
        """Forget it (the dialog opened or closed)."""
        if dialog_id in self.typed:
            self.typed = {k: v for k, v in self.typed.items() if k != dialog_id}


async def typed_confirmation(state: rx.State, dialog_id: str) -> str:
    """In an event handler: the text typed into dialog `dialog_id`'s confirmation field (check it server-side)."""
    confirm = await state.get_state(ConfirmTextState)
    return confirm.typed.get(dialog_id, "").strip()


def form_dialog(title: Any, description: Any, *fields: rx.Component, open: Any, on_open_change: Any,
                on_submit: Any, submit_label: str = "Save", cancel_label: str = "Cancel", busy: Any = False,
                error: Any = "", id: str = "", submit_id: str = "", max_width: str = "32em",
                reset_on_submit: bool = False) -> rx.Component:
    """A modal form: title, description, `fields` (use `text_field`/`select_field`), an error for the whole
    form, Cancel and submit. `on_submit` receives the form's values by field name."""
    prefix = id or "form-dialog"
    submit_props = {"id": submit_id} if submit_id else {}
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray") if _present(description)
            else rx.fragment(),
            rx.form(
                rx.vstack(
                    form_error(error, id=f"{prefix}-error"),
                    *fields,
                    rx.hstack(
                        rx.dialog.close(rx.button(cancel_label, variant="soft", color_scheme="gray", type="button")),
                        rx.button(submit_label, type="submit", loading=busy, **submit_props),
                        justify="end",
                        width="100%",
                        spacing="3",
                    ),
                    spacing="3",
                    padding_top="0.5em",
                ),
                on_submit=on_submit,
                reset_on_submit=reset_on_submit,
            ),
            max_width=max_width,
            **({"id": id} if id else {}),
        ),
        open=open,
        on_open_change=on_open_change,
    )


def _present(value: Any) -> bool:
    return not (isinstance(value, str) and value == "")


def confirm_dialog(title: Any, description: Any, *, open: Any, on_confirm: Any, on_cancel: Any,
                   confirm_label: str = "Confirm", cancel_label: str = "Cancel", danger: bool = True,
                   busy: Any = False, confirm_text: Any = "", id: str = "confirm-dialog") -> rx.Component:
    """An alert dialog asking to confirm one action. Escape and Cancel call `on_cancel` (which must make `open`
    false); the confirm button calls `on_confirm` and stays until the handler closes it (shows `busy`).
    With `confirm_text`, the person must type it first (see the module docstring)."""
    needs_typing = _present(confirm_text)
    body: list[rx.Component] = []
    disabled: Any = busy
    if needs_typing:
        typed = ConfirmTextState.typed.get(id, "")
        body.append(rx.vstack(
            rx.text("Type ", rx.code(confirm_text), " to confirm.", as_="label", size="2",
                    custom_attrs={"htmlFor": f"{id}-typed"}),
            rx.input(id=f"{id}-typed", value=typed, on_change=lambda v: ConfirmTextState.set_typed(id, v),
                     auto_complete="off", spell_check=False),
            spacing="1", width="100%", padding_top="0.75em",
        ))
        disabled = busy | (typed.strip() != confirm_text)
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description),
            *body,
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(cancel_label, variant="soft", color_scheme="gray")),
                rx.button(confirm_label, loading=busy, disabled=disabled, on_click=on_confirm, id=f"{id}-confirm",
                          **({"color_scheme": "red"} if danger else {})),
                justify="end",
                spacing="3",
                padding_top="1em",
            ),
            id=id,
        ),
        open=open,
        # Escape and the Cancel button both close through here; a closed dialog forgets what was typed.
        on_open_change=lambda is_open: [ConfirmTextState.clear(id), on_cancel] if needs_typing else on_cancel,
    )


def view_dialog(title: Any, description: Any, *children: rx.Component, open: Any, on_open_change: Any,
                close_label: str = "Close", id: str = "", max_width: str = "56em") -> rx.Component:
    """A modal that only shows something (a payload, a preview): title, description, content, Close.

    Example: `view_dialog(State.payload_title, "Stored payload.", code_view(State.payload), open=State.payload_open,
    on_open_change=State.set_payload_open)`
    """
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray") if _present(description)
            else rx.fragment(),
            *children,
            rx.hstack(rx.dialog.close(rx.button(close_label, variant="soft")), justify="end", padding_top="1em"),
            max_width=max_width,
            **({"id": id} if id else {}),
        ),
        open=open,
        on_open_change=on_open_change,
    )
