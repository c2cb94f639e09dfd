"""Form fields whose label, hint and error belong to the control: `<label for=id>`, `aria-describedby` pointing at
the hint and the error, `aria-invalid` while there is an error. Clicking the label focuses the field and a screen
reader reads "Email, edit text, ...hint..., ...error...".

Examples:
    text_field("Email", "staff-email", name="email", type="email", required=True, error=State.errors.get("email", ""))
    select_field("Role", "staff-role", ["viewer", "operator"], name="role", default_value="viewer",
                 hint="viewer reads; operator changes configuration.")
    form_field("Country", "org-country", my_custom_control, error=State.errors.get("country", ""))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.vars import Var


def _has_error(error: Any) -> Any:
    return error != "" if isinstance(error, Var) else bool(error)


def _described_by(control_id: str, hint: str, error: Any) -> Any:
    ids = [f"{control_id}-hint"] if hint else []
    if isinstance(error, Var):
        with_error = " ".join([*ids, f"{control_id}-error"])
        return rx.cond(error != "", with_error, " ".join(ids)) if ids else rx.cond(error != "", with_error, "")
    if error:
        ids.append(f"{control_id}-error")
    return " ".join(ids)


def control_attrs(control_id: str, hint: str = "", error: Any = "") -> dict[str, Any]:
    """The attributes a control needs to be tied to its hint and error (for controls built by hand)."""
    attrs: dict[str, Any] = {}
    described = _described_by(control_id, hint, error)
    if isinstance(described, Var) or described:
        attrs["aria-describedby"] = described
    invalid = _has_error(error)
    if isinstance(invalid, Var):
        attrs["aria-invalid"] = rx.cond(invalid, "true", "false")
    elif invalid:
        attrs["aria-invalid"] = "true"
    return attrs


def field_error(message: Any, control_id: str = "") -> rx.Component:
    """An inline validation message under a field (announced when it appears)."""
    extra = {"id": f"{control_id}-error"} if control_id else {}
    if isinstance(message, Var):
        return rx.cond(message != "", rx.text(message, color_scheme="red", size="1", role="alert", **extra))
    return rx.text(message, color_scheme="red", size="1", role="alert", **extra) if message else rx.fragment()


def form_field(label: str, control_id: str, control: rx.Component, hint: str = "", error: Any = "") -> rx.Component:
    """Label above `control`, then the hint and the error. Gives `control` the id `control_id` and its ARIA links
    (a control whose focusable element is nested, like a Radix select, is best built with `select_field`)."""
    if not getattr(control, "id", None):
        control.id = control_id
    control.custom_attrs.update(control_attrs(control_id, hint, error))
    children: list[rx.Component] = [
        rx.text(label, as_="label", size="2", weight="medium", custom_attrs={"htmlFor": control_id}),
        control,
    ]
    if hint:
        children.append(rx.text(hint, size="1", color_scheme="gray", id=f"{control_id}-hint"))
    children.append(field_error(error, control_id))
    return rx.vstack(*children, spacing="1", width="100%", align="stretch")


def text_field(label: str, control_id: str, *, name: str = "", hint: str = "", error: Any = "",
               **input_props: Any) -> rx.Component:
    """`form_field` around an `rx.input` (type, required, max_length, auto_complete... pass through).

    Example: `text_field("Password", "password", name="password", type="password", required=True)`
    """
    control = rx.input(id=control_id, name=name or control_id, **input_props)
    return form_field(label, control_id, control, hint, error)


def select_field(label: str, control_id: str, options: Sequence[str] | Sequence[tuple[str, str]], *,
                 name: str = "", hint: str = "", error: Any = "", value: Any = None, default_value: Any = None,
                 on_change: Any = None, placeholder: str = "", **trigger_props: Any) -> rx.Component:
    """`form_field` around a Radix select; `options` are values, or (label, value) pairs. The trigger (the
    focusable button) carries the id and the ARIA links; the value is submitted with the form as `name`."""
    items = [rx.select.item(o, value=o) if isinstance(o, str) else rx.select.item(o[0], value=o[1])
             for o in options]
    root_props: dict[str, Any] = {"name": name or control_id}
    if value is not None:
        root_props["value"] = value
    if default_value is not None:
        root_props["default_value"] = default_value
    if on_change is not None:
        root_props["on_change"] = on_change
    trigger = rx.select.trigger(id=control_id, width="100%", custom_attrs=control_attrs(control_id, hint, error),
                                **({"placeholder": placeholder} if placeholder else {}), **trigger_props)
    control = rx.select.root(trigger, rx.select.content(*items), **root_props)
    children: list[rx.Component] = [
        rx.text(label, as_="label", size="2", weight="medium", custom_attrs={"htmlFor": control_id}),
        control,
    ]
    if hint:
        children.append(rx.text(hint, size="1", color_scheme="gray", id=f"{control_id}-hint"))
    children.append(field_error(error, control_id))
    return rx.vstack(*children, spacing="1", width="100%", align="stretch")


def form_error(message: Any, *, id: str = "form-error") -> rx.Component:
    """The error that belongs to the whole form (not one field), as a red callout announced on appearance."""
    return rx.cond(message != "", rx.callout(message, icon="triangle-alert", color_scheme="red", width="100%",
                                             role="alert", id=id))
