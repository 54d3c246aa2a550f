"""One wallet, one account state: every client of a wallet in the process shares limits, budget and lane."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zerog_compute import AsyncZeroG, BudgetExhaustedError, FundingPolicy, RateLimit, RateLimitedError, ZeroG
from zerog_compute._waiting import Gate, SharedLock
from zerog_compute.wallet_state import wallet_state
from zerog_devnet import Devnet, ProviderSpec

from .conftest import devnet_network, provider

pytestmark = pytest.mark.anyio
G = 10**18
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
FAST = RateLimit(rpm=300, burst=5, max_concurrent=5)  # the provider's limits, the default retry budget


@pytest.fixture(scope="module")
def fast() -> Iterator[Devnet]:
    """A provider that limits like a real one (burst 5, 5 in flight) at 300/min, so the test takes seconds."""
    with Devnet.start([ProviderSpec("fast", rpm=300, burst=5, max_concurrent=5)], users=2, settle_interval=3600) as net:
        net.fund(net.users[0], ["fast"], ledger=50 * G, each=10 * G)
        yield net


class Statuses:
    """Counts the HTTP statuses a client's provider connection sees (an httpx response hook)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[int, int] = {}

    def add(self, status: int) -> None:
        with self.lock:
            self.seen[status] = self.seen.get(status, 0) + 1

    def sync_hook(self, response: httpx.Response) -> None:
        if response.request.method == "POST":  # the requests, not the signature fetches
            self.add(response.status_code)

    async def async_hook(self, response: httpx.Response) -> None:
        self.sync_hook(response)


def sync_client(net: Devnet, statuses: Statuses, **options: Any) -> ZeroG:
    http = httpx.Client(timeout=60.0, event_hooks={"response": [statuses.sync_hook]})
    return ZeroG(
        private_key=net.users[0].private_key, network=devnet_network(net), http_client=http, rate_limit=FAST, **options
    )


def async_client(net: Devnet, statuses: Statuses) -> AsyncZeroG:
    http = httpx.AsyncClient(timeout=60.0, event_hooks={"response": [statuses.async_hook]})
    return AsyncZeroG(
        private_key=net.users[0].private_key, network=devnet_network(net), http_client=http, rate_limit=FAST
    )


def run_loop(net: Devnet, statuses: Statuses, requests: int, errors: list[BaseException]) -> None:
    """An event loop of its own, with two async clients sending ``requests`` requests concurrently."""

    async def main() -> None:
        clients = [async_client(net, statuses), async_client(net, statuses)]
        address = provider(net, "fast")
        calls = [clients[i % 2].chat.completions.create(provider=address, messages=ASK) for i in range(requests)]
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                errors.append(result)
        for client in clients:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.devnet
def test_threads_loops_and_instances_share_one_wallet_limit(fast: Devnet) -> None:
    """60 requests from 3 sync clients on 6 threads and 4 async clients on 2 event loops: no 429 reaches a caller,
    and the provider refuses at most one or two (a thread delayed on a loaded machine); per-client limiters
    would each start with a full burst and draw dozens."""
    statuses, errors = Statuses(), list[BaseException]()
    sync_clients = [sync_client(fast, statuses) for _ in range(3)]
    address = provider(fast, "fast")

    def sync_worker(client: ZeroG, count: int) -> None:
        for _ in range(count):
            try:
                client.chat.completions.create(provider=address, messages=ASK)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=sync_worker, args=(sync_clients[i % 3], 5)) for i in range(6)]
    threads += [threading.Thread(target=run_loop, args=(fast, statuses, 15, errors)) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    for client in sync_clients:
        client.close()
    assert not [e for e in errors if isinstance(e, RateLimitedError)], errors
    assert not errors, errors
    assert statuses.seen.get(200) == 60 and statuses.seen.get(429, 0) <= 2, statuses.seen
    # a burst, then the rest at the provider's rate (5/s, less the safety margin): it queued, it did not fail
    assert elapsed >= (60 - 5) / 5


@pytest.mark.devnet
def test_one_budget_across_instances_threads_and_event_loops(fast: Devnet) -> None:
    """A 2 0G budget, used by a sync client and by async clients on two successive event loops at once."""
    user = fast.users[1]
    fast.fund(user, [], ledger=20 * G)
    policy = FundingPolicy.of(min_balance="2", target_balance="3", max_per_transfer="2", budget="2")
    address = provider(fast, "fast")
    options = {"private_key": user.private_key, "network": devnet_network(fast), "funding": policy}
    outcomes: list[str] = []

    def sync_side() -> None:
        with ZeroG(**options) as zg:
            for _ in range(3):
                try:
                    zg.chat.completions.create(provider=address, messages=ASK)
                    outcomes.append("ok")
                except BudgetExhaustedError:
                    outcomes.append("budget")

    async def async_side() -> None:
        async with AsyncZeroG(**options) as zg:
            for _ in range(3):
                try:
                    await zg.chat.completions.create(provider=address, messages=ASK)
                    outcomes.append("ok")
                except BudgetExhaustedError:
                    outcomes.append("budget")

    threads = [threading.Thread(target=sync_side), threading.Thread(target=lambda: asyncio.run(async_side()))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    asyncio.run(async_side())  # a second event loop, after the first one is gone
    with ZeroG(**options) as zg:
        moved = 20 * G - zg.ledger.get().available
        account = zg.ledger.sub_account(address)
    assert moved == 2 * G and account is not None and account.balance == 2 * G  # exactly one top-up: the budget
    assert wallet_state(fast.chain_id, user.address).funding.spent(policy.budget_key) == 2 * G
    assert outcomes.count("ok") >= 1 and "budget" in outcomes and len(outcomes) == 9


# --------------------------------------------------------------------------- the primitives, no network


def test_shared_lock_is_reentrant_and_excludes_threads_and_loops() -> None:
    lock, inside, peak = SharedLock(), [0], [0]
    guard = threading.Lock()

    def enter() -> None:
        with guard:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])

    def leave() -> None:
        with guard:
            inside[0] -= 1

    def sync_user() -> None:
        for _ in range(20):
            lock.acquire()
            lock.acquire()  # re-entrant for the same thread
            enter()
            time.sleep(0.001)
            leave()
            lock.release()
            lock.release()

    async def async_user() -> None:
        async def one() -> None:
            for _ in range(10):
                await lock.acquire_async()
                await lock.acquire_async()  # re-entrant for the same task
                enter()
                await asyncio.sleep(0.001)
                leave()
                lock.release()
                lock.release()

        await asyncio.gather(one(), one())

    threads = [threading.Thread(target=sync_user) for _ in range(2)]
    threads += [threading.Thread(target=lambda: asyncio.run(async_user())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert peak[0] == 1 and not lock.locked


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = SharedLock()
    lock.acquire()  # held by this thread (the loop's thread, as a sync owner)
    waiter = asyncio.get_running_loop().create_task(lock.acquire_async())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    lock.release()
    assert not lock.locked
    await asyncio.wait_for(lock.acquire_async(), 1)
    lock.release()


async def test_gate_wakes_waiters_of_any_kind_and_never_misses_a_notification() -> None:
    gate = Gate()
    seen = gate.version
    gate.notify_all()  # happens before the wait: the wait must return at once
    started = time.monotonic()
    gate.wait(seen, timeout=5)
    await gate.wait_async(seen, timeout=5)
    assert time.monotonic() - started < 1
    version = gate.version
    threading.Timer(0.05, gate.notify_all).start()
    started = time.monotonic()
    await gate.wait_async(version, timeout=5)
    assert time.monotonic() - started < 2
