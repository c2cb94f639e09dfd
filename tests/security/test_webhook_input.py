"""Finding 14: webhook input edge cases, over real HTTP to the API server (granian).

- deeply nested JSON is a 400, not a RecursionError and a 500;
- a replayed `tool-calls` message is answered from the stored result and its tools do not run again (two copies
  at once included);
- a NaN or infinite signature timestamp is refused.
"""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa

from tests.integration.conftest import _api_server_process, api_server  # noqa: F401  (fixtures)
from voxanne_admin import db
from voxanne_admin.calls import service as call_service
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks.signatures import SignatureError, vapi_hmac, verify_vapi


def _post(base: str, body: bytes) -> httpx.Response:
    sig = vapi_hmac(get_settings().webhook_secret, body)
    return httpx.post(f"{base}/webhooks/vapi", content=body, timeout=30,
                      headers={"content-type": "application/json", "x-vapi-signature": sig})


def _scalar(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_deeply_nested_json_is_a_400_not_a_500(api_server, depth):  # noqa: F811
    body = b'{"message": ' + b"[" * depth + b"]" * depth + b"}"
    response = _post(api_server, body)
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["error"]
    assert httpx.get(f"{api_server}/health", timeout=10).status_code == 200


def test_nan_and_infinity_in_a_body_are_refused_with_400(api_server):  # noqa: F811
    body = b'{"message": {"type": "status-update", "status": "ringing", "timestamp": NaN, "call": {"id": "c-nan"}}}'
    response = _post(api_server, body)
    assert response.status_code == 400 and "NaN" in response.json()["error"]
    assert _scalar("select count(*) from webhook_events") == 0


def _next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_replayed_tool_calls_are_answered_from_the_stored_result_not_run_again(api_server):  # noqa: F811
    with db.get_engine().begin() as conn:
        org = conn.execute(sa.text(
            "insert into organizations (name, slug, country, timezone, status, created_at, updated_at) "
            "values ('Replay Clinic', 'replay', 'US', 'America/New_York', 'active', now(), now()) returning id"
        )).scalar_one()
    message = {"type": "tool-calls", "call": {"id": "call-replay", "metadata": {"org_id": org}},
               "toolCallList": [{"id": "tc-book", "name": "book_appointment", "arguments": {
                   "contact_name": "Jane Doe", "contact_phone": "+1 201 555 0199",
                   "slot_start": f"{_next_weekday()}T10:00"}}]}
    body = json.dumps({"message": message}).encode()
    answers: list[dict] = []
    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        answers.append(_post(api_server, body).json())

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    answers.append(_post(api_server, body).json())  # and a later replay

    first = answers[0]["results"][0]
    assert first["result"].startswith("Booked for"), first
    assert all(a == answers[0] for a in answers), answers  # the same answer, never "That time was just taken"
    assert _scalar("select count(*) from appointments where vapi_call_id = 'call-replay'") == 1
    assert _scalar("select count(*) from audit_events where action = 'appointment_booked'") == 1
    assert _scalar("select answer->>'result' from tool_call_answers where tool_call_id = 'tc-book'") == \
        first["result"]


@pytest.mark.parametrize("stamp", ["NaN", "nan", "inf", "-Infinity", "1e999"])
def test_non_finite_signature_timestamp_is_refused(stamp):
    body = b'{"message": {}}'
    sig = vapi_hmac("s3cret", body, timestamp=stamp)
    with pytest.raises(SignatureError, match="finite"):
        verify_vapi({"x-vapi-signature": sig, "x-vapi-timestamp": stamp}, body, mode="hmac", secret="s3cret",
                    signature_header="x-vapi-signature", timestamp_header="x-vapi-timestamp")


def test_payload_times_that_are_not_finite_or_out_of_range_are_ignored():
    assert call_service.parse_time(float("nan")) is None
    assert call_service.parse_time(float("inf")) is None
    assert call_service.parse_time(10**30) is None
    assert call_service.parse_time(True) is None
    from voxanne_admin.webhooks import parse_limits

    assert parse_limits.finite_number("nan") is None and parse_limits.finite_number("12.5") == 12.5
