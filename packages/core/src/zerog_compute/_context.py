"""State shared by every flow of one client: network, wallet, contracts, caches, options."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _abi
from .auth import SessionCache
from .contracts import Contract, NonceTracker
from .networks import Network
from .signer import Wallet
from .verification import VerificationPolicy

if TYPE_CHECKING:
    from .funding import FundingState
    from .ratelimit import Limiter

K = TypeVar("K")
V = TypeVar("V")

SERVICE_TTL_S = 600.0


class TTLCache(Generic[K, V]):
    """A small thread-safe cache with one time-to-live for every entry."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl:
                return None
            return hit[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)

    def drop(self, key: K | None = None) -> None:
        with self._lock:
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)


@dataclass
class Context:
    """Everything a flow needs besides I/O."""

    network: Network
    wallet: Wallet
    verification: VerificationPolicy = "warn"
    timeout: float = 60.0
    ledger: Contract = field(init=False)
    inference: Contract = field(init=False)
    nonces: NonceTracker = field(default_factory=NonceTracker)
    sessions: SessionCache = field(default_factory=SessionCache)
    services: TTLCache[str, Any] = field(default_factory=lambda: TTLCache(SERVICE_TTL_S))
    generations: TTLCache[str, int] = field(default_factory=lambda: TTLCache(23 * 3600.0))
    service_names: dict[str, str] = field(default_factory=dict)
    limiter: Limiter | None = None
    max_retries: int = 2
    funding: FundingState = field(default_factory=lambda: _no_funding())

    def __post_init__(self) -> None:
        self.ledger = Contract(self.network.ledger, _abi.LEDGER_ABI)
        self.inference = Contract(self.network.inference, _abi.INFERENCE_ABI)

    @property
    def user(self) -> str:
        return self.wallet.address


def _no_funding() -> FundingState:
    from .funding import FundingState

    return FundingState(None)
