"""Browser-facing HTTP security: the one allowed Origin (websocket handshake and HTTP) and the security headers
on every response (pages, static assets, API, webhooks, health, the websocket upgrade).

Plain ASGI, like RequestIdMiddleware: it wraps Reflex's app too (pages, `/_event`, static files), so nothing
served by this process escapes it. The same origin list is Reflex's `cors_allowed_origins` (rxconfig.py) and is
re-checked on every event by `ui/security.py`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from voxanne_admin import vault
from voxanne_admin.settings import Settings, get_settings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = ROOT / ".web" / "build" / "client"
PRE_COOKIE = "vx_presignin"  # binds a sign-in ticket to one browser (api/auth.py)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allowed_origins(settings: Settings | None = None) -> tuple[str, ...]:
    """VOXANNE_PUBLIC_URL's origin; while it is the default, also http://localhost:PORT and 127.0.0.1:PORT."""
    settings = settings or get_settings()
    origins = [origin_of(settings.public_url)]
    if not settings.voxanne_public_url:
        for host in ("localhost", "127.0.0.1"):
            candidate = f"http://{host}:{settings.port}"
            if candidate not in origins:
                origins.append(candidate)
    return tuple(origins)


def origin_allowed(origin: str, settings: Settings | None = None) -> bool:
    """An absent Origin (server-to-server callers, same-origin navigations) or one of ours."""
    if not origin:
        return True
    return origin_of(origin) in allowed_origins(settings) if "://" in origin else False


def foreign_origin_message(settings: Settings | None = None) -> str:
    """What a refused browser is told (nothing an attacker does not already know)."""
    settings = settings or get_settings()
    return f"This page must be opened from {settings.public_url}."


# ---------------------------------------------------------------- sandbox routes

SANDBOX_SECRET_HEADER = "x-voxanne-sandbox-secret"
SANDBOX_SECRET_FILE = "sandbox-access"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def require_sandbox_access(request: Request) -> None:
    """The stand-in providers (/sandbox/*) answer our own loopback clients, or whoever has the sandbox secret."""
    if _loopback(request.client.host if request.client else ""):
        return
    given = request.headers.get(SANDBOX_SECRET_HEADER, "")
    if given and secrets.compare_digest(given.encode(), vault.key_file(SANDBOX_SECRET_FILE).encode()):
        return
    raise HTTPException(403, "The sandbox providers answer only on this machine (loopback), or with the "
                             f"{SANDBOX_SECRET_HEADER} header set to VOXANNE_DATA_DIR/secrets/{SANDBOX_SECRET_FILE}.")


# ---------------------------------------------------------------- Content-Security-Policy

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


@functools.lru_cache(maxsize=4)
def _inline_script_hashes(build_dir: Path, stamp: float) -> tuple[str, ...]:
    """sha256 sources of the inline <script> blocks React Router writes into the exported pages."""
    del stamp  # part of the cache key: a rebuilt frontend is read again
    hashes: set[str] = set()
    for page in build_dir.rglob("*.html"):
        for body in _INLINE_SCRIPT.findall(page.read_bytes()):
            if body.strip():
                hashes.add("'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'")
    return tuple(sorted(hashes))


def inline_script_hashes() -> tuple[str, ...]:
    """The hashes for the current build (none before the frontend is built)."""
    index = BUILD / "index.html"
    if not index.exists():
        return ()
    return _inline_script_hashes(BUILD, index.stat().st_mtime)


def websocket_origins(settings: Settings | None = None) -> list[str]:
    """ws(s):// forms of the allowed origins, for connect-src (the event websocket goes to API_URL)."""
    return [re.sub(r"^http", "ws", o) for o in allowed_origins(settings)]


def content_security_policy(settings: Settings | None = None) -> str:
    """The CSP of every response. Why each relaxation is there is in README ("Security headers")."""
    settings = settings or get_settings()
    connect = " ".join(["'self'", *allowed_origins(settings), *websocket_origins(settings)])
    # No 'unsafe-eval': the console sends the browser data, never code (ui/components/browser.py).
    scripts = " ".join(["'self'", *inline_script_hashes()])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        f"connect-src {connect}",
        "worker-src 'self' blob:",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=(), interest-cohort=()")


