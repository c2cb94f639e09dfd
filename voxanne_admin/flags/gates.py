"""The product features flags gate, as one-line checks for their call sites (answered from the snapshot).

A gate's flag missing from the database (never seeded) leaves the feature on: these features predate flags.
"""

from __future__ import annotations

import asyncio

from voxanne_admin.flags import snapshot

OUTBOUND_OFF = "Outbound calling is turned off for this organization"
BOOKING_OFF = ("Online booking is turned off for this clinic, so I cannot check the calendar or book. "
               "Take the caller's name and number and tell them the clinic will call back to book.")


def _on(key: str, org_id: int | None) -> bool:
    return org_id is None or snapshot.is_enabled(key, int(org_id), default=True)


async def ready(org_id: int) -> None:
    """Make the gates below answer `org_id` from memory (an out-of-date snapshot is reloaded on a thread): what an
    event-loop caller awaits before calling them."""
    if not snapshot.answers_from_memory(org_id):
        await asyncio.to_thread(snapshot.prime, org_id)


def outbound_calling(org_id: int | None) -> bool:
    """The outbound pipeline may dial for this organization."""
    return _on("outbound_calling", org_id)


def call_recording(org_id: int | None) -> bool:
    """Recording links are stored and shown for this organization."""
    return _on("call_recording", org_id)


def calendar_integration(org_id: int | None) -> bool:
    """The agents' booking tools may read and write the clinic's calendar."""
    return _on("calendar_integration", org_id)


def appointment_reminders(org_id: int | None) -> bool:
    """Booked appointments get a reminder the day before."""
    return _on("appointment_reminders", org_id)
