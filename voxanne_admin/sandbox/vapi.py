"""The Vapi sandbox: Vapi's REST contract over real HTTP on loopback, and calls that progress and POST signed
server messages (status-update, transcript, end-of-call-report) to our own /webhooks/vapi."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks.signatures import vapi_hmac

log = logging.getLogger(__name__)
router = APIRouter(prefix="/sandbox/vapi")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ASSISTANT_FIELDS = {"name", "firstMessage", "model", "voice", "transcriber", "server", "serverUrl", "serverMessages",
                    "maxDurationSeconds", "metadata", "endCallMessage", "endCallPhrases", "voicemailMessage",
                    "clientMessages", "analysisPlan", "artifactPlan", "firstMessageMode", "silenceTimeoutSeconds",
                    "backgroundSound", "recordingEnabled"}
CALL_FIELDS = {"assistantId", "phoneNumberId", "customer", "assistantOverrides", "name", "metadata", "assistant",
               "phoneNumber", "customerId"}
PHONE_FIELDS = {"provider", "number", "twilioAccountSid", "twilioAuthToken", "name", "assistantId", "server"}
_tasks: set[asyncio.Task] = set()

CONVERSATION = [
    ("assistant", "Hello, this is the clinic's assistant calling about your appointment request. Is now a good time?"),
    ("user", "Yes, go ahead."),
    ("assistant", "I can offer Tuesday at ten in the morning or Wednesday at two in the afternoon."),
    ("user", "Tuesday at ten works for me."),
    ("assistant", "You're booked for Tuesday at ten. You'll get a text confirmation shortly. Anything else?"),
    ("user", "No, that's all. Thank you."),
    ("assistant", "Thank you, goodbye."),
]


def _error(status: int, message: str | list[str], error: str) -> JSONResponse:
    return JSONResponse({"message": message, "error": error, "statusCode": status}, status_code=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def _gate(request: Request, operation: str) -> JSONResponse | None:
    """Sandbox auth (Bearer key) and injected faults for this operation."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer ") or not await asyncio.to_thread(store.vapi_key_accepted, auth[7:]):
        return _error(401, "Invalid Key. Hot tip, you may be using the private key instead of the public key, "
                           "or vice versa.", "Unauthorized")
    fault = await asyncio.to_thread(store.take_fault, "vapi", operation)
    if fault is None:
        return None
    if fault.mode == "latency":
        await asyncio.sleep((fault.latency_ms or 0) / 1000)
        return None
    if fault.mode == "fail":
        status = fault.status or 500
        names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
        default = names.get(status, "Internal Server Error")
        message: str | list[str] = fault.message or default
        if status == 400 and fault.message and fault.message.startswith("property "):
            message = [fault.message]
        return _error(status, message, default)
    return None


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "Unexpected token in JSON", "Bad Request")
    if not isinstance(body, dict):
        return _error(400, "body must be an object", "Bad Request")
    return body


def _unknown(body: dict[str, Any], allowed: set[str]) -> JSONResponse | None:
    extra = sorted(set(body) - allowed)
    if extra:
        return _error(400, [f"property {name} should not exist" for name in extra], "Bad Request")
    return None


async def _accept(request: Request, operation: str, allowed: set[str]) -> dict[str, Any] | JSONResponse:
    """Auth, faults, a JSON object body, and Vapi's refusal of unknown properties, in that order."""
    if (denied := await _gate(request, operation)) is not None:
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    return _unknown(body, allowed) or body


# ------------------------------------------------------------------ assistants


