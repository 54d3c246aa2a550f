"""Client-side rate limiting per provider, and the retry rule for 429/503 answers.

The devnet and real brokers allow each *wallet* 30 requests/min with a burst of 5 and 5 in flight.
Mirroring that on the client (a little below it) makes a burst of calls queue instead of drawing 429s.
The buckets belong to the wallet (:class:`SharedBuckets`: :class:`RateBuckets` in the process, or a state store's
across processes and hosts, see :mod:`zerog_compute.state`);
each client looks at them through a :class:`Limiter` with its own :class:`RateLimit`. Waiting is
expressed as :class:`~zerog_compute._io.Sleep` / :class:`~zerog_compute._io.WaitFor` so the same code
serves both clients.

Brokers send no ``Retry-After`` on their per-user 429s, so :func:`retry_delay` waits for the next
token of the provider's rate (at least 60/rpm seconds), or exactly as long as the ``x-ratelimit-*``
headers of the provider's last successful answer say (kept per provider in :class:`Windows`, per wallet).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._io import Flow, Sleep, WaitFor
from ._waiting import Gate
from .errors import ConfigurationError, RateLimitedError, ZeroGError
from .http_errors import go_duration, header

SLOT_WAIT_S = 5.0
"""Longest single wait for a free slot before checking again (a release wakes waiters at once)."""
SLOT_BACKOFF_MAX_S = 0.5
"""Longest wait between looks at a shared store's slots (a release in another process wakes nobody here)."""
MAX_RETRY_AFTER_S = 60.0
SAFETY_MARGIN = 0.05
"""The client paces itself this fraction below the provider's rate (and one below its burst), so timing
jitter draws no 429s."""


@dataclass(frozen=True)
class RateLimit:
    """Per-provider limits and the retry budget for rate-limit answers."""

    rpm: int = 30
    burst: int = 5
    max_concurrent: int = 5
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.rpm < 0 or self.burst < 1 or self.max_concurrent < 1 or self.max_retries < 0:
            raise ConfigurationError(
                "RateLimit needs rpm >= 0 (0 = unlimited), burst >= 1, max_concurrent >= 1, max_retries >= 0"
            )

    @property
    def rate(self) -> float:
        """Tokens per second the client allows itself: the provider's rate less :data:`SAFETY_MARGIN`."""
        return self.rpm / 60.0 * (1.0 - SAFETY_MARGIN)

    @property
    def paced_burst(self) -> int:
        """The burst the client allows itself: one below the provider's, so a request delayed on its way
        (thread scheduling, the network) cannot arrive after the provider's bucket ran dry."""
        return max(1, self.burst - 1)


class _Bucket:
    def __init__(self, burst: int, now: float) -> None:
        self.tokens = float(burst)
        self.stamp = now
        self.in_flight = 0


class SharedBuckets(Protocol):
    """A wallet's token buckets and in-flight slots per provider, wherever they live.

    ``slots`` is notified on every release in this process; ``slot_poll`` is None when every holder lives in
    this process, else the first wait (seconds, doubled up to :data:`SLOT_BACKOFF_MAX_S`) between looks.
    """

    slots: Gate
    slot_poll: float | None

    def take(self, provider: str, limit: RateLimit) -> tuple[float, int | None]: ...
    def release(self, provider: str) -> None: ...
    def ready_in(self, provider: str, limit: RateLimit) -> float: ...
    def in_flight(self, provider: str) -> int: ...


