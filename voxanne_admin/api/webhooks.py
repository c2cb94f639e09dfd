"""Provider webhook routes: authenticate, bound the body, parse, store in the inbox BEFORE answering 2xx.

Never a 500 for provider input: bad signatures 401, oversized bodies 413, malformed bodies 400, unknown types
200 (stored as ignored), Vapi messages without a call id 200 (stored as rejected). If the inbox cannot be
written, the answer is 503 so the provider retries later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.audit import flood
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip
from voxanne_admin.errors import InvalidInput
from voxanne_admin.settings import get_settings, note_credential_use
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import parse_limits, worker
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.signatures import SignatureError, verify_twilio, verify_vapi

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks")


class BodyTooLarge(Exception):
    """The body is over WEBHOOK_MAX_BODY_BYTES."""


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the raw body, refusing anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _client_ip(request: Request) -> str:
    return client_ip.from_request(request)


def _count_auth_failure(session: Session, provider: str, ip: str, reason: str, path: str) -> bool:
    # Counted per IP and minute (one audit row per window with the count, written by the sealer's tick): a
    # flood of forged requests can neither fill the audit table nor the log.
    return flood.count_refusal(session, action="webhook_auth_failed", actor=Actor(type="provider", id=provider, ip=ip),
                               reason=f"{reason} on {path}")


async def _unauthorised(provider: str, request: Request, reason: str) -> JSONResponse:
    ip = _client_ip(request)
    try:
        opened = await db.run_in_transaction(_count_auth_failure, provider, ip, reason, request.url.path)
    except Exception:
        log.exception("could not count a webhook auth failure")
        opened = True
    if opened:  # one warning per source IP and minute, not one per request
        log.warning("webhook authentication failed (further failures from this IP this minute are counted in "
                    "the audit trail, not logged)", extra={"provider": provider, "source_ip": ip, "reason": reason})
    return JSONResponse({"error": "unauthorized"}, status_code=401)


def _store(provider: str, parsed: inbox.Parsed, payload: dict[str, Any], ip: str,
           signed_with: str | None = None) -> tuple[int, bool]:
    # A plain connection transaction: the hot path needs no ORM session.
    with db.get_engine().begin() as conn:
        return inbox.ingest(conn, provider=provider, parsed=parsed, payload=payload, source_ip=ip,
                            signed_with=signed_with)


@router.post("/vapi")
async def vapi(request: Request) -> JSONResponse:
    """Vapi server messages."""
    settings = get_settings()
    try:
        body = await read_limited(request, settings.webhook_max_body_bytes)
    except BodyTooLarge:
        return JSONResponse({"error": f"body larger than {settings.webhook_max_body_bytes} bytes"}, status_code=413)
    try:
        # The current secret, and during a rotation's grace window the previous one (credentials/flows.py).
        accepted = await asyncio.to_thread(lambda: settings.webhook_secrets)
        signed_with = verify_vapi(
            request.headers, body, mode=settings.vapi_webhook_auth, accepted=accepted,
            signature_header=settings.vapi_webhook_signature_header,
            timestamp_header=settings.vapi_webhook_timestamp_header, algorithm=settings.vapi_webhook_hmac_algorithm,
            encoding=settings.vapi_webhook_hmac_encoding, prefix=settings.vapi_webhook_hmac_prefix,
            bearer_header=settings.vapi_webhook_bearer_header,
        )
    except SignatureError as exc:
        return await _unauthorised("vapi", request, str(exc))
    note_credential_use("vapi_webhook_secret")
    try:
        envelope = parse_limits.loads(body)  # depth limit, no NaN/Infinity: a 400, never a 500
    except parse_limits.InputRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    try:
        parsed = inbox.parse_vapi(envelope)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    try:
        event_id, inserted = await asyncio.to_thread(_store, "vapi", parsed, envelope, _client_ip(request),
                                                     signed_with)
    except Exception:
        log.exception("could not store a Vapi webhook")
        return JSONResponse({"error": "temporarily unavailable, retry"}, status_code=503)
    message = envelope["message"]
    if parsed.kind == "tool-calls":  # a replay is answered from the stored results, not run again
        return JSONResponse(await asyncio.to_thread(inbox_flows.answer_tool_calls, message))
    if parsed.kind == "assistant-request":
        return JSONResponse(inbox.answer_assistant_request(message))
    if inserted and parsed.status == "pending":
        worker.wake()
    return JSONResponse({"received": True, "id": event_id, "duplicate": not inserted, "status": parsed.status})


TWIML_VOICE = ('<?xml version="1.0" encoding="UTF-8"?><Response><Say>This number is connected to Voxanne. '
               'Goodbye.</Say><Hangup/></Response>')
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _twilio(request: Request, kind: str, *, twiml: str | None = None, store: bool = True) -> Response:
    settings = get_settings()
    try:
        body = await read_limited(request, settings.webhook_max_body_bytes)
    except BodyTooLarge:
        return JSONResponse({"error": f"body larger than {settings.webhook_max_body_bytes} bytes"}, status_code=413)
    # Behind a TLS-terminating proxy the request's Host is not what Twilio signed: use the configured base URL.
    url = settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    is_json = "json" in request.headers.get("content-type", "")
    try:
        params = {} if is_json else parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return JSONResponse({"error": "malformed form body (not UTF-8)"}, status_code=400)
    try:
        verify_twilio(url, params, request.headers.get("x-twilio-signature"), settings.twilio_token,
                      body=body if is_json else None)
    except SignatureError as exc:
        return await _unauthorised("twilio", request, str(exc))
    if is_json:
        try:
            data = parse_limits.loads(body)
            form = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
        except parse_limits.InputRefused:
            form = None
        if form is None:
            return JSONResponse({"error": "malformed JSON body"}, status_code=400)
    else:
        if body and not params:
            return JSONResponse({"error": "malformed form body: no name=value pairs"}, status_code=400)
        form = {k: v[0] for k, v in params.items()}
    if not store:
        return Response(twiml or TWIML_EMPTY, media_type="application/xml")
    parsed = inbox.parse_twilio(kind, form)
    try:
        event_id, inserted = await asyncio.to_thread(_store, "twilio", parsed, form, _client_ip(request))
    except Exception:
        log.exception("could not store a Twilio webhook")
        return JSONResponse({"error": "temporarily unavailable, retry"}, status_code=503)
    if inserted and parsed.status == "pending":
        worker.wake()
    if twiml is not None:
        return Response(twiml, media_type="application/xml")
    return JSONResponse({"received": True, "id": event_id, "duplicate": not inserted, "status": parsed.status})


@router.post("/twilio/voice")
async def twilio_voice(request: Request) -> Response:
    """A call arriving on one of our numbers (VoiceUrl): stored like a voice status (forwarding verification reads
    ForwardedFrom from it), answered with TwiML. Numbers imported into Vapi get Vapi's VoiceUrl instead; their
    StatusCallback still points at /twilio/voice-status."""
    return await _twilio(request, "voice-status", twiml=TWIML_VOICE)


@router.post("/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """An SMS arriving on one of our numbers (SmsUrl): authenticated and acknowledged; inbound SMS is not handled
    by the console."""
    return await _twilio(request, "sms-inbound", twiml=TWIML_EMPTY, store=False)


@router.post("/twilio/sms-status")
async def twilio_sms_status(request: Request) -> Response:
    """Twilio SMS status callbacks."""
    return await _twilio(request, "sms-status")


@router.post("/twilio/voice-status")
async def twilio_voice_status(request: Request) -> Response:
    """Twilio voice status callbacks."""
    return await _twilio(request, "voice-status")
