"""Demo data for an empty database: organizations, their agents (synced to the sandbox by the scheduler) and,
in sandbox mode, sandbox phone numbers for the US and GB clinics. Never staff accounts."""

from __future__ import annotations

import secrets
import uuid

import phonenumbers
from sqlmodel import Session, select

from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs import service as org_service
from voxanne_admin.orgs.models import Organization
from voxanne_admin.sandbox.models import SandboxObject
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

NUMBERED = ("US", "GB")


def _demo_number(country: str, index: int) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.FIXED_LINE)
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
    orgs = session.exec(select(Organization).order_by(Organization.id)).all()
    for index, org in enumerate(orgs):
        for role in ("inbound", "outbound"):
            agent_service.save(session, org_id=org.id or 0, role=role, raw=agent_service.default_config(org, role),
                               actor=actor, actor_role="founder")
        if sandbox and org.country in NUMBERED:
            e164 = _demo_number(org.country, index)
            vapi_id = str(uuid.uuid4())
            twilio_sid = "PN" + secrets.token_hex(16)
            now = utcnow().isoformat()
            session.add(SandboxObject(id=twilio_sid, provider="twilio", kind="incoming_number", data={
                "sid": twilio_sid, "phone_number": e164, "friendly_name": org.name, "iso_country": org.country}))
            session.add(SandboxObject(id=vapi_id, provider="vapi", kind="phone_number", data={
                "id": vapi_id, "provider": "twilio", "number": e164, "status": "active", "name": org.name,
                "createdAt": now, "updatedAt": now}))
            session.add(PhoneNumber(org_id=org.id or 0, e164=e164, country=org.country, twilio_sid=twilio_sid,
                                    vapi_phone_number_id=vapi_id))
    return created