@router.post("/assistant")
async def create_assistant(request: Request):
    """POST /assistant -> 201."""
    body = await _accept(request, "POST /assistant", ASSISTANT_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    if len(str(body.get("name") or "")) > 40:
        return _error(400, ["name must be shorter than or equal to 40 characters"], "Bad Request")
    assistant = {"id": str(uuid.uuid4()), "orgId": "sandbox", "createdAt": _now(), "updatedAt": _now(), **body}
    await asyncio.to_thread(store.put, "vapi", "assistant", assistant["id"], assistant)
    return JSONResponse(assistant, status_code=201)


@router.get("/assistant/{assistant_id}")
async def get_assistant(assistant_id: str, request: Request):
    """GET /assistant/{id}."""
    if (denied := await _gate(request, "GET /assistant")) is not None:
        return denied
    assistant = await asyncio.to_thread(store.get, assistant_id, "assistant")
    return assistant if assistant else _error(404, "Couldn't Find Assistant.", "Not Found")


@router.patch("/assistant/{assistant_id}")
async def update_assistant(assistant_id: str, request: Request):
    """PATCH /assistant/{id}: nested objects are replaced wholesale, like Vapi does."""
    body = await _accept(request, "PATCH /assistant", ASSISTANT_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    assistant = await asyncio.to_thread(store.get, assistant_id, "assistant")
    if not assistant:
        return _error(404, "Couldn't Find Assistant.", "Not Found")
    if len(str(body.get("name") or assistant.get("name") or "")) > 40:
        return _error(400, ["name must be shorter than or equal to 40 characters"], "Bad Request")
    assistant.update(body)
    assistant["updatedAt"] = _now()
    await asyncio.to_thread(store.put, "vapi", "assistant", assistant_id, assistant)
    return assistant


@router.delete("/assistant/{assistant_id}")
async def delete_assistant(assistant_id: str, request: Request):
    """DELETE /assistant/{id}."""
    if (denied := await _gate(request, "DELETE /assistant")) is not None:
        return denied
    assistant = await asyncio.to_thread(store.get, assistant_id, "assistant")
    if not assistant:
        return _error(404, "Couldn't Find Assistant.", "Not Found")
    await asyncio.to_thread(store.delete, assistant_id)
    return assistant


# ------------------------------------------------------------------ phone numbers


@router.get("/phone-number")
async def list_phone_numbers(request: Request):
    """GET /phone-number (array)."""
    if (denied := await _gate(request, "GET /phone-number")) is not None:
        return denied
    return await asyncio.to_thread(store.list_kind, "vapi", "phone_number")


@router.get("/phone-number/{phone_number_id}")
async def get_phone_number(phone_number_id: str, request: Request):
    """GET /phone-number/{id}."""
    if (denied := await _gate(request, "GET /phone-number")) is not None:
        return denied
    number = await asyncio.to_thread(store.get, phone_number_id, "phone_number")
    return number if number else _error(404, "Couldn't Find Phone Number.", "Not Found")


@router.post("/phone-number")
async def import_phone_number(request: Request):
    """POST /phone-number: import a Twilio number."""
    body = await _accept(request, "POST /phone-number", PHONE_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    if not str(body.get("number", "")).startswith("+"):
        return _error(400, ["number must be a valid E.164 phone number"], "Bad Request")
    number = {"id": str(uuid.uuid4()), "provider": body.get("provider", "twilio"), "number": body["number"],
              "status": "active", "name": body.get("name"), "assistantId": body.get("assistantId"),
              "twilioAccountSid": body.get("twilioAccountSid"), "twilioAuthToken": body.get("twilioAuthToken"),
              "createdAt": _now(), "updatedAt": _now()}
    await asyncio.to_thread(store.put, "vapi", "phone_number", number["id"], number)
    return JSONResponse(number, status_code=201)


@router.delete("/phone-number/{phone_number_id}")
async def delete_phone_number(phone_number_id: str, request: Request):
    """DELETE /phone-number/{id} -> the deleted number (404 when unknown)."""
    if (denied := await _gate(request, "DELETE /phone-number")) is not None:
        return denied
    number = await asyncio.to_thread(store.get, phone_number_id, "phone_number")
    if not number:
        return _error(404, "Couldn't Find Phone Number.", "Not Found")
    await asyncio.to_thread(store.delete, phone_number_id)
    return number


# ------------------------------------------------------------------ API keys (the dashboard's part)


@router.post("/_sandbox/keys")
async def issue_key(request: Request):
    """Issue a new private key (what a person does in Vapi's dashboard); authenticated with a valid key."""
    if (denied := await _gate(request, "POST /_sandbox/keys")) is not None:
        return denied
    key = str(uuid.uuid4())
    await asyncio.to_thread(store.issue_key, "vapi", key)
    return JSONResponse({"key": key, "createdAt": _now()}, status_code=201)


@router.post("/_sandbox/keys/revoke")
async def revoke_key(request: Request):
    """Revoke a private key: refused from now on."""
    if (denied := await _gate(request, "POST /_sandbox/keys/revoke")) is not None:
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    key = str(body.get("key") or "")
    if not key:
        return _error(400, ["key should not be empty"], "Bad Request")
    await asyncio.to_thread(store.revoke_key, "vapi", key)
    return Response(status_code=204)


# ------------------------------------------------------------------ calls


@router.post("/call")
async def create_call(request: Request):
    """POST /call -> 201 queued; the call then progresses and posts signed server messages."""
    body = await _accept(request, "POST /call", CALL_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    customer = body.get("customer")
    if not isinstance(customer, dict) or not customer.get("number"):
        return _error(400, "Couldn't Get Customer. Need Either customerId Or customer.", "Bad Request")
    phone_number_id = body.get("phoneNumberId")
    if not phone_number_id:
        return _error(400, "Couldn't Get Phone Number. Need Either phoneNumberId Or phoneNumber.", "Bad Request")
    if not UUID_RE.match(str(phone_number_id)):
        return _error(400, ["phoneNumberId must be a UUID"], "Bad Request")
    if await asyncio.to_thread(store.get, phone_number_id, "phone_number") is None:
        return _error(400, "Couldn't Get Phone Number. Need Either phoneNumberId Or phoneNumber.", "Bad Request")
    assistant_id = body.get("assistantId")
    assistant = await asyncio.to_thread(store.get, str(assistant_id or ""), "assistant") if assistant_id else None
    if assistant is None and not body.get("assistant"):
        return _error(400, "Couldn't Get Assistant. Need Either assistantId Or assistant.", "Bad Request")
    call = {"id": str(uuid.uuid4()), "orgId": "sandbox", "type": "outboundPhoneCall", "status": "queued",
            "assistantId": assistant_id, "phoneNumberId": phone_number_id, "customer": customer,
            "metadata": body.get("metadata") or (body.get("assistantOverrides") or {}).get("metadata") or {},
            "createdAt": _now(), "updatedAt": _now()}
    await asyncio.to_thread(store.put, "vapi", "call", call["id"], call)
    task = asyncio.create_task(run_call(call, assistant or body.get("assistant") or {}))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return JSONResponse({**call, "subscriptionLimits": {"concurrencyBlocked": False, "concurrencyLimit": 10,
                                                        "remainingConcurrentCalls": 9}}, status_code=201)


@router.get("/call/{call_id}")
async def get_call(call_id: str, request: Request):
    """GET /call/{id}."""
    if (denied := await _gate(request, "GET /call")) is not None:
        return denied
    call = await asyncio.to_thread(store.get, call_id, "call")
    return call if call else _error(404, "Couldn't Find Call.", "Not Found")


@router.get("/call")
async def list_calls(request: Request, assistantId: str | None = None, phoneNumberId: str | None = None,  # noqa: N803
                     limit: int = 100):
    """GET /call: a plain array."""
    if (denied := await _gate(request, "GET /call")) is not None:
        return denied
    calls = await asyncio.to_thread(store.list_kind, "vapi", "call", min(max(limit, 1), 1000))
    return [c for c in calls if (not assistantId or c.get("assistantId") == assistantId)
            and (not phoneNumberId or c.get("phoneNumberId") == phoneNumberId)]


@router.get("/recordings/{call_id}.wav")
async def recording(call_id: str):
    """A short generated tone standing in for a call recording (audio players need a real file)."""
    import io
    import math
    import struct
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / 8000)))
                          for i in range(8000 * 2))
        wav.writeframes(frames)
    return Response(buffer.getvalue(), media_type="audio/wav")


