"""Retries (tenacity) and a circuit breaker per provider operation.

Retries: only for safe operations and only for transient failures (429, 5xx, timeouts, connection errors),
waiting 1 s, 2 s, 4 s. Creating something (a call, a number purchase) is never retried blindly.

Circuit breaker: opens after 3 consecutive transient failures, stays open 30 s, then lets exactly one trial
request through; its success closes the circuit, its failure opens it for another 30 s. Hand-written (60
lines) because the maintained async breakers either let every caller through while half-open or track
state per decorated function; this one is per (provider, operation) and exposes its state to /health/ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from voxanne_admin.errors import ProviderError

T = TypeVar("T")
FAILURE_THRESHOLD = 3
COOLDOWN_S = 30.0
RETRY_WAITS_S = (1.0, 2.0, 4.0)


class CircuitOpen(ProviderError):
    """The provider operation failed repeatedly; calls are refused until the cooldown ends."""


def is_transient(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection failures are worth retrying and count against the breaker."""
    return isinstance(exc, ProviderError) and not isinstance(exc, CircuitOpen) and (
        exc.status is None or exc.status == 429 or exc.status >= 500
    )


@dataclass
class BreakerState:
    """What /health/ready and the Webhooks page show."""

    name: str
    state: str
    failures: int
    retry_in_s: float


class CircuitBreaker:
    """closed -> (3 transient failures) -> open -> (30 s) -> half-open (one trial) -> closed | open."""

    def __init__(self, name: str, threshold: int = FAILURE_THRESHOLD, cooldown_s: float = COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.trial_in_flight = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        """Refuse the call while open, or while the single half-open trial is in flight."""
        with self._lock:
            if self.state == "open":
                waited = self.clock() - self.opened_at
                if waited < self.cooldown_s:
                    raise CircuitOpen(
                        self.name.split(" ", 1)[0],
                        f"{self.name} is failing repeatedly; paused for {self.cooldown_s - waited:.0f} s more.",
                        code="circuit_open",
                    )
                self.state = "half_open"
                self.trial_in_flight = False
            if self.state == "half_open":
                if self.trial_in_flight:
                    raise CircuitOpen(self.name.split(" ", 1)[0],
                                      f"{self.name} is being re-tested; try again in a moment.", code="circuit_open")
                self.trial_in_flight = True

    def record_success(self) -> None:
        """A success closes the circuit."""
        with self._lock:
            self.state, self.failures, self.trial_in_flight = "closed", 0, False

    def record_failure(self, exc: BaseException) -> None:
        """Transient failures count; others (a 400, a 404) say nothing about the provider's health."""
        with self._lock:
            if not is_transient(exc):
                if self.state == "half_open":
                    self.state, self.failures, self.trial_in_flight = "closed", 0, False
                return
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.state, self.opened_at, self.trial_in_flight = "open", self.clock(), False

    def snapshot(self) -> BreakerState:
        """Current state for display."""
        with self._lock:
            retry = max(0.0, self.cooldown_s - (self.clock() - self.opened_at)) if self.state == "open" else 0.0
            return BreakerState(self.name, self.state, self.failures, round(retry, 1))


_BREAKERS: dict[str, CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def breaker(provider: str, operation: str) -> CircuitBreaker:
    """The process-wide breaker for one provider operation."""
    name = f"{provider} {operation}"
    with _REGISTRY_LOCK:
        if name not in _BREAKERS:
            _BREAKERS[name] = CircuitBreaker(name)
        return _BREAKERS[name]


def breaker_states() -> list[BreakerState]:
    """Every breaker this process has used."""
    with _REGISTRY_LOCK:
        items = list(_BREAKERS.values())
    return [b.snapshot() for b in sorted(items, key=lambda b: b.name)]


def reset_breakers() -> None:
    """Forget every breaker (tests)."""
    with _REGISTRY_LOCK:
        _BREAKERS.clear()


async def call_with_resilience(
    fn: Callable[[], Awaitable[T]],
    *,
    provider: str,
    operation: str,
    safe: bool,
    waits: tuple[float, ...] = RETRY_WAITS_S,
) -> T:
    """Run one provider request through its breaker, retrying transient failures of safe operations."""
    cb = breaker(provider, operation)

    async def attempt() -> T:
        cb.before_call()
        try:
            result = await fn()
        except BaseException as exc:
            cb.record_failure(exc)
            raise
        cb.record_success()
        return result

    if not safe or not waits:
        return await attempt()
    retrying = AsyncRetrying(
        stop=stop_after_attempt(len(waits) + 1),
        wait=wait_exponential(multiplier=waits[0], min=waits[0], max=waits[-1]),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            return await attempt()
    raise AssertionError("unreachable")  # pragma: no cover
