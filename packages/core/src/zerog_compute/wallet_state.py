"""One wallet, one account state: what every client of a wallet in this process shares.

A provider limits *per wallet* (30 requests/min, burst 5, 5 in flight), the ledger and the nonce belong
to the wallet, and a budget is a promise about the wallet's money. So these live in one
:class:`WalletState` per (chain id, wallet address), shared by every ``ZeroG`` / ``AsyncZeroG`` /
adapter instance in the process, on any thread or event loop:

* ``buckets`` — per-provider rate buckets and in-flight slots (:class:`~zerog_compute.ratelimit.RateBuckets`);
* ``sessions`` and ``generations`` — session tokens and the sub-account generations they were made for;
* ``funding`` — tallies per provider and the spend of each budget (:class:`~zerog_compute.funding.FundingBook`);
* ``breakers`` — the per-provider funding circuit breakers (in this process only);
* ``nonces`` and ``lane`` — the next nonce and the lock that serialises the wallet's chain writes.

Everything here is thread-safe and loop-agnostic (see :mod:`zerog_compute._waiting`); nothing polls.
With a shared state store (:mod:`zerog_compute.state`: SQLite, Redis) the buckets, the funding book and the
lane (with its nonce) live in the store, so other processes and hosts see them too; sessions and breakers stay
here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from . import state as _state
from ._breaker import FundingBreakers
from ._context import GENERATION_TTL_S, TTLCache
from ._waiting import SharedLock
from .auth import SessionCache
from .contracts import NonceTracker
from .funding import FundingBook, SharedBook
from .ratelimit import RateBuckets, SharedBuckets

__all__ = ["WalletState", "forget_wallet_states", "wallet_state"]


@dataclass
class WalletState:
    """The shared state of one wallet on one chain."""

    chain_id: int
    address: str
    buckets: SharedBuckets = field(default_factory=RateBuckets)
    sessions: SessionCache = field(default_factory=SessionCache)
    generations: TTLCache[str, int] = field(default_factory=lambda: TTLCache(GENERATION_TTL_S))
    funding: SharedBook = field(default_factory=FundingBook)
    breakers: FundingBreakers = field(default_factory=FundingBreakers)
    nonces: NonceTracker = field(default_factory=NonceTracker)
    lane: SharedLock = field(default_factory=SharedLock)
    store: _state.StateStore = _state.MEMORY

    @classmethod
    def in_store(cls, chain_id: int, address: str, store: _state.StateStore) -> WalletState:
        """The state of a wallet whose buckets, book and lane live in ``store``."""
        nonces = NonceTracker()
        return cls(
            chain_id,
            address,
            buckets=store.buckets(chain_id, address),
            funding=store.book(chain_id, address),
            nonces=nonces,
            lane=store.lane(chain_id, address, nonces),
            store=store,
        )


_STATES: dict[tuple[str, int, str], WalletState] = {}
_STATES_LOCK = threading.Lock()


def wallet_state(
    chain_id: int, address: str | None, store: str | _state.StateStore | None = _state.MEMORY
) -> WalletState:
    """The state of ``address`` on ``chain_id`` in ``store`` (a URL or a store; None: ``$ZG_STATE_URL``), one
    object per process for each; a private in-process one when there is no wallet."""
    if address is None:
        return WalletState(chain_id, "")
    where = _state.open_store(store)
    key = (where.url, chain_id, address.lower())
    with _STATES_LOCK:
        state = _STATES.get(key)
        if state is None:
            state = _STATES[key] = WalletState.in_store(chain_id, address.lower(), where)
        return state


def forget_wallet_states(chain_id: int | None = None) -> None:
    """Drop the shared states (of ``chain_id``, or all): for a chain that went back in time, such as a devnet
    reverted to a snapshot. Clients built before keep the state they hold; new ones start afresh."""
    with _STATES_LOCK:
        for key in [key for key in _STATES if chain_id in (None, key[1])]:
            del _STATES[key]