# ------------------------------------------------------------------ the call engine


async def deliver(message: dict[str, Any], *, attempts: int = 3, secret: str | None = None) -> None:
    """POST one signed server message to /webhooks/vapi the way Vapi does (redelivered after a 5xx). `secret`: the
    one the call started with (Vapi keeps a call's server settings for its whole life), default the current one."""
    settings = get_settings()
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    headers = {"content-type": "application/json"}
    secret = secret or settings.webhook_secret
    if settings.vapi_webhook_auth == "secret":
        headers["x-vapi-secret"] = secret
    elif settings.vapi_webhook_auth == "bearer":
        headers[settings.vapi_webhook_bearer_header] = f"Bearer {secret}"
    else:
        ts = str(int(time.time())) if settings.vapi_webhook_timestamp_header else None
        if ts:
            headers[settings.vapi_webhook_timestamp_header] = ts
        headers[settings.vapi_webhook_signature_header] = vapi_hmac(
            secret, body, timestamp=ts, algorithm=settings.vapi_webhook_hmac_algorithm,
            encoding=settings.vapi_webhook_hmac_encoding, prefix=settings.vapi_webhook_hmac_prefix)
    async with httpx.AsyncClient(timeout=10) as client:
        for attempt in range(attempts):
            try:
                response = await client.post(f"{settings.internal_url}/webhooks/vapi", content=body, headers=headers)
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5 * (attempt + 1))
    log.warning("sandbox could not deliver a server message", extra={"type": message.get("type")})


