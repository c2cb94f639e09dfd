"""The sandbox carrier's dial API over httpx (sandbox mode only): the clinic dials a code on its line.

There is no real-world counterpart: for real, the clinic dials the code on its own phone."""

from __future__ import annotations

from typing import Any

import httpx

from voxanne_admin.settings import get_settings


async def dial(line: str, code: str) -> tuple[int, dict[str, Any], str]:
    """Dial `code` on the sandbox line `line`: (HTTP status, JSON body, raw text)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{get_settings().internal_url}/sandbox/carrier/dial",
                                     json={"line": line, "code": code})
    body = response.json() if response.content else {}
    return response.status_code, body if isinstance(body, dict) else {}, response.text
