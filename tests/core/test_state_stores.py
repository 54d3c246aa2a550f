"""The shared state stores (SQLite, Redis): the same bucket, lease, budget and lane semantics as in-process.

Two store objects on one URL stand for two processes; a child process that dies holding a slot or the lane
shows that a crashed holder cannot keep it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zerog_compute import ConfigurationError, TransactionUncertainError
from zerog_compute.contracts import NonceTracker
from zerog_compute.funding import Tally, Unsettled
from zerog_compute.ratelimit import RateLimit
from zerog_compute.state import MemoryStore, StateStore, open_store
from zerog_compute.state.redis import RedisStore
from zerog_compute.state.sqlite import SqliteStore
from zerog_compute.wallet_state import wallet_state

pytestmark = pytest.mark.anyio
CHILD = Path(__file__).with_name("state_child.py")
WALLET = (1, "0xabc")
G = 10**18


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'state.db'}"
    else:
        base: str = request.getfixturevalue("redis_url")
        client = RedisStore(base).client
        client.flushdb()
        client.close()
        yield base


def store_at(url: str, lease_ttl: float = 30.0, write_delay: float = 0.002) -> StateStore:
    """A new store object: what another process would open."""
    if url.startswith("redis"):
        return RedisStore(url, lease_ttl=lease_ttl, write_delay=write_delay)
    return SqliteStore(url[9:], lease_ttl=lease_ttl, write_delay=write_delay)


def child(url: str, action: str) -> None:
    out = subprocess.run([sys.executable, str(CHILD), url, action], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "held", out.stderr


def test_token_buckets_are_one_for_every_process(url: str) -> None:
    one, two = store_at(url).buckets(*WALLET), store_at(url).buckets(*WALLET)
    limit = RateLimit(rpm=60, burst=5, max_concurrent=50)  # paced burst 4, then 0.95 token/s
    taken = [b.take("P", limit) for b in (one, two, one, two)]
    assert taken == [(0.0, None)] * 4
    wait, version = two.take("p", limit)  # the same provider, whatever the case of the address
    assert version is None and 0.9 < wait <= 1 / limit.rate
    assert 0.9 < one.ready_in("p", limit) <= 1 / limit.rate
    assert one.in_flight("p") == two.in_flight("p") == 4


def test_slots_are_shared_and_released_by_their_holder(url: str) -> None:
    one, two = store_at(url).buckets(*WALLET), store_at(url).buckets(*WALLET)
    limit = RateLimit(rpm=0, max_concurrent=2)
    assert one.take("p", limit) == two.take("p", limit) == (0.0, None)
    wait, version = one.take("p", limit)
    assert version == one.slots.version and wait > 0
    assert one.ready_in("p", limit) == float("inf")
    one.release("p")
    assert one.slots.version == version + 1  # waiters of this process are woken at once
    assert one.in_flight("p") == 1  # and this process reads its own queued release
    assert eventually(lambda: two.take("p", limit) == (0.0, None))  # other processes within milliseconds
    two.release("other")  # nothing held there: no effect
    assert one.in_flight("p") == 2


def eventually(check: Callable[[], bool], within: float = 2.0) -> bool:
    """Whether ``check`` holds within ``within`` seconds (queued writes reach other processes that soon)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_queued_writes_reach_other_processes_without_another_operation(url: str) -> None:
    first, other = store_at(url), store_at(url)
    mine, theirs = first.buckets(*WALLET), other.buckets(*WALLET)
    book = first.book(*WALLET)
    book.set_tally("p", Tally(30 * G, 0, 0, True, 1.0))
    assert mine.take("p", RateLimit(rpm=0, max_concurrent=1)) == (0.0, None)
    mine.release("p")
    book.record_fee("p", 9)
    started = time.monotonic()
    counted = Tally(30 * G, 0, 9, True, 1.0)
    assert eventually(lambda: theirs.in_flight("p") == 0 and other.book(*WALLET).tally("p") == counted)
    assert time.monotonic() - started < 1.0  # the flusher sent them; nothing else of this process ran
    book.record_fee("p", 1)
    first.close()  # close sends what is still queued
    assert other.book(*WALLET).tally("p") == Tally(30 * G, 0, 10, True, 1.0)


