"""Status badges: each domain defines its mapping once (status -> label and colour); `status_badge` renders it.

Example:
    status_badge(org.status, ORG_STATUS)            # "active" -> green "active"
    status_badge(run.outcome, JOB_OUTCOME)
A value missing from the mapping shows as itself in gray, so a new status is visible rather than hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

import reflex as rx

StatusMap = Mapping[str, tuple[str, str]]  # status -> (label shown, Radix colour)

ORG_STATUS: StatusMap = {"active": ("active", "green"), "closed": ("closed", "gray")}
JOB_OUTCOME: StatusMap = {
    "succeeded": ("succeeded", "green"), "failed": ("failed", "red"), "running": ("running", "blue"),
    "skipped": ("skipped", "amber"), "never run": ("never run", "gray"),
}
APPOINTMENT_STATUS: StatusMap = {"booked": ("booked", "green"), "cancelled": ("cancelled", "gray")}
STAFF_STATUS: StatusMap = {"active": ("active", "green"), "locked": ("locked", "red"),
                           "disabled": ("disabled", "gray")}
MFA_STATUS: StatusMap = {"on": ("on", "green"), "off": ("not set up", "amber")}
WEBHOOK_OUTCOME: StatusMap = {
    "completed": ("applied", "green"), "pending": ("pending", "blue"), "processing": ("processing", "blue"),
    "failed": ("retrying", "amber"), "dead_letter": ("dead letter", "red"),
}
BREAKER_STATE: StatusMap = {"closed": ("closed", "green"), "open": ("open", "red"), "half_open": ("half open", "amber")}


def status_badge(value, mapping: StatusMap, **props) -> rx.Component:
    """A coloured badge for `value` (a Var or a str) through a status mapping; unknown values in gray."""
    if isinstance(value, str):
        label, colour = mapping.get(value, (value, "gray"))
        return rx.badge(label, color_scheme=colour, **props)  # type: ignore[arg-type]
    cases = [(status, rx.badge(label, color_scheme=colour, **props))  # type: ignore[arg-type]
             for status, (label, colour) in mapping.items()]
    return rx.match(value, *cases, rx.badge(value, color_scheme="gray", **props))
