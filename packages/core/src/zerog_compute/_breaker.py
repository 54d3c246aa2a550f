"""The per-provider funding circuit breaker: a provider whose last top-up changed nothing is not funded again.

After each top-up the breaker remembers whether the provider's reported unsettled fee was implausible (above the
sub-account's balance) and whether the provider served a response since. When funding would transfer to it again
and it served nothing since the last top-up, or still reports an implausible fee, the breaker opens: no transfer
to that provider until the cool-down ends or it is reset. After the cool-down one top-up is allowed again.
Shared by every client of a wallet in the process (thread-safe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .units import format_0g


@dataclass
class _Mark:
    """The last top-up of one provider, and what the provider did since."""

    amount: int
    implausible: bool
    served: bool = False


class FundingBreakers:
    """Open breakers and last top-ups, per provider (lower-cased address)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[str, _Mark] = {}
        self._open: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def funded(self, provider: str, amount: int, *, implausible: bool) -> None:
        """Remember a top-up of ``amount`` (the provider's report was ``implausible`` or not)."""
        with self._lock:
            self._marks[provider.lower()] = _Mark(amount, implausible)

    def served(self, provider: str) -> None:
        """The provider answered a request: its last top-up did something."""
        with self._lock:
            mark = self._marks.get(provider.lower())
            if mark is not None:
                mark.served = True

    def why_not(self, provider: str, *, implausible: bool) -> str | None:
        """Why another top-up of ``provider`` would change nothing (None: it may be funded)."""
        with self._lock:
            mark = self._marks.get(provider.lower())
        if mark is None:
            return None
        if not mark.served:
            amount = format_0g(mark.amount)
            return f"it served no request since its last top-up of {amount} and still reports a shortfall"
        if mark.implausible and implausible:
            return (
                f"it reported an unsettled fee above the sub-account's balance before its last top-up of "
                f"{format_0g(mark.amount)} and still does"
            )
        return None

    def trip(self, provider: str, reason: str, cooldown: float) -> None:
        """Open the breaker of ``provider`` for ``cooldown`` seconds."""
        with self._lock:
            self._open[provider.lower()] = (reason, self._clock() + cooldown)

    def opened(self, provider: str) -> str | None:
        """The reason the breaker of ``provider`` is open, or None (a breaker past its cool-down closes, and
        the provider gets one top-up again)."""
        key = provider.lower()
        with self._lock:
            entry = self._open.get(key)
            if entry is None:
                return None
            if self._clock() < entry[1]:
                return entry[0]
            del self._open[key]
            self._marks.pop(key, None)
            return None

    def reset(self, provider: str | None = None) -> None:
        """Close the breaker of ``provider`` (all when None) and forget its last top-up."""
        with self._lock:
            if provider is None:
                self._open.clear()
                self._marks.clear()
                return
            self._open.pop(provider.lower(), None)
            self._marks.pop(provider.lower(), None)

    def snapshot(self) -> dict[str, str]:
        """``{provider: reason}`` of the open breakers."""
        with self._lock:
            now = self._clock()
            return {provider: reason for provider, (reason, until) in self._open.items() if now < until}
