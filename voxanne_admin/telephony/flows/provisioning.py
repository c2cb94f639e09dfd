"""The number-provisioning flow, which never orphans a number.

    intent (journal row, own transaction) -> buy (Twilio, our webhook URLs) -> journal "bought" -> import into Vapi
    -> record (ONE transaction: phone_numbers row, setup, agents' vapi_phone_number_id, journal "recorded", audit)

Any failure after the purchase releases the number (and deletes the Vapi import) before the user is told. A crash
between purchase and record leaves the journal row, and `reconcile_numbers` (a scheduled job) compares the
provider's numbers with our records and adopts or releases every orphan, audited (flows/reconciliation.py). No
transaction is ever held across a provider call: each journal step is its own db.run_in_transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import DomainError, InvalidInput, NotFound, ProviderError
from voxanne_admin.orgs.models import Organization
from voxanne_admin.privacy.masking import mask
from voxanne_admin.providers.twilio import TwilioClient, capability
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import countries
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.models import AvailableNumberRead, NumberProvisioning, SetupRead, setup_snapshot
from voxanne_admin.telephony.ratelimit import check_rate
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
OPEN_STATES = ("intent", "bought", "imported")
RECONCILE_GRACE = timedelta(minutes=10)  # a provisioning younger than this may still be in flight


class ProvisioningFailed(DomainError):
    """Something after the purchase failed; the message says what and whether the number was released."""

    status_code = 502

    def __init__(self, message: str, *, released: bool):
        super().__init__(message)
        self.released = released


def twilio_client() -> TwilioClient:
    """The Twilio client (the sandbox's in sandbox mode). Buying is never retried."""
    return TwilioClient()


def vapi_client() -> VapiClient:
    """The Vapi client (the sandbox's in sandbox mode)."""
    return VapiClient()


def webhook_urls() -> dict[str, str]:
    """Our webhook URLs, set on every number we buy."""
    base = get_settings().public_url
    return {"voice_url": f"{base}/webhooks/twilio/voice", "sms_url": f"{base}/webhooks/twilio/sms",
            "status_callback": f"{base}/webhooks/twilio/voice-status"}


# ------------------------------------------------------------------ search


async def search_numbers(*, org_id: int, country: str, number_type: str, area_code: str = "", contains: str = "",
                         limit: int = 20) -> list[AvailableNumberRead]:
    """Numbers for sale in a supported country and type (area code for US local numbers, or digits it contains)."""
    info = countries.get(country)
    if number_type not in info.number_types:
        raise InvalidInput(f"{info.name} has no {number_type} numbers on offer. Choose one of: "
                           f"{', '.join(info.number_types)}.", field="number_type")
    area_code, contains = area_code.strip(), contains.strip()
    if area_code and not area_code.isdigit():
        raise InvalidInput("The area code is digits only (e.g. 201).", field="area_code")
    if contains and not contains.strip("*").isdigit():
        raise InvalidInput("'Contains' takes digits (e.g. 555), optionally with * wildcards.", field="contains")
    items = await twilio_client().available_numbers(info.iso, number_type, area_code=area_code or None,
                                                    contains=contains or None, limit=max(1, min(limit, 50)))
    out = []
    for item in items:
        e164 = str(item.get("phone_number") or "")
        caps = [name for name, label in (("voice", "voice"), ("sms", "SMS"), ("mms", "MMS")) if capability(item, name)]
        out.append(AvailableNumberRead(
            e164=e164, display=tel.display(e164), locality=str(item.get("locality") or ""),
            region=str(item.get("region") or ""), address_requirements=str(item.get("address_requirements") or "none"),
            capabilities=", ".join({"voice": "voice", "sms": "SMS", "mms": "MMS"}[c] for c in caps),
        ))
    return out


# ------------------------------------------------------------------ journal (each its own short transaction)


def _start(session: Session, org_id: int, e164: str, country: str, number_type: str, actor: Actor) -> int:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"Organization {org_id} does not exist. Pick an organization from the list.")
    if org.status != "active":
        raise InvalidInput(f"{org.name} is closed: reopen it before buying a number.", field="org")
    if session.exec(select(PhoneNumber.id).where(PhoneNumber.e164 == e164)).first() is not None:
        raise InvalidInput(f"{tel.display(e164)} is already one of our numbers. Pick another.", field="e164")
    row = NumberProvisioning(org_id=org_id, e164=e164, country=country, number_type=number_type,
                             actor=tel._who(actor))
    session.add(row)
    session.flush()
    return row.id or 0


