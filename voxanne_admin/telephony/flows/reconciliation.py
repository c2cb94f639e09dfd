"""Reconciliation of provider numbers with our records (the scheduled job `reconcile_numbers`).

Compares Twilio's numbers and Vapi's imports with our phone_numbers rows and the provisioning journal: adopts an
orphan its organization still needs, releases the rest (with their Vapi imports), closes stale journal rows;
every change audited. Each database step is its own short transaction; none is held across a provider call.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from voxanne_admin import db
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.orgs.models import Organization
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import service as tel
from voxanne_admin.telephony.flows.provisioning import (
    OPEN_STATES,
    RECONCILE_GRACE,
    _gone,
    _record,
    twilio_client,
    vapi_client,
)
from voxanne_admin.telephony.models import NumberProvisioning
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)


def _snapshot_records(session: Session) -> tuple[dict[str, PhoneNumber], dict[str, NumberProvisioning]]:
    recorded = {p.e164: p for p in session.exec(select(PhoneNumber)).all()}
    latest: dict[str, NumberProvisioning] = {}
    for row in session.exec(select(NumberProvisioning).order_by(col(NumberProvisioning.id))).all():
        latest[row.e164] = row
    return recorded, latest


def _adoptable(session: Session, journal_id: int) -> bool:
    """Adopt when the org is active and still has no number for its setup (it wanted this one)."""
    journal = session.get(NumberProvisioning, journal_id)
    if journal is None or journal.state not in OPEN_STATES:
        return False
    org = session.get(Organization, journal.org_id)
    setup = tel._setup(session, journal.org_id)
    return bool(org and org.status == "active" and (setup is None or setup.number_id is None))


def _adopt(session: Session, journal_id: int, sid: str, vapi_id: str, actor: Actor) -> bool:
    journal = session.exec(select(NumberProvisioning).where(NumberProvisioning.id == journal_id)
                           .with_for_update()).one()
    if journal.state not in OPEN_STATES:
        return False
    _record(session, journal=journal, twilio_sid=sid, vapi_id=vapi_id, actor=actor,
            action="telephony_number_adopted")
    return True


def _audit_released(session: Session, e164: str, sid: str, vapi_ids: list[str], journal_id: int | None, reason: str,
                    actor: Actor) -> None:
    org_id = None
    if journal_id:
        journal = session.get(NumberProvisioning, journal_id)
        if journal is not None:
            journal.state, journal.updated_at = "released", utcnow()
            journal.error = (journal.error + f"; released by reconciliation: {reason}").strip("; ")[:1000]
            session.add(journal)
            org_id = journal.org_id
    audit.record(session, actor=actor, action="telephony_number_released", target_type="number_provisioning",
                 target_id=journal_id or sid, org_id=org_id,
                 diff={"number": e164, "twilio_sid": sid, "vapi_phone_number_ids": vapi_ids, "reason": reason})


def _close_stale_journals(session: Session, live: set[str], grace: timedelta) -> int:
    rows = session.exec(select(NumberProvisioning).where(
        NumberProvisioning.state.in_(OPEN_STATES),  # type: ignore[attr-defined]
        NumberProvisioning.updated_at < utcnow() - grace).with_for_update(skip_locked=True)).all()
    closed = 0
    for row in rows:
        if row.e164 in live:
            continue
        row.state, row.updated_at = ("released" if row.twilio_sid else "abandoned"), utcnow()
        row.error = (row.error + "; closed by reconciliation: the provider does not have it").strip("; ")[:1000]
        session.add(row)
        closed += 1
    return closed


def _ours(item: dict[str, Any], base: str) -> bool:
    urls = (str(item.get("voice_url") or ""), str(item.get("status_callback") or ""))
    return any(u.startswith(f"{base}/webhooks/") for u in urls) or str(item.get("friendly_name") or "").startswith(
        "Voxanne org ")


async def reconcile_numbers(*, grace: timedelta = RECONCILE_GRACE) -> dict[str, int]:
    """Compare the provider's numbers with our records: adopt an orphan its org still needs, release the rest
    (with their Vapi imports), close stale journal rows; every change audited. Numbers this console did not buy
    are counted as unmanaged and never touched."""
    actor = Actor.system("reconcile_numbers")
    settings = get_settings()
    twilio, vapi = twilio_client(), vapi_client()
    owned = await twilio.list_numbers()
    imports = await vapi.list_phone_numbers() or []
    recorded, journals = await db.run_read_only(_snapshot_records)
    recorded_vapi = {p.vapi_phone_number_id for p in recorded.values() if p.vapi_phone_number_id}
    by_number: dict[str, list[str]] = {}
    for item in imports:
        if item.get("id") not in recorded_vapi:
            by_number.setdefault(str(item.get("number") or ""), []).append(str(item.get("id")))
    stats = {"checked": len(owned), "adopted": 0, "released": 0, "vapi_deleted": 0, "in_flight": 0,
             "unmanaged": 0, "journals_closed": 0}
    now = utcnow()
    live = set()
    for item in owned:
        e164, sid = str(item.get("phone_number") or ""), str(item.get("sid") or "")
        live.add(e164)
        if e164 in recorded:
            continue
        journal = journals.get(e164)
        if journal is None and not _ours(item, settings.public_url):
            stats["unmanaged"] += 1
            continue
        if journal is not None and journal.state in OPEN_STATES and now - journal.updated_at < grace:
            stats["in_flight"] += 1
            continue
        stale_imports = by_number.pop(e164, [])
        if journal is not None and await db.run_read_only(_adoptable, journal.id or 0):
            try:
                vapi_id = stale_imports.pop(0) if stale_imports else str((await vapi.import_phone_number({
                    "provider": "twilio", "number": e164, "twilioAccountSid": settings.twilio_sid,
                    "twilioAuthToken": settings.twilio_token, "name": f"Voxanne org {journal.org_id}"[:40]}))["id"])
                if await db.run_in_transaction(_adopt, journal.id or 0, sid, vapi_id, actor):
                    stats["adopted"] += 1
                    for extra in stale_imports:
                        await vapi.delete_phone_number(extra)
                        stats["vapi_deleted"] += 1
                    continue
            except Exception:
                log.exception("adopting an orphaned number failed; releasing it instead")
        for vapi_id in stale_imports:
            await _gone(vapi.delete_phone_number(vapi_id))
            stats["vapi_deleted"] += 1
        await _gone(twilio.release_number(sid))
        reason = "its organization already has a number or is closed" if journal else "no record of it"
        await db.run_in_transaction(_audit_released, e164, sid, stale_imports, journal.id if journal else None, reason,
                                actor)
        stats["released"] += 1
    # Vapi imports of numbers we no longer hold at Twilio (a rollback whose Vapi delete failed).
    for e164, ids in by_number.items():
        journal = journals.get(e164)
        if journal is None or e164 in live:
            continue
        for vapi_id in ids:
            await _gone(vapi.delete_phone_number(vapi_id))
            stats["vapi_deleted"] += 1
    stats["journals_closed"] = await db.run_in_transaction(_close_stale_journals, live, grace)
    return stats


def summary(stats: dict[str, int]) -> str:
    """One line for the job run record."""
    return (f"{stats['checked']} provider numbers checked: {stats['adopted']} adopted, {stats['released']} released, "
            f"{stats['vapi_deleted']} stale Vapi imports deleted, {stats['in_flight']} in flight, "
            f"{stats['unmanaged']} not bought by this console (left alone), {stats['journals_closed']} journal "
            "rows closed")
