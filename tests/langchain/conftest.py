"""Fixtures for the langchain-zerog tests: one session devnet whose providers never rate-limit.

The standard LangChain suites send a few hundred requests, so the providers here have no per-user
limit (``rpm=0``) and the user is funded for thousands of requests. ``STATE`` hands the running
devnet to the standard-test classes, whose ``chat_model_params`` are properties, not fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from zerog_compute import Network
from zerog_devnet import Devnet, ProviderSpec

G = 10**18
CHAT_MODEL = "zerog-devnet/scripted-chat"
ALT_MODEL = "zerog-devnet/scripted-chat-alt"
EMBED_MODEL = "zerog-devnet/scripted-embed"
OPEN: dict[str, Any] = {"rpm": 0, "max_concurrent": 100, "max_global_concurrent": 100}
SPECS = (
    ProviderSpec("lc-a", **OPEN),
    ProviderSpec("lc-b", input_price=50_000_000_000, output_price=100_000_000_000, **OPEN),
    ProviderSpec("lc-c", **OPEN),
    ProviderSpec("lc-alt", model=ALT_MODEL, **OPEN),
    ProviderSpec("lc-embed", "embedding", EMBED_MODEL, input_price=20_000_000_000, output_price=0, **OPEN),
    ProviderSpec(
        "lc-image", "text-to-image", "zerog-devnet/scripted-image", input_price=0, output_price=10**15, **OPEN
    ),
    ProviderSpec(
        "lc-speech", "speech-to-text", "zerog-devnet/scripted-whisper", input_price=10**13, output_price=0, **OPEN
    ),
)
FUNDED = [spec.name for spec in SPECS]


@dataclass
class LcNet:
    """The running devnet as the langchain tests use it."""

    net: Devnet
    network: Network
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def address(self, name: str) -> str:
        return self.net.provider(name).info.address

    def connection(self, user: int = 0) -> dict[str, Any]:
        """Constructor arguments that point a langchain-zerog class at this devnet."""
        return {"network": self.network, "private_key": self.net.users[user].private_key, "rate_limit": None}

    def router_connection(self, key: int = 0) -> dict[str, Any]:
        """Constructor arguments for Router mode: the devnet's Router emulator and one of its sk- keys.

        With a ``Network`` object the Router URL must be given (``network="devnet"`` finds it in the
        devnet description that ``$ZG_DEVNET_FILE`` names)."""
        return {
            "network": self.network,
            "router_api_key": self.net.router.api_keys[key],
            "router_url": self.net.router.url,
            "rate_limit": None,
        }


STATE: dict[str, LcNet] = {}


def network_of(net: Devnet) -> Network:
    return Network(
        name="devnet",
        chain_id=net.chain_id,
        rpc_url=net.rpc_url,
        ledger=net.contracts.ledger,
        inference=net.contracts.inference,
        fine_tuning=net.contracts.fine_tuning,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def lc_net() -> Iterator[LcNet]:
    """A devnet for the whole session, user 0 funded with 3 0G at every provider."""
    with Devnet.start(SPECS, users=3, settle_interval=3600) as net:
        net.fund(net.users[0], FUNDED, ledger=40 * G, each=3 * G)
        state = LcNet(net, network_of(net), net.users[0].private_key)
        STATE["net"] = state
        try:
            yield state
        finally:
            STATE.pop("net", None)


@pytest.fixture
def lc(lc_net: LcNet) -> Iterator[LcNet]:
    """The session devnet, reverted (chain, provider state, faults) after the test."""
    snapshot = lc_net.net.snapshot()
    try:
        yield lc_net
    finally:
        lc_net.net.revert(snapshot)


def current() -> LcNet:
    """The session devnet, for the standard-test property methods (the ``lc_net`` fixture must be active)."""
    try:
        return STATE["net"]
    except KeyError:
        raise RuntimeError("the lc_net fixture is not active: add it as an autouse fixture") from None
