"""A labelled select whose options are only known at runtime (`rx.foreach` over a State list), built like the kit's
`select_field`: the trigger (the focusable button) carries the id, `aria-describedby` and `aria-invalid`, and the
label names it. (The kit's `select_field` takes a fixed list of options.)

    dynamic_select_field("Clinic's country", "tel-country",
                         rx.foreach(State.countries, lambda c: rx.select.item(c.name, value=c.iso)),
                         value=State.country, on_change=State.choose_country, hint="Where the clinic's line is.")
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from voxanne_admin.ui.components import control_attrs, field_error


def dynamic_select_field(label: str, control_id: str, items: Any, *, hint: str = "", error: Any = "",
                         placeholder: str = "", trigger_props: dict[str, Any] | None = None,
                         **root_props: Any) -> rx.Component:
    """Label, a Radix select of `items` (select items or an `rx.foreach` of them), hint and error, tied together."""
    trigger = rx.select.trigger(id=control_id, custom_attrs=control_attrs(control_id, hint, error),
                                **({"placeholder": placeholder} if placeholder else {}),
                                **({"width": "100%"} | (trigger_props or {})))
    children: list[rx.Component] = [
        rx.text(label, as_="label", size="2", weight="medium", custom_attrs={"htmlFor": control_id}),
        rx.select.root(trigger, rx.select.content(items), **root_props),
    ]
    if hint:
        children.append(rx.text(hint, size="1", color_scheme="gray", id=f"{control_id}-hint"))
    children.append(field_error(error, control_id))
    return rx.vstack(*children, spacing="1", width="100%", align="stretch")
