"""The Twilio sandbox: numbers per country with the contract's error codes and regulatory rules, and SMS whose
signed status callbacks arrive like Twilio's. Real HTTP on loopback, same paths as api.twilio.com."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from voxanne_admin.sandbox import store
from voxanne_admin.settings import get_settings
from voxanne_admin.webhooks.signatures import twilio_signature

log = logging.getLogger(__name__)
router = APIRouter(prefix="/sandbox/twilio/2010-04-01/Accounts/{account_sid}")
accounts = APIRouter(prefix="/sandbox/twilio/2010-04-01/Accounts")
_tasks: set[asyncio.Task] = set()

# What each country offers and what buying requires (contracts/twilio.md, "Country guidance").
COUNTRIES: dict[str, dict[str, Any]] = {
    "US": {"types": {"Local": "FIXED_LINE_OR_MOBILE", "TollFree": "TOLL_FREE"}, "address": "none", "bundle": False},
    "GB": {"types": {"Local": "FIXED_LINE", "Mobile": "MOBILE", "TollFree": "TOLL_FREE"}, "address": "any",
           "bundle": True},
    "NG": {"types": {"Mobile": "MOBILE"}, "address": "any", "bundle": True},
    "TR": {"types": {"Local": "VOIP", "TollFree": "TOLL_FREE"}, "address": "any", "bundle": True},
}
MAGIC = {"+15005550000": 21422, "+15005550001": 21421}
URI_NAMES = {"Local": "local", "Mobile": "mobile", "TollFree": "toll_free"}


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status)


def _authenticated(given: str) -> bool:
    """HTTP Basic with the account SID and auth token, or with an API Key SID and secret the sandbox issued."""
    settings = get_settings()
    if not given.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(given[6:]).decode().partition(":")
    except ValueError:
        return False
    if user == settings.twilio_sid:
        return hmac.compare_digest(password.encode(), settings.twilio_token.encode())
    state = store.key_state("twilio", user)
    return bool(state and not state.get("revoked")
                and hmac.compare_digest(str(state.get("secret", "")).encode(), password.encode()))


async def _gate(request: Request, account_sid: str, operation: str) -> JSONResponse | None:
    settings = get_settings()
    given = request.headers.get("authorization", "")
    if account_sid != settings.twilio_sid or not await asyncio.to_thread(_authenticated, given):
        return _error(401, 20003, "Authenticate")
    fault = await asyncio.to_thread(store.take_fault, "twilio", operation)
    if fault is None:
        return None
    if fault.mode == "latency":
        await asyncio.sleep((fault.latency_ms or 0) / 1000)
        return None
    if fault.mode == "fail":
        code = int(fault.code) if fault.code and fault.code.isdigit() else 20500
        return _error(fault.status or 500, code, fault.message or "Internal Server Error")
    return None


def _candidates(country: str, kind: str, area_code: str | None, contains: str | None, limit: int) -> list[str]:
    """Valid numbers of the right type, made from libphonenumber's metadata (deterministic per search)."""
    number_type = getattr(phonenumbers.PhoneNumberType, COUNTRIES[country]["types"][kind])
    example = phonenumbers.example_number_for_type(country, number_type)
    if example is None:
        return []
    national = str(example.national_number)
    if country == "US" and kind == "Local" and area_code:
        national = area_code + national[3:]
    owned = {n.get("phone_number") for n in store.list_kind("twilio", "incoming_number")}
    found: list[str] = []
    rng = secrets.SystemRandom()
    for _ in range(limit * 40):
        if len(found) >= limit:
            break
        tail = "".join(str(rng.randrange(10)) for _ in range(4))
        candidate = national[:-4] + tail
        parsed = phonenumbers.parse(f"+{example.country_code}{candidate}")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if not phonenumbers.is_valid_number_for_region(parsed, country) or e164 in owned or e164 in found:
            continue
        if contains and contains.strip("*") not in e164:
            continue
        found.append(e164)
    return found


@router.get("/AvailablePhoneNumbers/{country}.json")
async def number_types(account_sid: str, country: str, request: Request):
    """Which types a country offers."""
    if (denied := await _gate(request, account_sid, "number_types")) is not None:
        return denied
    spec = COUNTRIES.get(country.upper())
    if spec is None:
        return _error(404, 20404, f"The requested resource /AvailablePhoneNumbers/{country} was not found")
    base = f"/2010-04-01/Accounts/{account_sid}/AvailablePhoneNumbers/{country.upper()}"
    return {"country_code": country.upper(), "beta": False,
            "subresource_uris": {URI_NAMES[t]: f"{base}/{t}.json" for t in spec["types"]}}