def test_a_forked_child_does_not_send_its_parents_queued_writes(url: str) -> None:
    store = store_at(url, write_delay=60.0)  # the fee stays queued across the fork
    book = store.book(*WALLET)
    book.set_tally("p", Tally(30 * G, 0, 0, True, 1.0))
    book.record_fee("p", 5)
    pid = os.fork()
    if pid == 0:  # the child: its first operation would send the inherited queue if it kept it
        try:
            store.book(*WALLET).tally("p")
            store.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert store_at(url).book(*WALLET).tally("p") == Tally(30 * G, 0, 0, True, 1.0)
    store.flush()
    assert store_at(url).book(*WALLET).tally("p") == Tally(30 * G, 0, 5, True, 1.0)  # counted once


def test_a_crashed_holders_slot_expires(url: str) -> None:
    child(url, "slot")
    buckets, limit = store_at(url).buckets(*WALLET), RateLimit(rpm=0, max_concurrent=1)
    assert buckets.in_flight("p") == 1 and buckets.take("p", limit)[1] is not None
    time.sleep(1.3)  # the child's lease (1 s) was never renewed
    assert buckets.in_flight("p") == 0 and buckets.take("p", limit) == (0.0, None)


def test_a_held_slot_is_renewed(url: str) -> None:
    store = store_at(url, lease_ttl=0.6)
    buckets, limit = store.buckets(*WALLET), RateLimit(rpm=0, max_concurrent=1)
    assert buckets.take("p", limit) == (0.0, None)
    time.sleep(1.5)  # past two lifetimes: only renewal keeps it
    assert store_at(url).buckets(*WALLET).in_flight("p") == 1
    buckets.release("p")
    assert buckets.in_flight("p") == 0
    store.close()


def test_budget_reservations_are_atomic_across_processes(url: str) -> None:
    books = [store_at(url).book(*WALLET) for _ in range(4)]
    budget, granted = 10 * G, []

    def spend(book_index: int) -> None:
        for _ in range(10):
            if books[book_index].reserve("b", G, budget):
                granted.append(book_index)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(granted) == 10 and books[0].spent("b") == budget  # never beyond the budget, amounts past 2**64
    books[1].give_back("b", 3 * G)
    assert books[2].spent("b") == 7 * G and books[2].reserve("b", 3 * G, budget)
    assert not books[3].reserve("b", 1, budget) and books[3].reserve("other", 1, None)


def test_tallies_fees_and_held_transfers_are_shared(url: str) -> None:
    one, two = store_at(url).book(*WALLET), store_at(url).book(*WALLET)
    one.record_fee("P", 5)  # no tally yet: nothing to count against
    assert two.tally("p") is None
    one.set_tally("P", Tally(30 * G, 2, 0, True, 1.5))
    two.record_fee("p", 7)
    assert two.tally("p") == Tally(30 * G, 2, 7, True, 1.5)  # at once for the process that counted it
    assert eventually(lambda: one.tally("p") == Tally(30 * G, 2, 7, True, 1.5)) and two.providers() == ["p"]
    error = TransactionUncertainError("may have been sent", tx_hash="0x12", nonce=4, raw_transaction=b"\x01\x02")
    one.hold("P", Unsettled(error, 2 * G, 3, "name:b"))
    held = two.unsettled("p")
    assert held is not None and (held.amount, held.estimate, held.budget_key) == (2 * G, 3, "name:b")
    assert (held.error.tx_hash, held.error.nonce, held.error.raw_transaction) == ("0x12", 4, b"\x01\x02")
    two.release("p")
    assert one.unsettled("p") is None


