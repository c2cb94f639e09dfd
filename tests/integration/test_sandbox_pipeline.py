"""Real HTTP end to end: the sandbox providers, our webhook routes and the inbox worker in a server process;
and a worker process killed mid-batch (SIGKILL) leaving every event applied exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.integration.conftest import _scalar
from voxanne_admin import db
from voxanne_admin.errors import ProviderError
from voxanne_admin.providers.twilio import TwilioClient
from voxanne_admin.providers.vapi import VapiClient
from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks.signatures import vapi_hmac


def _vapi(base: str, waits=(0.01, 0.02, 0.04)) -> VapiClient:
    return VapiClient(base_url=f"{base}/sandbox/vapi", api_key=store.sandbox_vapi_key(), waits=waits)


async def _setup_call(vapi: VapiClient) -> tuple[str, str]:
    assistant = await vapi.create_assistant({"name": "Harbor Dental outbound", "firstMessage": "Hi from Harbor",
                                             "model": {"provider": "openai", "model": "gpt-4o",
                                                       "messages": [{"role": "system", "content": "Be kind."}]}})
    number = await vapi.import_phone_number({"provider": "twilio", "number": "+14155550100",
                                             "twilioAccountSid": "AC1", "twilioAuthToken": "tok"})
    return assistant["id"], number["id"]


def test_sandbox_call_flows_through_inbox_into_a_completed_call(api_server):
    vapi = _vapi(api_server)

    async def scenario():
        assistant_id, number_id = await _setup_call(vapi)
        call = await vapi.create_call({"assistantId": assistant_id, "phoneNumberId": number_id,
                                       "customer": {"number": "+14155550199"}, "metadata": {"org_id": 7}})
        assert call["status"] == "queued"
        return call["id"]

    call_id = asyncio.run(scenario())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _scalar(
            "select report_received from calls where vapi_call_id = :c", c=call_id):
        time.sleep(0.2)
    with db.get_engine().connect() as conn:
        row = conn.execute(sa.text("select * from calls where vapi_call_id = :c"), {"c": call_id}).one()
        kinds = [r.kind + (":" + r.status_key if r.status_key else "") for r in conn.execute(sa.text(
            "select kind, payload->'message'->>'status' as status_key from webhook_events where call_id = :c "
            "order by id"), {"c": call_id})]
    assert row.status == "ended" and row.ended_reason == "customer-ended-call" and row.org_id == 7
    assert row.transcript.startswith("AI: Hi from Harbor") and row.summary and row.cost > 0
    assert row.recording_url.endswith(f"/sandbox/vapi/recordings/{call_id}.wav")
    assert row.duration_s > 0 and len(row.live_transcript) == 7
    for expected in ("status-update:queued", "status-update:ringing", "status-update:in-progress",
                     "status-update:ended", "transcript", "end-of-call-report"):
        assert expected in kinds
    assert _scalar("select count(*) from webhook_events where call_id = :c and status <> 'completed'", c=call_id) == 0


def test_sandbox_vapi_errors_map_and_create_call_is_not_retried(api_server):
    vapi = _vapi(api_server)

    async def scenario():
        assistant_id, number_id = await _setup_call(vapi)
        store.add_fault("vapi", "fail", operation="POST /call", status=500)
        with pytest.raises(ProviderError) as failed:
            await vapi.create_call({"assistantId": assistant_id, "phoneNumberId": number_id,
                                    "customer": {"number": "+14155550199"}})
        assert failed.value.status == 500
        with pytest.raises(ProviderError) as bad:
            await vapi.create_call({"assistantId": assistant_id, "phoneNumberId": "+14155550100",
                                    "customer": {"number": "+14155550199"}})
        assert "UUID" in str(bad.value)
        with pytest.raises(ProviderError) as extra:
            await vapi.create_assistant({"name": "x", "voicemail": True})
        assert "property voicemail should not exist" in str(extra.value)
        store.add_fault("vapi", "fail", operation="GET /assistant", status=429, count=2)
        fetched = await vapi.get_assistant(assistant_id)  # retried through two 429s
        assert fetched["id"] == assistant_id
        with pytest.raises(ProviderError) as unauth:
            await VapiClient(base_url=vapi.base_url, api_key="wrong", waits=()).list_phone_numbers()
        assert unauth.value.status == 401 and "private key" in str(unauth.value)

    asyncio.run(scenario())
    # The failed POST /call never reached the call store, and nothing retried it.
    assert _scalar("select count(*) from sandbox_objects where kind = 'call'") == 0


def test_sandbox_twilio_numbers_follow_country_rules(api_server):
    settings = get_settings()
    twilio = TwilioClient(base_url=f"{api_server}/sandbox/twilio", account_sid=settings.twilio_sid,
                          auth_token=settings.twilio_token, waits=(0.01, 0.02, 0.04))

    async def scenario():
        assert set(await twilio.number_types("US")) == {"local", "toll-free"}
        with pytest.raises(ProviderError) as no_mobile:
            await twilio.available_numbers("US", "mobile")
        assert no_mobile.value.code == 20404
        numbers = await twilio.available_numbers("US", "local", area_code="415", limit=3)
        assert len(numbers) == 3 and all(n["phone_number"].startswith("+1415") for n in numbers)
        hooks = {"voice_url": "https://x.test/v", "sms_url": "https://x.test/s", "status_callback": "https://x.test/c"}
        bought = await twilio.buy_number(numbers[0]["phone_number"], **hooks)
        assert bought["sid"].startswith("PN")
        with pytest.raises(ProviderError) as taken:
            await twilio.buy_number(numbers[0]["phone_number"], **hooks)
        assert taken.value.code == 21422 and "just taken" in str(taken.value)
        gb = (await twilio.available_numbers("GB", "local", limit=1))[0]["phone_number"]
        with pytest.raises(ProviderError) as address:
            await twilio.buy_number(gb, **hooks)
        assert address.value.code == 21631
        with pytest.raises(ProviderError) as bundle:
            await twilio.buy_number(gb, address_sid="AD1", **hooks)
        assert bundle.value.code == 21649 and "regulatory bundle" in str(bundle.value)
        with pytest.raises(ProviderError) as magic:
            await twilio.buy_number("+15005550000", **hooks)
        assert magic.value.code == 21422
        await twilio.release_number(bought["sid"])
        assert await twilio.list_numbers() == []

    asyncio.run(scenario())


TOTAL = 250
# The CLI's `webhooks work`, with every apply slowed down so the kill can land mid-batch.
SLOW_WORKER = """
import time
from voxanne_admin.cli import main
from voxanne_admin.webhooks import service
real = service.apply_event
def slow(session, event):
    time.sleep(0.04)
    return real(session, event)
