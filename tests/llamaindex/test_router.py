"""Router mode (``router_api_key=``): the same components through the devnet's Router emulator."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.embeddings.zerog import ZeroGEmbedding
from llama_index.llms.zerog import ZeroG
from llama_index.tools.zerog import ZeroGToolSpec

from zerog_compute import ConfigurationError, ZeroGError

from .conftest import CHAT_MODEL, Kit

pytestmark = pytest.mark.devnet
ASK = [ChatMessage(role="user", content="What is 2 + 3?")]


def router(kit: Kit) -> dict[str, Any]:
    return {"router_api_key": kit.net.router.api_keys[0], "router_url": kit.net.router.url, "network": kit.network}


def test_llm_through_the_router(kit: Kit) -> None:
    key = kit.net.router.api_keys[0]
    before = kit.net.router.balance(key)
    llm = kit._keep(ZeroG(model=CHAT_MODEL, await_verification=True, **router(kit)))
    response = llm.chat(ASK)
    extra = response.additional_kwargs
    assert response.message.content == "2 + 3 = 5" and extra["backend"] == "router"
    assert extra["verdict"] == "verified" and extra["provider"] in {kit.address("chat-a"), kit.address("chat-b")}
    assert extra["fee"] == before - kit.net.router.balance(key)
    chunks = list(llm.stream_chat(ASK))
    assert chunks[-1].message.content == "2 + 3 = 5" and chunks[-1].additional_kwargs["backend"] == "router"
    pinned = kit._keep(ZeroG(provider=kit.address("chat-b"), **router(kit)))
    assert pinned.chat(ASK).additional_kwargs["provider"] == kit.address("chat-b")


@pytest.mark.anyio
async def test_async_through_the_router_and_embeddings_refused(akit: Kit) -> None:
    llm = akit._keep(ZeroG(model=CHAT_MODEL, **router(akit)))
    assert (await llm.achat(ASK)).additional_kwargs["backend"] == "router"
    embed = akit._keep(ZeroGEmbedding(model="zerog-devnet/scripted-embed", **router(akit)))
    with pytest.raises(ZeroGError, match="Direct mode"):
        await embed.aget_text_embedding_batch(["a cat", "a dog"])


def test_trust_mode_and_async_image_jobs(kit: Kit, tmp_path: Path) -> None:
    kit.net.router.faults.set(teetls_providers=(kit.address("chat-a"),))
    llm = kit._keep(ZeroG(model=CHAT_MODEL, trust_mode="private", **router(kit)))
    for _ in range(2):
        assert llm.chat(ASK).additional_kwargs["provider"] == kit.address("chat-b")
    spec = kit._keep(
        ZeroGToolSpec(image_provider=kit.address("image"), image_jobs=True, output_dir=tmp_path, **router(kit))
    )
    said = spec.generate_image("a cat")
    assert kit.address("image") in said and list(tmp_path.iterdir())


def test_router_key_stays_secret(kit: Kit) -> None:
    key = kit.net.router.api_keys[0]
    llm = kit._keep(ZeroG(model=CHAT_MODEL, **router(kit)))
    llm.chat(ASK)
    for text in (repr(llm), str(llm), llm.to_json(), str(getattr(llm, "to_payload", dict)()), pickle.dumps(llm).hex()):
        assert key not in text and key.encode().hex() not in text
    assert "router_api_key" not in llm.to_dict() and llm.to_dict()["router_url"] == kit.net.router.url


def test_wallet_tools_need_direct_mode(kit: Kit) -> None:
    spec = kit._keep(ZeroGToolSpec(**router(kit)))
    assert kit.address("embed") in spec.list_providers("embedding")
    with pytest.raises(ConfigurationError):
        spec.get_balance()
