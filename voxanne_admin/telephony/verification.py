"""Forwarding verification: a test call to the clinic's line must arrive forwarded on our number.

start_verification places a call from our number to the clinic's line (Twilio Calls API; the sandbox in sandbox
mode). The setup is marked verified only when a call arrives on our number with ForwardedFrom == the clinic's line
(or from the expected caller, our own number, when the carrier drops ForwardedFrom), seen through the signed Twilio
voice webhooks (api/webhooks.py -> inbox -> apply_voice_status -> match_leg). The test call ringing out, failing,
or nothing arriving within TELEPHONY_VERIFY_TIMEOUT_SECONDS marks it failed with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
from sqlmodel import Session, select

from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import InvalidInput, ProviderError
from voxanne_admin.privacy.masking import mask
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.models import SetupRead, TelephonySetup, VoiceLeg
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
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
    before = tel._snapshot(row)
    row.status, row.status_reason, row.updated_at = "failed", reason[:500], utcnow()
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_verification_failed", target_type="telephony_setup",
                 target_id=row.id, org_id=row.org_id, diff=audit.make_diff(before, tel._snapshot(row)))


def _verified(session: Session, row: TelephonySetup, leg: VoiceLeg) -> None:
    before = tel._snapshot(row)
    row.status, row.status_reason, row.verified_at = "verified", "", utcnow()
    row.updated_at = row.verified_at
    session.add(row)
    session.flush()
    audit.record(session, actor=SYSTEM, action="telephony_verified", target_type="telephony_setup", target_id=row.id,
                 org_id=row.org_id, diff={**audit.make_diff(before, tel._snapshot(row)), "call_sid": leg.call_sid,
                                          "forwarded_from": leg.forwarded_from or "", "caller": leg.from_number or ""})


def match_leg(session: Session, *, leg: VoiceLeg, status: str) -> None:
    """Called for every applied Twilio voice callback: a forwarded arrival verifies the org whose number it
    reached; the test call ringing out (or failing) fails a verification still waiting."""
    direction = (leg.direction or "").lower()
    if direction.startswith("inbound") and leg.to_number:
        rows = session.exec(
            select(TelephonySetup).join(PhoneNumber, PhoneNumber.id == TelephonySetup.number_id)
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
            select(TelephonySetup).join(PhoneNumber, PhoneNumber.id == TelephonySetup.number_id)
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


def _begin(org_id: int, actor: Actor) -> tuple[str, str]:
    with db.transaction() as session:
        row = tel._setup(session, org_id, lock=True)
        if row is None or not row.activate_code:
            raise InvalidInput("Issue the forwarding codes first (step 4), and have the clinic dial the activation "
                               "code.", field="verify")
        number = session.get(PhoneNumber, row.number_id) if row.number_id else None
        if number is None:
            raise InvalidInput("Provision a number first (step 2).", field="number")
        before = tel._snapshot(row)
        row.status, row.status_reason, row.verified_at = "codes_issued", "", None
        row.verification_started_at, row.verification_call_sid = utcnow(), ""
        row.updated_at, row.updated_by = utcnow(), tel._who(actor)
        session.add(row)
        session.flush()
        audit.record(session, actor=actor, action="telephony_verification_started", target_type="telephony_setup",
                     target_id=row.id, org_id=org_id,
                     diff={**audit.make_diff(before, tel._snapshot(row)), "test_call_to": row.clinic_number,
                           "from": number.e164})
        return number.e164, row.clinic_number


def _placed(org_id: int, call_sid: str) -> None:
    with db.transaction() as session:
        row = tel._setup(session, org_id, lock=True)
        if row is not None and row.verification_started_at is not None:
            row.verification_call_sid = call_sid
            session.add(row)


def _call_failed(org_id: int, reason: str) -> None:
    with db.transaction() as session:
        row = tel._setup(session, org_id, lock=True)
        if row is not None and tel.verifying(row):
            fail(session, row, reason)


def _read(org_id: int) -> SetupRead:
    with db.read_only() as session:
        return tel.get_setup(session, org_id=org_id)


async def start_verification(*, org_id: int, actor: Actor, actor_role: str | None) -> SetupRead:
    """Place the test call from our number to the clinic's line; the setup shows "Verifying" until a forwarded
    call arrives (verified) or the call rings out / the timeout passes (failed). Poll verification_status."""
    require_role(actor_role, tel.EDIT_ROLE)
    ours, clinic = await asyncio.to_thread(_begin, org_id, actor)
    from voxanne_admin.telephony import provisioning

    urls = provisioning.webhook_urls()
    try:
        call = await provisioning.twilio_client().create_call(
            to=clinic, from_=ours, url=urls["voice_url"], status_callback=urls["status_callback"],
            timeout_s=get_settings().telephony_verify_timeout_seconds)
    except ProviderError as exc:
        log.warning("verification call failed", extra={"to": mask(clinic)})
        await asyncio.to_thread(_call_failed, org_id, f"the test call could not be placed: {exc}")
        return await asyncio.to_thread(_read, org_id)
    await asyncio.to_thread(_placed, org_id, str(call.get("sid") or ""))
    return await asyncio.to_thread(_read, org_id)


def _dial_target(org_id: int) -> tuple[str, str]:
    with db.read_only() as session:
        row = tel._setup(session, org_id)
        if row is None or not row.activate_code:
            raise InvalidInput("Issue the forwarding codes first (step 4): there is no code to dial yet.",
                               field="verify")
        return row.clinic_number, row.activate_code


def _audit_dialled(org_id: int, actor: Actor, line: str, code: str, answer: str) -> None:
    with db.transaction() as session:
        audit.record(session, actor=actor, action="telephony_sandbox_dialled", target_type="telephony_setup",
                     target_id=org_id, org_id=org_id, diff={"line": line, "dialled": code, "network": answer})


async def sandbox_simulate_dialled(*, org_id: int, actor: Actor, actor_role: str | None) -> None:
    """Sandbox only: the clinic dials the activation code on its line (sandbox carrier). The carrier parses the
    code itself, so a wrong code or target does not forward."""
    require_role(actor_role, tel.EDIT_ROLE)
    settings = get_settings()
    if not settings.sandbox:
        raise InvalidInput("Simulating the clinic's dialling exists only in sandbox mode: for real, the clinic dials "
                           "the activation code on its own phone.", field="verify")
    line, code = await asyncio.to_thread(_dial_target, org_id)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{settings.internal_url}/sandbox/carrier/dial", json={"line": line, "code": code})
    body = response.json() if response.content else {}
    if response.status_code >= 400:
        raise InvalidInput(f"The sandbox network refused {code}: {body.get('error', response.text)}", field="verify")
    await asyncio.to_thread(_audit_dialled, org_id, actor, line, code, str(body.get("answer", "")))
