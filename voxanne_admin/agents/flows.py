"""Flows of agents: sync an agent to its Vapi assistant, and resolve the Vapi phone-number id (invariants 1, 4 and 6).

- Create the assistant only when the agent has no `vapi_assistant_id`; otherwise PATCH the full model.
- Every sync writes `vapi_phone_number_id` (invariant 1), resolving it when missing (invariant 4).
- On any Vapi error: keep the saved configuration, mark the sync failed with Vapi's message. NEVER create a
  replacement assistant in an error path (invariant 6).
- Two quick saves never create two assistants: syncs of one agent are serialised by a PostgreSQL advisory lock
  held on its own connection (not a transaction) for the duration of the Vapi request (`locks.agent_sync`).

A flow: it calls Vapi and commits short transactions (db.run_in_transaction) around those calls.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import db, locks
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import Agent, PhoneNumber
from voxanne_admin.agents.service import is_vapi_uuid
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.errors import ProviderError
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)


async def resolve_phone_number_id(org_id: int, agent: Agent, vapi: VapiClient) -> str | None:
    """The agent's Vapi phone-number id; else the org's number known to us; else found through Vapi's API."""
    if is_vapi_uuid(agent.vapi_phone_number_id):
        return agent.vapi_phone_number_id

    def local(session: Session) -> tuple[str | None, list[str]]:
        numbers = session.exec(select(PhoneNumber).where(PhoneNumber.org_id == org_id,
                                                         PhoneNumber.status == "active")).all()
        for number in numbers:
            if is_vapi_uuid(number.vapi_phone_number_id):
                return number.vapi_phone_number_id, []
        return None, [n.e164 for n in numbers]

    found, e164s = await db.run_read_only(local)
    if found:
        return found
    remote = await vapi.list_phone_numbers()
    for item in remote:
        if not is_vapi_uuid(item.get("id")):
            continue
        if item.get("number") in e164s or (agent.vapi_assistant_id and item.get("assistantId") ==
                                           agent.vapi_assistant_id):
            return item["id"]
    return None


@dataclass
class SyncResult:
    """What a sync did, for the page and the audit trail."""

    ok: bool
    message: str
    created: bool = False
    assistant_id: str | None = None
    phone_number_id: str | None = None


async def sync_agent(agent_id: int, *, actor: Actor, vapi: VapiClient | None = None) -> SyncResult:
    """Push the agent's latest saved version to Vapi (serialised per agent across every process)."""
    vapi = vapi or VapiClient()
    engine = db.get_engine()
    lock_conn = await asyncio.to_thread(engine.connect)
    try:
        def lock() -> None:
            lock_conn.execute(sa.text("select pg_advisory_lock(:k)"), {"k": locks.agent_sync(agent_id)})
            lock_conn.commit()

        await asyncio.to_thread(lock)
        while True:
            result = await _sync_once(agent_id, actor=actor, vapi=vapi)
            if not result.ok:
                return result

            def newer(session: Session) -> bool:
                agent = session.get(Agent, agent_id)
                return bool(agent and agent.synced_version is not None and agent.version > agent.synced_version)

            if not await db.run_read_only(newer):  # a save landed while we synced: push that one too
                return result
    finally:
        def unlock() -> None:
            lock_conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.agent_sync(agent_id)})
            lock_conn.commit()
            lock_conn.close()

        await asyncio.to_thread(unlock)


async def _sync_once(agent_id: int, *, actor: Actor, vapi: VapiClient) -> SyncResult:
    def load(session: Session) -> Agent:
        agent = agent_service.get(session, agent_id=agent_id)
        agent.sync_status = "syncing"
        session.add(agent)
        return agent.model_copy()

    agent = await db.run_in_transaction(load)
    payload = agent_service.vapi_payload(agent, org_id=agent.org_id, agent_id=agent.id)
    created = False
    try:
        phone_number_id = await resolve_phone_number_id(agent.org_id, agent, vapi)
        if agent.vapi_assistant_id:
            response = await vapi.update_assistant(agent.vapi_assistant_id, payload)
        else:
            response = await vapi.create_assistant(payload)
            created = True
        assistant_id = str(response.get("id") or agent.vapi_assistant_id)
    except ProviderError as exc:
        error_text = str(exc)
        message = (f"Sync to Vapi failed: {exc}. Your configuration is saved; fix the problem and save again "
                   "to retry.")
        if exc.status == 404 and agent.vapi_assistant_id:
            message = (f"Vapi no longer has assistant {agent.vapi_assistant_id}. The configuration is saved, and no "
                       "new assistant was created automatically: check the Vapi dashboard, then save again.")

        def fail(session: Session) -> None:
            session.execute(sa.update(Agent).where(col(Agent.id) == agent_id)
                            .values(sync_status="failed", sync_error=message[:1000]))
            audit.record(session, actor=actor, action="agent_sync_failed", target_type="agent",
                         target_id=agent_id, org_id=agent.org_id,
                         diff={"version": agent.version, "error": error_text[:300]})

        await db.run_in_transaction(fail)
        log.warning("agent sync failed", extra={"agent_id": agent_id, "error": error_text})
        return SyncResult(False, message)

    def succeed(session: Session) -> None:
        row = session.get(Agent, agent_id, with_for_update=True)
        if row is None:
            return
        row.vapi_assistant_id = assistant_id
        # Invariant 1: the phone-number id is written on every sync (never cleared once known).
        row.vapi_phone_number_id = phone_number_id or row.vapi_phone_number_id
        row.synced_version = agent.version
        row.sync_status = "synced" if row.version == agent.version else "pending"
        row.sync_error = None if phone_number_id or row.vapi_phone_number_id else (
            "Synced, but the organization has no Vapi phone number yet: outbound calls need one.")
        row.synced_at = utcnow()
        session.add(row)
        audit.record(session, actor=actor, action="agent_synced", target_type="agent", target_id=agent_id,
                     org_id=agent.org_id, diff={"version": agent.version, "created": created,
                                                "vapi_assistant_id": assistant_id,
                                                "vapi_phone_number_id": row.vapi_phone_number_id})

    await db.run_in_transaction(succeed)
    return SyncResult(True, "Assistant created in Vapi." if created else "Vapi assistant updated.", created,
                      assistant_id, phone_number_id)


async def sync_pending(actor: Actor | None = None, vapi: VapiClient | None = None) -> int:
    """Sync every agent waiting for it (demo data, saves whose background sync was interrupted)."""
    def pending(session: Session) -> list[int]:
        return [int(i or 0) for i in
                session.exec(select(Agent.id).where(col(Agent.sync_status).in_(("pending", "never")))).all()]

    count = 0
    for agent_id in await db.run_read_only(pending):
        result = await sync_agent(agent_id, actor=actor or Actor.system("agent-sync"), vapi=vapi)
        count += int(result.ok)
    return count
