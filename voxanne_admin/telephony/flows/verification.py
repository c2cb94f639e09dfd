"""The forwarding-verification flow: place the test call from our number to the clinic's line.

The setup shows "Verifying" until a forwarded call arrives (verified) or the call rings out / the timeout passes
(failed); those rules are in `telephony/verification.py`, applied from the signed Twilio voice webhooks. Each
database step is its own short transaction (db.run_in_transaction); none is held across the Twilio call.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import InvalidInput, ProviderError
from voxanne_admin.privacy.masking import mask
from voxanne_admin.providers import carrier
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony import verification
from voxanne_admin.telephony.flows import provisioning
from voxanne_admin.telephony.models import SetupRead, setup_snapshot
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)


def _begin(session: Session, org_id: int, actor: Actor) -> tuple[str, str]:
    row = tel._setup(session, org_id, lock=True)
    if row is None or not row.activate_code:
        raise InvalidInput("Issue the forwarding codes first (step 4), and have the clinic dial the activation "
                           "code.", field="verify")
    number = session.get(PhoneNumber, row.number_id) if row.number_id else None
    if number is None:
        raise InvalidInput("Provision a number first (step 2).", field="number")
    before = setup_snapshot(row)
    row.status, row.status_reason, row.verified_at = "codes_issued", "", None
    row.verification_started_at, row.verification_call_sid = utcnow(), ""
    row.updated_at, row.updated_by = utcnow(), tel._who(actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_verification_started", target_type="telephony_setup",
                 target_id=row.id, org_id=org_id,
                 diff={**audit.make_diff(before, setup_snapshot(row)), "test_call_to": row.clinic_number,
                       "from": number.e164})
    return number.e164, row.clinic_number


def _placed(session: Session, org_id: int, call_sid: str) -> None:
    row = tel._setup(session, org_id, lock=True)
    if row is not None and row.verification_started_at is not None:
        row.verification_call_sid = call_sid
        session.add(row)
        session.flush()
        # Its callbacks may have been applied before the CallSid was recorded: match them now.
        verification.try_verify(session, row)


def _call_failed(session: Session, org_id: int, reason: str) -> None:
    row = tel._setup(session, org_id, lock=True)
    if row is not None and tel.verifying(row):
        verification.fail(session, row, reason)


async def start_verification(*, org_id: int, actor: Actor, actor_role: str | None) -> SetupRead:
    """Place the test call from our number to the clinic's line; the setup shows "Verifying" until a forwarded
    call arrives (verified) or the call rings out / the timeout passes (failed). Poll tel.verification_status."""
    require_role(actor_role, tel.EDIT_ROLE)
    ours, clinic = await db.run_in_transaction(_begin, org_id, actor)
    urls = provisioning.webhook_urls()
    try:
        call = await provisioning.twilio_client().create_call(
            to=clinic, from_=ours, url=urls["voice_url"], status_callback=urls["status_callback"],
            timeout_s=get_settings().telephony_verify_timeout_seconds)
    except ProviderError as exc:
        log.warning("verification call failed", extra={"to": mask(clinic)})
        await db.run_in_transaction(_call_failed, org_id, f"the test call could not be placed: {exc}")
        return await db.run_read_only(tel.get_setup, org_id=org_id)
    await db.run_in_transaction(_placed, org_id, str(call.get("sid") or ""))
    return await db.run_read_only(tel.get_setup, org_id=org_id)


def _dial_target(session: Session, org_id: int) -> tuple[str, str]:
    row = tel._setup(session, org_id)
    if row is None or not row.activate_code:
        raise InvalidInput("Issue the forwarding codes first (step 4): there is no code to dial yet.",
                           field="verify")
    return row.clinic_number, row.activate_code


def _audit_dialled(session: Session, org_id: int, actor: Actor, line: str, code: str, answer: str) -> None:
    audit.record(session, actor=actor, action="telephony_sandbox_dialled", target_type="telephony_setup",
                 target_id=org_id, org_id=org_id, diff={"line": line, "dialled": code, "network": answer})


async def sandbox_simulate_dialled(*, org_id: int, actor: Actor, actor_role: str | None) -> None:
    """Sandbox only: the clinic dials the activation code on its line (sandbox carrier). The carrier parses the
    code itself, so a wrong code or target does not forward."""
    require_role(actor_role, tel.EDIT_ROLE)
    if not get_settings().sandbox:
        raise InvalidInput("Simulating the clinic's dialling exists only in sandbox mode: for real, the clinic dials "
                           "the activation code on its own phone.", field="verify")
    line, code = await db.run_read_only(_dial_target, org_id)
    status, body, text = await carrier.dial(line, code)
    if status >= 400:
        raise InvalidInput(f"The sandbox network refused {code}: {body.get('error', text)}", field="verify")
    await db.run_in_transaction(_audit_dialled, org_id, actor, line, code, str(body.get("answer", "")))
