"""State shared by every flow of one client: network, wallet, contracts, caches, options."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _abi
from ._bounds import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES
from .auth import SessionCache
from .contracts import Contract, NonceTracker
from .errors import ConfigurationError
from .networks import Network
from .signer import Wallet
from .verification import VerificationPolicy

if TYPE_CHECKING:
    from .funding import FundingState
    from .ratelimit import Limiter
    from .usage.ledger import Recorder

K = TypeVar("K")
V = TypeVar("V")

SERVICE_TTL_S = 600.0
GENERATION_TTL_S = 23 * 3600.0
NEEDS_WALLET = (
    "it needs a wallet, and this client runs in Router mode without one. The Router bills your pc.0g.ai "
    "balance instead (zg.router.balance(management_key='mk-…')); pass private_key=... (or set $ZG_PRIVATE_KEY) "
    "to use Direct features as well"
)
DIRECT_ONLY = (
    "this is a Direct-mode feature (ledger, sub-accounts, acknowledgement, session tokens, on-chain API keys, "
    f"auto-funding): {NEEDS_WALLET}"
)


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
    """Everything a Direct-mode flow needs besides I/O (``signer`` is None for a Router client without a key)."""

    network: Network
    signer: Wallet | None
    verification: VerificationPolicy = "warn"
    timeout: float = 60.0
    check_upstream_certificate: bool = False
    """Opt-in: compare a TeeTLS routing proof's fingerprint with the upstream's live certificate."""
    ledger: Contract = field(init=False)
    inference: Contract = field(init=False)
    nonces: NonceTracker = field(default_factory=NonceTracker)
    sessions: SessionCache = field(default_factory=SessionCache)
    services: TTLCache[str, Any] = field(default_factory=lambda: TTLCache(SERVICE_TTL_S))
    generations: TTLCache[str, int] = field(default_factory=lambda: TTLCache(GENERATION_TTL_S))
    service_names: dict[str, str] = field(default_factory=dict)
    limiter: Limiter | None = None
    max_retries: int = 2
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    deadline: float = DEFAULT_DEADLINE
    funding: FundingState = field(default_factory=lambda: _no_funding())
    usage: Recorder | None = None
    """Where finished requests' usage records go (:mod:`zerog_compute.usage`); None: nowhere."""

    def __post_init__(self) -> None:
        self.ledger = Contract(self.network.ledger, _abi.LEDGER_ABI)
        self.inference = Contract(self.network.inference, _abi.INFERENCE_ABI)

    @property
    def wallet(self) -> Wallet:
        """The wallet that signs; a Router client without a key raises ConfigurationError."""
        if self.signer is None:
            raise ConfigurationError(DIRECT_ONLY)
        return self.signer

    @property
    def user(self) -> str:
        return self.wallet.address

    def direct(self, feature: str) -> Context:
        """This context, or ConfigurationError when ``feature`` needs the wallet a Router client lacks."""
        if self.signer is None:
            raise ConfigurationError(f"{feature} is a Direct-mode feature: {NEEDS_WALLET}")
        return self


def _no_funding() -> FundingState:
    from .funding import FundingState

    return FundingState(None)
