"""Forwarding verification, the rules: a test call to the clinic's line must arrive forwarded on our number.

The flow `telephony/flows/verification.py` places a call from our number to the clinic's line (Twilio Calls API;
the sandbox in sandbox mode) and records its CallSid. The setup is marked verified only when BOTH are seen through
the signed Twilio voice webhooks (api/webhooks.py -> inbox -> apply_voice_status -> match_leg), in either order:

- the call we started (that CallSid) was answered: the clinic's line passed it on (in-progress or completed; a
  line that does not forward rings out: no-answer), and
- a call arrived on our number after the test started, with ForwardedFrom == the clinic's line, or, when the
  carrier drops ForwardedFrom, with our own number as the caller ID (the forward carries our test call's caller).

A call that merely claims our number as its caller ID (caller ID is spoofable) does not verify on its own: it must
coincide with our own test call being answered. (A forwarded PSTN leg carries none of our identifiers, Twilio's
ParentCallSid is only set on legs Twilio dials itself, so the answered test call is the correlation we have.)
The test call ringing out, failing, or nothing arriving within TELEPHONY_VERIFY_TIMEOUT_SECONDS marks it failed
with the reason. Session functions only: they never commit.
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


ANSWERED = ("in-progress", "completed")


def _arrival(session: Session, row: TelephonySetup, ours: str) -> VoiceLeg | None:
    """A call that reached our number since the test started, forwarded from the clinic's line or carrying our
    caller ID (never our own test call's leg)."""
    if row.verification_started_at is None:
        return None
    legs = session.exec(
        select(VoiceLeg).where(VoiceLeg.to_number == ours, col(VoiceLeg.direction).ilike("inbound%"),
                               VoiceLeg.call_sid != row.verification_call_sid,
                               VoiceLeg.created_at >= row.verification_started_at - _SLACK)
        .order_by(col(VoiceLeg.created_at))
    ).all()
    return next((leg for leg in legs if leg.forwarded_from == row.clinic_number or leg.from_number == ours), None)


def _test_call_answered(session: Session, row: TelephonySetup) -> bool:
    if not row.verification_call_sid:
        return False
    ours = session.exec(select(VoiceLeg).where(VoiceLeg.call_sid == row.verification_call_sid)).first()
    return ours is not None and ours.status in ANSWERED


def try_verify(session: Session, row: TelephonySetup) -> bool:
    """Verify the setup when our test call was answered AND a matching call arrived on our number; True if so.
    The caller holds the setup row (`with_for_update`)."""
    if row.status == "verified" or row.verification_started_at is None or row.number_id is None:
        return False
    number = session.get(PhoneNumber, row.number_id)
    if number is None or not _test_call_answered(session, row):
        return False
    leg = _arrival(session, row, number.e164)
    if leg is None:
        return False
    _verified(session, row, leg)
    return True


def match_leg(session: Session, *, leg: VoiceLeg, status: str) -> None:
    """Called for every applied Twilio voice callback: an arrival on an org's number, or our test call being
    answered, verifies the org once both are there; the test call ringing out (or failing) fails a verification
    still waiting."""
    direction = (leg.direction or "").lower()
    if direction.startswith("inbound") and leg.to_number:
        rows = session.exec(
            select(TelephonySetup).join(PhoneNumber, col(PhoneNumber.id) == col(TelephonySetup.number_id))
            .where(PhoneNumber.e164 == leg.to_number, TelephonySetup.verification_started_at.is_not(None),  # type: ignore[union-attr]
                   TelephonySetup.status != "verified").with_for_update(of=TelephonySetup)
        ).all()
        for row in rows:
            try_verify(session, row)
        return
    if direction.startswith("outbound") and leg.call_sid and status in ANSWERED:
        rows = session.exec(
            select(TelephonySetup).where(TelephonySetup.verification_call_sid == leg.call_sid,
                                         TelephonySetup.status != "verified").with_for_update()
        ).all()
        for row in rows:
            try_verify(session, row)
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
