"""LazyClients: lazily built clients per thread and event loop, cached pools, injected clients, closing,
backend precedence and secret hygiene, against the devnet where a request is made."""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

import zerog_compute.lazy
from zerog_compute import AsyncZeroG, LazyClients, PoolEvent, RateLimit, ZeroG
from zerog_compute.lazy import uses_router
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
ROUTER_KEY = "sk-abcdefgh12345"


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZG_PRIVATE_KEY", "ZG_ROUTER_API_KEY", "ZG_ROUTER_URL", "ZG_NETWORK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b"])
    return devnet


@pytest.fixture
def lazy(funded: Devnet) -> Iterator[LazyClients]:
    with LazyClients(private_key=funded.users[0].private_key, network=devnet_network(funded)) as clients:
        yield clients


def pair(net: Devnet) -> list[str]:
    return [provider(net, "chat-a"), provider(net, "chat-b")]


def is_closed(client: ZeroG | AsyncZeroG) -> bool:
    return bool(client._http.is_closed)


# --------------------------------------------------------------------------- construction and secrets


def test_construction_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a client was built at construction")

    monkeypatch.setattr(ZeroG, "__init__", refuse)
    monkeypatch.setattr(AsyncZeroG, "__init__", refuse)
    lazy = LazyClients(private_key="0x" + "11" * 32, network="testnet", rpc_url="http://127.0.0.1:1")
    assert lazy._sync is None and lazy._loops == {} and lazy._pools == {}
    lazy.close()


@pytest.mark.parametrize("key", ["0x" + "ab" * 32, bytes.fromhex("ab" * 32), SecretStr("0x" + "ab" * 32)])
def test_keys_are_secret_in_repr_pickles_and_copies(devnet: Devnet, key: str | bytes | SecretStr) -> None:
    hex_key = "ab" * 32
    url = "http://router.invalid/v1"
    lazy = LazyClients(
        private_key=key, router_api_key=ROUTER_KEY, router_url=url, network=devnet_network(devnet), timeout=5
    )
    assert isinstance(lazy.client_kwargs()["private_key"], SecretStr)
    assert lazy.client_kwargs()["private_key"].get_secret_value() == "0x" + hex_key
    lazy.sync()  # a live client must not be pickled or copied either
    text = repr(lazy) + str(lazy) + repr(vars(lazy)) + repr(lazy.client_kwargs())
    assert hex_key not in text and ROUTER_KEY not in text and "keys=['private_key', 'router_api_key']" in repr(lazy)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        blob = pickle.dumps(lazy, protocol=protocol)
        assert hex_key.encode() not in blob and bytes.fromhex(hex_key) not in blob and ROUTER_KEY.encode() not in blob
        restored = pickle.loads(blob)
        assert isinstance(restored, LazyClients) and restored._sync is None
        kwargs = restored.client_kwargs()
        assert "private_key" not in kwargs and "router_api_key" not in kwargs  # from the environment when built
        assert kwargs["timeout"] == 5 and restored.router_mode is False
        assert kwargs["network"] == devnet_network(devnet).with_rpc("") and kwargs["rpc_url"] is None  # no RPC URL
        assert devnet.rpc_url.encode() not in blob
    assert copy.copy(lazy) is lazy and copy.deepcopy(lazy) is lazy  # shared, never duplicated
    assert copy.deepcopy({"clients": lazy})["clients"] is lazy
    lazy.close()


