"""Production timing for a devnet provider, on a clock the tests advance.

The default devnet provider reads the sub-account on every request and settles every few seconds with no
minimum. Production brokers (provider-protocol §3.1, §4.3) cache the account for about 10 minutes — so an
acknowledgement or a new sub-account "takes effect in 2 minutes" or more, and after ``revokeAllTokens`` a new
token is refused ("future generation") until the cache expires — and settle on 5–10 minute timers, deferring
users whose unsettled total is below 0.004 0G. A provider with a :class:`TimingProfile` behaves so, on a
:class:`ManualClock` that moves only when a test calls ``ProviderHandle.advance_clock``, so nothing waits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

NEVER = 365 * 86_400.0
"""The real-time settlement interval of a provider on a manual clock: its rounds run when the clock says."""


@dataclass(frozen=True)
class TimingProfile:
    """How long a provider caches accounts and how it settles (seconds on its clock, neuron)."""

    account_cache_ttl: float = 600.0
    settle_interval: float = 300.0
    min_settlement_fee: int = 4 * 10**15


PRODUCTION = TimingProfile()
"""Production brokers: account cache 10 min, a settlement round every 5 min, 0.004 0G minimum."""


class ManualClock:
    """A monotonic clock that moves only by :meth:`advance` (thread-safe; callable like ``time.monotonic``)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward ``seconds`` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, got {seconds}")
        with self._lock:
            self._now += seconds
            return self._now


class SettlementTimer:
    """When the next settlement round is due on a :class:`ManualClock`."""

    def __init__(self, clock: ManualClock, interval: float) -> None:
        self.clock = clock
        self.interval = interval
        self.next_due = clock() + interval

    def due(self) -> bool:
        """Whether a round is due now; moves the next due time past now (missed rounds run once, like a ticker)."""
        now = self.clock()
        if now < self.next_due:
            return False
        while self.next_due <= now:
            self.next_due += self.interval
        return True
