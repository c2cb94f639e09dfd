"""Slack incoming-webhook alerts over httpx (best effort: a failed alert is logged, never raised)."""

from __future__ import annotations

import logging

import httpx

from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)


def post(text: str) -> bool:
    """Send `text` to SLACK_WEBHOOK_URL when it is configured; True when Slack accepted it."""
    url = get_settings().slack_webhook_url
    if url is None:
        return False
    try:
        response = httpx.post(url.get_secret_value(), json={"text": text}, timeout=5)
    except httpx.HTTPError:
        log.warning("slack alert failed")
        return False
    return response.status_code < 400
