"""A provider (or Router) that does not answer within ``timeout`` raises ``ProviderTimeoutError``, a builtin
``TimeoutError`` too, for plain and streamed calls, sync and async, in Direct and Router mode."""

from __future__ import annotations

import pytest

from zerog_compute import (
    AsyncZeroG,
    DeadlineExceededError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ZeroG,
)
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
MODEL = "zerog-devnet/scripted-chat"


@pytest.fixture
def hanging(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a"])
    devnet.provider("chat-a").faults.set(hang=True)
    return devnet


def test_a_read_timeout_is_a_timeout_error(hanging: Devnet) -> None:
    with ZeroG(private_key=hanging.users[0].private_key, network=devnet_network(hanging), timeout=1) as zg:
        with pytest.raises(TimeoutError) as plain:
            zg.chat.completions.create(provider=provider(hanging), messages=ASK)
        with pytest.raises(TimeoutError) as streamed:
            list(zg.chat.completions.create(provider=provider(hanging), messages=ASK, stream=True))
    for error in (plain.value, streamed.value):
        assert isinstance(error, ProviderTimeoutError) and isinstance(error, ProviderUnavailableError)
        assert error.provider == provider(hanging)
        assert "Timeout" in str(error) and not isinstance(error, DeadlineExceededError)


@pytest.mark.anyio
async def test_async_and_router_timeouts_are_timeout_errors(hanging: Devnet) -> None:
    network = devnet_network(hanging)
    async with AsyncZeroG(private_key=hanging.users[0].private_key, network=network, timeout=1) as azg:
        with pytest.raises(ProviderTimeoutError):
            await azg.chat.completions.create(provider=provider(hanging), messages=ASK)
    key, url = hanging.router.api_keys[0], hanging.router.url
    rzg = ZeroG(router_api_key=key, router_url=url, timeout=1)
    with rzg, pytest.raises(ProviderTimeoutError, match="0G Router") as routed:
        rzg.chat.completions.create(provider=provider(hanging), model=MODEL, messages=ASK)
    assert isinstance(routed.value, TimeoutError)


def test_a_deadline_stays_a_timeout_error_in_router_mode(hanging: Devnet) -> None:
    key, url = hanging.router.api_keys[0], hanging.router.url
    rzg = ZeroG(router_api_key=key, router_url=url, timeout=30, deadline=1)
    with rzg, pytest.raises(DeadlineExceededError) as info:
        rzg.chat.completions.create(provider=provider(hanging), model=MODEL, messages=ASK)
    assert isinstance(info.value, TimeoutError)