class _Courier:
    """Applies webhook faults (drop, duplicate, reorder, latency) to the sequence of server messages."""

    def __init__(self, secret: str | None = None) -> None:
        self.held: dict[str, Any] | None = None
        self.secret = secret

    async def send(self, message: dict[str, Any]) -> None:
        fault = await asyncio.to_thread(store.take_fault, "vapi", "webhook")
        if fault and fault.mode == "drop":
            return
        if fault and fault.mode == "latency":
            await asyncio.sleep((fault.latency_ms or 0) / 1000)
        if fault and fault.mode == "reorder":
            self.held = message  # delivered after the next message
            return
        await deliver(message, secret=self.secret)
        if fault and fault.mode == "duplicate":
            await deliver(message, secret=self.secret)
        if self.held is not None:
            held, self.held = self.held, None
            await deliver(held, secret=self.secret)

    async def flush(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            await deliver(held, secret=self.secret)


async def run_call(call: dict[str, Any], assistant: dict[str, Any]) -> None:
    """queued -> ringing -> in-progress (transcript) -> ended, then the end-of-call report."""
    settings = get_settings()
    duration = settings.sandbox_call_seconds
    # The secret is fixed when the call starts: a call in flight during a rotation keeps signing with the old one.
    courier = _Courier(await asyncio.to_thread(lambda: settings.webhook_secret))
    customer = call.get("customer") or {}
    base = {"call": {k: call[k] for k in ("id", "orgId", "type", "assistantId", "phoneNumberId", "metadata")},
            "customer": customer, "phoneNumber": {"id": call["phoneNumberId"]},
            "assistant": {"id": call.get("assistantId"), "name": assistant.get("name"),
                          "metadata": assistant.get("metadata") or {}}}

    def envelope(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "timestamp": int(time.time() * 1000), **base, **fields}

    async def set_status(status: str, **extra: Any) -> None:
        call.update(status=status, updatedAt=_now(), **extra)
        await asyncio.to_thread(store.put, "vapi", "call", call["id"], dict(call))

    try:
        await asyncio.sleep(min(0.3, duration * 0.05))
        await courier.send(envelope("status-update", status="queued"))
        await asyncio.sleep(duration * 0.1)
        await set_status("ringing")
        await courier.send(envelope("status-update", status="ringing"))
        await asyncio.sleep(duration * 0.15)
        in_progress_at = datetime.now(UTC)
        await set_status("in-progress", startedAt=_now())
        await courier.send(envelope("status-update", status="in-progress"))
        lines = list(CONVERSATION)
        first = assistant.get("firstMessage")
        if first:
            lines[0] = ("assistant", first)
        gap = duration * 0.6 / len(lines)
        messages = []
        for role, text in lines:
            await asyncio.sleep(gap)
            seconds = (datetime.now(UTC) - in_progress_at).total_seconds()
            messages.append({"role": "bot" if role == "assistant" else "user", "message": text,
                             "time": int(time.time() * 1000), "secondsFromStart": round(seconds, 2)})
            await courier.send(envelope("transcript", role=role, transcriptType="final", transcript=text))
        await asyncio.sleep(duration * 0.1)
        ended_at = datetime.now(UTC)
        reason = "customer-ended-call"
        await set_status("ended", endedAt=_now(), endedReason=reason)
        await courier.send(envelope("status-update", status="ended", endedReason=reason))
        await asyncio.sleep(min(0.5, duration * 0.05))
        talk = (ended_at - in_progress_at).total_seconds()
        cost = round(0.05 + 0.11 * talk / 60, 4)
        transcript = "\n".join(f"{'AI' if r == 'assistant' else 'User'}: {t}" for r, t in lines)
        report = envelope(
            "end-of-call-report",
            endedReason=reason,
            startedAt=in_progress_at.isoformat().replace("+00:00", "Z"),
            endedAt=ended_at.isoformat().replace("+00:00", "Z"),
            cost=cost,
            costs=[{"type": "transport", "cost": round(cost * 0.2, 4)}, {"type": "stt", "cost": round(cost * 0.2, 4)},
                   {"type": "llm", "cost": round(cost * 0.3, 4)}, {"type": "tts", "cost": round(cost * 0.2, 4)},
                   {"type": "vapi", "cost": round(cost * 0.1, 4)}],
            analysis={"summary": "The customer accepted Tuesday at 10:00 and the appointment was booked.",
                      "structuredData": {"booked": True}, "successEvaluation": "true"},
            artifact={"transcript": transcript, "messages": messages,
                      "recordingUrl": f"{settings.public_url}/sandbox/vapi/recordings/{call['id']}.wav"},
        )
        await courier.send(report)
        await courier.flush()
    except Exception:
        log.exception("sandbox call failed", extra={"call_id": call.get("id")})
