"""Optional Sentry (SENTRY_DSN): unhandled errors are sent to Sentry, scrubbed of PHI, PII and secrets first.

What leaves the process is decided here, not by Sentry's defaults. Sentry receives code, not data:
- exception types, stack frames (file, function, line) and log message templates (`"customer %s said: %s"`,
  written by us) go; exception messages and log parameters do not: they are built from call data, and a
  transcript sentence ("her inhaler ran out") is not something any redaction recognises. The message is replaced by
  its length and the event id, so the full text can be found in our own (masked) logs;
- no local variables, no request bodies, no cookies, no headers but a few harmless ones, no user fields but an id;
- extra data keeps its keys and numbers, credentials scrubbed (`privacy.secrets`) and texts withheld; breadcrumb
  data, contexts and tags go through the project's own redaction (`privacy.redaction`, which also scrubs
  credentials).
"""

from __future__ import annotations

import logging
from typing import Any

from voxanne_admin.privacy import masking, redaction, secrets
from voxanne_admin.settings import Settings

log = logging.getLogger(__name__)
SAFE_HEADERS = {"user-agent", "content-type", "content-length", "x-request-id", "accept"}
_started = False


def _text(value: Any) -> Any:
    return masking.mask(redaction.redact(value)) if isinstance(value, str) else value


WITHHELD = "[withheld]"


def _withheld(value: Any, event_id: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    where = f"; the server log has it (Sentry event {event_id})" if event_id else ""
    return f"[withheld: {len(value)} characters of call or staff data{where}]"


def _withhold_values(value: Any) -> Any:
    """Extra data keeps its shape (keys, numbers, booleans); its texts are call data and are withheld."""
    if isinstance(value, dict):
        return {k: _withhold_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_withhold_values(v) for v in value]
    return _withheld(value, None) if isinstance(value, str) and value != "[redacted]" else value


def _clean_request(request: dict[str, Any]) -> dict[str, Any]:
    url = str(request.get("url", "")).split("?", 1)[0]
    headers = request.get("headers") or {}
    kept = {k: v for k, v in headers.items() if str(k).lower() in SAFE_HEADERS} if isinstance(headers, dict) else {}
    return {"method": request.get("method"), "url": url, "headers": kept}


def _clean_frames(container: dict[str, Any] | None) -> None:
    for frame in ((container or {}).get("stacktrace") or {}).get("frames") or []:
        frame.pop("vars", None)


def before_send(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's last hook before sending: strip what may hold patient or staff data, redact what is left."""
    if isinstance(event.get("request"), dict):
        event["request"] = _clean_request(event["request"])
    user = event.get("user")
    event["user"] = {"id": user["id"]} if isinstance(user, dict) and user.get("id") else {}
    for exc in (event.get("exception") or {}).get("values") or []:
        exc["value"] = _withheld(exc.get("value"), event.get("event_id"))
        _clean_frames(exc)
    for thread in (event.get("threads") or {}).get("values") or []:
        _clean_frames(thread)
    if isinstance(event.get("logentry"), dict):
        entry = event["logentry"]
        entry.pop("formatted", None)  # the template (our code) stays; the values (call data) go
        entry["params"] = [WITHHELD for _ in entry.get("params") or []]
        entry["message"] = _text(entry.get("message"))
    if event.get("message"):
        event["message"] = _withheld(event["message"], event.get("event_id"))
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    for crumb in values or []:
        if crumb.get("message") and not str(crumb["message"]).startswith("[withheld"):
            crumb["message"] = _withheld(crumb["message"], None)
        if crumb.get("data"):
            crumb["data"] = redaction.redact_payload(crumb["data"])
    if event.get("extra"):
        event["extra"] = _withhold_values(secrets.scrub(event["extra"]))
    for key in ("contexts", "tags"):  # runtime, OS, trace ids: ours, but redacted in case someone set one
        if event.get(key):
            event[key] = redaction.redact_payload(event[key])
    event.pop("server_name", None)
    return event


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Breadcrumbs are redacted as they are recorded (HTTP breadcrumbs keep only the URL without its query)."""
    crumb["message"] = _withheld(crumb.get("message"), None) if crumb.get("category") != "http" else None
    data = crumb.get("data")
    if isinstance(data, dict):
        if "url" in data:
            data["url"] = str(data["url"]).split("?", 1)[0]
        crumb["data"] = redaction.redact_payload(data)
    return crumb


def init(settings: Settings) -> bool:
    """Start Sentry when SENTRY_DSN is set (once per process); returns whether it is on."""
    global _started
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=before_breadcrumb,
        traces_sample_rate=0.0,
    )
    _started = True
    return True
