"""Flows of calls: the one outbound-call pipeline every caller uses (Founder console, CLI, scheduled callbacks).

resolve outbound agent (invariant 2) -> resolve phone-number id, backfilling it (invariant 4) -> pre-flight
(invariants 3 and 5) -> record the call with an idempotency key -> dial (never retried) -> webhooks fill in.

A flow: it calls Vapi and commits short transactions (db.run_in_transaction) around those calls.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from voxanne_admin import db
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.flows import resolve_phone_number_id
from voxanne_admin.agents.models import Agent
from voxanne_admin.agents.service import is_vapi_uuid
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.calls import spend_guard
from voxanne_admin.calls.models import Call
from voxanne_admin.errors import DomainError, ProviderError
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs.models import COUNTRIES, Organization
from voxanne_admin.privacy.masking import mask
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
ALLOWED_COUNTRIES = set(COUNTRIES)


@dataclass
class Check:
    """One pre-flight check."""

    name: str
    ok: bool
    detail: str


@dataclass
class Preflight:
    """Every check, and the values a call needs when they all pass."""

    checks: list[Check] = field(default_factory=list)
    org_id: int | None = None
    org_name: str = ""
    agent_id: int | None = None
    assistant_id: str | None = None
    phone_number_id: str | None = None
    customer_e164: str | None = None

    @property
    def ok(self) -> bool:
        """All checks passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def first_failure(self) -> str:
        """The reason a person reads first."""
        return next((c.detail for c in self.checks if not c.ok), "")


class CallFailed(DomainError):
    """Pre-flight or Vapi refused the call; the message says what to fix."""


def parse_customer_number(raw: str, default_region: str) -> tuple[str | None, str]:
    """(E.164, explanation) for a number typed in national or international form."""
    text = (raw or "").strip()
    if not text:
        return None, "Enter the number to call."
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None, f"'{text}' is not a phone number."
    if not phonenumbers.is_valid_number(number):
        return None, f"'{text}' is not a valid number (check the digits and the country)."
    region = phonenumbers.region_code_for_number(number)
    if region not in ALLOWED_COUNTRIES:
        return None, (f"{phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)} is in "
                      f"{region or 'an unknown region'}; calls are allowed to {', '.join(sorted(ALLOWED_COUNTRIES))}.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, f"{phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)} ({region})"


def format_as_typed(raw: str, region: str) -> str:
    """Format a partially typed number the way the country writes it."""
    formatter = phonenumbers.AsYouTypeFormatter(region or "US")
    out = ""
    for char in raw:
        if char.isdigit() or char == "+":
            out = formatter.input_digit(char)
    return out or raw


async def preflight(*, org_id: int, to: str, role: str = "outbound", vapi: VapiClient | None = None) -> Preflight:
    """Resolve everything a call needs and check it, without dialling. Never raises for missing setup."""
    vapi = vapi or VapiClient()
    result = Preflight(org_id=org_id)

    def load(session: Session) -> tuple[Organization | None, Agent | None]:
        org = session.get(Organization, org_id)
        agent = agent_service.get_for_org(session, org_id=org_id, role=role) if org else None
        return (org.model_copy() if org else None), (agent.model_copy() if agent else None)

    org, agent = await db.run_read_only(load)
    if org is None or org.status != "active":
        result.checks.append(Check("Organization", False, "The organization does not exist or is closed."))
        return result
    result.org_name = org.name
    if not await asyncio.to_thread(flag_gates.outbound_calling, org_id):  # feature flag (kill switch)
        why = await db.run_read_only(lambda s: spend_guard.pause_reason(s, org_id=org_id))
        result.checks.append(Check("Outbound calling", False, flag_gates.OUTBOUND_OFF + (
            f": paused by the spend guard ({why}). A founder turns it back on from the Credentials page."
            if why else "")))
        return result
    # Invariant 2: a missing outbound agent is a clear message, never an exception.
    if agent is None:
        result.checks.append(Check("Outbound agent", False, f"Outbound agent not configured for {org.name}"))
        return result
    result.agent_id = agent.id
    result.checks.append(Check("Outbound agent", True, f"{agent.name} (version {agent.version})"))
    result.assistant_id = agent.vapi_assistant_id
    result.checks.append(Check(
        "Vapi assistant", bool(agent.vapi_assistant_id),
        agent.vapi_assistant_id or "The agent has not been synced to Vapi yet: open Agents and save it.",
    ))
    # Invariant 4: resolve and backfill a missing phone-number id instead of failing.
    phone_number_id = agent.vapi_phone_number_id
    backfilled = False
    if not is_vapi_uuid(phone_number_id):
        try:
            phone_number_id = await resolve_phone_number_id(org_id, agent, vapi)
        except ProviderError as exc:
            phone_number_id = None
            log.warning("phone number lookup failed", extra={"error": str(exc)})
        if is_vapi_uuid(phone_number_id):
            backfilled = True

            def backfill(session: Session) -> None:
                session.execute(sa.update(Agent).where(col(Agent.id) == agent.id)
                                .values(vapi_phone_number_id=phone_number_id))
                audit.record(session, actor=Actor.system("outbound-pipeline"), action="agent_number_backfilled",
                             target_type="agent", target_id=agent.id, org_id=org_id,
                             diff={"vapi_phone_number_id": phone_number_id})

            await db.run_in_transaction(backfill)
    # Invariant 3: phoneNumberId is a Vapi UUID, never an E.164 string.
    if not phone_number_id:
        result.checks.append(Check("Vapi phone number", False,
                                   f"No Vapi phone number for {org.name}: give the organization a number (buy "
                                   "one in Twilio and import it into Vapi), then save the outbound agent."))
    elif not is_vapi_uuid(phone_number_id):
        result.checks.append(Check("Vapi phone number", False,
                                   f"'{phone_number_id}' is not a Vapi phone-number id (a UUID). An E.164 number "
                                   "cannot be sent as phoneNumberId: re-save the agent to resolve it."))
    else:
        result.phone_number_id = phone_number_id
        result.checks.append(Check("Vapi phone number", True,
                                   phone_number_id + (" (found and saved on the agent)" if backfilled else "")))
    e164, detail = parse_customer_number(to, org.country)
    result.customer_e164 = e164
    result.checks.append(Check("Customer number", e164 is not None, detail))
    return result


