"""The wait after a rate-limit answer: Retry-After, the broker's x-ratelimit headers, else the provider's rate."""

from __future__ import annotations

import pytest

from zerog_compute import ProviderUnavailableError, RateLimitedError
from zerog_compute.http_errors import go_duration, provider_error
from zerog_compute.ratelimit import (
    MAX_RETRY_AFTER_S,
    Limiter,
    RateLimit,
    Window,
    next_slot,
    rate_facts,
    retry_delay,
)

PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RPM_BODY = b'{"error":{"type":"rate_limit_error","message":"Rate limit exceeded. (limit: 30 requests/min)."}}'


def per_user_429(headers: dict[str, str] | None = None) -> RateLimitedError:
    """The broker's per-user 429: no Retry-After."""
    error = provider_error(429, RPM_BODY, headers or {}, PROVIDER)
    assert isinstance(error, RateLimitedError)
    return error


def samples(attempt: int, n: int = 200, **facts: object) -> list[float]:
    return [next_slot(per_user_429(), attempt, **facts) for _ in range(n)]  # type: ignore[arg-type]


def test_without_retry_after_the_wait_is_at_least_one_token_of_the_rate() -> None:
    first = samples(0, rpm=30)
    assert min(first) >= 2.0 and max(first) <= 2.5  # 60/30 s, jitter only upwards
    assert len({round(s, 6) for s in first}) > 1  # jittered
    assert min(samples(1, rpm=30)) >= 4.0 and max(samples(1, rpm=30)) <= 5.0  # doubles per attempt
    assert 1.0 <= min(samples(0, rpm=60)) <= max(samples(0, rpm=60)) <= 1.25
    assert min(samples(0)) >= 2.0  # rate unknown (client limits off): the brokers' default 30/min
    assert max(samples(30, rpm=30)) <= 30.0  # capped
    assert 60.0 >= min(samples(0, rpm=1)) >= 60.0  # never under one token, never over the Retry-After cap


def test_retry_after_from_the_server_wins_and_is_capped() -> None:
    error = provider_error(429, RPM_BODY, {"Retry-After": "7"}, PROVIDER)
    assert isinstance(error, RateLimitedError)
    assert next_slot(error, 0, rpm=30) == 7.0 and next_slot(error, 3, rpm=30) == 7.0
    assert retry_delay(error, 0, 2) == 7.0 and error.retry_after == 7.0 and not error.retry_after_estimated
    huge = provider_error(429, RPM_BODY, {"Retry-After": "3600"}, PROVIDER)
    assert retry_delay(huge, 0, 2) == MAX_RETRY_AFTER_S


def test_the_estimate_becomes_retry_after_and_the_budget_still_applies() -> None:
    error = per_user_429()
    assert error.retry_after is None
    delay = retry_delay(error, 0, 2, rpm=30)
    assert delay is not None and 2.0 <= delay <= 2.5
    assert error.retry_after == round(delay, 3) and error.retry_after_estimated
    spent = per_user_429()
    assert retry_delay(spent, 2, 2, rpm=30) is None  # no retry left ...
    assert spent.retry_after is not None and spent.retry_after >= 2.0  # ... but the caller learns when to come back
    assert retry_delay(ProviderUnavailableError("down"), 0, 2) is None


def test_headers_of_the_last_success_say_exactly_when_the_next_token_comes() -> None:
    window = Window.of({"x-ratelimit-limit-requests": "30", "x-ratelimit-remaining-requests": "0"}, seen_at=100.0)
    assert window is not None
    waits = [next_slot(per_user_429(), 0, rpm=30, window=window, now=100.5) for _ in range(50)]
    assert min(waits) >= 1.5 and max(waits) <= 1.5 * 1.05  # not the 2 s backoff: the token is due in 1.5 s
    later = Window(seen_at=100.0, limit=30, remaining=0, reset=3.0)  # the bucket was 3 s in debt
    assert 4.5 <= next_slot(per_user_429(), 0, window=later, now=100.5) <= 4.5 * 1.05
    faster = Window(seen_at=100.0, limit=120, remaining=0)  # the broker's own limit beats the client's rpm
    assert 0.5 <= next_slot(per_user_429(), 0, rpm=30, window=faster, now=100.0) <= 0.525


def test_headers_that_cannot_explain_the_refusal_fall_back_to_the_rate() -> None:
    stale = Window(seen_at=100.0, limit=30, remaining=0)
    assert 2.0 <= next_slot(per_user_429(), 0, rpm=30, window=stale, now=105.0) <= 2.5  # the token came long ago
    spare = Window(seen_at=100.0, limit=30, remaining=4)
    assert 2.0 <= next_slot(per_user_429(), 0, rpm=30, window=spare, now=100.1) <= 2.5  # someone else used them
    cap = provider_error(503, b'{"error":"Server is currently processing too many requests."}', {}, PROVIDER)
    assert isinstance(cap, RateLimitedError)
    empty = Window(seen_at=100.0, limit=30, remaining=0)
    assert next_slot(cap, 0, rpm=30, window=empty, now=100.5) >= 2.0  # the global cap is not our bucket


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"}, (None, 0, 2.0)),
        ({"X-RateLimit-Limit-Requests": "30", "X-RateLimit-Reset-Requests": "1m0s"}, (30, None, 60.0)),
        ({"x-ratelimit-reset-requests": "500ms"}, (None, None, 0.5)),
        ({"x-ratelimit-reset-requests": "1.5"}, (None, None, 1.5)),
        ({"x-ratelimit-remaining-requests": "many", "x-ratelimit-reset-requests": "soon"}, None),
        ({"content-type": "application/json"}, None),
    ],
)
def test_window_headers_parse(headers: dict[str, str], expected: tuple[object, ...] | None) -> None:
    window = Window.of(headers, seen_at=1.0)
    assert (None if window is None else (window.limit, window.remaining, window.reset)) == expected


def test_go_durations() -> None:
    assert [go_duration(t) for t in ("2s", "59m0s", "1h2m3.5s", "500ms", "1m30s")] == [2.0, 3540.0, 3723.5, 0.5, 90.0]
    assert [go_duration(t) for t in ("", "2", "s", "2x", "soon")] == [None] * 5


def test_the_limiter_remembers_each_providers_last_window() -> None:
    now = [50.0]
    limiter = Limiter(RateLimit(rpm=30), clock=lambda: now[0])
    assert rate_facts(limiter, PROVIDER)["window"] is None and rate_facts(None, PROVIDER) == {}
    limiter.windows.observe(PROVIDER, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-limit-requests": "30"})
    limiter.windows.observe(PROVIDER, {"content-type": "text/plain"})  # no window: the last one stays
    now[0] = 50.5
    assert limiter.windows.wait(PROVIDER.lower(), 30) == pytest.approx(1.5)
    facts = rate_facts(limiter, PROVIDER)
    assert facts["rpm"] == 30 and facts["now"] == 50.5 and facts["window"].remaining == 0
    now[0] = 53.0
    assert limiter.windows.wait(PROVIDER, 30) == 0.0
