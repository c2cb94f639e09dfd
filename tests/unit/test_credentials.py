"""Stored credentials: encrypted at rest, shown by last 4 only, env wins read-only, the grace window in signature
verification, startup refusing a keyring that does not open them, age warnings and reminders."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from voxanne_admin import db
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.secrets_at_rest import ENCRYPTED_COLUMNS
from voxanne_admin.credentials import runtime
from voxanne_admin.credentials import service as cred_service
from voxanne_admin.credentials.models import ProviderCredential
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.vault import KeyMissingError, Vault
from voxanne_admin.webhooks.signatures import SignatureError, vapi_hmac, verify_vapi

FOUNDER = Actor(type="staff", id="1", email="ada@voxanne.example")
SECRET = "vapi-private-key-0123456789abcdef-WXYZ"


def _vault() -> Vault:
    return Vault([Fernet.generate_key().decode()])


def test_a_stored_credential_is_encrypted_and_only_its_last_4_are_read_or_audited(session):
    vault = _vault()
    row = cred_service.activate(session, name="vapi_key", value=SECRET, sandbox=True, actor=FOUNDER,
                                keep_previous_for=None, vault=vault)
    assert SECRET not in row.value_enc and vault.decrypt(row.value_enc) == SECRET and row.last4 == "WXYZ"
    reads = {r.name: r for r in cred_service.list_reads(session, settings=get_settings())}
    read = reads["vapi_key"]
    assert read.masked == "••••WXYZ" and read.sandbox and read.source == "stored (encrypted at rest)"
    assert SECRET not in json.dumps([r.model_dump() for r in reads.values()])
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "credential_activated")).one()
    assert SECRET not in json.dumps(event.diff) and event.diff["after"]["last4"] == "WXYZ"
    assert ("provider_credentials", "name", "value_enc") in ENCRYPTED_COLUMNS


def test_an_environment_credential_is_read_only_and_says_where_it_comes_from(session, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://slack.test.invalid/incoming/not-a-real-hook-EFGH")
    get_settings.cache_clear()
    try:
        read = {r.name: r for r in cred_service.list_reads(session, settings=get_settings())}["slack_webhook_url"]
    finally:
        monkeypatch.delenv("SLACK_WEBHOOK_URL")
        get_settings.cache_clear()
    assert read.read_only and not read.rotatable
    assert read.source == "environment (SLACK_WEBHOOK_URL)" and read.masked == "••••EFGH"


def test_a_webhook_secret_rotation_keeps_the_old_one_for_the_grace_window_then_wipes_it(session):
    vault = _vault()
    old, new = "old-webhook-secret-0001", "new-webhook-secret-0002"
    cred_service.activate(session, name="vapi_webhook_secret", value=old, sandbox=True, actor=FOUNDER,
                          keep_previous_for=None, vault=vault)
    cred_service.activate(session, name="vapi_webhook_secret", value=new, sandbox=True, actor=FOUNDER,
                          keep_previous_for=timedelta(hours=24), vault=vault)
    current, previous = cred_service.load_values(session, vault)
    assert current["vapi_webhook_secret"] == new and previous["vapi_webhook_secret"] == old
    assert cred_service.wipe_expired(session) == 0  # still inside the window
    assert cred_service.wipe_expired(session, now=utcnow() + timedelta(hours=25)) == 1
    row = session.get(ProviderCredential, "vapi_webhook_secret")
    assert row.previous_enc is None and row.previous_last4 is None
    assert "vapi_webhook_secret" not in cred_service.load_values(session, vault)[1]


def test_signature_verification_accepts_old_or_new_during_the_grace_window_and_says_which():
    body = b'{"message":{"type":"status-update"}}'
    accepted = [("current", "new-secret"), ("previous", "old-secret")]
    for secret, label in (("new-secret", "current"), ("old-secret", "previous")):
        headers = {"x-vapi-signature": vapi_hmac(secret, body)}
        assert verify_vapi(headers, body, mode="hmac", accepted=accepted) == label
    with pytest.raises(SignatureError, match="does not match"):
        verify_vapi({"x-vapi-signature": vapi_hmac("stranger", body)}, body, mode="hmac", accepted=accepted)
    with pytest.raises(SignatureError):  # after the window only the current one is passed in
        verify_vapi({"x-vapi-signature": vapi_hmac("old-secret", body)}, body, mode="hmac",
                    accepted=[("current", "new-secret")])


def test_startup_refuses_stored_credentials_the_keyring_cannot_open(clean_db, monkeypatch):
    monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    with db.transaction() as session:
        cred_service.activate(session, name="vapi_key", value=SECRET, sandbox=True, actor=FOUNDER,
                              keep_previous_for=None, vault=Vault([Fernet.generate_key().decode()]))
    with pytest.raises(KeyMissingError, match="restore VOXANNE_ENCRYPTION_KEYS"):
        runtime.check_startup()


def test_startup_with_no_stored_credentials_needs_no_key(clean_db, monkeypatch):
    monkeypatch.setenv("VOXANNE_ENCRYPTION_KEYS", "")
    runtime.check_startup()  # nothing stored: nothing to open


def test_old_credentials_are_flagged_and_reminded_once_a_day(session):
    vault = _vault()
    row = cred_service.activate(session, name="vapi_key", value=SECRET, sandbox=False, actor=FOUNDER,
                                keep_previous_for=None, vault=vault)
    row.activated_at = utcnow() - timedelta(days=91)
    session.add(row)
    session.flush()
    settings = get_settings()
    old = cred_service.old_credentials(session, settings=settings)
    assert [(r.name, r.age_days) for r in old] == [("vapi_key", 91)]
    lines = cred_service.due_reminders(session, settings=settings)
    assert lines == ["Vapi private key (••••WXYZ) is 91 days old"]
    assert cred_service.due_reminders(session, settings=settings) == []  # not again within the day
