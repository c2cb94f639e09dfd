"""Demo data for an empty database: organizations, their agents (synced to the sandbox by the scheduler) and,
in sandbox mode, sandbox phone numbers and one telephony setup per country in a different state:
US verified (its sandbox line forwards to our number), GB codes issued (not dialled yet), NG country chosen with a
US number bought, TR not started. Every number, code and line state is a real sandbox object. Never staff
accounts."""

from __future__ import annotations

import secrets
import uuid

import phonenumbers
from sqlmodel import Session, col, select

from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs import service as org_service
from voxanne_admin.orgs.models import Organization
from voxanne_admin.sandbox.models import SandboxObject
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony.models import NumberProvisioning
from voxanne_admin.timeutil import utcnow

NUMBERED = {"US": "US", "GB": "GB", "NG": "US"}  # org country -> where its demo number is (NG: abroad)
CLINIC_LINES = {"US": ("+12015550143", "Verizon", "unconditional"), "GB": ("+447400123456", "Three", "no_answer")}


def _demo_number(country: str, index: int) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.FIXED_LINE)
    if example is None:
        raise ValueError(f"phonenumbers has no example fixed-line number for {country}")
    national = str(example.national_number)
    for tail in range(index * 10, index * 10 + 100):
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-2]}{tail % 100:02d}")
        if phonenumbers.is_valid_number_for_region(candidate, country):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def seed(session: Session, *, actor: Actor | None = None) -> int:
    """Load the demo data when there are no organizations; returns how many organizations were created."""
    actor = actor or Actor.system("seed-demo")
    created = org_service.seed_demo(session, actor=actor)
    if not created:
        return 0
    sandbox = get_settings().sandbox
    orgs = session.exec(select(Organization).order_by(col(Organization.id))).all()
    for index, org in enumerate(orgs):
        for role in ("inbound", "outbound"):
            agent_service.save(session, org_id=org.id or 0, role=role, raw=agent_service.default_config(org, role),
                               actor=actor, actor_role="founder")
        if sandbox and org.country in NUMBERED:
            number_country = NUMBERED[org.country]
            e164 = _demo_number(number_country, index)
            vapi_id = str(uuid.uuid4())
            twilio_sid = "PN" + secrets.token_hex(16)
            now = utcnow().isoformat()
            session.add(SandboxObject(id=twilio_sid, provider="twilio", kind="incoming_number", data={
                "sid": twilio_sid, "phone_number": e164, "friendly_name": f"Voxanne org {org.id}",
                "iso_country": number_country, **_urls(), "capabilities": {"voice": True, "sms": True}}))
            session.add(SandboxObject(id=vapi_id, provider="vapi", kind="phone_number", data={
                "id": vapi_id, "provider": "twilio", "number": e164, "status": "active", "name": org.name,
                "createdAt": now, "updatedAt": now}))
            phone = PhoneNumber(org_id=org.id or 0, e164=e164, country=number_country, twilio_sid=twilio_sid,
                                vapi_phone_number_id=vapi_id)
            session.add(phone)
            session.flush()
            session.add(NumberProvisioning(org_id=org.id or 0, e164=e164, country=number_country,
                                           number_type="local", state="recorded", twilio_sid=twilio_sid,
                                           vapi_phone_number_id=vapi_id, phone_number_id=phone.id, actor="seed-demo"))
            _demo_setup(session, org, phone, actor)
    return created


def _urls() -> dict[str, str]:
    from voxanne_admin.telephony.flows.provisioning import webhook_urls

    return webhook_urls()


def _demo_setup(session: Session, org: Organization, phone: PhoneNumber, actor: Actor) -> None:
    """US verified, GB codes issued, NG country chosen with its (US) number; each backed by sandbox state."""
    from voxanne_admin.audit import service as audit
    from voxanne_admin.sandbox import carrier
    from voxanne_admin.telephony import service as tel
    from voxanne_admin.telephony.models import VoiceLeg

    org_id = org.id or 0
    tel.set_country(session, org_id=org_id, country=org.country, actor=actor, actor_role="founder")
    setup = tel._setup_for_update(session, org_id)
    setup.number_id = phone.id
    session.add(setup)
    session.flush()
    if org.country not in CLINIC_LINES:
        return
    line, carrier_name, kind = CLINIC_LINES[org.country]
    issued = tel.configure_forwarding(session, org_id=org_id, clinic_number=line, carrier=carrier_name,
                                      forwarding_type=kind, ring_timer=20 if kind == "no_answer" else 0,
                                      actor=actor, actor_role="founder")
    if org.country != "US":
        return
    # The clinic dialled the code on the sandbox carrier, and the test call arrived forwarded on our number.
    state, _answer = carrier.apply_code({"forwards": {}, "dialled": []}, line, issued.activate_code)
    session.add(SandboxObject(id=carrier.line_id(line), provider="carrier", kind="carrier_line", data=state))
    leg = VoiceLeg(call_sid="CA" + secrets.token_hex(16), org_id=org_id, status="completed", status_rank=4,
                   direction="inbound", from_number=phone.e164, to_number=phone.e164, forwarded_from=line,
                   duration_s=3)
    session.add(leg)
    test_call = "CA" + secrets.token_hex(16)
    session.add(SandboxObject(id=test_call, provider="twilio", kind="voice_call", data={
        "sid": test_call, "to": line, "from": phone.e164, "status": "completed", "direction": "outbound-api",
        "status_callback": _urls()["status_callback"]}))
    row = tel._setup_for_update(session, org_id)
    row.verification_started_at = row.verified_at = utcnow()
    row.verification_call_sid = test_call
    row.status = "verified"
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_verified", target_type="telephony_setup",
                 target_id=row.id, org_id=org_id,
                 diff={"status": {"before": "codes_issued", "after": "verified"}, "call_sid": leg.call_sid,
                       "forwarded_from": line, "caller": phone.e164})
