"""The webhook routes and the durable inbox on real PostgreSQL: store before 2xx, dedupe, order, retries,
dead letters, replay, tool-call answers, monitoring API."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voxanne_admin import db
from voxanne_admin.audit import flood
from voxanne_admin.audit.service import Actor
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.signatures import twilio_signature, vapi_hmac


@pytest.fixture
def client(clean_db):
    from voxanne_admin.api.app import build_api

    with TestClient(build_api(), client=("203.0.113.9", 5000)) as c:
        yield c


def _post_vapi(client, message: dict, *, secret: str | None = None):
    body = json.dumps({"message": message}).encode()
    sig = vapi_hmac(secret or get_settings().webhook_secret, body)
    return client.post("/webhooks/vapi", content=body,
                       headers={"content-type": "application/json", "x-vapi-signature": sig})


def _status(call_id: str, status: str, **extra) -> dict:
    return {"type": "status-update", "status": status, "call": {"id": call_id, "status": "queued"}, **extra}


def _scalar(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _rows(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_event_stored_before_answer_and_applied_once(client):
    response = _post_vapi(client, _status("call-1", "ringing"))
    assert response.status_code == 200 and response.json()["duplicate"] is False
    assert _scalar("select status from webhook_events where call_id = 'call-1'") == "pending"
    assert inbox_flows.drain() == 1
    assert _scalar("select status from calls where vapi_call_id = 'call-1'") == "ringing"
    assert _scalar("select status from webhook_events where call_id = 'call-1'") == "completed"


def test_same_event_five_times_is_applied_once(client):
    for _ in range(5):
        assert _post_vapi(client, _status("call-dup", "in-progress")).status_code == 200
    assert _scalar("select count(*) from webhook_events where call_id = 'call-dup'") == 1
    assert _scalar("select duplicates from webhook_events where call_id = 'call-dup'") == 4
    assert inbox_flows.drain() == 1
    assert _scalar("select count(*) from webhook_attempts where outcome = 'completed'") == 1


def test_out_of_order_status_never_moves_backwards(client):
    _post_vapi(client, _status("call-ooo", "ended", endedReason="customer-ended-call"))
    inbox_flows.drain()
    _post_vapi(client, _status("call-ooo", "ringing"))
    _post_vapi(client, _status("call-ooo", "in-progress"))
    inbox_flows.drain()
    row = _rows("select status, ended_reason from calls where vapi_call_id = 'call-ooo'")[0]
    assert row.status == "ended" and row.ended_reason == "customer-ended-call"


def test_end_of_call_report_fills_the_call_in_both_layouts(client):
    _post_vapi(client, {"type": "end-of-call-report", "call": {"id": "call-new"}, "endedReason": "voicemail",
                        "startedAt": "2026-11-22T10:00:00Z", "endedAt": "2026-11-22T10:01:30Z", "cost": 0.21,
                        "analysis": {"summary": "Left a voicemail."},
                        "artifact": {"transcript": "AI: Hello", "recordingUrl": "https://r.example/1.wav",
                                     "messages": [{"role": "bot", "message": "Hello"}]}})
    _post_vapi(client, {"type": "end-of-call-report", "callId": "call-old", "endedReason": "customer-busy",
                        "transcript": "AI: Hi", "summary": "Busy.", "recordingUrl": "https://r.example/2.wav",
                        "durationSeconds": 12})
    inbox_flows.drain()
    new = _rows("select * from calls where vapi_call_id = 'call-new'")[0]
    assert (new.status, new.ended_reason, new.duration_s, new.summary, new.recording_url) == (
        "ended", "voicemail", 90.0, "Left a voicemail.", "https://r.example/1.wav")
    old = _rows("select * from calls where vapi_call_id = 'call-old'")[0]
    assert (old.summary, old.transcript, old.duration_s) == ("Busy.", "AI: Hi", 12.0)


def test_bad_signature_is_401_audited_with_source_ip(client):
    response = _post_vapi(client, _status("call-x", "ringing"), secret="not-the-secret")
    assert response.status_code == 401
    assert "ringing" not in response.text
    assert _scalar("select count(*) from webhook_events") == 0
    # Counted per source IP and minute; the sealer's tick writes one audit row per closed window.
    assert _scalar("select count(*) from audit_events where action = 'webhook_auth_failed'") == 0
    with db.transaction() as session:
        flood.flush_closed(session, now=utcnow() + timedelta(minutes=1))
    row = _rows("select ip, diff from audit_events where action = 'webhook_auth_failed'")[0]
    assert row.ip == "203.0.113.9" and row.diff["count"] == 1
    assert any("signature" in reason for reason in row.diff["reasons"])


def test_oversized_body_is_413(client, monkeypatch):
    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "2048")
    get_settings.cache_clear()
    try:
        big = _status("call-big", "ringing", padding="x" * 5000)
        assert _post_vapi(client, big).status_code == 413
    finally:
        monkeypatch.delenv("WEBHOOK_MAX_BODY_BYTES")
        get_settings.cache_clear()
    assert _scalar("select count(*) from webhook_events") == 0


def test_malformed_json_is_400_with_reason(client):
    body = b'{"message": {"type": '
    sig = vapi_hmac(get_settings().webhook_secret, body)
    response = client.post("/webhooks/vapi", content=body, headers={"x-vapi-signature": sig})
    assert response.status_code == 400 and "malformed JSON" in response.json()["error"]
    body = b'["not", "an", "object"]'
    response = client.post("/webhooks/vapi", content=body,
                           headers={"x-vapi-signature": vapi_hmac(get_settings().webhook_secret, body)})
    assert response.status_code == 400


def test_unknown_type_is_stored_ignored_and_missing_call_id_rejected(client):
    assert _post_vapi(client, {"type": "model-output", "call": {"id": "c9"}, "output": "hi"}).status_code == 200
    assert _post_vapi(client, {"type": "status-update", "status": "ringing"}).status_code == 200
    rows = {r.kind + ":" + r.status: r for r in _rows("select kind, status, last_error from webhook_events")}
    assert "model-output:ignored" in rows
    assert "status-update:rejected" in rows and "no call id" in rows["status-update:rejected"].last_error
    assert inbox_flows.drain() == 0
    assert _scalar("select count(*) from calls") == 0


def test_provider_credentials_are_redacted_before_storing(client):
    _post_vapi(client, _status("call-cred", "ringing", phoneNumber={"id": "pn", "twilioAuthToken": "tok-123",
                                                                      "twilioAccountSid": "AC999"}))
    payload = _scalar("select payload::text from webhook_events where call_id = 'call-cred'")
    assert "tok-123" not in payload and "AC999" not in payload and "[redacted]" in payload


@pytest.mark.parametrize("form", ["toolCallList", "toolCalls", "toolWithToolCallList"])
def test_tool_calls_answered_in_order_with_matching_ids(client, form):
    items = [{"id": "t1", "type": "function", "function": {"name": "check_availability",
                                                            "arguments": '{"date": "2026-12-01"}'}},
             {"id": "t2", "name": "book_appointment", "arguments": {"slot": "10:00"}}]
    message = {"type": "tool-calls", "call": {"id": f"call-{form}"}}
    message[form] = [{"toolCall": i} for i in items] if form == "toolWithToolCallList" else items
    response = _post_vapi(client, message)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["toolCallId"] for r in results] == ["t1", "t2"]
    assert all(isinstance(r["error"], str) and "\n" not in r["error"] for r in results)
    assert _scalar(f"select status from webhook_events where call_id = 'call-{form}'") == "completed"


def test_assistant_request_answered_with_spoken_error(client):
    response = _post_vapi(client, {"type": "assistant-request", "call": {"id": "call-ar"}})
    assert response.status_code == 200 and list(response.json()) == ["error"]


def _poison(monkeypatch, *call_ids: str) -> None:
    """Events of these calls always fail to apply (a real exception inside the apply transaction)."""
    real = inbox.apply_event

    def apply(session, event):
        if event.call_id in call_ids:
            raise ValueError("poison event (test)")
        return real(session, event)

    monkeypatch.setattr(inbox, "apply_event", apply)


def test_poison_event_reaches_dead_letter_after_max_attempts_then_replay(client, monkeypatch):
    _poison(monkeypatch, "call-poison")
    _post_vapi(client, _status("call-poison", "ringing"))
    for _ in range(get_settings().webhook_max_attempts):
        with db.get_engine().begin() as conn:  # skip the backoff wait
            conn.execute(sa.text("update webhook_events set next_attempt_at = now()"))
        inbox_flows.drain()
    event = _rows("select id, status, attempts, last_error from webhook_events")[0]
    assert event.status == "dead_letter" and event.attempts == get_settings().webhook_max_attempts
    assert "poison" in event.last_error
    assert _scalar("select count(*) from audit_events where action = 'webhook_dead_lettered'") == 1
    outcomes = [r.outcome for r in _rows("select outcome from webhook_attempts order by id")]
    assert outcomes == ["failed", "failed", "dead_letter"]

    with db.transaction() as session:
        assert inbox.replay(session, event_ids=[event.id], actor=Actor(type="staff", id="1"),
                            actor_role="operator") == 1
    assert _scalar("select status from webhook_events") == "pending"
    assert _scalar("select count(*) from audit_events where action = 'webhook_replayed'") == 1


def test_failed_event_is_retried_with_backoff(client, monkeypatch):
    _post_vapi(client, _status("call-flaky", "ringing"))
    real = inbox.apply_event
    calls = {"n": 0}

    def flaky(session, event):
        # Fails in the batch and again when the batch falls back to one-by-one: a real, recorded failure.
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("database hiccup")
        return real(session, event)

    monkeypatch.setattr(inbox, "apply_event", flaky)
    inbox_flows.drain()
    row = _rows("select status, attempts, next_attempt_at > now() as later from webhook_events")[0]
    assert row.status == "pending" and row.attempts == 1 and row.later
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("update webhook_events set next_attempt_at = now()"))
    inbox_flows.drain()
    assert _scalar("select status from calls where vapi_call_id = 'call-flaky'") == "ringing"


def _post_twilio(client, path: str, params: dict[str, str], token: str | None = None):
    url = get_settings().public_url + path
    sig = twilio_signature(url, params, token or get_settings().twilio_token)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig})


def test_twilio_sms_status_out_of_order_and_duplicates(client):
    base = {"MessageSid": "SM1", "AccountSid": "AC1", "From": "+14155550100", "To": "+14155550101"}
    for status in ("delivered", "sent", "queued", "delivered"):
        assert _post_twilio(client, "/webhooks/twilio/sms-status", {**base, "MessageStatus": status}).status_code == 200
    assert _scalar("select count(*) from webhook_events where provider = 'twilio'") == 3
    inbox_flows.drain()
    assert _scalar("select status from sms_messages where message_sid = 'SM1'") == "delivered"


def test_twilio_bad_signature_refused(client):
    params = {"MessageSid": "SM2", "MessageStatus": "sent"}
    assert _post_twilio(client, "/webhooks/twilio/sms-status", params, token="wrong").status_code == 401
    assert client.post("/webhooks/twilio/sms-status", data=params).status_code == 401


def test_twilio_voice_status_keeps_forwarded_from(client):
    params = {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "0", "ForwardedFrom": "+14155550123",
              "From": "+14155550199", "To": "+14155550100", "Direction": "inbound"}
    _post_twilio(client, "/webhooks/twilio/voice-status", params)
    _post_twilio(client, "/webhooks/twilio/voice-status", {**params, "CallStatus": "completed", "SequenceNumber": "2",
                                                           "CallDuration": "31"})
    inbox_flows.drain()
    row = _rows("select status, forwarded_from, duration_s from voice_legs")[0]
    assert (row.status, row.forwarded_from, row.duration_s) == ("completed", "+14155550123", 31)


def test_concurrent_workers_apply_each_event_exactly_once(client):
    for i in range(120):
        _post_vapi(client, _status(f"call-c{i}", "ringing"))
        _post_vapi(client, _status(f"call-c{i}", "in-progress"))
    threads = [threading.Thread(target=inbox_flows.drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _scalar("select count(*) from webhook_events where status = 'completed'") == 240
    assert _scalar("select count(*) from webhook_attempts where outcome = 'completed'") == 240
    assert _scalar("select count(distinct event_id) from webhook_attempts") == 240
    assert _scalar("select count(*) from calls where status = 'in-progress'") == 120


def test_monitoring_api_requires_staff_credentials(client):
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import tokens

    assert client.get("/api/webhooks/stats").status_code == 401
    with db.transaction() as session:
        viewer = auth_service.create_staff(session, email="v@clinic.example", name="Vi Ewer", role="viewer",
                                           password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
        operator = auth_service.create_staff(session, email="o@clinic.example", name="Op Erator", role="operator",
                                             password="velvet orchid kestrel 42", actor=Actor(), actor_role="founder")
        viewer_token = tokens.create(session, staff_id=viewer.id, name="grafana", actor=Actor())
        operator_token = tokens.create(session, staff_id=operator.id, name="grafana", actor=Actor())
    assert client.get("/api/webhooks/stats", headers={"Authorization": f"Bearer {viewer_token}"}).status_code == 403
    response = client.get("/api/webhooks/stats", headers={"Authorization": f"Bearer {operator_token}"})
    assert response.status_code == 200 and set(response.json()["counts"]) >= {"pending", "dead_letter"}
    assert client.get("/api/webhooks/stats", headers={"Authorization": "Bearer vxt_forged"}).status_code == 401


def test_one_failing_event_does_not_hold_back_its_batch(client, monkeypatch):
    _poison(monkeypatch, "call-batch-2")
    for i in range(5):
        _post_vapi(client, _status(f"call-batch-{i}", "ringing"))
    inbox_flows.drain()
    statuses = dict(_rows("select call_id, status from webhook_events"))
    assert statuses.pop("call-batch-2") == "pending"  # failed once, retried later with backoff
    assert set(statuses.values()) == {"completed"}
    assert _scalar("select count(*) from calls") == 4
