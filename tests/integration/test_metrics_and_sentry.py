"""Prometheus /metrics (token with the monitoring scope; text format with the fleet figures) and optional Sentry
scrubbed of PHI, PII and secrets, checked against a loopback receiver of Sentry envelopes."""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.settings import get_settings, load_settings


def _token(role: str, email: str, scopes: list[str] | None = None) -> str:
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import tokens

    with db.transaction() as session:
        user = auth_service.create_staff(session, email=email, name=role.title(), role=role,
                                         password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
        return tokens.create(session, staff_id=user.id, name="prometheus", actor=Actor(), scopes=scopes)


def _samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def test_metrics_need_a_monitoring_token_and_answer_prometheus_text(clean_db):
    from voxanne_admin.api.app import build_api
    from voxanne_admin.api.metrics import MetricsMiddleware

    api = build_api()
    api.add_middleware(MetricsMiddleware)
    monitoring = _token("operator", "prom@clinic.example", ["monitoring"])
    flags_only = _token("operator", "flags@clinic.example", ["flags"])
    viewer = _token("viewer", "viewer@clinic.example")
    with TestClient(api) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
        refused = client.get("/metrics", headers={"Authorization": f"Bearer {flags_only}"})
        assert refused.status_code == 403 and "monitoring" in refused.json()["detail"]
        assert client.get("/health").status_code == 200
        response = client.get("/metrics", headers={"Authorization": f"Bearer {monitoring}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    health = [s for s in samples["voxanne_http_requests_total"] if s.labels["route"] == "/health"]
    assert health and health[0].labels["status"] == "200" and health[0].value >= 1
    assert any(s.labels["route"] == "/metrics" and s.labels["status"] == "401"
               for s in samples["voxanne_http_requests_total"])
    assert samples["voxanne_database_up"][0].value == 1
    assert {s.labels["status"] for s in samples["voxanne_inbox_events"]} >= {"pending", "dead_letter"}
    assert samples["voxanne_inbox_dead_letters"][0].value == 0
    assert "voxanne_inbox_oldest_pending_seconds" in samples
    assert len(samples["voxanne_flag_evaluations_total"]) == 10  # the ten seeded flags


# --- Sentry -------------------------------------------------------------------------------------------------

PHONE, EMAIL = "+14155550123", "maria.lopez@example.com"
TRANSCRIPT = "User: my daughter has asthma and her inhaler ran out, call me back on +14155550123"
SECRET = "test-api-key-" + secrets.token_hex(12)  # made per run: nothing real, nothing fixed


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        encoding = self.headers.get("content-encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            raw = brotli.decompress(raw)
        type(self).bodies.append(raw)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        return


@pytest.fixture
def sentry_receiver():
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    import sentry_sdk

    sentry_sdk.init(dsn=None)


def _handle_webhook(body: dict, token: str) -> None:
    transcript = body["transcript"]  # a local variable holding the transcript: must not travel
    raise ValueError(f"could not apply the report for {EMAIL} ({PHONE}): {transcript}")


def test_sentry_error_arrives_without_phone_email_transcript_or_secret(sentry_receiver, caplog):
    import logging

    import sentry_sdk

    from voxanne_admin import error_reporting

    port = sentry_receiver.server_address[1]
    settings = load_settings(sentry_dsn=f"http://publickey@127.0.0.1:{port}/42")
    assert error_reporting.init(settings)
    sentry_sdk.add_breadcrumb(message=f"called {PHONE} for {EMAIL}", category="call")
    sentry_sdk.set_extra("payload", {"transcript": TRANSCRIPT, "apiKey": SECRET, "customer": {"number": PHONE}})
    sentry_sdk.set_user({"id": "17", "email": EMAIL})
    logging.getLogger("voxanne.test").warning("customer %s said: %s", PHONE, TRANSCRIPT)
    try:
        _handle_webhook({"transcript": TRANSCRIPT}, token=SECRET)
    except ValueError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=10)
    assert _Receiver.bodies, "the loopback Sentry receiver got nothing"
    envelope = b"\n".join(_Receiver.bodies).decode()
    items = [json.loads(line) for line in envelope.splitlines() if line.startswith("{")]
    event = next(i for i in items if i.get("exception"))
    assert event["exception"]["values"][0]["type"] == "ValueError"  # the error itself arrives
    assert "[withheld: " in event["exception"]["values"][0]["value"]
    for leaked in (PHONE, "4155550123", "555-0123", EMAIL, "maria.lopez", "asthma", "inhaler", SECRET):
        at = envelope.find(leaked)
        assert at < 0, f"{leaked!r} reached Sentry: ...{envelope[max(0, at - 200):at + 40]}"
    assert TRANSCRIPT[:30] not in envelope and "my daughter has" not in envelope.replace("[", "")
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "_handle_webhook"  # the code location arrives, the data does not
    assert all("vars" not in f for f in frames)


def test_sentry_stays_off_without_a_dsn():
    from voxanne_admin import error_reporting

    assert error_reporting.init(get_settings()) is False


def test_metrics_bind_serves_prometheus_text_without_a_token(clean_db):
    import socket

    import httpx

    from voxanne_admin.serve import start_metrics_listener

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start_metrics_listener(load_settings(metrics_bind=f"127.0.0.1:{port}"))
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200 and "text/plain" in response.headers["content-type"]
    samples = _samples(response.text)
    assert samples["voxanne_database_up"][0].value == 1
    assert len(samples["voxanne_flag_evaluations_total"]) == 10
    assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