@router.get("/AvailablePhoneNumbers/{country}/{kind}.json")
async def available(account_sid: str, country: str, kind: str, request: Request, AreaCode: str | None = None,  # noqa: N803
                    Contains: str | None = None, PageSize: int = 20):  # noqa: N803
    """Search numbers of one type."""
    if (denied := await _gate(request, account_sid, "available_numbers")) is not None:
        return denied
    country = country.upper()
    spec = COUNTRIES.get(country)
    if spec is None or kind not in spec["types"]:
        return _error(404, 20404, f"The requested resource /AvailablePhoneNumbers/{country}/{kind} was not found")
    if AreaCode:
        if country != "US" or not AreaCode.isdigit() or len(AreaCode) != 3 or AreaCode[0] in "01":
            return _error(400, 21451, "Invalid area code")
        if AreaCode == "533":
            return _error(400, 21452, "No phone numbers found in area code 533")
    numbers = await asyncio.to_thread(_candidates, country, kind, AreaCode, Contains, min(max(PageSize, 1), 50))
    items = []
    for e164 in numbers:
        parsed = phonenumbers.parse(e164)
        items.append({
            "friendly_name": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
            "phone_number": e164, "iso_country": country, "lata": None, "locality": None, "region": None,
            "address_requirements": spec["address"], "beta": False,
            "capabilities": {"voice": True, "SMS": country in ("US", "GB"), "MMS": country == "US"},
        })
    return {"available_phone_numbers": items, "uri": str(request.url.path)}


@router.post("/IncomingPhoneNumbers.json")
async def buy(account_sid: str, request: Request):
    """Buy a number: magic test numbers, regulatory checks (address 21631, then bundle 21649), 21422 if taken."""
    if (denied := await _gate(request, account_sid, "buy_number")) is not None:
        return denied
    form = dict(await request.form())
    number = str(form.get("PhoneNumber", ""))
    if number in MAGIC:
        code = MAGIC[number]
        return _error(400, code, "Phone number is not available" if code == 21422 else "Invalid phone number")
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return _error(400, 21421, f"PhoneNumber {number} is not valid.")
    country = phonenumbers.region_code_for_number(parsed)
    spec = COUNTRIES.get(country or "")
    if spec is None or not phonenumbers.is_valid_number(parsed):
        return _error(400, 21421, f"PhoneNumber {number} is not valid.")
    if spec["address"] != "none" and not form.get("AddressSid"):
        return _error(400, 21631, "Phone Number Requires an Address")
    if spec["bundle"] and not form.get("BundleSid"):
        return _error(400, 21649, "Phone Number Requires a Bundle")
    owned = await asyncio.to_thread(store.list_kind, "twilio", "incoming_number")
    if any(n.get("phone_number") == number for n in owned):
        return _error(400, 21422, "Phone number is not available")
    sid = "PN" + secrets.token_hex(16)
    record = {"sid": sid, "account_sid": account_sid, "phone_number": number,
              "friendly_name": form.get("FriendlyName") or number, "voice_url": form.get("VoiceUrl"),
              "sms_url": form.get("SmsUrl"), "status_callback": form.get("StatusCallback"),
              "address_sid": form.get("AddressSid"), "bundle_sid": form.get("BundleSid"),
              "capabilities": {"voice": True, "sms": country in ("US", "GB"), "mms": country == "US"},
              "iso_country": country}
    await asyncio.to_thread(store.put, "twilio", "incoming_number", sid, record)
    return JSONResponse(record, status_code=201)


@router.get("/IncomingPhoneNumbers.json")
async def list_numbers(account_sid: str, request: Request, PageSize: int = 50, Page: int = 0):  # noqa: N803
    """Numbers the account owns, paged like Twilio (next_page_uri, null on the last page)."""
    if (denied := await _gate(request, account_sid, "list_numbers")) is not None:
        return denied
    size, page = min(max(PageSize, 1), 1000), max(Page, 0)
    owned = await asyncio.to_thread(store.list_kind, "twilio", "incoming_number", 100000)
    owned.sort(key=lambda n: str(n.get("sid")))
    items = owned[page * size:(page + 1) * size]
    path = f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    more = (page + 1) * size < len(owned)
    return {"incoming_phone_numbers": items, "page": page, "page_size": size,
            "next_page_uri": f"{path}?PageSize={size}&Page={page + 1}" if more else None}