def test_the_lane_excludes_other_processes_and_carries_the_nonce(url: str) -> None:
    first = store_at(url).lane(*WALLET, NonceTracker())
    second_nonces = NonceTracker()
    second = store_at(url).lane(*WALLET, second_nonces)
    first.acquire()
    first.acquire()  # re-entrant in its process
    entered = threading.Event()

    def other() -> None:
        second.acquire()
        entered.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert not entered.wait(0.3)
    first.nonces.next, first.nonces.last_hash = 7, "0xaa"  # type: ignore[attr-defined]
    first.release()
    assert not entered.wait(0.2)  # still held once
    first.release()
    assert entered.wait(5)
    thread.join()
    assert (second_nonces.next, second_nonces.last_hash) == (7, "0xaa")
    second.release(("thread", thread.ident or 0))


async def test_the_lane_waits_without_blocking_the_event_loop(url: str) -> None:
    held = store_at(url).lane(*WALLET, NonceTracker())
    held.acquire()
    waiter = store_at(url).lane(*WALLET, NonceTracker())
    task = asyncio.get_running_loop().create_task(waiter.acquire_async())
    ticks = 0
    for _ in range(20):  # the loop keeps running while the task waits for the other process
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not task.done()
    await asyncio.to_thread(held.release)
    await asyncio.wait_for(task, 5)
    assert waiter.locked


def test_a_crashed_holders_lane_is_released(url: str) -> None:
    child(url, "lane")  # sqlite: the kernel drops the flock; redis: the lock expires (1 s, never renewed)
    lane = store_at(url).lane(*WALLET, NonceTracker())
    started = time.monotonic()
    lane.acquire()
    assert time.monotonic() - started < 5
    lane.release()


def test_wallet_state_keeps_one_object_per_store_and_wallet(url: str) -> None:
    state = wallet_state(*WALLET, store=url)
    assert wallet_state(1, "0xABC", store=url) is state and state.store is open_store(url)
    assert wallet_state(*WALLET) is not state and isinstance(wallet_state(*WALLET).store, MemoryStore)


@pytest.mark.parametrize(
    ("value", "message"),
    [("postgres://db", "accepted"), ("sqlite://relative.db", "absolute"), ("redis", "accepted")],
)
def test_a_bad_state_url_says_what_is_accepted(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(value)


def test_the_environment_names_the_default_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZG_STATE_URL", f"sqlite://{tmp_path}/env.db")
    store = open_store(None)
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "env.db"
    monkeypatch.setenv("ZG_STATE_URL", "memory")
    assert isinstance(open_store(None), MemoryStore)
    monkeypatch.setenv("HOME", str(tmp_path))
    default = open_store("sqlite")
    assert isinstance(default, SqliteStore) and default.path == tmp_path / ".zerog" / "state.db"
    assert (tmp_path / ".zerog").stat().st_mode & 0o777 == 0o700


def test_state_reaches_the_clients_lazy_clients_build(tmp_path: Path) -> None:
    from zerog_compute import LazyClients

    url = f"sqlite://{tmp_path}/lazy.db"
    assert LazyClients(state=url).client_kwargs()["state"] == url
    assert "state" not in LazyClients().client_kwargs()  # the core's fallback: $ZG_STATE_URL


def test_a_client_keeps_its_wallet_state_in_the_store_it_names(tmp_path: Path) -> None:
    from zerog_compute import ZeroG

    url, key = f"sqlite://{tmp_path}/client.db", "0x" + "11" * 32
    with ZeroG(private_key=key, network="testnet", state=url) as zg, ZeroG(private_key=key, network="testnet") as mem:
        assert isinstance(zg._wallet_state.store, SqliteStore) and zg._wallet_state.store.url == url
        assert isinstance(mem._wallet_state.store, MemoryStore)
    with pytest.raises(ConfigurationError, match="accepted"):
        ZeroG(private_key=key, network="testnet", state="mysql://x")
