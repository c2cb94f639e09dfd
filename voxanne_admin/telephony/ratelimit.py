"""Rate limits for country selection and provisioning, with the `limits` library's moving window: in memory with
one worker, in Redis (REDIS_URL) when several workers or replicas must share the counters."""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from voxanne_admin.errors import RateLimited
from voxanne_admin.settings import get_settings

ACTIONS = {"country": "country changes", "provision": "number purchases"}


@functools.lru_cache(maxsize=1)
def _limiter() -> tuple[MovingWindowRateLimiter, Any]:
    settings = get_settings()
    uri = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
    storage = storage_from_string(uri)
    return MovingWindowRateLimiter(storage), storage


def reset() -> None:
    """Forget every counter (tests; an operator after an incident)."""
    _, storage = _limiter()
    storage.reset()


def _refuse(limiter: MovingWindowRateLimiter, item, keys: tuple[str, ...], what: str) -> RateLimited:
    reset_at, _remaining = limiter.get_window_stats(item, *keys)
    wait = max(1, math.ceil(reset_at - time.time()))
    minutes = max(1, math.ceil(wait / 60))
    return RateLimited(f"Too many {what}: {what} are limited to {item.amount} per "
                       f"{item.multiples} {item.GRANULARITY.name}{'s' if item.multiples > 1 else ''}. "
                       f"Try again in {minutes} minute{'s' if minutes > 1 else ''} (HTTP 429)", retry_after_s=wait)


def check_rate(*, action: str, ip: str, org_id: int | None) -> None:
    """Count one attempt; raise RateLimited (message ending "(HTTP 429)") past 100 per 15 minutes per IP or
    1,000 per hour per organization (settings TELEPHONY_IP_LIMIT / TELEPHONY_ORG_LIMIT)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown rate-limited action {action!r}")
    settings = get_settings()
    limiter, _ = _limiter()
    what = f"telephony {ACTIONS[action]}"
    if ip:
        per_ip = RateLimitItemPerMinute(settings.telephony_ip_limit, 15)
        if not limiter.hit(per_ip, "telephony", action, "ip", ip):
            raise _refuse(limiter, per_ip, ("telephony", action, "ip", ip), f"{what} from this address")
    if org_id:
        per_org = RateLimitItemPerHour(settings.telephony_org_limit, 1)
        if not limiter.hit(per_org, "telephony", action, "org", str(org_id)):
            raise _refuse(limiter, per_org, ("telephony", action, "org", str(org_id)), f"{what} for this organization")
