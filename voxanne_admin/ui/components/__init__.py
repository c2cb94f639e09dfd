"""The UI kit: stateless components (values in, component out) that every page builds on.

- `page_header`, `stat_card`, `empty_state`, `loading_state`, `visually_hidden`, `code_view` (basics.py)
- `data_table`, `Column`, `next_sort`, `sort_rows`                                 (tables.py)
- `form_field`, `text_field`, `select_field`, `field_error`, `form_error`         (forms.py)
- `form_dialog`, `confirm_dialog`, `view_dialog`, `typed_confirmation`            (dialogs.py)
- `status_badge` and the per-domain mappings                                      (badges.py)
- `chart`, `summarize`                                                            (charts.py)
- what a handler asks of the browser without eval: `toast_*`, `scroll_to`, `set_address`, `load`; the
  `browser_commands` app wrap that carries it out; `leave_guard` (unsaved changes)   (browser.py)
Times, durations, money and masks: `voxanne_admin.formatting` (shared with the read models).
"""

from __future__ import annotations

import reflex as rx

from voxanne_admin.ui.components.badges import (
    APPOINTMENT_STATUS,
    BREAKER_STATE,
    JOB_OUTCOME,
    MFA_STATUS,
    ORG_STATUS,
    STAFF_STATUS,
    WEBHOOK_OUTCOME,
    StatusMap,
    status_badge,
)
from voxanne_admin.ui.components.basics import (
    code_view,
    empty_state,
    loading_state,
    page_header,
    stat_card,
    visually_hidden,
)
from voxanne_admin.ui.components.charts import chart, summarize
from voxanne_admin.ui.components.dialogs import (
    ConfirmTextState,
    confirm_dialog,
    form_dialog,
    typed_confirmation,
    view_dialog,
)
from voxanne_admin.ui.components.forms import (
    control_attrs,
    field_error,
    form_error,
    form_field,
    select_field,
    text_field,
)
from voxanne_admin.ui.components.tables import Column, data_table, next_sort, sort_rows


def labelled(label: str, control: rx.Component, error=None, hint: str = "", html_for: str = "") -> rx.Component:
    """Transitional (pages not yet on the kit): label, control, hint, error. New code uses `form_field`, which
    also ties the hint and error to the control."""
    extra = {"custom_attrs": {"htmlFor": html_for}} if html_for else {}
    children = [rx.text(label, as_="label", size="2", weight="medium", **extra), control]
    if hint:
        children.append(rx.text(hint, size="1", color_scheme="gray"))
    if error is not None:
        children.append(field_error(error))
    return rx.vstack(*children, spacing="1", width="100%", align="stretch")


__all__ = [
    "APPOINTMENT_STATUS", "BREAKER_STATE", "JOB_OUTCOME", "MFA_STATUS", "ORG_STATUS", "STAFF_STATUS",
    "WEBHOOK_OUTCOME", "Column", "ConfirmTextState", "StatusMap", "chart", "code_view", "confirm_dialog",
    "control_attrs",
    "data_table", "empty_state", "field_error", "form_dialog", "form_error", "form_field", "labelled",
    "loading_state", "next_sort", "page_header", "select_field", "sort_rows", "stat_card", "status_badge",
    "summarize", "text_field", "typed_confirmation", "view_dialog", "visually_hidden",
]
