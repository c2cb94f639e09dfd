"""The client's IP address, the one function every per-IP limit and audit row uses (Reflex and HTTP routes).

Behind a load balancer every connection comes from the proxy, so `X-Forwarded-For` must be read; but a header any
client can send must only be believed when the connection really comes from a proxy we run (`TRUSTED_PROXIES`).
The header is walked from the right (each proxy appends the address it saw): the first address that is not one of
our proxies is the client. A connection from anywhere else keeps its socket peer, whatever header it sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from voxanne_admin.settings import get_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def resolve(peer: str, forwarded_for: str | None, networks: Iterable[Network] | None = None) -> str:
    """The client address for a connection from `peer` carrying `forwarded_for` (X-Forwarded-For, may be None)."""
    nets = tuple(get_settings().trusted_proxy_networks if networks is None else networks)
    if not nets or not forwarded_for or not _trusted(_address(peer), nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a malformed hop: do not guess, keep the proxy's address
        if not _trusted(address, nets):
            return str(address)
    return str(_address(hops[0])) if hops else peer


def from_request(request: Any) -> str:
    """The client address of a Starlette/FastAPI request."""
    peer = request.client.host if request.client else ""
    return resolve(peer, request.headers.get("x-forwarded-for"))


def from_reflex_headers(session_ip: str, raw_headers: Mapping[str, str]) -> str:
    """The client address of a Reflex websocket connection: the socket peer Reflex recorded
    (`asgi-scope-client`, else its `client_ip`) and the connection's X-Forwarded-For."""
    peer = raw_headers.get("asgi-scope-client") or session_ip
    return resolve(peer, raw_headers.get("x-forwarded-for"))