class RateBuckets:
    """Token buckets and in-flight slots per provider for one wallet: every client of the wallet shares them.

    Thread-safe and usable from any event loop; a caller waiting for a slot sleeps on :attr:`slots` (a
    :class:`~zerog_compute._waiting.Gate` notified on every release) instead of polling.
    """

    slot_poll: float | None = None

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.slots = Gate()
        self.windows = Windows(clock)
        """What the brokers said about the wallet's budget on their last successful answers."""

    def _refill(self, bucket: _Bucket, limit: RateLimit, now: float) -> None:
        bucket.tokens = min(float(limit.paced_burst), bucket.tokens + (now - bucket.stamp) * limit.rate)
        bucket.stamp = now

    def take(self, provider: str, limit: RateLimit) -> tuple[float, int | None]:
        """``(0.0, None)`` when a token and a slot were taken; else ``(seconds, None)`` until the next token,
        or ``(seconds, version)`` when every slot is busy (wait on :attr:`slots` past ``version``)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(provider.lower(), _Bucket(limit.paced_burst, now))
            if bucket.in_flight >= limit.max_concurrent:
                return SLOT_WAIT_S, self.slots.version
            if limit.rpm:
                self._refill(bucket, limit, now)
                if bucket.tokens < 1.0:
                    return (1.0 - bucket.tokens) / limit.rate, None
                bucket.tokens -= 1.0
            bucket.in_flight += 1
            return 0.0, None

    def release(self, provider: str) -> None:
        """Give a slot back and wake whoever waits for one."""
        with self._lock:
            bucket = self._buckets.get(provider.lower())
            if bucket is None or bucket.in_flight == 0:
                return
            bucket.in_flight -= 1
        self.slots.notify_all()

    def ready_in(self, provider: str, limit: RateLimit) -> float:
        """Seconds until ``provider`` could take a request (0.0: now; ``math.inf``: every slot is busy)."""
        with self._lock:
            bucket = self._buckets.get(provider.lower())
            if bucket is None:
                return 0.0
            if bucket.in_flight >= limit.max_concurrent:
                return math.inf
            if not limit.rpm:
                return 0.0
            tokens = min(float(limit.paced_burst), bucket.tokens + (self._clock() - bucket.stamp) * limit.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / limit.rate

    def in_flight(self, provider: str) -> int:
        with self._lock:
            bucket = self._buckets.get(provider.lower())
            return bucket.in_flight if bucket is not None else 0


class Limiter:
    """One client's view of its wallet's :class:`SharedBuckets`, with the client's own :class:`RateLimit`."""

    def __init__(
        self, limit: RateLimit, buckets: SharedBuckets | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.buckets: SharedBuckets = buckets if buckets is not None else RateBuckets(clock)
        shared_windows = getattr(self.buckets, "windows", None)  # the wallet's, when its buckets keep them
        self.windows: Windows = shared_windows if isinstance(shared_windows, Windows) else Windows(clock)

    def take(self, provider: str) -> tuple[float, int | None]:
        """See :meth:`RateBuckets.take`."""
        return self.buckets.take(provider, self.limit)

    def try_acquire(self, provider: str) -> float:
        """0.0 when a slot and a token were taken, else how long to wait before trying again."""
        return self.take(provider)[0]

    def ready_in(self, provider: str) -> float:
        """Seconds until ``provider`` could take a request (0.0: now; ``math.inf``: every slot is busy).

        A peek: nothing is taken. Pools use it to send to the candidate that can serve soonest.
        """
        return self.buckets.ready_in(provider, self.limit)

    def in_flight(self, provider: str) -> int:
        """Requests this wallet has in flight with ``provider`` (all its clients together)."""
        return self.buckets.in_flight(provider)

    def release(self, provider: str) -> None:
        self.buckets.release(provider)


def acquire(limiter: Limiter | None, provider: str) -> Flow[None]:
    """Wait for a token and a slot with ``provider`` (no-op without a limiter); never a hot loop.

    A slot freed in this process wakes the waiter at once; one freed in another process (a shared store) is
    seen at the next look, after a wait that doubles from ``slot_poll`` up to :data:`SLOT_BACKOFF_MAX_S`.
    """
    if limiter is None:
        return
    poll = limiter.buckets.slot_poll
    while True:
        wait, version = limiter.take(provider)
        if wait <= 0:
            return
        if version is None:
            yield Sleep(wait)
            continue
        if poll is not None:
            wait = min(wait, poll * (0.75 + random.random() / 2))
            poll = min(poll * 2, SLOT_BACKOFF_MAX_S)
        yield WaitFor(limiter.buckets.slots, version, wait)


DEFAULT_RPM = 30  # the brokers' per-user default: assumed when neither the client nor the broker says
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Window:
    """What a broker said about our request budget on a successful answer (``x-ratelimit-*-requests``)."""

    seen_at: float
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str], seen_at: float) -> Window | None:
        """The window in ``headers`` (``reset`` as ``"<n>s"`` or a Go duration); None when they carry none."""
        limit = _count(header(headers, "x-ratelimit-limit-requests"))
        remaining = _count(header(headers, "x-ratelimit-remaining-requests"))
        reset_text = header(headers, "x-ratelimit-reset-requests")
        reset = _seconds(reset_text) if reset_text else None
        if limit is None and remaining is None and reset is None:
            return None
        return cls(seen_at, limit or None, remaining, reset)

    def wait(self, now: float, interval: float) -> float | None:
        """Seconds until the broker's bucket holds a token again by these headers; None when they cannot tell.

        With no request left, a token comes at most one ``interval`` after the bucket is back at zero
        (``reset`` later); with requests left, the headers say nothing about a later refusal.
        """
        elapsed = now - self.seen_at
        if self.remaining == 0:
            ready = (self.reset or 0.0) + interval - elapsed
            return ready if ready > 0 else None
        if self.remaining is None and self.reset is not None and self.reset > elapsed:
            return self.reset - elapsed
        return None


