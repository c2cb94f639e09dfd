"""`data_table`: the one table of the console (labelled, sortable headers, empty and loading states).

Example (sorting happens on the server, in the page's State):

    class StaffState(AppState):
        staff: list[StaffRead] = []
        staff_sort: str = "name"            # a column key; "-name" is descending

        @rx.event
        @ui_only
        def sort_staff(self, key: str):
            self.staff_sort = next_sort(self.staff_sort, key)
            self.staff = sort_rows(self.staff, self.staff_sort)

    data_table(
        [Column("Person", "name"), Column("Role", "role"), Column("Actions", hide_label=True)],
        StaffState.staff, _row, label="Staff accounts", empty="No staff yet.",
        sort=StaffState.staff_sort, on_sort=StaffState.sort_staff, id="staff-table",
    )

`row(item)` returns an `rx.table.row`; the first cell is best an `rx.table.row_header_cell`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import reflex as rx

from voxanne_admin.ui.components.basics import empty_state, visually_hidden

T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    """A column: its header label, an optional sort key (makes the header a sort button) and alignment.
    `hide_label` keeps the label for screen readers only (e.g. an actions column)."""

    label: str
    key: str = ""
    align: str = "left"
    hide_label: bool = False


def next_sort(current: str, key: str) -> str:
    """The sort after clicking `key`'s header: ascending first, then descending, then ascending again."""
    return f"-{key}" if current == key else key


def sort_rows(rows: Iterable[T], sort: str) -> list[T]:
    """Rows (read models or dicts) sorted by `sort` ("field" or "-field"); empty values last either way."""
    desc = sort.startswith("-")
    field = sort.lstrip("-")

    def value(row: Any) -> Any:
        v = row.get(field) if isinstance(row, dict) else getattr(row, field, None)
        return v.lower() if isinstance(v, str) else v

    items = list(rows)
    present = [r for r in items if value(r) not in (None, "")]
    missing = [r for r in items if value(r) in (None, "")]
    return sorted(present, key=value, reverse=desc) + missing


def _sort_icon(sort, key: str) -> rx.Component:
    return rx.cond(
        sort == key, rx.icon("arrow-up", size=14, aria_hidden="true"),
        rx.cond(sort == f"-{key}", rx.icon("arrow-down", size=14, aria_hidden="true"),
                rx.icon("arrow-up-down", size=14, aria_hidden="true", opacity="0.6")),
    )


def _header_cell(col: Column, sort, on_sort) -> rx.Component:
    align = {"text_align": col.align} if col.align != "left" else {}
    label: Any = visually_hidden(col.label) if col.hide_label else col.label
    if not col.key or on_sort is None or sort is None:
        return rx.table.column_header_cell(label, scope="col", **align)
    aria_sort = rx.cond(sort == col.key, "ascending", rx.cond(sort == f"-{col.key}", "descending", "none"))
    return rx.table.column_header_cell(
        rx.el.button(
            label, _sort_icon(sort, col.key),
            type="button",
            on_click=on_sort(col.key),
            class_name="vx-sort-button",
            title=f"Sort by {col.label}",
        ),
        scope="col",
        aria_sort=aria_sort,
        **align,
    )


def data_table(
    columns: Sequence[Column | str],
    rows,
    row: Callable[[Any], rx.Component],
    *,
    label: str,
    empty: Any = "Nothing to show yet.",
    loading: Any = False,
    sort: Any = None,
    on_sort: Any = None,
    caption: str = "",
    id: str = "",
    size: str = "2",
) -> rx.Component:
    """A table of `rows` (a State list var) drawn by `row(item)`.

    - `label`: the table's accessible name (`aria-label`); `caption` adds a visible caption instead.
    - `empty`: message (str or Var) when there are no rows; `loading`: a bool Var; while true the table shows a
      spinner and is `aria-busy`.
    - `sort` / `on_sort`: the current sort key Var ("key" or "-key") and an event taking the clicked key;
      columns with a `key` then get header buttons (keyboard operable) and `aria-sort`.
    """
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    table = rx.table.root(
        *([rx.el.caption(caption, class_name="vx-caption")] if caption else []),
        rx.table.header(rx.table.row(*[_header_cell(c, sort, on_sort) for c in cols])),
        rx.table.body(rx.foreach(rows, row)),
        width="100%",
        size=size,
        **({} if caption else {"aria_label": label}),
        **({"id": id} if id else {}),
    )
    ready = rx.cond(rows.length() > 0, table, empty_state(empty))
    busy = rx.center(
        rx.hstack(rx.spinner(size="2"), rx.text("Loading ", label.lower(), "…", size="2", color_scheme="gray"),
                  align="center", spacing="2"),
        role="status", padding="1.5em", width="100%",
    )
    if isinstance(loading, bool) and not loading:
        return rx.box(ready, width="100%", overflow_x="auto")
    return rx.box(rx.cond(loading, busy, ready), width="100%", overflow_x="auto",
                  aria_busy=rx.cond(loading, "true", "false"))
