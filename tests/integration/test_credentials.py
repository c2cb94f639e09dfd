"""Provider credentials over real HTTP against the sandbox providers: verified before activation, refused keys
leave the old one active, one rotation at a time, the webhook-secret grace window, Twilio API keys rotated at the
provider, the CLI printing the new secret once, and the spend guard pausing outbound calling."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.e2e.helpers import wait_until
from tests.integration.conftest import _scalar
from voxanne_admin import db, demo, locks
from voxanne_admin.agents import flows as sync
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls import flows as outbound
from voxanne_admin.calls import spend_guard
from voxanne_admin.credentials import flows, runtime
from voxanne_admin.errors import Conflict, ProviderError
from voxanne_admin.orgs import service as org_service
from voxanne_admin.providers.twilio import TwilioClient
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import invalidate_stored_credentials, use_credential_loader
from voxanne_admin.webhooks.signatures import vapi_hmac

FOUNDER = Actor(type="staff", id="1", email="ada@voxanne.example")


@pytest.fixture
def creds(tel_server):
    """The API server, with this process's settings reading stored credentials too."""
    runtime.install()
    yield tel_server
    use_credential_loader(None)
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("delete from provider_credentials"))
    time.sleep(2.2)  # the server's cached copy of stored credentials expires: the next test sees none


def _actions(since: int = 0) -> list[tuple[str, str, str]]:
    with db.get_engine().connect() as conn:
        return [(r.action, r.target_id or "", json.dumps(r.diff)) for r in conn.execute(sa.text(
            "select action, target_id, diff, actor_id from audit_events where id > :s order by id"), {"s": since})]


def _last_audit() -> int:
    return int(_scalar("select coalesce(max(id), 0) from audit_events"))


def _status(base: str, key: str) -> int:
    return httpx.get(f"{base}/sandbox/vapi/phone-number", headers={"authorization": f"Bearer {key}"}).status_code


def test_vapi_key_is_verified_then_active_and_the_old_one_revoked(creds):
    base = creds
    old = get_settings().vapi_key
    since = _last_audit()
    result = asyncio.run(flows.rotate("vapi_key", actor=FOUNDER, actor_role="founder"))
    new = get_settings().vapi_key
    assert new != old and new.endswith(result.last4)
    assert _status(base, new) == 200 and _status(base, old) == 401  # the old key is revoked at the sandbox
    stored = _scalar("select value_enc from provider_credentials where name = 'vapi_key'")
    assert new not in stored and _scalar("select sandbox from provider_credentials where name = 'vapi_key'")
    actions = [a for a, _, _ in _actions(since)]
    assert actions == ["credential_rotation_started", "credential_verified", "credential_activated",
                       "credential_revoked_at_provider"]
    assert not any(new in diff or old in diff for _, _, diff in _actions(since))  # no secret in any diff


def test_a_key_the_provider_rejects_is_refused_with_its_message_and_the_old_stays(creds):
    old = get_settings().vapi_key
    since = _last_audit()
    with pytest.raises(ProviderError) as err:
        asyncio.run(flows.rotate("vapi_key", actor=FOUNDER, actor_role="founder", value="not-a-real-key-1234"))
    assert "Invalid Key" in str(err.value)
    assert get_settings().vapi_key == old
    assert _scalar("select count(*) from provider_credentials") == 0
    assert [a for a, _, _ in _actions(since)] == ["credential_rotation_started", "credential_rotation_refused"]


def test_a_second_rotation_at_the_same_time_is_told_one_is_in_progress(creds):
    store.add_fault("vapi", "latency", operation="GET /phone-number", latency_ms=1500)

    async def both():
        return await asyncio.gather(flows.rotate("vapi_key", actor=FOUNDER, actor_role="founder"),
                                    flows.rotate("vapi_key", actor=FOUNDER, actor_role="founder"),
                                    return_exceptions=True)

    outcomes = asyncio.run(both())
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refused) == 1 and str(refused[0]) == flows.IN_PROGRESS
    assert len([o for o in outcomes if isinstance(o, flows.Rotated)]) == 1
    # Released afterwards: the lock is free again.
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": locks.CREDENTIAL_ROTATION}).scalar()
        conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.CREDENTIAL_ROTATION})


def _post_signed(base: str, secret: str, call_id: str) -> httpx.Response:
    body = json.dumps({"message": {"type": "status-update", "status": "ringing", "call": {"id": call_id}}},
                      separators=(",", ":")).encode()
    return httpx.post(f"{base}/webhooks/vapi", content=body, headers={
        "content-type": "application/json", "x-vapi-signature": vapi_hmac(secret, body)})