@router.delete("/IncomingPhoneNumbers/{sid}.json")
async def release(account_sid: str, sid: str, request: Request):
    """Release -> 204 (404 20404 when unknown)."""
    if (denied := await _gate(request, account_sid, "release_number")) is not None:
        return denied
    if not await asyncio.to_thread(store.delete, sid):
        return _error(404, 20404, f"The requested resource /IncomingPhoneNumbers/{sid}.json was not found")
    return Response(status_code=204)


def _invalid_to(form: dict[str, str]) -> JSONResponse | None:
    """Twilio's 21211 when the 'To' number is not a valid phone number (SMS and calls)."""
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(form.get("To", "")))
    except phonenumbers.NumberParseException:
        valid = False
    if valid:
        return None
    return _error(400, 21211, f"The 'To' number {form.get('To', '')} is not a valid phone number.")


@router.post("/Messages.json")
async def send_message(account_sid: str, request: Request):
    """Queue an SMS; signed status callbacks follow (queued, sent, delivered)."""
    if (denied := await _gate(request, account_sid, "send_sms")) is not None:
        return denied
    form = {k: str(v) for k, v in (await request.form()).items()}
    if (invalid := _invalid_to(form)) is not None:
        return invalid
    sid = "SM" + secrets.token_hex(16)
    message = {"sid": sid, "account_sid": account_sid, "to": form["To"], "from": form.get("From"),
               "body": form.get("Body", ""), "status": "queued"}
    await asyncio.to_thread(store.put, "twilio", "message", sid, message)
    if form.get("StatusCallback"):
        task = asyncio.create_task(_sms_callbacks(message, form["StatusCallback"]))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    return JSONResponse(message, status_code=201)


async def post_signed(url: str, params: dict[str, str]) -> int:
    """POST a form callback signed with X-Twilio-Signature, as Twilio does."""
    settings = get_settings()
    signature = twilio_signature(url, params, settings.twilio_token)
    target = url
    if url.startswith(settings.public_url):  # providers reach us at the public URL; we deliver over loopback
        target = settings.internal_url + url[len(settings.public_url):]
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(target, data=params, headers={"X-Twilio-Signature": signature})
        return response.status_code


async def _sms_callbacks(message: dict[str, Any], url: str) -> None:
    for status in ("queued", "sent", "delivered"):
        await asyncio.sleep(0.3)
        params = {"MessageSid": message["sid"], "SmsSid": message["sid"], "AccountSid": message["account_sid"],
                  "MessageStatus": status, "SmsStatus": status, "From": message.get("from") or "",
                  "To": message["to"]}
        try:
            await post_signed(url, params)
        except httpx.HTTPError:
            log.warning("sandbox SMS callback failed")


# ------------------------------------------------------------------ calls (forwarding verification)


@router.post("/Calls.json")
async def create_call(account_sid: str, request: Request):
    """Place a call from one of our numbers to a line on the sandbox carrier; signed status callbacks follow. If
    the line forwards (sandbox carrier state), the call arrives on the target number with ForwardedFrom."""
    if (denied := await _gate(request, account_sid, "create_call")) is not None:
        return denied
    form = {k: str(v) for k, v in (await request.form()).items()}
    if (invalid := _invalid_to(form)) is not None:
        return invalid
    owned = await asyncio.to_thread(store.list_kind, "twilio", "incoming_number")
    if not any(n.get("phone_number") == form.get("From") for n in owned):
        return _error(400, 21210, f"The source phone number provided, {form.get('From', '')}, is not yet verified "
                                  "for your account.")
    if not form.get("Url") and not form.get("Twiml"):
        return _error(400, 21205, "Url parameter is required.")
    sid = "CA" + secrets.token_hex(16)
    call = {"sid": sid, "account_sid": account_sid, "to": form["To"], "from": form["From"], "status": "queued",
            "direction": "outbound-api", "status_callback": form.get("StatusCallback") or ""}
    await asyncio.to_thread(store.put, "twilio", "voice_call", sid, call)
    task = asyncio.create_task(_run_call(call, owned, int(form.get("Timeout") or 30)))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return JSONResponse(call, status_code=201)


