"""Circuit breaker and retry policy for provider calls."""

from __future__ import annotations

import asyncio

import pytest

from voxanne_admin.errors import ProviderError
from voxanne_admin.providers import resilience
from voxanne_admin.providers.resilience import CircuitBreaker, CircuitOpen, call_with_resilience


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _fail(status=500):
    return ProviderError("vapi", "boom", status=status)


def test_breaker_opens_after_three_transient_failures_and_refuses():
    clock = Clock()
    cb = CircuitBreaker("vapi create_call", clock=clock)
    for _ in range(3):
        cb.before_call()
        cb.record_failure(_fail(503))
    assert cb.snapshot().state == "open"
    with pytest.raises(CircuitOpen):
        cb.before_call()


def test_breaker_lets_exactly_one_trial_after_cooldown():
    clock = Clock()
    cb = CircuitBreaker("vapi get_call", clock=clock)
    for _ in range(3):
        cb.record_failure(_fail(500))
    clock.now += 30
    cb.before_call()  # the single trial
    with pytest.raises(CircuitOpen):
        cb.before_call()  # a second caller while the trial is in flight
    cb.record_success()
    assert cb.snapshot().state == "closed"
    cb.before_call()


def test_breaker_failed_trial_reopens_for_another_cooldown():
    clock = Clock()
    cb = CircuitBreaker("twilio buy_number", clock=clock)
    for _ in range(3):
        cb.record_failure(_fail(500))
    clock.now += 31
    cb.before_call()
    cb.record_failure(_fail(502))
    snap = cb.snapshot()
    assert snap.state == "open" and snap.retry_in_s == 30
    with pytest.raises(CircuitOpen):
        cb.before_call()


def test_breaker_ignores_caller_errors():
    cb = CircuitBreaker("vapi update_assistant", clock=Clock())
    for _ in range(5):
        cb.record_failure(_fail(400))
    assert cb.snapshot().state == "closed"


def _counting(outcomes):
    calls = {"n": 0}

    async def fn():
        calls["n"] += 1
        outcome = outcomes[min(calls["n"] - 1, len(outcomes) - 1)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return fn, calls


@pytest.fixture(autouse=True)
def _fresh_breakers():
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


def test_safe_operation_retried_on_429_then_succeeds():
    fn, calls = _counting([_fail(429), _fail(503), "ok"])
    result = asyncio.run(call_with_resilience(fn, provider="vapi", operation="get_call", safe=True,
                                              waits=(0.001, 0.002, 0.004)))
    assert result == "ok" and calls["n"] == 3


def test_unsafe_operation_never_retried():
    fn, calls = _counting([_fail(503), "ok"])
    with pytest.raises(ProviderError):
        asyncio.run(call_with_resilience(fn, provider="vapi", operation="create_call", safe=False,
                                         waits=(0.001, 0.002, 0.004)))
    assert calls["n"] == 1


def test_caller_error_not_retried():
    fn, calls = _counting([_fail(400), "ok"])
    with pytest.raises(ProviderError):
        asyncio.run(call_with_resilience(fn, provider="vapi", operation="get_assistant", safe=True,
                                         waits=(0.001, 0.002, 0.004)))
    assert calls["n"] == 1


def test_retries_stop_after_three_and_open_the_circuit():
    fn, calls = _counting([_fail(500)])
    with pytest.raises(ProviderError):
        asyncio.run(call_with_resilience(fn, provider="vapi", operation="list_calls", safe=True,
                                         waits=(0.001, 0.002, 0.004)))
    # Three failures open the breaker, so the fourth attempt is refused without a request.
    assert calls["n"] == 3
    assert resilience.breaker("vapi", "list_calls").snapshot().state == "open"
