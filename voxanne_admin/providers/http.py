"""Shared httpx plumbing: per-event-loop clients, explicit timeouts, errors mapped to ProviderError."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from voxanne_admin.errors import ProviderError
from voxanne_admin.providers import resilience

TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
_clients: dict[tuple[int, str], httpx.AsyncClient] = {}


def client_for(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """One pooled client per event loop and base URL (a client must not cross event loops)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), base_url + repr(sorted(kwargs.items())))
    client = _clients.get(key)
    if client is None or client.is_closed:
        kwargs.setdefault("timeout", TIMEOUT)
        client = httpx.AsyncClient(base_url=base_url, **kwargs)
        _clients[key] = client
    return client


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    provider: str,
    operation: str,
    safe: bool,
    error_mapper,
    waits: tuple[float, ...] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request through breaker and retry policy; non-2xx become ProviderError via `error_mapper`."""

    async def once() -> httpx.Response:
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ProviderError(provider, f"{provider.title()} did not answer in time ({operation}).",
                                code="timeout") from None
        except httpx.TransportError as exc:
            raise ProviderError(provider, f"Could not reach {provider.title()} ({type(exc).__name__}).",
                                code="connection") from None
        if response.status_code >= 400:
            raise error_mapper(response)
        return response

    return await resilience.call_with_resilience(
        once, provider=provider, operation=operation, safe=safe,
        waits=resilience.RETRY_WAITS_S if waits is None else waits,
    )
