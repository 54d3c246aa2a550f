"""AsyncZeroG offers what ZeroG offers: discovery, acknowledgement, verification, API keys, pools."""

from __future__ import annotations

import pytest

from zerog_compute import AsyncZeroG, ServiceNotFoundError, Verdict, ZeroG
from zerog_devnet import Devnet

from .conftest import provider

pytestmark = [pytest.mark.devnet, pytest.mark.anyio]
ASK = [{"role": "user", "content": "What is 2 + 3?"}]


async def test_discovery(azg: AsyncZeroG, devnet: Devnet) -> None:
    services = await azg.services.list(service_type="chatbot")
    assert {s.provider for s in services} == {p.address for p in devnet.providers if p.service_type == "chatbot"}
    service = await azg.services.get(provider(devnet))
    assert service.url == devnet.provider("chat-a").info.url
    models = await azg.services.models(provider(devnet))
    assert models[0].id == service.model
    with pytest.raises(ServiceNotFoundError):
        await azg.services.get(devnet.users[3].address)


async def test_acknowledge_verify_and_keys(azg: AsyncZeroG, devnet: Devnet) -> None:
    await azg.ledger.create("5")
    account = await azg.acknowledge(provider(devnet), amount="2")
    assert account.acknowledged
    reply = await azg.chat.completions.create(provider=provider(devnet), messages=ASK)
    assert reply.zerog is not None and reply.zerog.chat_id is not None
    assert (await azg.verify(provider(devnet), reply.zerog.chat_id)).verdict is Verdict.verified
    key = await azg.api_keys.create(provider(devnet))
    await azg.api_keys.revoke(provider(devnet), key.token_id)
    assert (await azg.api_keys.create(provider(devnet))).token_id == key.token_id + 1
    await azg.api_keys.revoke_all(provider(devnet))
    assert (await azg.chat.completions.create(provider=provider(devnet), messages=ASK)).zerog is not None


async def test_sync_and_async_give_the_same_answers(azg: AsyncZeroG, zg: ZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    sync_reply = zg.chat.completions.create(provider=provider(devnet), messages=ASK, max_tokens=3)
    async_reply = await azg.chat.completions.create(provider=provider(devnet), messages=ASK, max_tokens=3)
    assert sync_reply.choices[0].message.content == async_reply.choices[0].message.content
    assert sync_reply.zerog is not None and async_reply.zerog is not None
    assert sync_reply.zerog.fee == async_reply.zerog.fee
