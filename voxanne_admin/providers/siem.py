"""The SIEM endpoint (AUDIT_STREAM_URL) over httpx: one POST of a JSON batch, 2xx or an error that says why."""

from __future__ import annotations

import json
from typing import Any

import httpx

TIMEOUT_S = 15.0


class SiemUnavailable(Exception):
    """The endpoint could not be reached or did not accept the batch (the batch is sent again later)."""


def post_batch(url: str, payload: dict[str, Any], *, token: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
    """POST one batch as JSON; returns on 2xx, raises SiemUnavailable otherwise (never logs the token)."""
    headers = {"Content-Type": "application/json", "User-Agent": "voxanne-admin-audit-stream/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SiemUnavailable(f"the SIEM endpoint could not be reached ({type(exc).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise SiemUnavailable(f"the SIEM endpoint answered HTTP {response.status_code}")