@dataclass
class Placed:
    """A call that was dialled (or the earlier call with the same idempotency key)."""

    call_id: int
    vapi_call_id: str | None
    duplicate: bool
    preflight: Preflight


async def place_call(*, org_id: int, to: str, idempotency_key: str, placed_by: str, actor: Actor,
                     actor_role: str | None, is_test: bool = True, vapi: VapiClient | None = None) -> Placed:
    """Pre-flight, record, dial once. Raises CallFailed with the reason when it cannot."""
    require_role(actor_role, "admin")
    vapi = vapi or VapiClient()
    if not idempotency_key or len(idempotency_key) > 100:
        raise CallFailed("An idempotency key (up to 100 characters) is required to place a call.")

    def existing(session: Session) -> Call | None:
        row = session.exec(select(Call).where(Call.idempotency_key == idempotency_key)).first()
        return row.model_copy() if row else None

    earlier = await db.run_read_only(existing)
    if earlier is not None:
        return Placed(earlier.id or 0, earlier.vapi_call_id, True, Preflight())
    checks = await preflight(org_id=org_id, to=to, vapi=vapi)
    if not checks.ok:
        raise CallFailed(checks.first_failure)

    def record(session: Session) -> tuple[int, bool]:
        row_id = session.execute(
            insert(Call).values(
                org_id=org_id, agent_id=checks.agent_id, direction="outbound", status="dialing", status_rank=0,
                customer_number=checks.customer_e164, phone_number_id=checks.phone_number_id,
                assistant_id=checks.assistant_id, placed_by=placed_by, is_test=is_test,
                idempotency_key=idempotency_key, created_at=utcnow(), updated_at=utcnow(),
                report_received=False,
            ).on_conflict_do_nothing(constraint="uq_calls_idempotency_key").returning(col(Call.id))
        ).scalar()
        if row_id is None:  # a concurrent request with the same key won
            other = session.exec(select(Call.id).where(Call.idempotency_key == idempotency_key)).one()
            return int(other or 0), False
        audit.record(session, actor=actor, action="test_call_placed" if is_test else "call_placed",
                     target_type="call", target_id=row_id, org_id=org_id,
                     diff={"agent_id": checks.agent_id, "to": mask(checks.customer_e164 or ""),
                           "placed_by": placed_by})  # the audit trail keeps no number in the clear
        return int(row_id), True

    call_id, fresh = await db.run_in_transaction(record)
    if not fresh:
        return Placed(call_id, None, True, checks)
    body = {"assistantId": checks.assistant_id, "phoneNumberId": checks.phone_number_id,
            "customer": {"number": checks.customer_e164},
            "assistantOverrides": {"metadata": {"org_id": org_id, "agent_id": checks.agent_id,
                                                "voxanne_call_id": call_id, "test": is_test}}}
    # The single guard every dial passes through (invariants 3 and 5).
    if not (checks.assistant_id and is_vapi_uuid(checks.phone_number_id) and checks.customer_e164):
        raise CallFailed("Pre-flight did not pass; the call was not placed.")
    try:
        response = await vapi.create_call(body)
    except ProviderError as exc:
        error_text = str(exc)
        message = f"Vapi did not place the call: {error_text}"

        def failed(session: Session) -> None:
            session.execute(sa.update(Call).where(col(Call.id) == call_id).values(
                status="failed", status_rank=6, error=message[:1000], ended_reason="call.start.error-vapi",
                updated_at=utcnow()))
            audit.record(session, actor=actor, action="call_failed", target_type="call", target_id=call_id,
                         org_id=org_id, diff={"error": error_text[:300]})

        await db.run_in_transaction(failed)
        raise CallFailed(message) from None
    vapi_call_id = str(response.get("id"))

    def attach(session: Session) -> None:
        # A webhook may already have attached it (see calls.service._lock_call).
        session.execute(sa.update(Call).where(col(Call.id) == call_id, col(Call.vapi_call_id).is_(None))
                        .values(vapi_call_id=vapi_call_id, updated_at=utcnow()))
        session.execute(sa.update(Call).where(col(Call.id) == call_id, col(Call.status_rank) < 1)
                        .values(status="queued", status_rank=1))

    await db.run_in_transaction(attach)
    # The spend guard counts this call: reaching a limit pauses outbound calling before the next one.
    await asyncio.to_thread(spend_guard.enforce, org_id)
    return Placed(call_id, vapi_call_id, False, checks)


def sandbox_hint() -> str:
    """What to check when the sandbox cannot be reached."""
    settings = get_settings()
    return (f" Is the console running (voxanne-admin serve) on port {settings.port}?" if settings.sandbox else "")
