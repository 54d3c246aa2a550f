"""What every state store shares: the store interface, the cross-process lane, lease renewal, codecs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, TypeVar

from .._waiting import Gate, Owner, SharedLock, task_owner, thread_owner
from .._write_queue import WriteQueue
from ..contracts import NonceTracker
from ..errors import TransactionUncertainError
from ..funding import FundingBook, SharedBook, Tally, Unsettled
from ..ratelimit import RateBuckets, SharedBuckets
from ..untrusted_json import parse_json

log = logging.getLogger("zerog_compute.state")

LEASE_TTL_S = 30.0
"""An in-flight slot (or the Redis lane lock) expires this long after its last renewal: a crashed process
cannot hold one forever. Holders renew every third of it."""
LOCK_POLL_S = (0.002, 0.2)
"""First and longest wait between tries of a lane lock held by another process (doubling, with jitter)."""
FLUSH_DELAY_S = 0.002
"""A queued write reaches the store at most about this long after it was made, when nothing else sends it
first (see :class:`WriteBehind`)."""

W = TypeVar("W")


def wallet_key(chain_id: int, address: str) -> str:
    return f"{chain_id}:{address.lower()}"


class OuterLock(Protocol):
    """The part of a wallet's lane that other processes see, and where the lane's nonce is kept."""

    def acquire(self) -> None: ...
    async def acquire_async(self) -> None: ...
    def release(self) -> None: ...
    def load_nonce(self) -> tuple[int, str | None] | None: ...
    def save_nonce(self, next_nonce: int, last_hash: str | None) -> None: ...


class StateStore(ABC):
    """Where wallets' shared state lives; ``url`` names it. One instance per URL in a process."""

    url: str
    shared = True
    """Whether other processes see this state (False only for the in-process store)."""

    @abstractmethod
    def buckets(self, chain_id: int, address: str) -> SharedBuckets: ...

    @abstractmethod
    def book(self, chain_id: int, address: str) -> SharedBook: ...

    @abstractmethod
    def outer_lock(self, chain_id: int, address: str) -> OuterLock: ...

    def lane(self, chain_id: int, address: str, nonces: NonceTracker) -> SharedLock:
        """The wallet's chain-write lane: the in-process lock, then this store's lock for other processes."""
        return StoreLane(self.outer_lock(chain_id, address), nonces)

    def flush(self) -> None:
        """Send this process's queued writes now (stores that queue none have nothing to do)."""
        log.debug("%r queues no writes", self)

    def close(self) -> None:
        """Release connections and stop renewals (state in the store stays)."""
        log.debug("closing %r", self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class MemoryStore(StateStore):
    """This process only: today's behaviour, and the default."""

    url = "memory"
    shared = False

    def buckets(self, chain_id: int, address: str) -> SharedBuckets:
        del chain_id, address  # one object per wallet already: the registry in wallet_state
        return RateBuckets()

    def book(self, chain_id: int, address: str) -> SharedBook:
        del chain_id, address
        return FundingBook()

    def outer_lock(self, chain_id: int, address: str) -> OuterLock:
        raise NotImplementedError("the in-process store has no outer lock")

    def lane(self, chain_id: int, address: str, nonces: NonceTracker) -> SharedLock:
        del chain_id, address, nonces  # the tracker itself is shared in the process
        return SharedLock()


class StoreLane(SharedLock):
    """A :class:`SharedLock` (threads and tasks of this process) in front of a store's lock (other processes).

    The outer lock is taken when the lane is entered and released when it is left for good, never at a
    re-entry; the nonce tracker is read from the store on entry and written back on exit.
    """

    def __init__(self, outer: OuterLock, nonces: NonceTracker) -> None:
        super().__init__()
        self.outer = outer
        self.nonces = nonces
        self._outer_held = False

    def acquire(self) -> None:
        super().acquire()
        if self.depth == 1:
            try:
                self.outer.acquire()
                self._entered()
            except BaseException:
                self._abort(thread_owner())
                raise

    async def acquire_async(self) -> None:
        owner = task_owner()
        await super().acquire_async()
        if self.depth == 1:
            try:
                await self.outer.acquire_async()
                self._entered()
            except BaseException:
                self._abort(owner)
                raise

    def release(self, owner: Owner | None = None) -> None:
        if self._outer_held and self.depth == 1 and (owner is None or self.held_by(owner)):
            self._outer_held = False
            try:
                self.outer.save_nonce(self.nonces.next, self.nonces.last_hash)
            finally:
                self.outer.release()
        super().release(owner)

    def _abort(self, owner: Owner) -> None:
        if self._outer_held:
            self._outer_held = False
            self.outer.release()
        super().release(owner)

    def _entered(self) -> None:
        self._outer_held = True
        stored = self.outer.load_nonce()
        if stored is not None:
            self.nonces.next, self.nonces.last_hash = stored


def backoff(attempt: int) -> float:
    """The wait before try ``attempt`` (0-based) of a busy cross-process lock."""
    first, longest = LOCK_POLL_S
    return float(min(first * 2**attempt, longest) * (0.75 + random.random() / 2))


def poll_lock(try_acquire: Callable[[], bool]) -> None:
    """Block until ``try_acquire`` succeeds, waiting longer between tries (bounded)."""
    attempt = 0
    while not try_acquire():
        time.sleep(backoff(attempt))
        attempt += 1


async def poll_lock_async(try_acquire: Callable[[], bool]) -> None:
    """The same without blocking the event loop."""
    attempt = 0
    while not try_acquire():
        await asyncio.sleep(backoff(attempt))
        attempt += 1


class Renewer:
    """A daemon thread calling ``renew`` every ``period`` seconds (started on first use, stopped by close)."""

    def __init__(self, renew: Callable[[], None], period: float) -> None:
        self._renew = renew
        self._period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # a forked child starts its own
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="zerog-state-renewer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._renew()
            except Exception:  # a store that is briefly unreachable: try again next period
                log.warning("renewing state leases failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()


class WriteBehind(WriteQueue[W]):
    """Writes nobody waits for (a slot given back, a fee counted), queued and sent with something else.

    The store sends the queue in front of its next operation in this process, in the same transaction or
    pipeline, so this process always reads its own writes and a request pays no round trip for them. When no
    operation comes, the flusher thread calls the store's ``flush`` :data:`FLUSH_DELAY_S` after the first write
    was queued, so other processes see them that soon; a failed flush drops them (a lost release expires with its
    lease, a lost fee is corrected at the next tally refresh).
    """

    def __init__(self, flush: Callable[[], None], *, delay: float = FLUSH_DELAY_S) -> None:
        super().__init__(flush, delay=delay, name="zerog-state-writes")


def dump_unsettled(held: Unsettled) -> str:
    """An uncertain transfer as JSON: hash, nonce, the signed (public) bytes, amount, estimate, budget key."""
    error = held.error
    raw = error.raw_transaction.hex() if error.raw_transaction else None
    return json.dumps(
        {
            "message": str(error),
            "tx_hash": error.tx_hash,
            "nonce": error.nonce,
            "raw": raw,
            "amount": str(held.amount),
            "estimate": str(held.estimate),
            "budget_key": held.budget_key,
        }
    )


def load_unsettled(text: str) -> Unsettled:
    data = parse_json(text)
    raw = bytes.fromhex(data["raw"]) if data["raw"] else None
    error = TransactionUncertainError(
        data["message"], tx_hash=data["tx_hash"], nonce=data["nonce"], raw_transaction=raw
    )
    return Unsettled(error, int(data["amount"]), int(data["estimate"]), data["budget_key"])


def refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed) * rate)


def tally_of(usable: str, unsettled: str, local: int, exists: int, at: float) -> Tally:
    return Tally(int(usable), int(unsettled), int(local), bool(exists), float(at))


class LeasedSlots:
    """What the cross-process stores' buckets share: this process's slot leases and its local wake-ups."""

    slot_poll: float | None = 0.01

    def __init__(self, wallet: str) -> None:
        self.wallet = wallet
        self.slots = Gate()
        self._mine: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def _keep(self, provider: str, lease: str) -> None:
        with self._lock:
            self._mine.setdefault(provider.lower(), []).append(lease)

    def _pop(self, provider: str) -> str | None:
        """One of this process's leases with ``provider`` (None when it holds none)."""
        with self._lock:
            mine = self._mine.get(provider.lower())
            return mine.pop() if mine else None