def test_an_unpickled_holder_reads_its_key_and_rpc_url_from_the_environment(
    funded: Devnet, lazy: LazyClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    restored = pickle.loads(pickle.dumps(lazy))
    monkeypatch.setenv("ZG_PRIVATE_KEY", funded.users[0].private_key)
    monkeypatch.setenv("ZG_RPC_URL", funded.rpc_url)  # nor its RPC URL
    with restored:
        reply = restored.sync().chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"


# --------------------------------------------------------------------------- the sync client


class SlowZeroG(ZeroG):
    """A ZeroG whose construction takes long enough for racing threads to overlap, counted."""

    built = 0

    def __init__(self, **config: Any) -> None:
        type(self).built += 1
        time.sleep(0.05)
        super().__init__(**config)


def test_many_threads_get_one_sync_client_and_one_pool(
    funded: Devnet, lazy: LazyClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zerog_compute.lazy, "ZeroG", SlowZeroG)
    SlowZeroG.built = 0
    start = threading.Barrier(16)
    got: list[tuple[ZeroG, Any]] = []

    def work() -> None:
        start.wait()
        got.append((lazy.sync(), lazy.pool(providers=pair(funded))))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 16 and SlowZeroG.built == 1
    assert len({id(client) for client, _ in got}) == 1 and len({id(pool) for _, pool in got}) == 1
    reply = got[0][1].chat.completions.create(messages=ASK)
    assert reply.zerog is not None and reply.zerog.provider == provider(funded, "chat-a")


def test_pools_are_cached_per_options(funded: Devnet) -> None:
    tapped: list[PoolEvent] = []
    own: list[PoolEvent] = []
    key, network = funded.users[0].private_key, devnet_network(funded)
    with LazyClients(private_key=key, network=network, on_pool_event=tapped.append) as lazy:
        first = lazy.pool(providers=pair(funded), cooldown=5)
        assert lazy.pool(cooldown=5, providers=tuple(pair(funded))) is first  # order and sequence type don't count
        assert lazy.pool(providers=pair(funded), cooldown=6) is not first
        assert lazy.pool(providers=pair(funded), cooldown=5, strategy="price") is not first
        hooked = lazy.pool(providers=pair(funded), cooldown=5, on_event=own.append)
        assert hooked is not first and lazy.pool(providers=pair(funded), cooldown=5, on_event=own.append) is hooked
        assert lazy.pool(providers=pair(funded), cooldown=5, on_event=lambda e: None) is not hooked
        reply = hooked.chat.completions.create(messages=ASK)
        assert reply.choices[0].message.content == "2 + 3 = 5"
        assert [e.kind for e in tapped] == [e.kind for e in own] == ["attempt", "success"]  # tap, then own hook
        funded.provider("chat-a").faults.set(http_status=502)
        assert hooked.chat.completions.create(messages=ASK).zerog.provider == provider(funded, "chat-b")  # type: ignore[union-attr]
        own.clear()
        lazy.pool(providers=pair(funded), cooldown=5, on_event=own.append).chat.completions.create(messages=ASK)
        chat_b = provider(funded, "chat-b")
        assert [(e.kind, e.provider) for e in own] == [("attempt", chat_b), ("success", chat_b)]  # a cools down
        lazy.close()  # a closed holder forgets its pools (and their health)
        assert lazy.pool(providers=pair(funded), cooldown=5, on_event=own.append) is not hooked


# --------------------------------------------------------------------------- event loops


def test_asyncio_run_twice_gets_two_async_clients_and_prunes_the_first(funded: Devnet, lazy: LazyClients) -> None:
    async def ask() -> tuple[AsyncZeroG, Any, str | None]:
        client, pool = lazy.aio(), lazy.apool(providers=pair(funded))
        assert lazy.aio() is client and lazy.apool(providers=pair(funded)) is pool
        reply = await pool.chat.completions.create(messages=ASK)
        return client, pool, reply.choices[0].message.content

    first_client, first_pool, first = asyncio.run(ask())
    assert len(lazy._loops) == 1
    second_client, second_pool, second = asyncio.run(ask())  # the first loop (and its HTTP client) is gone
    assert first == second == "2 + 3 = 5"
    assert second_client is not first_client and second_pool is not first_pool
    (entry,) = lazy._loops.values()  # the closed loop's client and pools were dropped
    assert entry.client is second_client and list(entry.pools.values()) == [second_pool]
    assert lazy._sync is None  # the async path never builds the sync client


def test_threads_with_their_own_loops_get_their_own_clients(funded: Devnet, lazy: LazyClients) -> None:
    start = threading.Barrier(4)
    got: list[AsyncZeroG] = []

    async def build() -> None:
        start.wait()
        got.append(lazy.aio())
        await lazy.aclose()

    threads = [threading.Thread(target=asyncio.run, args=(build(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in got}) == 4 and all(is_closed(c) for c in got) and lazy._loops == {}


@pytest.mark.anyio
async def test_aclose_closes_what_it_built(anyio_backend: str, funded: Devnet, lazy: LazyClients) -> None:
    client, sync = lazy.aio(), lazy.sync()
    reply = await lazy.apool(providers=pair(funded)).chat.completions.create(messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"
    await lazy.aclose()
    assert is_closed(client) and is_closed(sync) and lazy._loops == {} and lazy._sync is None
    again = lazy.aio()  # usable again: a new client
    assert again is not client and (await again.chat.completions.create(provider=pair(funded)[0], messages=ASK))
    await lazy.aclose()
    assert is_closed(again)


def test_close_closes_the_sync_client_it_built(funded: Devnet, lazy: LazyClients) -> None:
    first = lazy.sync()
    lazy.close()
    assert is_closed(first) and lazy._sync is None
    second = lazy.sync()
    assert second is not first and second.chat.completions.create(provider=pair(funded)[0], messages=ASK).zerog


# --------------------------------------------------------------------------- injected clients


def test_an_injected_sync_client_is_used_and_never_closed(funded: Devnet, zg: ZeroG) -> None:
    lazy = LazyClients(client=zg, network="testnet")  # its own settings are not used for the injected client
    assert lazy.sync() is zg and lazy.pool(providers=pair(funded)).chat.completions._client is zg
    lazy.close()
    assert not is_closed(zg) and lazy.sync() is zg
    assert zg.chat.completions.create(provider=pair(funded)[0], messages=ASK).choices[0].message.content


@pytest.mark.anyio
async def test_an_injected_async_client_is_used_and_never_closed(
    anyio_backend: str, funded: Devnet, azg: AsyncZeroG
) -> None:
    lazy = LazyClients(async_client=azg, network="testnet")
    assert lazy.aio() is azg
    pool = lazy.apool(providers=pair(funded))
    assert pool is lazy.apool(providers=pair(funded)) and pool.chat.completions._client is azg
    await lazy.aclose()
    assert not is_closed(azg) and lazy.aio() is azg
    assert (await azg.chat.completions.create(provider=pair(funded)[0], messages=ASK)).choices[0].message.content


# --------------------------------------------------------------------------- backend precedence


def test_backend_precedence_is_the_core_clients(devnet: Devnet, monkeypatch: pytest.MonkeyPatch) -> None:
    wallet, key, url = devnet.users[1].private_key, SecretStr(ROUTER_KEY), devnet.router.url
    network = devnet_network(devnet)
    explicit = LazyClients(private_key=wallet, router_api_key=key, router_url=url, network=network)
    assert explicit.router_mode and explicit.client_kwargs()["router_api_key"] is key
    assert explicit.client_kwargs()["router_url"] == url
    assert explicit.sync().backend == "router" and explicit.sync().address == devnet.users[1].address
    from_env = LazyClients(private_key=wallet, router_api_key=key, router_key_from_env=True, router_url=url)
    assert not from_env.router_mode  # a Router key read from the environment yields to a wallet key
    assert "router_api_key" not in from_env.client_kwargs() and "router_url" not in from_env.client_kwargs()
    alone = LazyClients(router_api_key=key, router_key_from_env=True, network=network)
    assert alone.router_mode and "router_url" not in alone.client_kwargs()  # the core's own URL fallback
    monkeypatch.setenv("ZG_ROUTER_API_KEY", devnet.router.api_keys[0])
    assert uses_router(None, None) and not uses_router(wallet, None)
    with LazyClients(router_url=url, network=network, rate_limit=RateLimit(rpm=0)) as env, ZeroG(router_url=url) as zg:
        assert env.router_mode and env.sync().backend == "router" == zg.backend
        model = devnet.provider("chat-a").info.model
        assert env.sync().chat.completions.create(model=model, messages=ASK).choices[0].message.content
    with LazyClients(private_key=wallet, router_url=url, network=network) as direct:
        assert not direct.router_mode and direct.sync().backend == "direct"
    explicit.close()


@pytest.mark.parametrize("private_key", [None, "0x" + "11" * 32])
@pytest.mark.parametrize("router_api_key", [None, ROUTER_KEY])
@pytest.mark.parametrize("env_key", [None, "sk-fromtheenvironment"])
def test_uses_router_agrees_with_zerog(
    monkeypatch: pytest.MonkeyPatch, private_key: str | None, router_api_key: str | None, env_key: str | None
) -> None:
    if env_key is not None:
        monkeypatch.setenv("ZG_ROUTER_API_KEY", env_key)
    if private_key is None and router_api_key is None and env_key is None:
        monkeypatch.setenv("ZG_PRIVATE_KEY", "0x" + "22" * 32)
    config: dict[str, Any] = {"private_key": private_key, "router_api_key": router_api_key}
    config["router_url"] = "http://router.invalid/v1"
    with ZeroG(network="testnet", **config) as zg:
        assert uses_router(private_key, router_api_key) == (zg.backend == "router")
        with LazyClients(network="testnet", **config) as lazy:
            assert lazy.sync().backend == zg.backend
