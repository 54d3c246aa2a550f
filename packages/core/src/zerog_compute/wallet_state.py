"""One wallet, one account state: what every client of a wallet in this process shares.

A provider limits *per wallet* (30 requests/min, burst 5, 5 in flight), the ledger and the nonce belong
to the wallet, and a budget is a promise about the wallet's money. So these live in one
:class:`WalletState` per (chain id, wallet address), shared by every ``ZeroG`` / ``AsyncZeroG`` /
adapter instance in the process, on any thread or event loop:

* ``buckets`` — per-provider rate buckets and in-flight slots (:class:`~zerog_compute.ratelimit.RateBuckets`);
* ``sessions`` and ``generations`` — session tokens and the sub-account generations they were made for;
* ``funding`` — tallies per provider and the spend of each budget (:class:`~zerog_compute.funding.FundingBook`);
* ``nonces`` and ``lane`` — the next nonce and the lock that serialises the wallet's chain writes.

Everything here is thread-safe and loop-agnostic (see :mod:`zerog_compute._waiting`); nothing polls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ._context import GENERATION_TTL_S, TTLCache
from ._waiting import SharedLock
from .auth import SessionCache
from .contracts import NonceTracker
from .funding import FundingBook
from .ratelimit import RateBuckets

__all__ = ["WalletState", "forget_wallet_states", "wallet_state"]


@dataclass
class WalletState:
    """The shared state of one wallet on one chain."""

    chain_id: int
    address: str
    buckets: RateBuckets = field(default_factory=RateBuckets)
    sessions: SessionCache = field(default_factory=SessionCache)
    generations: TTLCache[str, int] = field(default_factory=lambda: TTLCache(GENERATION_TTL_S))
    funding: FundingBook = field(default_factory=FundingBook)
    nonces: NonceTracker = field(default_factory=NonceTracker)
    lane: SharedLock = field(default_factory=SharedLock)


_STATES: dict[tuple[int, str], WalletState] = {}
_STATES_LOCK = threading.Lock()


def wallet_state(chain_id: int, address: str | None) -> WalletState:
    """The process-wide state of ``address`` on ``chain_id`` (a private one when there is no wallet)."""
    if address is None:
        return WalletState(chain_id, "")
    key = (chain_id, address.lower())
    with _STATES_LOCK:
        state = _STATES.get(key)
        if state is None:
            state = _STATES[key] = WalletState(chain_id, address.lower())
        return state


def forget_wallet_states(chain_id: int | None = None) -> None:
    """Drop the shared states (of ``chain_id``, or all): for a chain that went back in time, such as a devnet
    reverted to a snapshot. Clients built before keep the state they hold; new ones start afresh."""
    with _STATES_LOCK:
        for key in [key for key in _STATES if chain_id in (None, key[0])]:
            del _STATES[key]
