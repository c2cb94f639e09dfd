"""Credential rules and queries: what is stored (encrypted), where each value comes from, age and hygiene.

Services take the caller's session and never commit or call a provider (flows.py does the verification calls).
Values are encrypted with the vault's keyring; the page, logs and audit diffs only ever see the last 4 characters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.credentials.models import CredentialRead, ProviderCredential
from voxanne_admin.errors import InvalidInput, NotFound
from voxanne_admin.settings import Settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.vault import Vault

TARGET = "credential"


@dataclass(frozen=True)
class Kind:
    """One credential the console manages."""

    name: str
    label: str
    env: tuple[str, ...]  # environment variables that set it (any set: env wins, read-only here)
    sandbox_file: str  # the per-data-dir file the sandbox generates when nothing is set ("" when none)
    cli: str = ""  # `voxanne-admin credentials rotate <cli>`


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("vapi_key", "Vapi private key", ("VAPI_API_KEY",), "sandbox-vapi-key", "vapi-key"),
    Kind("vapi_webhook_secret", "Vapi webhook secret", ("VAPI_WEBHOOK_SECRET",), "vapi-webhook",
         "vapi-webhook-secret"),
    Kind("twilio_api_key", "Twilio API Key (SID and secret)", ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"), "",
         "twilio"),
    Kind("twilio_auth_token", "Twilio auth token (validates Twilio's signatures)", ("TWILIO_AUTH_TOKEN",),
         "twilio-token"),
    Kind("slack_webhook_url", "Slack webhook URL (alerts)", ("SLACK_WEBHOOK_URL",), ""),
)}
CLI_NAMES = {k.cli: k.name for k in KINDS.values() if k.cli}


def kind(name: str) -> Kind:
    """The credential kind, or InvalidInput naming the known ones."""
    found = KINDS.get(name) or KINDS.get(CLI_NAMES.get(name, ""))
    if found is None:
        raise InvalidInput(f"Unknown credential '{name}': use one of {', '.join(sorted(KINDS))}.", field="credential")
    return found


def last4(value: str) -> str:
    """The last 4 characters (of the secret part of 'SID:secret'), all that is ever shown."""
    secret = value.rsplit(":", 1)[-1] if value.startswith("SK") and ":" in value else value
    return secret[-4:]


def masked(tail: str | None) -> str:
    """'••••abcd' for display."""
    return f"••••{tail}" if tail else ""


def env_source(k: Kind) -> str | None:
    """'environment (VAPI_API_KEY)' when the environment sets this credential, else None."""
    names = [n for n in k.env if os.environ.get(n, "").strip()]
    return f"environment ({', '.join(names)})" if names else None


def get(session: Session, *, name: str, lock: bool = False) -> ProviderCredential | None:
    """The stored row of a credential, or None."""
    stmt = select(ProviderCredential).where(ProviderCredential.name == name)
    if lock:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def activate(session: Session, *, name: str, value: str, sandbox: bool, actor: Actor,
             keep_previous_for: timedelta | None, vault: Vault, reason: str = "rotated",
             replaced: str | None = None) -> ProviderCredential:
    """Make `value` the active credential (encrypted), audited in this transaction. With `keep_previous_for` the
    old value stays accepted that long (webhook secrets' grace window); otherwise it is dropped at once.
    `replaced`: the value in use before when none was stored yet (the sandbox's generated secret)."""
    k = kind(name)
    value = value.strip()
    if len(value) < 8:
        raise InvalidInput(f"That {k.label} is too short to be real.", field="value")
    row = get(session, name=name, lock=True)
    now = utcnow()
    before = {"last4": row.last4 if row else "", "sandbox": row.sandbox if row else None,
              "activated_at": row.activated_at.isoformat() if row else None}
    grace = keep_previous_for is not None and keep_previous_for.total_seconds() > 0
    if row is None:
        row = ProviderCredential(name=name, value_enc="", last4="")
        if grace and replaced and keep_previous_for is not None:
            row.previous_enc, row.previous_last4 = vault.encrypt(replaced), last4(replaced)
            row.previous_expires_at = now + keep_previous_for
    elif grace and keep_previous_for is not None:
        row.previous_enc, row.previous_last4 = row.value_enc, row.last4
        row.previous_expires_at = now + keep_previous_for
    else:
        row.previous_enc = row.previous_last4 = row.previous_expires_at = None
    row.value_enc, row.last4, row.sandbox = vault.encrypt(value), last4(value), sandbox
    row.activated_at, row.last_used_at, row.last_reminded_at = now, None, None
    row.updated_by = actor.email or actor.id or actor.type
    session.add(row)
    audit.record(session, actor=actor, action="credential_activated", target_type=TARGET, target_id=name,
                 diff={"credential": name, "reason": reason, "before": before,
                       "after": {"last4": row.last4, "sandbox": sandbox, "activated_at": now.isoformat()},
                       "old_accepted_until": row.previous_expires_at.isoformat() if row.previous_expires_at
                       else None})
    return row


def record_step(session: Session, *, name: str, action: str, actor: Actor, detail: dict) -> None:
    """Audit one rotation step (started, verified, refused, revoked at the provider): never a secret in `detail`."""
    audit.record(session, actor=actor, action=action, target_type=TARGET, target_id=name,
                 diff={"credential": name, **detail})


def end_grace(session: Session, *, name: str, actor: Actor, now: datetime | None = None,
              force: bool = False) -> bool:
    """Wipe the previous value when its grace window is over (or at once with `force`); True when one was wiped."""
    now = now or utcnow()
    row = get(session, name=name, lock=True)
    if row is None or row.previous_enc is None:
        return False
    if not force and row.previous_expires_at and row.previous_expires_at > now:
        return False
    tail = row.previous_last4
    row.previous_enc = row.previous_last4 = row.previous_expires_at = None
    session.add(row)
    audit.record(session, actor=actor, action="credential_previous_wiped", target_type=TARGET, target_id=name,
                 diff={"credential": name, "wiped_last4": tail, "early": force})
    return True


def wipe_expired(session: Session, *, now: datetime | None = None) -> int:
    """The job: every previous value past its grace window is refused from now on and wiped."""
    now = now or utcnow()
    names = session.exec(select(ProviderCredential.name).where(
        col(ProviderCredential.previous_enc).is_not(None),
        col(ProviderCredential.previous_expires_at) <= now)).all()
    return sum(end_grace(session, name=n, actor=Actor.system("credential-grace"), now=now) for n in names)


def load_values(session: Session, vault: Vault, *, now: datetime | None = None
                ) -> tuple[dict[str, str], dict[str, str]]:
    """Decrypted (current, previous-within-grace) values for settings' stored-credential overlay."""
    now = now or utcnow()
    current: dict[str, str] = {}
    previous: dict[str, str] = {}
    for row in session.exec(select(ProviderCredential)).all():
        current[row.name] = vault.decrypt(row.value_enc)
        if row.previous_enc and row.previous_expires_at and row.previous_expires_at > now:
            previous[row.name] = vault.decrypt(row.previous_enc)
    return current, previous


def ciphertexts(session: Session) -> list[str]:
    """Every stored ciphertext (the startup check and `keys rotate` open each one)."""
    out: list[str] = []
    for value, prev in session.exec(select(ProviderCredential.value_enc, ProviderCredential.previous_enc)).all():
        out.append(value)
        if prev:
            out.append(prev)
    return out


def mark_used(session: Session, *, used: dict[str, datetime]) -> None:
    """Record the last successful use of credentials (flushed from the in-process marks, at most once a minute)."""
    for name, when in used.items():
        session.execute(sa.update(ProviderCredential).where(
            col(ProviderCredential.name) == name,
            sa.or_(col(ProviderCredential.last_used_at).is_(None), col(ProviderCredential.last_used_at) < when),
        ).values(last_used_at=when))


def _sandbox_file_age(settings: Settings, k: Kind) -> datetime | None:
    path = settings.data_dir / "secrets" / k.sandbox_file if k.sandbox_file else None
    if path is None or not path.exists():
        return None
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone()


def list_reads(session: Session, *, settings: Settings, now: datetime | None = None) -> list[CredentialRead]:
    """Every credential with where it comes from, its last 4 characters, age and last use (never the value)."""
    now = now or utcnow()
    rows = {r.name: r for r in session.exec(select(ProviderCredential)).all()}
    limit = settings.credential_max_age_days
    out = []
    for k in KINDS.values():
        row = rows.get(k.name)
        env = env_source(k)
        since: datetime | None = None
        used = ""
        tail = ""
        sandbox = False
        prev_tail = prev_until = ""
        if env:
            source, since = env, None
            tail = last4(_env_value(settings, k))
        elif row is not None:
            source = "stored (encrypted at rest)"
            since, tail, sandbox = row.activated_at, row.last4, row.sandbox
            used = fmt.since(row.last_used_at, now, empty="never")
            if row.previous_enc and row.previous_expires_at and row.previous_expires_at > now:
                prev_tail, prev_until = masked(row.previous_last4), fmt.timestamp(row.previous_expires_at)
        elif settings.sandbox and k.sandbox_file:
            source, sandbox = "sandbox (generated in VOXANNE_DATA_DIR/secrets)", True
            since = _sandbox_file_age(settings, k)
            tail = last4(_sandbox_value(settings, k))
        else:
            source = "not set"
        days = int((now - since).total_seconds() // 86400) if since else 0
        out.append(CredentialRead(
            name=k.name, label=k.label, source=source, read_only=env is not None, masked=masked(tail),
            sandbox=sandbox, age=fmt.count(days, "day") if since else "", age_days=days,
            activated_at=fmt.timestamp(since) if since else "", last_used=used,
            old=bool(since) and days >= limit, previous_masked=prev_tail, previous_until=prev_until,
            rotatable=env is None))
    return out


def _env_value(settings: Settings, k: Kind) -> str:
    values = {"vapi_key": settings.vapi_api_key, "vapi_webhook_secret": settings.vapi_webhook_secret,
              "twilio_api_key": settings.twilio_api_key_secret, "twilio_auth_token": settings.twilio_auth_token,
              "slack_webhook_url": settings.slack_webhook_url}
    secret = values.get(k.name)
    return secret.get_secret_value() if secret is not None else ""


def _sandbox_value(settings: Settings, k: Kind) -> str:
    return {"vapi_key": settings.data_dir_default_vapi_key, "vapi_webhook_secret": settings.webhook_secret,
            "twilio_auth_token": settings.twilio_token}.get(k.name, "")


def old_credentials(session: Session, *, settings: Settings, now: datetime | None = None) -> list[CredentialRead]:
    """Credentials at or past CREDENTIAL_MAX_AGE_DAYS (the page's and the Overview's warning)."""
    return [r for r in list_reads(session, settings=settings, now=now) if r.old]


def due_reminders(session: Session, *, settings: Settings, now: datetime | None = None) -> list[str]:
    """Stored credentials past the age limit not reminded in the last day; marks them reminded."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.credential_max_age_days)
    rows = session.exec(select(ProviderCredential).where(
        col(ProviderCredential.activated_at) <= cutoff,
        sa.or_(col(ProviderCredential.last_reminded_at).is_(None),
               col(ProviderCredential.last_reminded_at) <= now - timedelta(hours=23)),
    ).with_for_update(skip_locked=True)).all()
    lines = []
    for row in rows:
        if env_source(KINDS[row.name]):
            continue
        days = int((now - row.activated_at).total_seconds() // 86400)
        lines.append(f"{KINDS[row.name].label} (••••{row.last4}) is {days} days old")
        row.last_reminded_at = now
        session.add(row)
    return lines


def require_stored(session: Session, *, name: str) -> ProviderCredential:
    """The stored row, or NotFound."""
    row = get(session, name=name)
    if row is None:
        raise NotFound(f"No {KINDS[name].label} is stored.")
    return row
