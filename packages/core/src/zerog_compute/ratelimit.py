"""Client-side rate limiting per provider, and the retry rule for 429/503 answers.

The devnet and real brokers allow each user 30 requests/min with a burst of 5 and 5 in flight.
Mirroring that on the client makes a burst of calls queue instead of drawing 429s. Waiting is
expressed as :class:`~zerog_compute._io.Sleep` so the same code serves both clients.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._io import Flow, Sleep
from .errors import ConfigurationError, RateLimitedError, ZeroGError

SLOT_POLL_S = 0.01
MAX_RETRY_AFTER_S = 60.0


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


class _Bucket:
    def __init__(self, limit: RateLimit, now: float) -> None:
        self.tokens = float(limit.burst)
        self.stamp = now
        self.in_flight = 0


class Limiter:
    """Token bucket plus in-flight counter per provider (thread-safe, injectable clock)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, provider: str) -> float:
        """0.0 when a slot and a token were taken, else how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(provider.lower(), _Bucket(self.limit, now))
            if bucket.in_flight >= self.limit.max_concurrent:
                return SLOT_POLL_S
            if self.limit.rpm:
                rate = self.limit.rpm / 60.0
                bucket.tokens = min(float(self.limit.burst), bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
                if bucket.tokens < 1.0:
                    return (1.0 - bucket.tokens) / rate
                bucket.tokens -= 1.0
            bucket.in_flight += 1
            return 0.0

    def ready_in(self, provider: str) -> float:
        """Seconds until ``provider`` could take a request (0.0: now; ``math.inf``: every slot is busy).

        A peek: nothing is taken. Pools use it to send to the candidate that can serve soonest.
        """
        with self._lock:
            bucket = self._buckets.get(provider.lower())
            if bucket is None:
                return 0.0
            if bucket.in_flight >= self.limit.max_concurrent:
                return math.inf
            if not self.limit.rpm:
                return 0.0
            rate = self.limit.rpm / 60.0
            tokens = min(float(self.limit.burst), bucket.tokens + (self._clock() - bucket.stamp) * rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    def release(self, provider: str) -> None:
        with self._lock:
            bucket = self._buckets.get(provider.lower())
            if bucket is not None and bucket.in_flight > 0:
                bucket.in_flight -= 1


def acquire(limiter: Limiter | None, provider: str) -> Flow[None]:
    """Wait for a slot with ``provider`` (no-op without a limiter)."""
    if limiter is None:
        return
    while (wait := limiter.try_acquire(provider)) > 0:
        yield Sleep(wait)


def retry_delay(error: ZeroGError, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before retrying after ``error``, or None when it must not be retried."""
    if not isinstance(error, RateLimitedError) or attempt >= max_retries:
        return None
    if error.retry_after is not None:
        return min(max(float(error.retry_after), 0.0), MAX_RETRY_AFTER_S)
    backoff: float = min(0.5 * 2.0**attempt, 8.0)
    return backoff * (0.75 + random.random() / 2)
