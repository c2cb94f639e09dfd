"""The production entry's webhook dispatch (`api.app.front`): provider webhooks bypass FastAPI's routing but keep
what every route gives: the security headers, a refused foreign Origin, the request id, the metrics labelled by
route template, 404/405 as FastAPI answers them, and everything else going to the rest of the app."""

from __future__ import annotations

import json

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from voxanne_admin import metrics
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks import ingest
from voxanne_admin.webhooks.signatures import vapi_hmac


@pytest.fixture
def client(clean_db):
    from voxanne_admin.api.app import build_api, front

    build_api()  # registers the agents' tools, as the Reflex app's api_transformer does

    async def rest(scope, receive, send):
        if scope["type"] == "lifespan":  # what Reflex's lifespan does for the webhook writer
            async with ingest.lifespan():
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        await PlainTextResponse("the rest of the app")(scope, receive, send)

    with TestClient(front(rest)) as c:
        yield c


def _signed(message: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"message": message}).encode()
    return body, {"content-type": "application/json", "x-vapi-signature": vapi_hmac(get_settings().webhook_secret,
                                                                                   body)}


def _count(template: str, method: str, status: str) -> float:
    return metrics.HTTP_REQUESTS.labels(template, method, status)._value.get()


def test_webhooks_are_answered_with_headers_request_id_and_metrics(client):
    before = _count("/webhooks/vapi", "POST", "200")
    body, headers = _signed({"type": "status-update", "status": "ringing", "call": {"id": "front-1"}})
    response = client.post("/webhooks/vapi", content=body, headers={**headers, "x-request-id": "req-front-1"})
    assert response.status_code == 200 and response.json()["duplicate"] is False
    assert response.headers["x-request-id"] == "req-front-1"
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert _count("/webhooks/vapi", "POST", "200") == before + 1
    again = client.post("/webhooks/vapi", content=body, headers=headers)
    assert again.json()["duplicate"] is True and again.headers["x-request-id"]  # a fresh id when none was sent


def test_refusals_keep_the_headers_and_match_fastapi(client):
    forged = client.post("/webhooks/vapi", content=b"{}", headers={"x-vapi-signature": "nope"})
    assert forged.status_code == 401 and forged.headers["x-content-type-options"] == "nosniff"
    foreign = client.post("/webhooks/vapi", content=b"{}", headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    wrong_method = client.get("/webhooks/vapi")
    assert wrong_method.status_code == 405 and wrong_method.headers["x-frame-options"] == "DENY"
    assert client.post("/webhooks/nowhere", content=b"{}").status_code == 404


def test_tool_calls_through_the_dispatch_are_answered(client):
    body, headers = _signed({"type": "tool-calls", "call": {"id": "front-tool", "metadata": {"org_id": "999999"}},
                             "toolCallList": [{"id": "t1", "function": {"name": "check_availability",
                                                                        "arguments": {"date": "2030-01-07"}}}]})
    response = client.post("/webhooks/vapi", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["results"] == [{"toolCallId": "t1", "name": "check_availability",
                                           "error": "The tool failed: This clinic is not taking bookings."}]


def test_everything_else_goes_to_the_rest_of_the_app(client):
    assert client.get("/login/").text == "the rest of the app"
    assert client.post("/webhooksvapi").text == "the rest of the app"
