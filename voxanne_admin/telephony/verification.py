"""Forwarding verification, the rules: a test call to the clinic's line must arrive forwarded on our number.

The flow `telephony/flows/verification.py` places a call from our number to the clinic's line (Twilio Calls API;
the sandbox in sandbox mode). The setup is marked verified only when a call arrives on our number with
ForwardedFrom == the clinic's line (or from the expected caller, our own number, when the carrier drops
ForwardedFrom), seen through the signed Twilio voice webhooks (api/webhooks.py -> inbox -> apply_voice_status ->
match_leg). The test call ringing out, failing, or nothing arriving within TELEPHONY_VERIFY_TIMEOUT_SECONDS marks
it failed with the reason. Session functions only: they never commit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.telephony.models import TelephonySetup, VoiceLeg, setup_snapshot
from voxanne_admin.timeutil import utcnow

NO_FORWARDED_CALL = "no forwarded call arrived: check the code was dialled, dial the check code"
SYSTEM = Actor.system("forwarding-verification")
_SLACK = timedelta(seconds=5)  # clock skew between our transaction and the callback's
OUTBOUND_FAILURES = {
    "no-answer": " (the test call rang out on the clinic's line)",
    "busy": " (the clinic's line was busy)",
    "canceled": " (the test call was cancelled)",
}


def fail(session: Session, row: TelephonySetup, reason: str, *, actor: Actor = SYSTEM) -> None:
    """Mark the setup failed with a reason (audited)."""
    if row.forwarding_type in ("busy", "unreachable") and reason.startswith(NO_FORWARDED_CALL):
        reason += "; busy/unreachable forwarding only triggers while the line is engaged or switched off"
    before = setup_snapshot(row)
    row.status, row.status_reason, row.updated_at = "failed", reason[:500], utcnow()
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_verification_failed", target_type="telephony_setup",
                 target_id=row.id, org_id=row.org_id, diff=audit.make_diff(before, setup_snapshot(row)))


def _verified(session: Session, row: TelephonySetup, leg: VoiceLeg) -> None:
    before = setup_snapshot(row)
    row.status, row.status_reason, row.verified_at = "verified", "", utcnow()
    row.updated_at = row.verified_at
    session.add(row)
    session.flush()
    audit.record(session, actor=SYSTEM, action="telephony_verified", target_type="telephony_setup", target_id=row.id,
                 org_id=row.org_id, diff={**audit.make_diff(before, setup_snapshot(row)), "call_sid": leg.call_sid,
                                          "forwarded_from": leg.forwarded_from or "", "caller": leg.from_number or ""})


def match_leg(session: Session, *, leg: VoiceLeg, status: str) -> None:
    """Called for every applied Twilio voice callback: a forwarded arrival verifies the org whose number it
    reached; the test call ringing out (or failing) fails a verification still waiting."""
    direction = (leg.direction or "").lower()
    if direction.startswith("inbound") and leg.to_number:
        rows = session.exec(
            select(TelephonySetup).join(PhoneNumber, col(PhoneNumber.id) == col(TelephonySetup.number_id))
            .where(PhoneNumber.e164 == leg.to_number, TelephonySetup.verification_started_at.is_not(None),  # type: ignore[union-attr]
                   TelephonySetup.status != "verified").with_for_update(of=TelephonySetup)
        ).all()
        for row in rows:
            expected = {row.clinic_number}
            forwarded = leg.forwarded_from in expected
            from_us = leg.from_number == leg.to_number  # our test call's caller ID, carried by the forward
            if (forwarded or from_us) and row.verification_started_at and leg.created_at >= (
                    row.verification_started_at - _SLACK):
                _verified(session, row, leg)
        return
    if direction.startswith("outbound") and (status in OUTBOUND_FAILURES or status == "failed"):
        rows = session.exec(
            select(TelephonySetup).join(PhoneNumber, col(PhoneNumber.id) == col(TelephonySetup.number_id))
            .where(PhoneNumber.e164 == leg.from_number, TelephonySetup.clinic_number == leg.to_number,
                   TelephonySetup.status == "codes_issued",
                   TelephonySetup.verification_started_at.is_not(None))  # type: ignore[union-attr]
            .with_for_update(of=TelephonySetup)
        ).all()
        for row in rows:
            if status == "failed":
                fail(session, row, "the test call to the clinic's line failed: check the clinic number is right "
                                   "and reachable, then verify again")
            else:
                fail(session, row, NO_FORWARDED_CALL + OUTBOUND_FAILURES[status])
