"""Slack incoming-webhook alerts over httpx (best effort: a failed alert is logged, never raised)."""

from __future__ import annotations

import logging

import httpx

from voxanne_admin.settings import get_settings
from voxanne_admin.settings.stored import note_credential_use

log = logging.getLogger(__name__)


def post(text: str) -> bool:
    """Send `text` to the Slack webhook (SLACK_WEBHOOK_URL or the stored one) when set; True when Slack accepted."""
    url = get_settings().slack_url
    if url is None:
        return False
    try:
        response = httpx.post(url, json={"text": text}, timeout=5)
    except httpx.HTTPError:
        log.warning("slack alert failed")
        return False
    if response.status_code < 400:
        note_credential_use("slack_webhook_url")
    return response.status_code < 400


def verify(url: str) -> str:
    """Check an incoming-webhook URL without posting a message: Slack answers an empty payload with 400
    `no_text`/`invalid_payload` when the URL is live, 403/404 otherwise. Returns "" when valid, else Slack's word."""
    if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
        return "a Slack webhook URL starts with https://hooks.slack.com/"
    try:
        response = httpx.post(url, json={}, timeout=5)
    except httpx.HTTPError as exc:
        return f"Slack could not be reached ({type(exc).__name__})"
    body = response.text.strip()[:200]
    if response.status_code < 300 or (response.status_code == 400 and body in ("no_text", "invalid_payload")):
        return ""
    return f"Slack said: {response.status_code} {body or response.reason_phrase}"
