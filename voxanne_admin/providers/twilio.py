"""Twilio REST client (numbers, SMS) over httpx. Sandbox mode points it at our sandbox."""

from __future__ import annotations

from typing import Any

import httpx

from voxanne_admin.errors import ProviderError
from voxanne_admin.providers.http import client_for, send
from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import note_credential_use

PROVIDER = "twilio"
TYPES = {"local": "Local", "mobile": "Mobile", "toll-free": "TollFree"}

# What a person can act on, per Twilio error code.
ERROR_MESSAGES = {
    20003: "Twilio rejected our credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
    20404: "That number type is not offered in this country.",
    21421: "That phone number is not valid.",
    21422: "That number was just taken. Pick another one.",
    21451: "That area code is not valid.",
    21452: "No numbers are available in that area code. Try another area code.",
    21613: "An address is required to buy a number in this country. Add the clinic's address first.",
    21631: "An address is required to buy a number in this country. Add the clinic's address first.",
    21649: "GB numbers need an approved regulatory bundle. Submit the bundle in Twilio, then retry.",
}


def map_error(response: httpx.Response) -> ProviderError:
    """Twilio errors {"code", "message", "more_info", "status"} -> ProviderError with an actionable message."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    message = ERROR_MESSAGES.get(code) if isinstance(code, int) else None
    if message is None:
        raw = body.get("message") if isinstance(body, dict) else None
        message = f"Twilio said: {raw or response.reason_phrase}"
        if response.status_code == 429:
            message += " (rate limited; wait a moment and retry)"
        elif response.status_code >= 500:
            message += " (Twilio server error; retry shortly)"
    return ProviderError(PROVIDER, message[:500], code=code or response.status_code, status=response.status_code)


def capability(item: dict[str, Any], name: str) -> bool:
    """Read a capability flag whatever case Twilio used for its keys."""
    caps = {str(k).lower(): v for k, v in (item.get("capabilities") or {}).items()}
    return bool(caps.get(name.lower()))


class TwilioClient:
    """The Twilio operations the console uses. Buying is never retried blindly."""

    def __init__(self, base_url: str | None = None, account_sid: str | None = None, auth_token: str | None = None,
                 waits: tuple[float, ...] | None = None, api_key: tuple[str, str] | None = None):
        """`api_key` (SID, secret) authenticates instead of the auth token; by default the configured API Key when
        there is one (Twilio's recommendation), else the account SID and auth token."""
        settings = get_settings()
        self.base_url = (base_url or settings.twilio_url).rstrip("/")
        self.sid = account_sid or settings.twilio_sid
        if api_key is not None:
            self._auth = api_key
        elif auth_token is not None:
            self._auth = (self.sid, auth_token)
        else:
            self._auth = settings.twilio_rest_auth
        self.waits = waits

    def _path(self, suffix: str) -> str:
        return f"/2010-04-01/Accounts/{self.sid}/{suffix}"

    async def _request(self, method: str, suffix: str, *, operation: str, safe: bool, **kwargs: Any) -> Any:
        client = client_for(self.base_url, auth=self._auth)
        response = await send(client, method, self._path(suffix), provider=PROVIDER, operation=operation,
                              safe=safe, error_mapper=map_error, waits=self.waits, **kwargs)
        note_credential_use("twilio_api_key" if self._auth[0].startswith("SK") else "twilio_auth_token")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def number_types(self, country: str) -> list[str]:
        """Which number types Twilio offers in a country (from subresource_uris)."""
        body = await self._request("GET", f"AvailablePhoneNumbers/{country}.json", operation="number_types",
                                   safe=True)
        uris = (body or {}).get("subresource_uris") or {}
        names = {"local": "local", "mobile": "mobile", "toll_free": "toll-free"}
        return [names[k] for k in uris if k in names]

    async def available_numbers(self, country: str, number_type: str = "local", *, area_code: str | None = None,
                                contains: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Search numbers to buy."""
        kind = TYPES.get(number_type)
        if kind is None:
            raise ProviderError(PROVIDER, f"Unknown number type {number_type!r}: use local, mobile or toll-free.")
        params: dict[str, Any] = {"PageSize": limit, "VoiceEnabled": "true"}
        if area_code:
            params["AreaCode"] = area_code
        if contains:
            params["Contains"] = contains
        body = await self._request("GET", f"AvailablePhoneNumbers/{country}/{kind}.json",
                                   operation="available_numbers", safe=True, params=params)
        return list((body or {}).get("available_phone_numbers") or [])

    async def buy_number(self, phone_number: str, *, voice_url: str, sms_url: str, status_callback: str,
                         friendly_name: str = "", address_sid: str | None = None,
                         bundle_sid: str | None = None) -> dict[str, Any]:
        """Buy a number with our webhook URLs set (never retried: it could buy twice)."""
        data = {"PhoneNumber": phone_number, "VoiceUrl": voice_url, "SmsUrl": sms_url,
                "StatusCallback": status_callback, "FriendlyName": friendly_name or phone_number}
        if address_sid:
            data["AddressSid"] = address_sid
        if bundle_sid:
            data["BundleSid"] = bundle_sid
        return await self._request("POST", "IncomingPhoneNumbers.json", operation="buy_number", safe=False,
                                   data=data)

    async def release_number(self, number_sid: str) -> None:
        """Release a number we own (idempotent on Twilio's side)."""
        await self._request("DELETE", f"IncomingPhoneNumbers/{number_sid}.json", operation="release_number",
                            safe=True)

    async def list_numbers(self, page_size: int = 1000, max_pages: int = 100) -> list[dict[str, Any]]:
        """Every number the account owns (reconciliation), following Twilio's next_page_uri."""
        body = await self._request("GET", "IncomingPhoneNumbers.json", operation="list_numbers", safe=True,
                                   params={"PageSize": page_size})
        numbers = list((body or {}).get("incoming_phone_numbers") or [])
        next_uri = (body or {}).get("next_page_uri")
        for _ in range(max_pages - 1):
            if not next_uri:
                break
            # next_page_uri is a path on the API host, query string included: send it exactly as given.
            client = client_for(self.base_url, auth=self._auth)
            response = await send(client, "GET", str(next_uri), provider=PROVIDER, operation="list_numbers",
                                  safe=True, error_mapper=map_error, waits=self.waits)
            body = response.json()
            numbers.extend(body.get("incoming_phone_numbers") or [])
            next_uri = body.get("next_page_uri")
        return numbers

    async def fetch_account(self) -> dict[str, Any]:
        """GET Accounts/{sid}.json: a harmless read that proves the credentials work."""
        client = client_for(self.base_url, auth=self._auth)
        response = await send(client, "GET", f"/2010-04-01/Accounts/{self.sid}.json", provider=PROVIDER,
                              operation="fetch_account", safe=True, error_mapper=map_error, waits=self.waits)
        return response.json()

    async def create_api_key(self, friendly_name: str) -> dict[str, Any]:
        """POST Keys.json: a new standard API Key; the answer is the only time its secret is shown."""
        return await self._request("POST", "Keys.json", operation="create_api_key", safe=False,
                                   data={"FriendlyName": friendly_name[:64]})

    async def delete_api_key(self, key_sid: str) -> None:
        """DELETE Keys/{sid}.json: revoke an API Key."""
        await self._request("DELETE", f"Keys/{key_sid}.json", operation="delete_api_key", safe=True)

    async def create_call(self, *, to: str, from_: str, url: str, status_callback: str,
                          timeout_s: int = 30) -> dict[str, Any]:
        """Place a call (forwarding verification). Never retried: a retry could ring the clinic twice."""
        return await self._request("POST", "Calls.json", operation="create_call", safe=False, data={
            "To": to, "From": from_, "Url": url, "StatusCallback": status_callback, "Timeout": str(timeout_s),
            "StatusCallbackEvent": "initiated ringing answered completed"})

    async def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> dict[str, Any]:
        """Send an SMS (not retried: it could send twice)."""
        return await self._request("POST", "Messages.json", operation="send_sms", safe=False,
                                   data={"To": to, "From": from_, "Body": body, "StatusCallback": status_callback})
