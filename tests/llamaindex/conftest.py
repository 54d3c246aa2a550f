"""Fixtures: a devnet with unthrottled providers and LlamaIndex 0G components wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from llama_index.embeddings.zerog import ZeroGEmbedding
from llama_index.llms.zerog import ZeroG
from llama_index.multi_modal_llms.zerog import ZeroGMultiModal
from llama_index.readers.zerog import ZeroGTranscriptionReader
from llama_index.tools.zerog import ZeroGToolSpec

from zerog_compute import Network
from zerog_compute.ratelimit import RateLimit
from zerog_devnet import Devnet, ProviderSpec
from zerog_devnet.media import silent_wav as wav  # noqa: F401 - re-exported to the test modules

OPEN = {"rpm": 0, "burst": 100, "max_concurrent": 100, "max_global_concurrent": 100}
SPECS = [
    ProviderSpec("chat-a", **OPEN),
    ProviderSpec("chat-b", input_price=50_000_000_000, output_price=100_000_000_000, **OPEN),
    ProviderSpec("image", "text-to-image", "zerog-devnet/scripted-image", input_price=0, output_price=10**15, **OPEN),
    ProviderSpec(
        "speech", "speech-to-text", "zerog-devnet/scripted-whisper", input_price=10**13, output_price=0, **OPEN
    ),
    ProviderSpec(
        "embed", "embedding", "zerog-devnet/scripted-embed", input_price=20_000_000_000, output_price=0, **OPEN
    ),
    ProviderSpec(
        "embed-b", "embedding", "zerog-devnet/scripted-embed", input_price=30_000_000_000, output_price=0, **OPEN
    ),
]
FUNDED = ["chat-a", "chat-b", "image", "speech", "embed", "embed-b"]
CHAT_MODEL = "zerog-devnet/scripted-chat"


def devnet_network(net: Devnet) -> Network:
    return Network(
        name="devnet",
        chain_id=net.chain_id,
        rpc_url=net.rpc_url,
        ledger=net.contracts.ledger,
        inference=net.contracts.inference,
        fine_tuning=net.contracts.fine_tuning,
    )


@pytest.fixture(scope="session")
def li_devnet() -> Iterator[Devnet]:
    """One devnet for the LlamaIndex suite: unthrottled providers, user 0 funded everywhere."""
    with Devnet.start(SPECS, users=2, settle_interval=3600) as net:
        net.fund(net.users[0], FUNDED, ledger=20 * 10**18)
        yield net


@pytest.fixture
def net(li_devnet: Devnet) -> Iterator[Devnet]:
    """The suite's devnet, reverted (chain, provider state, faults) after each test."""
    snapshot = li_devnet.snapshot()
    try:
        yield li_devnet
    finally:
        li_devnet.revert(snapshot)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Kit:
    """Builds components wired to the devnet with user 0's key; closes them afterwards."""

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.key = net.users[0].private_key
        self.network = devnet_network(net)
        self.made: list[Any] = []

    def address(self, name: str) -> str:
        return self.net.provider(name).info.address

    def name_of(self, address: str | None) -> str:
        return {self.address(n): n for n in FUNDED}.get(address or "", "?")

    @property
    def common(self) -> dict[str, Any]:
        return {"private_key": self.key, "network": self.network, "rate_limit": RateLimit(rpm=0, max_concurrent=50)}

    def _keep(self, component: Any) -> Any:
        self.made.append(component)
        return component

    def llm(self, **kwargs: Any) -> ZeroG:
        kwargs.setdefault("provider", None if "providers" in kwargs or "model" in kwargs else self.address("chat-a"))
        return self._keep(ZeroG(**{**self.common, **kwargs}))

    def multimodal(self, **kwargs: Any) -> ZeroGMultiModal:
        kwargs.setdefault("provider", self.address("chat-a"))
        return self._keep(ZeroGMultiModal(**{**self.common, **kwargs}))

    def embedding(self, **kwargs: Any) -> ZeroGEmbedding:
        kwargs.setdefault("provider", None if "providers" in kwargs or "model" in kwargs else self.address("embed"))
        return self._keep(ZeroGEmbedding(**{**self.common, **kwargs}))

    def tools(self, **kwargs: Any) -> ZeroGToolSpec:
        return self._keep(ZeroGToolSpec(**{**self.common, **kwargs}))

    def reader(self, **kwargs: Any) -> ZeroGTranscriptionReader:
        kwargs.setdefault("provider", self.address("speech"))
        return self._keep(ZeroGTranscriptionReader(**{**self.common, **kwargs}))

    def close(self) -> None:
        for component in self.made:
            component.close()

    async def aclose(self) -> None:
        for component in self.made:
            await component.aclose()


@pytest.fixture
def kit(net: Devnet) -> Iterator[Kit]:
    made = Kit(net)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
async def akit(kit: Kit) -> AsyncIterator[Kit]:
    """The kit for async tests: its async clients are closed (background verifications awaited) in the test's loop."""
    yield kit
    await kit.aclose()