def _count(text: str | None) -> int | None:
    try:
        return max(int(text), 0) if text is not None else None
    except ValueError:
        return None


def _seconds(text: str) -> float | None:
    try:
        return max(float(text), 0.0)
    except ValueError:
        return go_duration(text)


class Windows:
    """The latest :class:`Window` per provider (thread-safe); fed by every successful answer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, Window] = {}

    def observe(self, provider: str, headers: Mapping[str, str]) -> None:
        window = Window.of(headers, self.clock())
        if window is not None:
            with self._lock:
                self._latest[provider.lower()] = window

    def get(self, provider: str) -> Window | None:
        with self._lock:
            return self._latest.get(provider.lower())

    def wait(self, provider: str, rpm: int) -> float:
        """Seconds until ``provider``'s broker has a token for us by its last headers (0.0: now or unknown)."""
        window = self.get(provider)
        if window is None:
            return 0.0
        return window.wait(self.clock(), 60.0 / (window.limit or rpm or DEFAULT_RPM)) or 0.0


def next_slot(
    error: RateLimitedError, attempt: int, *, rpm: int = 0, window: Window | None = None, now: float | None = None
) -> float:
    """Seconds until ``error``'s provider should have a slot for the ``attempt``-th retry (0-based).

    The server's ``Retry-After`` when it sent one (capped). Otherwise, for a 429, the broker's last
    ``x-ratelimit-*`` headers when they tell (``window``); else a backoff from the rate: at least one
    token interval (60 / the broker's limit, or the client's ``rpm``, or 30/min), doubling per attempt,
    with upward jitter, capped.
    """
    if error.retry_after is not None and not error.retry_after_estimated:
        return min(max(float(error.retry_after), 0.0), MAX_RETRY_AFTER_S)
    interval = 60.0 / ((window.limit if window is not None else None) or rpm or DEFAULT_RPM)
    if window is not None and error.status_code == 429:
        told = window.wait(time.monotonic() if now is None else now, interval)
        if told is not None:
            return min(told * (1.0 + random.random() / 20), MAX_RETRY_AFTER_S)
    cap = min(max(MAX_BACKOFF_S, interval * 1.25), MAX_RETRY_AFTER_S)
    return min(interval * 2.0 ** min(attempt, 16) * (1.0 + random.random() / 4), cap)


def estimate(error: RateLimitedError, attempt: int, **facts: Any) -> float:
    """:func:`next_slot`, also kept as ``error.retry_after`` when the server sent no ``Retry-After``."""
    wait = next_slot(error, attempt, **facts)
    if error.retry_after is None or error.retry_after_estimated:
        error.retry_after, error.retry_after_estimated = round(wait, 3), True
    return wait


def retry_delay(
    error: ZeroGError,
    attempt: int,
    max_retries: int,
    *,
    rpm: int = 0,
    window: Window | None = None,
    now: float | None = None,
) -> float | None:
    """Seconds to wait before retrying after ``error``, or None when it must not be retried.

    Only rate-limit answers are retried, ``max_retries`` times, after :func:`next_slot` seconds (also
    kept as the error's ``retry_after`` when the server sent none).
    """
    if not isinstance(error, RateLimitedError):
        return None
    wait = estimate(error, attempt, rpm=rpm, window=window, now=now)
    return wait if attempt < max_retries else None


def rate_facts(limiter: Limiter | None, provider: str) -> dict[str, Any]:
    """What the client knows about ``provider``'s rate: keyword arguments for :func:`retry_delay`."""
    if limiter is None:
        return {}
    return {"rpm": limiter.limit.rpm, "window": limiter.windows.get(provider), "now": limiter.windows.clock()}