def test_cli_rotates_the_webhook_secret_and_both_are_accepted_until_the_window_ends(creds):
    base = creds
    old = get_settings().webhook_secret
    env = {**os.environ, "PORT": base.rsplit(":", 1)[1]}
    out = subprocess.run([sys.executable, "-m", "voxanne_admin.cli", "credentials", "rotate", "vapi-webhook-secret"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    new = out.stdout.strip().splitlines()[-1]  # printed once, on the last line
    assert len(new) >= 32 and new != old and out.stdout.count(new) == 1
    # The end of the window as people read times in the console, not an ISO string.
    assert re.search(r"Until \d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+ both are accepted", out.stdout), out.stdout
    # The server re-reads stored credentials every 2 s: the new secret is accepted once it has.
    wait_until(lambda: _post_signed(base, new, "grace-new").status_code == 200, what="the new secret accepted")
    assert _post_signed(base, old, "grace-old").status_code == 200
    with db.get_engine().connect() as conn:
        rows = dict(conn.execute(sa.text(
            "select call_id, signed_with from webhook_events where call_id like 'grace-%'")).all())
    assert rows == {"grace-old": "previous", "grace-new": "current"}
    # The window ends: the job refuses and wipes the old secret.
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("update provider_credentials set previous_expires_at = now() - interval '1 second'"))
    assert flows.wipe_expired() == 1
    assert _scalar("select previous_enc from provider_credentials where name = 'vapi_webhook_secret'") is None
    wait_until(lambda: _post_signed(base, old, "grace-late").status_code == 401, what="the old secret refused")
    assert _post_signed(base, new, "grace-new2").status_code == 200
    assert _scalar("select count(*) from audit_events where action = 'credential_previous_wiped'") == 1


def test_twilio_api_key_rotation_creates_the_new_key_and_deletes_the_old_at_twilio(creds):
    first = asyncio.run(flows.rotate("twilio_api_key", actor=FOUNDER, actor_role="founder"))
    sid1, secret1 = get_settings().twilio_rest_auth
    assert sid1.startswith("SK") and secret1.endswith(first.last4)
    asyncio.run(TwilioClient(api_key=(sid1, secret1), waits=()).fetch_account())
    second = asyncio.run(flows.rotate("twilio_api_key", actor=FOUNDER, actor_role="founder"))
    sid2, secret2 = get_settings().twilio_rest_auth
    assert sid2 != sid1 and any(sid1 in n for n in second.notes)
    asyncio.run(TwilioClient(api_key=(sid2, secret2), waits=()).fetch_account())
    with pytest.raises(ProviderError):  # deleted at Twilio: refused now
        asyncio.run(TwilioClient(api_key=(sid1, secret1), waits=()).fetch_account())


def test_spend_guard_pauses_outbound_calling_and_a_founder_turns_it_back_on(creds):
    base = creds
    with db.transaction() as session:
        demo.seed(session)
        spend_guard.set_limits(session, scope="org", calls_per_hour="2", cost_per_day="1000", actor=FOUNDER,
                               actor_role="founder")
    vapi = VapiClient(base_url=f"{base}/sandbox/vapi", api_key=store.sandbox_vapi_key(), waits=(0.01, 0.02))
    asyncio.run(sync.sync_pending(vapi=vapi))
    with db.read_only() as session:
        org_id = org_service.list_organizations(session)[0].id

    def place():
        return asyncio.run(outbound.place_call(org_id=org_id, to="(201) 555-0143", idempotency_key=uuid.uuid4().hex,
                                               placed_by="ada", actor=FOUNDER, actor_role="founder", vapi=vapi))

    place()
    assert _scalar("select count(*) from spend_guard_trips") == 0
    place()  # the second call reaches the limit of 2 per hour: calling pauses
    with db.get_engine().connect() as conn:
        trip = conn.execute(sa.text("select * from spend_guard_trips")).one()
    assert trip.org_id == org_id and trip.metric == "calls_per_hour" and trip.cleared_at is None
    assert _scalar("select o.enabled from org_feature_flags o join feature_flags f on f.id = o.flag_id "
                   "where f.key = 'outbound_calling' and o.org_id = :o", o=org_id) is False
    assert _scalar("select count(*) from audit_events where actor_id = 'spend-guard' and "
                   "action = 'feature_flag_override_set' and org_id = :o", o=org_id) == 1
    assert _scalar("select count(*) from audit_events where action = 'spend_guard_tripped'") == 1
    with pytest.raises(outbound.CallFailed) as refused:
        place()
    assert "paused by the spend guard" in str(refused.value) and "limit of 2" in str(refused.value)
    with db.transaction() as session:
        spend_guard.resume(session, trip_id=trip.id, actor=FOUNDER, actor_role="founder")
    spend_guard.snapshot.mark_dirty()
    place()  # back on; counting restarted when the founder turned it on
    assert _scalar("select count(*) from spend_guard_trips where cleared_at is null") == 0
    invalidate_stored_credentials()


def test_emergency_rotation_pauses_calling_and_refuses_the_old_webhook_secret_at_once(creds):
    base = creds
    old_secret, old_key = get_settings().webhook_secret, get_settings().vapi_key
    done = asyncio.run(flows.emergency_rotate(actor=FOUNDER, actor_role="founder"))
    assert done[0] == "Outbound calling: paused for all organizations."
    assert any(line.startswith("Vapi webhook secret: rotated") for line in done)
    assert any(line.startswith("Vapi private key: rotated") for line in done)
    assert any(line.startswith("Twilio API Key (SID and secret): rotated") for line in done)
    assert _scalar("select enabled from feature_flags where key = 'outbound_calling'") is False
    assert _scalar("select count(*) from spend_guard_trips where org_id is null and metric = 'emergency' "
                   "and cleared_at is null") == 1
    assert _scalar("select previous_enc from provider_credentials where name = 'vapi_webhook_secret'") is None
    # No grace after a leak: once the server has re-read the stored credentials (the new secret works), the old
    # one is refused.
    wait_until(lambda: _post_signed(base, get_settings().webhook_secret, "leak-new").status_code == 200,
               what="the new secret accepted")
    assert _post_signed(base, old_secret, "leak-old").status_code == 401
    assert _status(base, old_key) == 401 and _status(base, get_settings().vapi_key) == 200