def _journal(session: Session, journal_id: int, **values: Any) -> None:
    row = session.get(NumberProvisioning, journal_id)
    if row is None:
        return
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.add(row)


def _record(session: Session, *, journal: NumberProvisioning, twilio_sid: str, vapi_id: str, actor: Actor,
            action: str) -> PhoneNumber:
    """Record a bought and imported number for the journal's org, point the setup and agents at it; audited."""
    phone = PhoneNumber(org_id=journal.org_id, e164=journal.e164, country=journal.country,
                        number_type=journal.number_type, twilio_sid=twilio_sid, vapi_phone_number_id=vapi_id)
    session.add(phone)
    session.flush()
    setup = tel._setup_for_update(session, journal.org_id)
    before = setup_snapshot(setup)
    setup.number_id = phone.id
    if setup.activate_code:
        # The codes forwarded to the previous number: they must be issued again for this one.
        tel._clear_forwarding(setup)
        setup.status, setup.status_reason = "not_started", "a new number was provisioned: issue the codes again"
    setup.updated_at, setup.updated_by = utcnow(), tel._who(actor)
    session.add(setup)
    agents = session.execute(sa.text(
        "update agents set vapi_phone_number_id = :v where org_id = :o and vapi_phone_number_id is null"),
        {"v": vapi_id, "o": journal.org_id}).rowcount  # type: ignore[attr-defined]
    journal.state, journal.twilio_sid, journal.vapi_phone_number_id = "recorded" if action.endswith(
        "provisioned") else "adopted", twilio_sid, vapi_id
    journal.phone_number_id, journal.updated_at = phone.id, utcnow()
    session.add(journal)
    session.flush()
    audit.record(session, actor=actor, action=action, target_type="phone_number", target_id=phone.id,
                 org_id=journal.org_id,
                 diff={"number": journal.e164, "country": journal.country, "number_type": journal.number_type,
                       "twilio_sid": twilio_sid, "vapi_phone_number_id": vapi_id, "agents_pointed_at_it": agents,
                       "journal_id": journal.id, **audit.make_diff(before, setup_snapshot(setup))})
    return phone


def _record_provisioned(session: Session, journal_id: int, twilio_sid: str, vapi_id: str, actor: Actor) -> SetupRead:
    journal = session.exec(select(NumberProvisioning).where(NumberProvisioning.id == journal_id)
                           .with_for_update()).one()
    if journal.state not in OPEN_STATES:
        raise RuntimeError(f"the provisioning journal is already {journal.state} (reconciliation got there first)")
    _record(session, journal=journal, twilio_sid=twilio_sid, vapi_id=vapi_id, actor=actor,
            action="telephony_number_provisioned")
    return tel.get_setup(session, org_id=journal.org_id)


def _audit_rollback(session: Session, journal_id: int, actor: Actor, diff: dict[str, Any]) -> None:
    journal = session.get(NumberProvisioning, journal_id)
    audit.record(session, actor=actor, action="telephony_number_rolled_back", target_type="number_provisioning",
                 target_id=journal_id, org_id=journal.org_id if journal else None, diff=diff)


# ------------------------------------------------------------------ provision


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ProviderError) and exc.provider == "vapi":
        return f"importing it into Vapi failed ({exc})"
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return f"saving it in our database failed ({type(exc).__name__})"
    return f"recording it failed ({type(exc).__name__}: {str(exc)[:200]})"


