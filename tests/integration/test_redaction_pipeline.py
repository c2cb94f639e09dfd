"""PHI redaction on the real database: what the webhook pipeline stores, and the backfill job for older rows."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.jobs import service as job_service
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.signatures import vapi_hmac

ADMIN = Actor(type="staff", id="1", email="admin@clinic.example")
# What the caller said, in every form it could leak in; none of it may be stored in the clear.
PHI = ["14 June 1990", "07911 123456", "7911123456", "943 476 5919", "ellie.hughes@btinternet.com",
       "22 Mill Lane", "LS6 2AB", "sertraline", "depression", "4526 0181 5908 3012", "4526018159083012"]


@pytest.fixture
def client(clean_db):
    from voxanne_admin.api.app import build_api

    with TestClient(build_api(), client=("203.0.113.9", 5000)) as c:
        yield c


def _post(client, message: dict):
    body = json.dumps({"message": message}).encode()
    response = client.post("/webhooks/vapi", content=body, headers={
        "content-type": "application/json", "x-vapi-signature": vapi_hmac(get_settings().webhook_secret, body)})
    assert response.status_code == 200, response.text
    return response


def _rows(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def _org(country: str) -> int:
    with db.get_engine().begin() as conn:
        return int(conn.execute(sa.text(
            "insert into organizations (name, slug, country, timezone, status, created_at, updated_at)"
            " values ('Riverside Medical', :slug, :country, 'Europe/London', 'active', now(), now()) returning id"),
            {"slug": f"riverside-{country.lower()}", "country": country}).scalar())


def _assert_no_phi(label: str, text: str) -> None:
    for secret in PHI:
        assert secret.lower() not in text.lower(), f"{secret!r} left in the clear in {label}: {text[:400]}"


def test_processed_events_leave_no_phi_in_calls_inbox_or_audit(client):
    org_id = _org("GB")  # 07911 123456 is a phone number only for a GB organization
    call = {"id": "call-phi", "type": "inboundPhoneCall", "customer": {"number": "+447911123456"},
            "metadata": {"org_id": str(org_id)}}
    said = ("My date of birth is 14 June 1990, my mobile is 07911 123456 and my NHS number is 943 476 5919. "
            "I'm at 22 Mill Lane, Leeds LS6 2AB, email ellie.hughes@btinternet.com. "
            "I take sertraline for depression. Card 4526 0181 5908 3012.")
    _post(client, {"type": "status-update", "status": "in-progress", "call": call})
    _post(client, {"type": "transcript", "transcriptType": "final", "role": "user", "transcript": said, "call": call})
    _post(client, {"type": "transcript", "transcriptType": "partial", "role": "user", "transcript": said,
                   "call": call})
    _post(client, {"type": "conversation-update", "call": call,
                   "messages": [{"role": "user", "message": said}], "note": f"caller said: {said}"})
    _post(client, {"type": "tool-calls", "call": call, "toolCallList": [
        {"id": "t1", "function": {"name": "book_appointment",
                                  "arguments": {"dateOfBirth": "1990-06-14", "phone": "07911 123456",
                                                "note": said}}}]})
    _post(client, {
        "type": "end-of-call-report", "call": call, "endedReason": "customer-ended-call",
        "customer": {"number": "+447911123456"},
        "artifact": {"transcript": f"AI: How can I help?\nUser: {said}",
                     "messages": [{"role": "user", "message": said, "time": 1763820000000,
                                   "secondsFromStart": 3.5}]},
        "analysis": {"summary": f"Caller (DOB 14 June 1990, 07911 123456) takes sertraline. {said}",
                     "structuredData": {"dateOfBirth": "1990-06-14", "callbackNumber": "07911 123456"}},
    })
    assert inbox_flows.drain() == 3  # status-update, final transcript, end-of-call report

    row = _rows("select transcript, summary, messages::text as messages, analysis::text as analysis,"
                " live_transcript::text as live, customer_number, redaction_version from calls"
                " where vapi_call_id = 'call-phi'")[0]
    for column in ("transcript", "summary", "messages", "analysis", "live"):
        _assert_no_phi(f"calls.{column}", getattr(row, column))
    assert "[DOB]" in row.transcript and "[PHONE]" in row.transcript and "[MEDICATION]" in row.summary
    assert "[MRN]" in row.live and "[CARD]" in row.messages and "[DOB]" in row.analysis
    assert '"time": 1763820000000' in row.messages  # message timings survive
    assert row.redaction_version == 1
    # The call's own number is an operational field (shown masked, used to call back): it is kept.
    assert row.customer_number == "+447911123456"

    events = _rows("select kind, status, payload::text as payload from webhook_events order by id")
    assert {e.status for e in events} == {"completed", "ignored"}
    assert len(events) == 6
    for event in events:
        _assert_no_phi(f"webhook_events.payload ({event.kind}, {event.status})", event.payload)
    for audit_row in _rows("select action, diff::text as diff, target_id from audit_events"):
        _assert_no_phi(f"audit_events ({audit_row.action})", f"{audit_row.diff} {audit_row.target_id}")
    for attempt in _rows("select error from webhook_attempts where error is not null"):
        _assert_no_phi("webhook_attempts.error", attempt.error)


def test_failure_texts_are_redacted(client, monkeypatch):
    from voxanne_admin.calls import service as call_service

    def explode(session, *, vapi_call_id, message):
        raise ValueError(f"could not store {message['transcript']}")

    monkeypatch.setattr(call_service, "apply_transcript", explode)
    _post(client, {"type": "transcript", "transcriptType": "final", "role": "user", "call": {"id": "call-err"},
                   "transcript": "my card is 4526 0181 5908 3012 and I take sertraline"})
    inbox_flows.drain()
    errors = [r.error for r in _rows("select error from webhook_attempts")] + \
        [r.last_error for r in _rows("select last_error from webhook_events")]
    assert errors and all("[CARD]" in e and "[MEDICATION]" in e for e in errors)
    for error in errors:
        _assert_no_phi("failure text", error)


def _insert_raw_rows(org_id: int) -> dict[str, int]:
    said = "User: my SSN is 512-44-9081 and my date of birth is 04/12/1979, I take metformin."
    with db.get_engine().begin() as conn:
        call_id = conn.execute(sa.text(
            "insert into calls (vapi_call_id, org_id, status, status_rank, is_test, report_received, created_at,"
            " updated_at, transcript, summary, messages, analysis, live_transcript, redaction_version)"
            " values ('call-old', :org, 'ended', 5, false, true, now(), now(), :t, :s, cast(:m as jsonb),"
            " cast(:a as jsonb), cast(:l as jsonb), 0) returning id"),
            {"org": org_id, "t": said, "s": "Patient on metformin, DOB 04/12/1979, SSN 512-44-9081.",
             "m": json.dumps([{"role": "user", "message": said, "time": 1763820000000}]),
             "a": json.dumps({"summary": said, "structuredData": {"ssn": "512449081"}}),
             "l": json.dumps([{"role": "user", "text": said, "at": ""}])}).scalar()
        done_id = conn.execute(sa.text(
            "insert into webhook_events (provider, kind, dedupe_key, call_id, payload, received_at, status,"
            " attempts, next_attempt_at, duplicates, processed_at, last_error, redaction_version)"
            " values ('vapi', 'transcript', 'old-1', 'call-old', cast(:p as jsonb), now(), 'completed', 1, now(), 0,"
            " now(), :e, 0) returning id"),
            {"p": json.dumps({"message": {"type": "transcript", "transcript": said}}),
             "e": "earlier failure quoting 512-44-9081"}).scalar()
        pending_id = conn.execute(sa.text(
            "insert into webhook_events (provider, kind, dedupe_key, call_id, payload, received_at, status,"
            " attempts, next_attempt_at, duplicates, redaction_version)"
            " values ('vapi', 'transcript', 'old-2', 'call-old', cast(:p as jsonb), now(), 'pending', 0,"
            " now() + interval '1 hour', 0, 0) returning id"),
            {"p": json.dumps({"message": {"type": "transcript", "transcript": said}})}).scalar()
        conn.execute(sa.text(
            "insert into webhook_attempts (event_id, attempt, started_at, outcome, error, duration_ms, worker,"
            " redaction_version) values (:e, 1, now(), 'failed', 'ValueError: 512-44-9081', 3, 'w', 0)"),
            {"e": done_id})
    return {"call": int(call_id), "done": int(done_id), "pending": int(pending_id)}


def test_backfill_job_redacts_rows_stored_before_redaction_once(clean_db):
    ids = _insert_raw_rows(_org("US"))
    detail = job_service.run_now("redact_phi_backfill", actor=ADMIN, actor_role="admin")
    assert detail == "succeeded"

    call = _rows("select transcript, summary, messages::text as m, analysis::text as a, live_transcript::text as l,"
                 " redaction_version from calls where id = :id", id=ids["call"])[0]
    for text in (call.transcript, call.summary, call.m, call.a, call.l):
        assert "512-44-9081" not in text and "04/12/1979" not in text and "metformin" not in text
    assert "[SSN]" in call.transcript and "[DOB]" in call.summary and "[SSN]" in call.a
    assert "512449081" not in call.a and call.redaction_version == 1
    done = _rows("select payload::text as p, last_error, redaction_version from webhook_events where id = :id",
                 id=ids["done"])[0]
    assert "[SSN]" in done.p and "512-44-9081" not in done.p and "512-44-9081" not in done.last_error
    assert done.redaction_version == 1
    # A pending event keeps its raw payload: applying needs it, and the apply rewrites it redacted.
    pending = _rows("select payload::text as p, redaction_version from webhook_events where id = :id",
                    id=ids["pending"])[0]
    assert "512-44-9081" in pending.p and pending.redaction_version == 0
    assert _rows("select error from webhook_attempts")[0].error == "ValueError: [SSN]"

    audits = _rows("select diff from audit_events where action = 'phi_redaction_backfill'")
    assert len(audits) == 1
    assert audits[0].diff["calls"] == 1 and audits[0].diff["webhook_events"] == 1
    assert audits[0].diff["webhook_attempts"] == 1

    # Once done, a second run finds nothing, changes nothing and audits nothing.
    assert job_service.run_now("redact_phi_backfill", actor=ADMIN, actor_role="admin") == "succeeded"
    assert len(_rows("select id from audit_events where action = 'phi_redaction_backfill'")) == 1
    last = _rows("select detail from job_runs where job_name = 'redact_phi_backfill' order by id desc limit 1")[0]
    assert last.detail.startswith("0 calls, 0 inbox events and 0 delivery attempts redacted")


def test_rows_written_by_the_pipeline_are_not_redone(client):
    _post(client, {"type": "transcript", "transcriptType": "final", "role": "user", "call": {"id": "call-new"},
                   "transcript": "my number is 415-555-2671"})
    inbox_flows.drain()
    assert _rows("select redaction_version from calls")[0].redaction_version == 1
    assert {r.redaction_version for r in _rows("select redaction_version from webhook_events")} == {1}
    from voxanne_admin.calls import backfill

    assert backfill.remaining() == {"calls": 0, "webhook_events": 0, "webhook_attempts": 0}


def test_webhooks_page_shows_unapplied_payloads_redacted(clean_db):
    said = "my SSN is 512-44-9081, I take metformin, call me on 415-555-2671"
    with db.get_engine().begin() as conn:
        event_id = conn.execute(sa.text(
            "insert into webhook_events (provider, kind, dedupe_key, call_id, payload, received_at, status,"
            " attempts, next_attempt_at, duplicates) values ('vapi', 'transcript', 'dl-1', 'call-dl',"
            " cast(:p as jsonb), now(), 'dead_letter', 5, now(), 0) returning id"),
            {"p": json.dumps({"message": {"type": "transcript", "transcript": said}})}).scalar()
    with db.read_only() as session:
        shown = inbox.masked_payload(session, event_id=int(event_id))
    assert "[SSN]" in shown and "[MEDICATION]" in shown and "[PHONE]" in shown
    for secret in ("512-44-9081", "metformin", "555-2671"):
        assert secret not in shown
    # the stored payload itself is untouched: a replay must apply what the caller said
    assert "512-44-9081" in _rows("select payload::text as p from webhook_events")[0].p
