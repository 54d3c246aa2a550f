"""The one send path: streams are flows driven by the runners, verification is applied once per response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zerog_compute import AsyncZeroG, ZeroG
from zerog_compute._io import Emit, OpenStream, ReadChunk, Sleep
from zerog_compute.runners import AsyncRunner, SyncRunner
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.anyio
ASK = [{"role": "user", "content": "What is 2 + 3?"}]


class SignatureGets:
    """Counts the GETs of ``/signature/…`` a client makes (an httpx event hook on its provider client)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: httpx.Request) -> None:
        if request.method == "GET" and "/signature/" in request.url.path:
            self.count += 1

    async def acall(self, request: httpx.Request) -> None:
        self(request)


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b"])
    return devnet


def sync_client(net: Devnet, gets: SignatureGets, **options: Any) -> ZeroG:
    http = httpx.Client(timeout=60.0, event_hooks={"request": [gets]})
    return ZeroG(private_key=net.users[0].private_key, network=devnet_network(net), http_client=http, **options)


@pytest.mark.devnet
@pytest.mark.parametrize("pooled", [False, True], ids=["single", "pool"])
def test_enforce_fetches_one_signature_per_response(funded: Devnet, pooled: bool) -> None:
    gets = SignatureGets()
    with sync_client(funded, gets, verification="enforce") as zg:
        target: Any = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")]) if pooled else zg
        where = {} if pooled else {"provider": provider(funded, "chat-a")}
        reply = target.chat.completions.create(messages=ASK, **where)
        assert reply.zerog.verification.ok
        assert gets.count == 1
        chunks = list(target.chat.completions.create(messages=ASK, stream=True, **where))
        assert chunks[-1].zerog.verification.ok
        assert gets.count == 2


@pytest.mark.devnet
@pytest.mark.parametrize("pooled", [False, True], ids=["single", "pool"])
async def test_enforce_fetches_one_signature_per_response_async(funded: Devnet, pooled: bool) -> None:
    gets = SignatureGets()
    http = httpx.AsyncClient(timeout=60.0, event_hooks={"request": [gets.acall]})
    options = {"private_key": funded.users[0].private_key, "network": devnet_network(funded)}
    async with AsyncZeroG(http_client=http, verification="enforce", **options) as zg:
        target: Any = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")]) if pooled else zg
        where = {} if pooled else {"provider": provider(funded, "chat-a")}
        reply = await target.chat.completions.create(messages=ASK, **where)
        assert reply.zerog.verification.ok and gets.count == 1
        chunks = [c async for c in await target.chat.completions.create(messages=ASK, stream=True, **where)]
        assert chunks[-1].zerog.verification.ok and gets.count == 2


@pytest.mark.devnet
def test_leaving_a_stream_early_closes_it_and_frees_the_slot(funded: Devnet) -> None:
    gets = SignatureGets()
    with sync_client(funded, gets) as zg:
        address = provider(funded, "chat-a")
        stream = zg.chat.completions.create(provider=address, messages=ASK, stream=True)
        next(iter(stream))
        stream.close()  # type: ignore[attr-defined]
        assert zg._ctx.limiter.in_flight(address) == 0  # type: ignore[union-attr]
        assert gets.count == 0  # an abandoned stream is never verified
        reply = zg.chat.completions.create(provider=address, messages=ASK)  # the client still works
        assert reply.choices[0].message.content


@pytest.mark.devnet
async def test_leaving_an_async_stream_early_frees_the_slot(funded: Devnet) -> None:
    options = {"private_key": funded.users[0].private_key, "network": devnet_network(funded)}
    async with AsyncZeroG(**options) as zg:
        address = provider(funded, "chat-a")
        stream: Any = await zg.chat.completions.create(provider=address, messages=ASK, stream=True)
        await stream.__anext__()
        await stream.aclose()
        assert zg._ctx.limiter.in_flight(address) == 0  # type: ignore[union-attr]


# --------------------------------------------------------------------------- runners, no network


def counting_flow(closed: list[str]) -> Iterator[Any]:
    try:
        for n in range(3):
            yield Sleep(0)
            yield Emit(n)
        return "done"
    finally:
        closed.append("closed")


def runners() -> tuple[SyncRunner, AsyncRunner]:
    return (
        SyncRunner("http://rpc.invalid", 1, httpx.Client(), httpx.Client()),
        AsyncRunner("http://rpc.invalid", 1, httpx.AsyncClient(), httpx.AsyncClient()),
    )


def test_iterate_yields_what_a_flow_emits_and_closes_it_when_left() -> None:
    sync, _ = runners()
    closed: list[str] = []
    assert list(sync.iterate(counting_flow(closed))) == [0, 1, 2] and closed == ["closed"]
    closed.clear()
    items = sync.iterate(counting_flow(closed))
    assert next(items) == 0
    items.close()  # type: ignore[attr-defined]
    assert closed == ["closed"]


async def test_aiterate_yields_what_a_flow_emits_and_closes_it_when_left() -> None:
    _, runner = runners()
    closed: list[str] = []
    assert [n async for n in runner.aiterate(counting_flow(closed))] == [0, 1, 2] and closed == ["closed"]
    closed.clear()
    items: Any = runner.aiterate(counting_flow(closed))
    assert await items.__anext__() == 0
    await items.aclose()
    assert closed == ["closed"]


async def test_run_refuses_a_flow_that_emits() -> None:
    sync, runner = runners()
    with pytest.raises(TypeError, match="iterate"):
        sync.run(counting_flow([]))
    with pytest.raises(TypeError, match="iterate"):
        await runner.run(counting_flow([]))


def test_stream_requests_are_refused_outside_an_iteration() -> None:
    sync, _ = runners()

    def opens() -> Iterator[Any]:
        yield OpenStream("POST", "http://127.0.0.1:9")
        yield ReadChunk()

    with pytest.raises(TypeError, match="unknown I/O request"):
        sync.run(opens())
