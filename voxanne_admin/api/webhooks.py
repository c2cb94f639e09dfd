"""Provider webhook routes: authenticate, bound the body, parse, store in the inbox BEFORE answering 2xx.

Never a 500 for provider input: bad signatures 401, oversized bodies 413, malformed bodies 400, unknown types
200 (stored as ignored), Vapi messages without a call id 200 (stored as rejected). If the inbox cannot be
written, the answer is 503 so the provider retries later.

The event loop never blocks here: events are stored by the group-commit writer (`webhooks/ingest.py`, async
psycopg); signature checks and parsing of large bodies, every Twilio parse, and tool calls run on threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.audit import flood
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip
from voxanne_admin.errors import InvalidInput
from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import note_credential_use, stored_credentials_fresh
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import ingest, parse_limits, worker
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.signatures import SignatureError, verify_twilio, verify_vapi

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks")
T = TypeVar("T")
# Signature checks and parsing off the event loop; their own threads, so a flood of them cannot starve the
# threads the database work and the probes use.
_PARSE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-parse")
INLINE_BYTES = 8 * 1024  # below this, verifying and parsing take microseconds: cheaper than a thread hop


async def off_loop(size: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a parse thread, or inline when the body is small (`size` bytes)."""
    if size <= INLINE_BYTES:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(_PARSE, fn, *args)


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


VapiChecked = tuple[dict, inbox.Parsed, str | None]


def _vapi_checks(headers: Any, body: bytes, settings: Any,
                 accepted: list[tuple[str, str]]) -> JSONResponse | SignatureError | VapiChecked:
    """Authenticate and parse a Vapi body: (envelope, parsed, which secret signed it), the signature error, or the
    400 to answer. `accepted`: the current secret, and during a rotation's grace window the previous one."""
    try:
        signed_with = verify_vapi(
            headers, body, mode=settings.vapi_webhook_auth, accepted=accepted,
            signature_header=settings.vapi_webhook_signature_header,
            timestamp_header=settings.vapi_webhook_timestamp_header, algorithm=settings.vapi_webhook_hmac_algorithm,
            encoding=settings.vapi_webhook_hmac_encoding, prefix=settings.vapi_webhook_hmac_prefix,
            bearer_header=settings.vapi_webhook_bearer_header,
        )
    except SignatureError as exc:
        return exc
    try:
        envelope = parse_limits.loads(body)  # depth limit, no NaN/Infinity: a 400, never a 500
    except parse_limits.InputRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    try:
        parsed = inbox.parse_vapi(envelope)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return envelope, parsed, signed_with


def _unavailable(provider: str) -> JSONResponse:
    log.error("could not store a webhook", extra={"provider": provider})
    return JSONResponse({"error": "temporarily unavailable, retry"}, status_code=503)


@router.post("/vapi")
async def vapi(request: Request) -> JSONResponse:
    """Vapi server messages."""
    settings = get_settings()
    try:
        body = await read_limited(request, settings.webhook_max_body_bytes)
    except BodyTooLarge:
        return JSONResponse({"error": f"body larger than {settings.webhook_max_body_bytes} bytes"}, status_code=413)
    # Stored credentials are cached (2 s) but may be read from the database: never on the loop.
    accepted = settings.webhook_secrets if stored_credentials_fresh() else \
        await asyncio.to_thread(lambda: settings.webhook_secrets)
    checked = await off_loop(len(body), _vapi_checks, request.headers, body, settings, accepted)
    if isinstance(checked, SignatureError):
        return await _unauthorised("vapi", request, str(checked))
    if isinstance(checked, JSONResponse):
        return checked
    envelope, parsed, signed_with = checked
    note_credential_use("vapi_webhook_secret")
    try:
        event_id, inserted = await ingest.store("vapi", parsed, envelope, _client_ip(request), signed_with)
    except Exception:
        return _unavailable("vapi")
    message = envelope["message"]
    if parsed.kind == "tool-calls":  # a replay is answered from the stored results, not run again
        return JSONResponse(await inbox_flows.answer_tool_calls_async(message))
    if parsed.kind == "assistant-request":
        return JSONResponse(inbox.answer_assistant_request(message))
    if inserted and parsed.status == "pending":
        worker.wake()
    return JSONResponse({"received": True, "id": event_id, "duplicate": not inserted, "status": parsed.status})


TWIML_VOICE = ('<?xml version="1.0" encoding="UTF-8"?><Response><Say>This number is connected to Voxanne. '
               'Goodbye.</Say><Hangup/></Response>')
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _twilio_checks(url: str, headers: Any, body: bytes, is_json: bool, token: str,
                   max_fields: int) -> JSONResponse | SignatureError | dict[str, str]:
    """Parse and authenticate a Twilio callback: its form, the signature error, or the 400 to answer."""
    try:
        params = {} if is_json else parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                             max_num_fields=max_fields)
    except UnicodeDecodeError:
        return JSONResponse({"error": "malformed form body (not UTF-8)"}, status_code=400)
    except ValueError:
        return JSONResponse({"error": f"form body with more than {max_fields} fields"}, status_code=400)
    try:
        verify_twilio(url, params, headers.get("x-twilio-signature"), token, body=body if is_json else None)
    except SignatureError as exc:
        return exc
    if is_json:
        try:
            data = parse_limits.loads(body)
            form = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
        except parse_limits.InputRefused:
            form = None
        if form is None:
            return JSONResponse({"error": "malformed JSON body"}, status_code=400)
        return form
    if body and not params:
        return JSONResponse({"error": "malformed form body: no name=value pairs"}, status_code=400)
    return {k: v[0] for k, v in params.items()}


async def _twilio(request: Request, kind: str, *, twiml: str | None = None, store: bool = True) -> Response:
    settings = get_settings()
    try:
        body = await read_limited(request, settings.twilio_max_body_bytes)
    except BodyTooLarge:
        return JSONResponse({"error": f"body larger than {settings.twilio_max_body_bytes} bytes"}, status_code=413)
    # Behind a TLS-terminating proxy the request's Host is not what Twilio signed: use the configured base URL.
    url = settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    is_json = "json" in request.headers.get("content-type", "")
    # Always on a thread: the signature covers every parameter, sorted, so its cost grows with the body.
    # (The auth token too: it may be a stored credential, read from the database at most every 2 s.)
    checked = await asyncio.get_running_loop().run_in_executor(
        _PARSE, lambda: _twilio_checks(url, request.headers, body, is_json, settings.twilio_token,
                                       settings.twilio_max_fields))
    if isinstance(checked, SignatureError):
        return await _unauthorised("twilio", request, str(checked))
    if isinstance(checked, JSONResponse):
        return checked
    form = checked
    if not store:
        return Response(twiml or TWIML_EMPTY, media_type="application/xml")
    parsed = inbox.parse_twilio(kind, form)
    try:
        event_id, inserted = await ingest.store("twilio", parsed, form, _client_ip(request))
    except Exception:
        return _unavailable("twilio")
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