service.apply_event = slow
import sys
sys.argv = ["voxanne-admin", "webhooks", "work"]
main()
"""


def _mid_batch() -> bool:
    """One batch committed and the next one claimed, not all of it applied."""
    done = _scalar("select count(*) from webhook_events where status = 'completed'")
    return 0 < done < TOTAL and _scalar("select count(*) from webhook_events where status = 'processing'") > 0


def test_worker_killed_mid_batch_leaves_every_event_applied_once(clean_db, tmp_path):
    secret = get_settings().webhook_secret
    from starlette.testclient import TestClient

    from voxanne_admin.api.app import build_api

    with TestClient(build_api()) as client:
        for i in range(TOTAL):
            body = json.dumps({"message": {"type": "status-update", "status": "ringing",
                                           "call": {"id": f"kill-{i}"}}}).encode()
            assert client.post("/webhooks/vapi", content=body,
                               headers={"x-vapi-signature": vapi_hmac(secret, body)}).status_code == 200
    env = {**os.environ, "DATABASE_URL": clean_db, "WEBHOOK_LEASE_SECONDS": "2", "LOG_LEVEL": "WARNING"}
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WORKER], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("w"))
    try:
        # Kill while one batch is committed and the next is half applied. The state is read again with the worker
        # frozen (SIGSTOP), so no commit can slip in between the check and the kill; if one did, it goes on.
        deadline = time.monotonic() + 240  # its start and first batch take longer on a loaded machine
        killed = False
        while not killed and time.monotonic() < deadline and proc.poll() is None:
            if _mid_batch():
                proc.send_signal(signal.SIGSTOP)
                if _mid_batch():
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                else:
                    proc.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        assert killed, f"the kill never landed mid-batch:\n{(tmp_path / 'worker.log').read_text()}"
    finally:
        proc.kill()  # also when the assertion fails: a worker left running would apply the next tests' events
        proc.wait(10)
    done_before = _scalar("select count(*) from webhook_events where status = 'completed'")
    stuck = _scalar("select count(*) from webhook_events where status = 'processing'")
    assert 0 < done_before < TOTAL and stuck > 0, "the kill must land mid-batch"
    time.sleep(2.2)  # leases expire
    inbox_flows.drain()
    assert _scalar("select count(*) from webhook_events where status = 'completed'") == TOTAL
    assert _scalar("select count(*) from webhook_attempts where outcome = 'completed'") == TOTAL
    assert _scalar("select max(n) from (select count(*) n from webhook_attempts group by event_id) t") == 1
    assert _scalar("select count(*) from calls where status = 'ringing'") == TOTAL