async def provision_number(*, org_id: int, e164: str, number_type: str, actor: Actor, actor_role: str | None,
                           ip: str = "") -> SetupRead:
    """Buy a number with our webhook URLs, import it into Vapi and record it for the org (setup and agents point
    at it). Atomic for the user: any failure after the purchase releases the number and raises
    ProvisioningFailed saying what happened. Purchase errors raise ProviderError with the mapped message."""
    require_role(actor_role, tel.EDIT_ROLE)
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"'{e164}' is not a number in international form (+...). Pick one from the search.",
                           field="e164") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    info = countries.get(phonenumbers.region_code_for_number(parsed) or "")
    if number_type not in info.number_types:
        raise InvalidInput(f"{info.name} has no {number_type} numbers on offer. Choose one of: "
                           f"{', '.join(info.number_types)}.", field="number_type")
    check_rate(action="provision", ip=ip or actor.ip or "", org_id=org_id)
    settings = get_settings()
    journal_id = await db.run_in_transaction(_start, org_id, e164, info.iso, number_type, actor)
    twilio = twilio_client()
    try:
        bought = await twilio.buy_number(
            e164, **webhook_urls(), friendly_name=f"Voxanne org {org_id} (journal {journal_id})",
            address_sid=settings.twilio_address_sid if info.needs_address else None,
            bundle_sid=settings.twilio_bundle_sid if info.needs_bundle else None)
    except ProviderError as exc:
        definite = exc.status is not None and exc.status < 500
        # A timeout or 5xx may still have bought it: the journal stays open so reconciliation checks.
        await db.run_in_transaction(_journal, journal_id, state="abandoned" if definite else "intent",
                                error=str(exc)[:1000])
        if not definite:
            raise ProviderError("twilio", f"{exc} We could not tell whether {tel.display(e164)} was bought; the "
                                "reconciliation job checks within minutes and releases it if it was.",
                                code=exc.code, status=exc.status) from None
        raise
    sid = str(bought.get("sid") or "")
    vapi_id = ""
    try:
        await db.run_in_transaction(_journal, journal_id, state="bought", twilio_sid=sid)
        imported = await vapi_client().import_phone_number({
            "provider": "twilio", "number": e164, "twilioAccountSid": settings.twilio_sid,
            "twilioAuthToken": settings.twilio_token, "name": f"Voxanne org {org_id}"[:40]})
        vapi_id = str(imported.get("id") or "")
        return await db.run_in_transaction(_record_provisioned, journal_id, sid, vapi_id, actor)
    except Exception as exc:
        raise await _roll_back(journal_id, e164, sid, vapi_id, exc, actor) from exc


async def _gone(operation: Awaitable[Any]) -> None:
    """Run a provider delete or release; "not found" means it is already gone, which is what we wanted."""
    try:
        await operation
    except ProviderError as exc:
        if exc.status != 404:
            raise


async def _roll_back(journal_id: int, e164: str, sid: str, vapi_id: str, cause: Exception,
                     actor: Actor) -> ProvisioningFailed:
    """Undo a purchase whose follow-up failed: delete the Vapi import, release the number, say what happened."""
    what = _describe(cause)
    problems = []
    if vapi_id:
        try:
            await vapi_client().delete_phone_number(vapi_id)
        except ProviderError as exc:
            if exc.status != 404:
                problems.append(f"deleting the Vapi import failed ({exc})")
    try:
        await twilio_client().release_number(sid)
        released = True
    except ProviderError as exc:
        released = exc.status == 404  # already gone
        if not released:
            problems.append(f"releasing it failed ({exc})")
    log.warning("provisioning rolled back", extra={"number": mask(e164), "released": released, "cause": what})
    try:
        await db.run_in_transaction(_journal, journal_id,
                                    state="rolled_back" if released and not problems else "bought",
                                    error=f"{what}; {'; '.join(problems)}"[:1000])
        await db.run_in_transaction(_audit_rollback, journal_id, actor, {
            "number": e164, "twilio_sid": sid, "vapi_phone_number_id": vapi_id, "cause": what,
            "released": released, "problems": problems})
    except Exception:
        log.exception("could not record a provisioning rollback; reconcile_numbers will")
    shown = tel.display(e164)
    if released and not problems:
        return ProvisioningFailed(f"{shown} was bought but {what}, so it was released again. Nothing changed for "
                                  "this organization: try again, or pick another number.", released=True)
    return ProvisioningFailed(f"{shown} was bought but {what}, and {'; '.join(problems)}. The reconciliation job "
                              "(reconcile_numbers) will release it within minutes: do not buy it again meanwhile.",
                              released=False)
