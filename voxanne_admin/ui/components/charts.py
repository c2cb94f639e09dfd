"""`chart`: recharts with a text alternative. The drawing is `role="img"` with an `aria-label`; a summary written
by the page (what a sighted person would read off the chart) is linked to it and, by default, visible as the
figure's caption.

Example:
    chart("bar", WebhooksState.per_minute, x_key="minute", series=[("events", "Events")],
          label="Webhook events per minute over the last hour", summary=WebhooksState.per_minute_summary)

`summarize(points, x_key, y_key, unit)` writes such a summary in the State ("312 events; peak 14 at 09:02").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx

from voxanne_admin.ui import styles
from voxanne_admin.ui.components.basics import empty_state

_KINDS = {"bar": (rx.recharts.bar_chart, rx.recharts.bar), "line": (rx.recharts.line_chart, rx.recharts.line),
          "area": (rx.recharts.area_chart, rx.recharts.area)}
_PALETTE = [styles.ACCENT, "teal", "amber", "crimson", "gray"]


def summarize(points: Sequence[dict[str, Any]], x_key: str, y_key: str, unit: str = "") -> str:
    """'312 events in 60 points; highest 14 at 09:02, lowest 0 at 08:10.' for a chart's text alternative."""
    if not points:
        return "No data."
    values = [(p.get(x_key), float(p.get(y_key) or 0)) for p in points]
    total = sum(v for _, v in values)
    hi = max(values, key=lambda t: t[1])
    lo = min(values, key=lambda t: t[1])
    u = f" {unit}" if unit else ""

    def n(v: float) -> str:
        return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"

    return (f"{n(total)}{u} in total over {len(values)} points; highest {n(hi[1])} at {hi[0]}, "
            f"lowest {n(lo[1])} at {lo[0]}.")


def chart(kind: str, data: Any, *, x_key: str, series: Sequence[tuple[str, str]], label: str, summary: Any,
          height: int = 200, show_summary: bool = True, empty: str = "No data for this period.", id: str = "",
          stacked: bool = False) -> rx.Component:
    """A `kind` ("bar", "line", "area") chart of `data` (a State list of dicts) with `series` as
    (data key, legend label) pairs. `label` names the chart; `summary` (str or Var) is its text alternative."""
    make_chart, make_series = _KINDS[kind]
    chart_id = id or "chart-" + "".join(ch if ch.isalnum() else "-" for ch in label.lower())[:40]
    parts: list[rx.Component] = []
    for i, (key, name) in enumerate(series):
        colour = rx.color(_PALETTE[i % len(_PALETTE)], 9)
        extra: dict[str, Any] = {"stack_id": "a"} if stacked else {}
        if kind == "bar":
            parts.append(make_series(data_key=key, name=name, fill=colour, **extra))
        else:
            parts.append(make_series(data_key=key, name=name, stroke=colour, fill=colour, **extra))
    drawing = make_chart(
        *parts,
        rx.recharts.x_axis(data_key=x_key, stroke=rx.color("gray", 11)),
        rx.recharts.y_axis(allow_decimals=False, stroke=rx.color("gray", 11)),
        rx.recharts.graphing_tooltip(),
        *([rx.recharts.legend()] if len(series) > 1 else []),
        data=data, height=height, width="100%",
    )
    caption_props: dict[str, Any] = {"id": f"{chart_id}-summary"}
    if not show_summary:
        caption_props["style"] = styles.SR_ONLY
    figure = rx.el.figure(
        rx.box(drawing, role="img", aria_label=label, aria_describedby=f"{chart_id}-summary", width="100%"),
        rx.el.figcaption(rx.text(summary, size="1", color_scheme="gray"), **caption_props),
        margin="0", width="100%", id=chart_id,
    )
    return rx.cond(data.length() > 0, figure, empty_state(empty))
