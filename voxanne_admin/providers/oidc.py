"""The HTTP side of single sign-on: the OpenID Provider's discovery document, its JWKS and its token endpoint,
over httpx. No caching and no validation here: `auth/oidc.py` caches, checks and decides."""

from __future__ import annotations

from typing import Any

import httpx

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

Transport = httpx.BaseTransport  # tests hand in an httpx.MockTransport


class OidcHttpError(Exception):
    """The provider could not be reached or did not answer with JSON. `kind` names the underlying error
    (e.g. "ConnectError", "HTTPStatusError", "JSONDecodeError"); str() is its text."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


class OidcHttp:
    """Plain GET/POST to one OpenID Provider (no redirects followed, 10 s timeout)."""

    def __init__(self, transport: Transport | None = None):
        self._transport = transport

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=HTTP_TIMEOUT, transport=self._transport, follow_redirects=False)

    def get_json(self, url: str) -> Any:
        """GET `url` and decode its JSON body; a non-2xx status, a transport error or a non-JSON body raises
        OidcHttpError."""
        try:
            with self._client() as http:
                response = http.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcHttpError(type(exc).__name__, str(exc)) from None

    def post_form(self, url: str, data: dict[str, str], *,
                  basic_auth: tuple[str, str] | None = None) -> tuple[int, Any]:
        """POST a form (client_secret_basic when `basic_auth`); (status, JSON body or {} when not JSON).
        Only a transport error raises OidcHttpError: refusals are the caller's to read."""
        auth = httpx.BasicAuth(*basic_auth) if basic_auth else httpx.USE_CLIENT_DEFAULT
        try:
            with self._client() as http:
                response = http.post(url, data=data, auth=auth, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcHttpError(type(exc).__name__, str(exc)) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body
