"""The broker's request limits: per-user RPM token bucket and concurrency slots, and the global cap.

Semantics follow ``golang.org/x/time/rate`` (bucket starts full, refills continuously, a refused request
consumes nothing) and the broker's middleware (RPM first, then the concurrency slot; 429 bodies verbatim).
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

Clock = Callable[[], float]

GLOBAL_CAP_STATUS = 503
GLOBAL_CAP_BODY: dict[str, Any] = {"error": "Server is currently processing too many requests. Please try again later."}


class TokenBucket:
    """A ``rate.Limiter``: ``burst`` tokens, refilled at ``rate_per_s``; thread-safe."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def _advance(self, now: float) -> float:
        elapsed = max(0.0, now - self._last)
        return min(float(self.burst), self._tokens + elapsed * self.rate)

    def try_acquire(self) -> bool:
        """Take one token if available (``Limiter.Allow``); a refusal leaves the bucket untouched."""
        with self._lock:
            now = self._clock()
            tokens = self._advance(now)
            if tokens < 1:
                return False
            self._tokens, self._last = tokens - 1, now
            return True

    def tokens(self) -> float:
        """Tokens available now (``Limiter.Tokens``)."""
        with self._lock:
            return self._advance(self._clock())

    def seconds_until_token(self) -> float:
        """Seconds until one token is available (0 if one is; ``inf`` at rate 0)."""
        missing = 1 - self.tokens()
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else math.inf


class ConcurrencySlot:
    """A held per-user concurrency slot; :meth:`release` is idempotent; usable as a context manager."""

    def __init__(self, limits: "UserLimits", user: str) -> None:
        self._limits = limits
        self.user = user
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the slot back (only the first call has an effect)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._limits.release(self.user)

    def __enter__(self) -> "ConcurrencySlot":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


@dataclass(frozen=True)
class LimitDecision:
    """Outcome of :meth:`UserLimits.admit`: either a slot plus ``x-ratelimit-*`` headers, or a 429 body."""

    allowed: bool
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    slot: ConcurrencySlot | None = None


class UserLimits:
    """Per-user (lower-cased address) RPM bucket and concurrency counter; ``rpm=0`` disables RPM."""

    def __init__(self, rpm: int = 30, burst: int = 5, max_concurrent: int = 5, clock: Clock = time.monotonic) -> None:
        self.rpm = rpm
        self.burst = burst if burst > 0 else 10
        self.max_concurrent = max_concurrent if max_concurrent > 0 else 5
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rpm / 60.0, self.burst, self._clock)
            return bucket

    def _take_slot(self, key: str) -> int | None:
        """Acquire a slot and return None, or return the active count when the user is at the limit."""
        with self._lock:
            active = self._active.get(key, 0)
            if active >= self.max_concurrent:
                return active
            self._active[key] = active + 1
            return None

    def admit(self, user: str, *, anthropic: bool = False) -> LimitDecision:
        """RPM check, then a concurrency slot (broker order). ``anthropic`` picks the /messages 429 body."""
        key = user.lower()
        if self.rpm > 0 and not self._bucket(key).try_acquire():
            return LimitDecision(False, 429, self._rpm_body(anthropic))
        active = self._take_slot(key)
        if active is not None:
            message = (
                f"Too many concurrent requests. You have {active} active requests "
                f"(limit: {self.max_concurrent}). Please wait for some to complete."
            )
            return LimitDecision(False, 429, {"error": message})
        return LimitDecision(True, 200, None, self._headers(key), ConcurrencySlot(self, key))

    def _rpm_body(self, anthropic: bool) -> dict[str, Any]:
        message = f"Rate limit exceeded. Please slow down your request rate (limit: {self.rpm} requests/min)."
        error = {"type": "rate_limit_error", "message": message}
        return {"type": "error", "error": error} if anthropic else {"error": error}

    def _headers(self, key: str) -> dict[str, str]:
        """OpenAI-style headers from the bucket state after this request (broker: GetRemainingWithReset)."""
        if self.rpm <= 0:
            return {}
        tokens = self._bucket(key).tokens()
        reset = abs(tokens) / (self.rpm / 60.0) if tokens < 0 else 0.0
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(max(int(tokens), 0)),
            "x-ratelimit-reset-requests": f"{reset:.0f}s",
        }

    def release(self, user: str) -> None:
        """Free one concurrency slot of ``user``."""
        key = user.lower()
        with self._lock:
            active = self._active.get(key, 0) - 1
            if active > 0:
                self._active[key] = active
            else:
                self._active.pop(key, None)

    def active(self, user: str) -> int:
        """Requests of ``user`` currently holding a slot."""
        with self._lock:
            return self._active.get(user.lower(), 0)

    def reset(self) -> None:
        """Forget every bucket and slot."""
        with self._lock:
            self._buckets.clear()
            self._active.clear()


class GlobalCap:
    """The broker-wide in-flight cap on ``/v1/proxy/*`` (503 ``GLOBAL_CAP_BODY`` when full)."""

    status = GLOBAL_CAP_STATUS
    body = GLOBAL_CAP_BODY

    def __init__(self, max_in_flight: int = 20) -> None:
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                return False
            self._in_flight += 1
            return True

    def exit(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    @property
    def in_flight(self) -> int:
        """Requests currently inside the cap."""
        with self._lock:
            return self._in_flight

    def reset(self) -> None:
        """Forget every slot."""
        with self._lock:
            self._in_flight = 0
