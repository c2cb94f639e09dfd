"""Forwarding verification: a test call to the clinic's line must arrive forwarded on our number."""

from __future__ import annotations

from sqlmodel import Session

from voxanne_admin.telephony.models import TelephonySetup, VoiceLeg

NO_FORWARDED_CALL = "no forwarded call arrived: check the code was dialled, dial the check code"


def match_leg(session: Session, *, leg: VoiceLeg, status: str) -> None:
    """Placeholder until verification lands."""


def fail(session: Session, row: TelephonySetup, reason: str) -> None:
    """Placeholder until verification lands."""
    row.status, row.status_reason = "failed", reason
    session.add(row)
