"""Vapi REST client (assistants, phone numbers, calls) over httpx. Sandbox mode points it at our sandbox."""

from __future__ import annotations

from typing import Any

import httpx

from voxanne_admin.errors import ProviderError
from voxanne_admin.providers.http import client_for, send
from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import note_credential_use

PROVIDER = "vapi"


def map_error(response: httpx.Response) -> ProviderError:
    """NestJS-style errors: {"message": str | [str], "error": ..., "statusCode": N} -> ProviderError."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    message = str(message or (body.get("error") if isinstance(body, dict) else "") or response.reason_phrase)
    status = response.status_code
    if status == 401:
        hint = "Vapi rejected the API key: check VAPI_API_KEY is the private key."
    elif status == 429:
        hint = "Vapi is rate limiting us; wait a moment and retry."
    elif status >= 500:
        hint = "Vapi had a server error; retry shortly."
    else:
        hint = ""
    text = f"Vapi said: {message}" + (f" ({hint})" if hint else "")
    return ProviderError(PROVIDER, text[:500], code=status, status=status)


class VapiClient:
    """The Vapi operations the console uses. Creating calls is never retried blindly."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None,
                 waits: tuple[float, ...] | None = None, timeout: float | None = None):
        settings = get_settings()
        self.base_url = (base_url or settings.vapi_url).rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key if api_key is not None else settings.vapi_key}"}
        self.waits = waits
        self.timeout = timeout

    async def _request(self, method: str, path: str, *, operation: str, safe: bool, **kwargs: Any) -> Any:
        extra = {"timeout": httpx.Timeout(self.timeout)} if self.timeout else {}
        client = client_for(self.base_url, headers=self._headers, **extra)
        response = await send(client, method, path, provider=PROVIDER, operation=operation, safe=safe,
                              error_mapper=map_error, waits=self.waits, **kwargs)
        note_credential_use("vapi_key")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def create_assistant(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /assistant (not retried: it would create a second assistant)."""
        return await self._request("POST", "/assistant", operation="create_assistant", safe=False, json=body)

    async def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """GET /assistant/{id}."""
        return await self._request("GET", f"/assistant/{assistant_id}", operation="get_assistant", safe=True)

    async def update_assistant(self, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /assistant/{id} with the full nested objects (Vapi replaces them wholesale); idempotent."""
        return await self._request("PATCH", f"/assistant/{assistant_id}", operation="update_assistant", safe=True,
                                   json=body)

    async def delete_assistant(self, assistant_id: str) -> None:
        """DELETE /assistant/{id}."""
        await self._request("DELETE", f"/assistant/{assistant_id}", operation="delete_assistant", safe=True)

    async def verify_key(self) -> None:
        """A harmless read (GET /phone-number?limit=1) that fails with Vapi's message when the key is refused."""
        await self._request("GET", "/phone-number", operation="verify_key", safe=True, params={"limit": 1})

    async def sandbox_issue_key(self) -> str:
        """Sandbox only: a new private key, as a person would create in Vapi's dashboard."""
        return str((await self._request("POST", "/_sandbox/keys", operation="issue_key", safe=False))["key"])

    async def sandbox_revoke_key(self, key: str) -> None:
        """Sandbox only: revoke a private key (Vapi's dashboard: delete the key)."""
        await self._request("POST", "/_sandbox/keys/revoke", operation="revoke_key", safe=True, json={"key": key})

    async def list_phone_numbers(self, limit: int = 1000) -> list[dict[str, Any]]:
        """GET /phone-number, up to `limit` (Vapi's default page is 100; Twilio credentials inside are never logged
        or shown)."""
        return await self._request("GET", "/phone-number", operation="list_phone_numbers", safe=True,
                                   params={"limit": limit})

    async def get_phone_number(self, phone_number_id: str) -> dict[str, Any]:
        """GET /phone-number/{id}."""
        return await self._request("GET", f"/phone-number/{phone_number_id}", operation="get_phone_number",
                                   safe=True)

    async def import_phone_number(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /phone-number (import a Twilio number; not retried)."""
        return await self._request("POST", "/phone-number", operation="import_phone_number", safe=False, json=body)

    async def delete_phone_number(self, phone_number_id: str) -> None:
        """DELETE /phone-number/{id} (idempotent: a 404 means it is already gone)."""
        await self._request("DELETE", f"/phone-number/{phone_number_id}", operation="delete_phone_number",
                            safe=True)

    async def create_call(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /call. Never retried: a retry could dial the customer twice."""
        return await self._request("POST", "/call", operation="create_call", safe=False, json=body)

    async def get_call(self, call_id: str) -> dict[str, Any]:
        """GET /call/{id}."""
        return await self._request("GET", f"/call/{call_id}", operation="get_call", safe=True)

    async def list_calls(self, **params: Any) -> list[dict[str, Any]]:
        """GET /call with filters (assistantId, phoneNumberId, limit <= 1000, createdAtLt)."""
        return await self._request("GET", "/call", operation="list_calls", safe=True,
                                   params={k: v for k, v in params.items() if v is not None})