async def _run_call(call: dict[str, Any], owned: list[dict[str, Any]], ring_timeout_s: int) -> None:
    """initiated -> ringing -> (forwarded: the inbound leg on our number, then completed) | no-answer."""
    from voxanne_admin.sandbox import carrier

    seconds = get_settings().sandbox_call_seconds
    sequence = iter(range(100))

    async def outbound(status: str, **extra: str) -> None:
        call["status"] = status
        await asyncio.to_thread(store.put, "twilio", "voice_call", call["sid"], dict(call))
        if call["status_callback"]:
            params = {"CallSid": call["sid"], "AccountSid": call["account_sid"], "From": call["from"],
                      "To": call["to"], "Direction": "outbound-api", "CallStatus": status,
                      "SequenceNumber": str(next(sequence)), **extra}
            await _deliver(call["status_callback"], params)

    try:
        await asyncio.sleep(min(0.2, seconds * 0.05))
        await outbound("initiated")
        await asyncio.sleep(seconds * 0.1)
        await outbound("ringing")
        target = await asyncio.to_thread(carrier.forward_target, call["to"])
        number = next((n for n in owned if target and n.get("phone_number") == target), None)
        if number is None:
            # Nobody answers a sandbox line and nothing forwards it: it rings out.
            await asyncio.sleep(seconds * 0.4)
            await outbound("no-answer")
            return
        await asyncio.sleep(seconds * 0.1)
        leg = "CA" + secrets.token_hex(16)
        inbound = {"CallSid": leg, "AccountSid": call["account_sid"], "From": call["from"], "To": target,
                   "ForwardedFrom": call["to"], "Direction": "inbound", "Caller": call["from"], "Called": target}
        if number.get("voice_url"):
            await _deliver(number["voice_url"], {**inbound, "CallStatus": "ringing"})
        await outbound("in-progress")
        await asyncio.sleep(seconds * 0.2)
        if number.get("status_callback"):
            await _deliver(number["status_callback"], {**inbound, "CallStatus": "completed", "CallDuration": "3",
                                                       "SequenceNumber": "0"})
        await outbound("completed", CallDuration="3")
    except Exception:
        log.exception("sandbox call failed")


async def _deliver(url: str, params: dict[str, str]) -> None:
    try:
        await post_signed(url, params)
    except httpx.HTTPError:
        log.warning("sandbox voice callback failed")


# ------------------------------------------------------------------ the account and its API keys


@accounts.get("/{account_sid}.json")
async def fetch_account(account_sid: str, request: Request):
    """GET Accounts/{sid}.json: the harmless read that proves credentials work."""
    if (denied := await _gate(request, account_sid, "GET /Accounts")) is not None:
        return denied
    return {"sid": account_sid, "friendly_name": "Voxanne sandbox account", "status": "active", "type": "Full"}


@router.post("/Keys.json")
async def create_key(account_sid: str, request: Request):
    """POST Keys.json: a new API Key; its secret is returned only in this answer."""
    if (denied := await _gate(request, account_sid, "POST /Keys")) is not None:
        return denied
    form = await request.form()
    sid = "SK" + secrets.token_hex(16)
    secret = secrets.token_urlsafe(24)
    await asyncio.to_thread(store.issue_key, "twilio", sid, {"secret": secret})
    return JSONResponse({"sid": sid, "friendly_name": str(form.get("FriendlyName") or ""), "secret": secret,
                         "date_created": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")},
                        status_code=201)


@router.delete("/Keys/{key_sid}.json")
async def delete_key(account_sid: str, key_sid: str, request: Request):
    """DELETE Keys/{sid}.json: the key stops working."""
    if (denied := await _gate(request, account_sid, "DELETE /Keys")) is not None:
        return denied
    if await asyncio.to_thread(store.key_state, "twilio", key_sid) is None:
        return _error(404, 20404, f"The requested resource /2010-04-01/Accounts/{account_sid}/Keys/{key_sid}.json "
                                  "was not found")
    await asyncio.to_thread(store.revoke_key, "twilio", key_sid)
    return Response(status_code=204)
