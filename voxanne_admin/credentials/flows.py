"""Rotation without downtime: verify the new credential at the provider (a harmless read), then activate it.

Each step is its own short transaction with its audit event (started, verified or refused, activated, revoked at
the provider), so nothing is ever half-rotated; no transaction is held across a provider call. One rotation runs
at a time across all processes: a session advisory lock (`locks.CREDENTIAL_ROTATION`) taken with try-lock, so a
second rotation started meanwhile is told one is in progress instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin import db, formatting, locks
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.credentials import runtime
from voxanne_admin.credentials import service as cred_service
from voxanne_admin.errors import Conflict, InvalidInput, ProviderError
from voxanne_admin.providers import slack
from voxanne_admin.providers.twilio import TwilioClient
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.settings import get_settings
from voxanne_admin.vault import get_vault

log = logging.getLogger(__name__)
IN_PROGRESS = "A credential rotation is already in progress; wait for it to finish, then try again."


@dataclass
class Rotated:
    """What a rotation did. `secret` is set only for a webhook secret the console generated (shown once)."""

    name: str
    last4: str
    old_accepted_until: str = ""
    secret: str = field(default="", repr=False)
    notes: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def rotation_lock() -> AsyncIterator[None]:
    """Hold the rotation lock on its own connection for the whole rotation, or raise Conflict at once."""
    conn = await asyncio.to_thread(db.get_engine().connect)
    try:
        def take() -> bool:
            got = bool(conn.execute(sa.text("select pg_try_advisory_lock(:k)"),
                                    {"k": locks.CREDENTIAL_ROTATION}).scalar())
            conn.commit()
            return got

        if not await asyncio.to_thread(take):
            raise Conflict(IN_PROGRESS)
        try:
            yield
        finally:
            def release() -> None:
                conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.CREDENTIAL_ROTATION})
                conn.commit()

            await asyncio.to_thread(release)
    finally:
        await asyncio.to_thread(conn.close)


async def _step(name: str, action: str, actor: Actor, **detail) -> None:
    await db.run_in_transaction(lambda s: cred_service.record_step(s, name=name, action=action, actor=actor,
                                                                    detail=detail))


async def _refuse(name: str, actor: Actor, exc: ProviderError) -> None:
    await _step(name, "credential_rotation_refused", actor, provider=exc.provider, error=str(exc)[:300],
                note="the old credential stays active")


async def _activate(name: str, value: str, actor: Actor, *, grace: timedelta | None, reason: str,
                    replaced: str | None = None) -> str:
    sandbox = get_settings().sandbox

    def write(session: Session) -> str:
        row = cred_service.activate(session, name=name, value=value, sandbox=sandbox, actor=actor,
                                    keep_previous_for=grace, vault=get_vault(), reason=reason, replaced=replaced)
        return row.previous_expires_at.isoformat() if row.previous_expires_at else ""

    until = await db.run_in_transaction(write)
    runtime.changed()
    return until


def _check_editable(name: str, actor_role: str | None) -> cred_service.Kind:
    require_role(actor_role, "founder")
    k = cred_service.kind(name)
    source = cred_service.env_source(k)
    if source:
        raise Conflict(f"The {k.label} comes from the {source}: change it there (the environment wins over "
                       "stored credentials, so a stored value would never be used).")
    return k


async def rotate(name: str, *, actor: Actor, actor_role: str | None, value: str | None = None,
                 grace_hours: float | None = None, reason: str = "rotated") -> Rotated:
    """Rotate one credential: verified at the provider before it becomes active; on refusal the old one stays.

    - vapi_key: `value` is the new private key (in sandbox mode, when empty, the sandbox issues one).
    - vapi_webhook_secret: generated here unless given; the old one is accepted for the grace window.
    - twilio_api_key: a new API Key is created at Twilio (or `value` 'SK...:secret' is used), verified with it,
      then the old stored API Key is deleted at Twilio.
    - twilio_auth_token / slack_webhook_url: `value` is required and verified.
    """
    k = _check_editable(name, actor_role)
    value = (value or "").strip()
    async with rotation_lock():
        await _step(k.name, "credential_rotation_started", actor, reason=reason)
        handler = {"vapi_key": _rotate_vapi_key, "vapi_webhook_secret": _rotate_webhook_secret,
                   "twilio_api_key": _rotate_twilio_key, "twilio_auth_token": _rotate_twilio_token,
                   "slack_webhook_url": _rotate_slack}[k.name]
        return await handler(value, actor, grace_hours=grace_hours, reason=reason)


async def _rotate_vapi_key(value: str, actor: Actor, *, grace_hours: float | None, reason: str) -> Rotated:
    settings = get_settings()
    old = settings.vapi_key
    notes = []
    if not value:
        if not settings.sandbox:
            raise InvalidInput("Paste the new private key from Vapi's dashboard (API Keys).", field="value")
        value = await VapiClient(api_key=old).sandbox_issue_key()
        notes.append("The sandbox issued the new key (in production you create it in Vapi's dashboard).")
    try:
        await VapiClient(api_key=value).verify_key()
    except ProviderError as exc:
        await _refuse("vapi_key", actor, exc)
        raise
    await _step("vapi_key", "credential_verified", actor, provider="vapi", check="GET /phone-number?limit=1")
    await _activate("vapi_key", value, actor, grace=None, reason=reason)
    runtime.mark_used("vapi_key")
    if settings.sandbox and old != value:
        await VapiClient(api_key=value).sandbox_revoke_key(old)
        await _step("vapi_key", "credential_revoked_at_provider", actor, provider="vapi",
                    revoked_last4=cred_service.last4(old))
        notes.append("The old key was revoked at the sandbox.")
    else:
        notes.append("Now delete the old private key in Vapi's dashboard (API Keys).")
    return Rotated("vapi_key", cred_service.last4(value), notes=notes)


async def _rotate_webhook_secret(value: str, actor: Actor, *, grace_hours: float | None,
                                 reason: str) -> Rotated:
    settings = get_settings()
    secret = value or secrets.token_urlsafe(32)
    if len(secret) < 16:
        raise InvalidInput("A webhook secret needs at least 16 characters.", field="value")
    hours = settings.credential_grace_hours if grace_hours is None else grace_hours
    until = await _activate("vapi_webhook_secret", secret, actor, grace=timedelta(hours=hours), reason=reason,
                            replaced=settings.webhook_secret)
    notes = [f"Paste the new secret into Vapi (the server URL's secret). Until "
             f"{formatting.timestamp(datetime.fromisoformat(until))} both are accepted."
             if until else "The old secret is refused from now on."]
    return Rotated("vapi_webhook_secret", cred_service.last4(secret), old_accepted_until=until, secret=secret,
                   notes=notes)


async def _rotate_twilio_key(value: str, actor: Actor, *, grace_hours: float | None, reason: str) -> Rotated:
    settings = get_settings()
    old_sid, _ = settings.twilio_rest_auth
    notes = []
    if value:
        if not value.startswith("SK") or ":" not in value:
            raise InvalidInput("Give the API Key as SID:secret (SK...:...).", field="value")
        sid, secret = value.split(":", 1)
    else:
        try:
            created = await TwilioClient().create_api_key(f"Voxanne Admin {reason}")
        except ProviderError as exc:
            await _refuse("twilio_api_key", actor, exc)
            raise
        sid, secret = str(created["sid"]), str(created["secret"])
        await _step("twilio_api_key", "credential_created_at_provider", actor, provider="twilio", key_sid=sid)
    try:
        await TwilioClient(api_key=(sid, secret)).fetch_account()
    except ProviderError as exc:
        await _refuse("twilio_api_key", actor, exc)
        raise
    await _step("twilio_api_key", "credential_verified", actor, provider="twilio", check="GET Accounts/{sid}.json",
                key_sid=sid)
    await _activate("twilio_api_key", f"{sid}:{secret}", actor, grace=None, reason=reason)
    if old_sid.startswith("SK") and old_sid != sid:
        try:
            await TwilioClient(api_key=(sid, secret)).delete_api_key(old_sid)
            await _step("twilio_api_key", "credential_revoked_at_provider", actor, provider="twilio", key_sid=old_sid)
            notes.append(f"The old API Key {old_sid} was deleted at Twilio.")
        except ProviderError as exc:
            notes.append(f"Delete the old API Key {old_sid} in Twilio's console: {exc}")
    return Rotated("twilio_api_key", cred_service.last4(secret), notes=notes)


async def _rotate_twilio_token(value: str, actor: Actor, *, grace_hours: float | None, reason: str) -> Rotated:
    if not value:
        raise InvalidInput("Paste the auth token from Twilio's console.", field="value")
    try:
        await TwilioClient(auth_token=value).fetch_account()
    except ProviderError as exc:
        await _refuse("twilio_auth_token", actor, exc)
        raise
    await _step("twilio_auth_token", "credential_verified", actor, provider="twilio", check="GET Accounts/{sid}.json")
    await _activate("twilio_auth_token", value, actor, grace=None, reason=reason)
    return Rotated("twilio_auth_token", cred_service.last4(value))


async def _rotate_slack(value: str, actor: Actor, *, grace_hours: float | None, reason: str) -> Rotated:
    if not value:
        raise InvalidInput("Paste the incoming-webhook URL from Slack.", field="value")
    problem = await asyncio.to_thread(slack.verify, value)
    if problem:
        exc = ProviderError("slack", problem)
        await _refuse("slack_webhook_url", actor, exc)
        raise exc
    await _step("slack_webhook_url", "credential_verified", actor, provider="slack", check="POST {} -> no_text")
    await _activate("slack_webhook_url", value, actor, grace=None, reason=reason)
    return Rotated("slack_webhook_url", cred_service.last4(value))


async def emergency_rotate(*, actor: Actor, actor_role: str | None) -> list[str]:
    """A key leaked: the console's part in one go. Outbound calling off everywhere, a new webhook secret with the
    old one refused at once, new Vapi key (sandbox) and Twilio API Key where the console can make them; what is
    left to do at the providers is returned with what was done."""
    require_role(actor_role, "founder")
    from voxanne_admin.calls import spend_guard

    done: list[str] = []
    done.append(await asyncio.to_thread(spend_guard.pause_everything, actor=actor,
                                        reason="emergency rotation after a key leak"))
    plan: list[tuple[str, float | None]] = [("vapi_webhook_secret", 0.0), ("vapi_key", None), ("twilio_api_key", None)]
    for name, grace in plan:
        k = cred_service.KINDS[name]
        if cred_service.env_source(k):
            done.append(f"{k.label}: set in the {cred_service.env_source(k)}; change it there and restart.")
            continue
        if name == "vapi_key" and not get_settings().sandbox:
            done.append("Vapi private key: create a new key in Vapi's dashboard, paste it here, delete the old one.")
            continue
        try:
            result = await rotate(name, actor=actor, actor_role=actor_role, reason="emergency", grace_hours=grace)
        except (ProviderError, Conflict, InvalidInput) as exc:
            done.append(f"{k.label}: NOT rotated: {exc}")
            continue
        done.append(f"{k.label}: rotated (now ••••{result.last4}). " + " ".join(result.notes))
    done.append("Review the audit trail and the calls placed since the leak (runbook: docs/security.md).")
    return done


def wipe_expired() -> int:
    """The grace job: previous webhook secrets past their window are refused and wiped."""
    with db.transaction() as session:
        wiped = cred_service.wipe_expired(session)
    if wiped:
        runtime.changed()
    return wiped


def remind_old() -> list[str]:
    """The daily reminder: Slack hears about credentials past CREDENTIAL_MAX_AGE_DAYS."""
    settings = get_settings()
    with db.transaction() as session:
        lines = cred_service.due_reminders(session, settings=settings)
    if lines:
        slack.post(":key: Voxanne Admin: rotate these credentials (Credentials page): " + "; ".join(lines) + ".")
    return lines