HEADERS_TTL_S = 2.0  # a rebuilt frontend's inline-script hashes reach the CSP within this
_headers_cache: dict[int, tuple[float, Settings, list[tuple[bytes, bytes]]]] = {}


def security_headers(settings: Settings | None = None) -> list[tuple[bytes, bytes]]:
    """The headers added to every response (built at most every HEADERS_TTL_S per settings object: the CSP reads
    the build's stamp and joins the allowed origins, which cost more than a small webhook's own work)."""
    settings = settings or get_settings()
    now = time.monotonic()
    cached = _headers_cache.get(id(settings))
    if cached is not None and cached[1] is settings and now - cached[0] < HEADERS_TTL_S:
        return cached[2]
    headers = _build_headers(settings)
    _headers_cache[id(settings)] = (now, settings, headers)
    return headers


def _build_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if settings.public_url.startswith("https://"):
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


def new_presignin_cookie(settings: Settings) -> bytes:
    """Set-Cookie for a fresh pre-sign-in binding (Lax, not Strict: it must survive the IdP's redirect back)."""
    secure = "; Secure" if settings.public_url.startswith("https://") else ""
    return f"{PRE_COOKIE}={secrets.token_urlsafe(24)}; HttpOnly; SameSite=Lax; Path=/{secure}".encode()


def _has_cookie(raw: str, name: str) -> bool:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return False
    return name in jar


_OURS = {name for name, _ in _build_headers(Settings())} | {b"strict-transport-security"}
IMMUTABLE_PREFIX = "/assets/"
IMMUTABLE = b"public, max-age=31536000, immutable"


class SecurityMiddleware:
    """Refuses a foreign Origin (403 on HTTP, a refused handshake on the websocket) and adds the security
    headers to every HTTP response and websocket handshake."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        origin = cookie = ""
        for name, value in scope.get("headers") or []:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        extra = security_headers(settings)
        if not origin_allowed(origin, settings):
            log.info("refused a request from a foreign origin", extra={"path": scope.get("path", "")[:200]})
            if scope["type"] == "websocket":
                if "websocket.http.response" not in (scope.get("extensions") or {}):
                    await send({"type": "websocket.close", "code": 1008})  # the server answers 403
                    return
                await send({"type": "websocket.http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"), *extra]})
                await send({"type": "websocket.http.response.body",
                            "body": json.dumps({"error": foreign_origin_message(settings)}).encode()})
                return
            body = json.dumps({"error": foreign_origin_message(settings)}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *extra]})
            await send({"type": "http.response.body", "body": body})
            return

        needs_binding = scope["type"] == "http" and not _has_cookie(cookie, PRE_COOKIE)
        path = str(scope.get("path", ""))
        # Answers of our routes may carry PHI or secrets: never stored by a browser or shared cache (ASVS 8.2.1).
        no_store = path.startswith(("/api/", "/webhooks/"))
        # The build's scripts, styles and fonts are named by their content hash (Vite's assets/<name>-<hash>.<ext>):
        # a browser keeps them for a year and never asks again, so a page load fetches only its HTML. A new build
        # has new names. Pages themselves keep the default (revalidated on every load).
        immutable = scope["type"] == "http" and path.startswith(IMMUTABLE_PREFIX)

        async def send_with_headers(message):
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.http.response.start"):
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                headers = [*kept, *extra]
                if no_store and not any(k.lower() == b"cache-control" for k, _ in kept):
                    headers.append((b"cache-control", b"no-store"))
                elif immutable and message.get("status") == 200:
                    headers.append((b"cache-control", IMMUTABLE))
                if needs_binding and any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in kept):
                    headers.append((b"set-cookie", new_presignin_cookie(settings)))  # pages only
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
