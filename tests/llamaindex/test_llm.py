"""The LLM contract of ``ZeroG`` against the devnet: hierarchy, metadata, the eight methods, vision."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, ImageBlock, TextBlock
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.llms.zerog import ZeroG

from zerog_compute import RequestRejectedError, VerificationError
from zerog_compute.funding import FundingEvent, FundingPolicy
from zerog_devnet import Devnet

from .conftest import CHAT_MODEL, Kit

pytestmark = pytest.mark.devnet
ASK = [ChatMessage(role="user", content="What is 2 + 3?")]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def check_record(kwargs: dict[str, Any], kit: Kit, name: str = "chat-a") -> None:
    assert kwargs["provider"] == kit.address(name)
    assert kwargs["chat_id"] and kwargs["model"] == CHAT_MODEL
    assert kwargs["fee"] > 0 and float(kwargs["fee_0g"]) == kwargs["fee"] / 10**18
    assert kwargs["prompt_tokens"] > 0 and kwargs["completion_tokens"] > 0
    assert kwargs["total_tokens"] == kwargs["prompt_tokens"] + kwargs["completion_tokens"]
    assert kwargs["verdict"] in ("verified", "pending")


def test_class_hierarchy_and_names() -> None:
    assert BaseLLM.__name__ in [c.__name__ for c in ZeroG.__mro__]
    assert issubclass(ZeroG, FunctionCallingLLM)
    assert ZeroG.class_name() == "zerog_llm"


def test_construction_needs_a_target_and_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    import zerog_compute

    def no_client(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a client was built during construction")

    monkeypatch.setattr(zerog_compute.ZeroG, "__init__", no_client)
    monkeypatch.setattr(zerog_compute.AsyncZeroG, "__init__", no_client)
    started = time.perf_counter()
    for _ in range(20):
        ZeroG(provider="0x" + "1" * 40, network="testnet")
    assert time.perf_counter() - started < 1.0
    with pytest.raises(ValueError, match="provider="):
        ZeroG(network="testnet")
    with pytest.raises(ValueError, match="not both"):
        ZeroG(provider="0x" + "1" * 40, providers=["0x" + "2" * 40])
    with pytest.raises(ValueError, match="unknown pool_options"):
        ZeroG(model="m", pool_options={"colldown": 1})


def test_metadata_comes_from_the_catalog(kit: Kit) -> None:
    llm = kit.llm()
    meta = llm.metadata
    assert meta.context_window == 8192 and meta.num_output == 4096
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.model_name == CHAT_MODEL
    overridden = kit.llm(context_window=2048, max_tokens=100, is_function_calling_model=False)
    meta = overridden.metadata
    assert (meta.context_window, meta.num_output, meta.is_function_calling_model) == (2048, 100, False)


def test_metadata_falls_back_when_the_catalog_is_unreachable(kit: Kit, net: Devnet) -> None:
    net.provider("chat-a").stop()
    meta = kit.llm().metadata
    assert meta.context_window == 3900 and meta.is_function_calling_model


def test_chat_and_complete(kit: Kit) -> None:
    llm = kit.llm(await_verification=True)
    response = llm.chat(ASK)
    assert isinstance(response, ChatResponse)
    assert response.message.content == "2 + 3 = 5" and response.message.role == "assistant"
    check_record(response.additional_kwargs, kit)
    assert response.additional_kwargs["verdict"] == "verified"
    assert response.raw.zerog.chat_id == response.additional_kwargs["chat_id"]
    completion = llm.complete("What is 6 * 7?")
    assert isinstance(completion, CompletionResponse) and completion.text == "6 * 7 = 42"
    check_record(completion.additional_kwargs, kit)


def test_stream_chat_and_stream_complete(kit: Kit) -> None:
    llm = kit.llm()
    chunks = list(llm.stream_chat(ASK))
    assert "".join(c.delta or "" for c in chunks) == "2 + 3 = 5"
    assert chunks[-1].message.content == "2 + 3 = 5"
    check_record(chunks[-1].additional_kwargs, kit)  # the final usage chunk
    assert all("fee" not in c.additional_kwargs for c in chunks[:-1])
    assert chunks[-1].raw.zerog.verdict(timeout=10).verdict.value == "verified"
    completions = list(llm.stream_complete("What is 6 * 7?"))
    assert completions[-1].text == "6 * 7 = 42" and completions[-1].additional_kwargs["fee"] > 0


@pytest.mark.anyio
async def test_async_chat_and_complete(akit: Kit) -> None:
    llm = akit.llm(await_verification=True)
    response = await llm.achat(ASK)
    assert response.message.content == "2 + 3 = 5"
    check_record(response.additional_kwargs, akit)
    assert response.additional_kwargs["verdict"] == "verified"
    completion = await llm.acomplete("What is 6 * 7?")
    assert completion.text == "6 * 7 = 42"


@pytest.mark.anyio
async def test_async_streams(akit: Kit) -> None:
    llm = akit.llm(await_verification=True)
    chunks = [c async for c in await llm.astream_chat(ASK)]
    assert "".join(c.delta or "" for c in chunks) == "2 + 3 = 5"
    check_record(chunks[-1].additional_kwargs, akit)
    assert chunks[-1].additional_kwargs["verdict"] == "verified"
    completions = [c async for c in await llm.astream_complete("What is 6 * 7?")]
    assert completions[-1].text == "6 * 7 = 42"


def test_request_options_reach_the_provider(kit: Kit) -> None:
    llm = kit.llm(max_tokens=2, temperature=0.1)
    response = llm.complete("say 'one two three four'")
    assert response.text == "one two" and response.additional_kwargs["finish_reason"] == "length"
    assert llm.complete("say 'a b c'", stop=[" b"]).text == "a"
    system = [ChatMessage(role="system", content="Answer in uppercase."), ChatMessage(role="user", content="say 'hi'")]
    assert kit.llm().chat(system).message.content == "HI"
    with pytest.raises(RequestRejectedError, match="model not supported"):
        kit.llm(provider=kit.address("chat-a"), model="no-such-model").chat(ASK)


def test_model_only_discovers_providers(kit: Kit) -> None:
    llm = kit.llm(model=CHAT_MODEL, strategy="price")
    response = llm.chat(ASK)
    assert response.additional_kwargs["provider"] == kit.address("chat-b")  # the cheaper one
    assert llm.metadata.context_window == 8192


def test_images_go_to_the_provider(kit: Kit, tmp_path: Any) -> None:
    image_path = tmp_path / "dot.png"
    image_path.write_bytes(PNG)
    message = ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="What is in these pictures?"),
            ImageBlock(image=PNG, image_mimetype="image/png"),
            ImageBlock(path=image_path),
            ImageBlock(url="https://example.com/cat.png"),
        ],
    )
    response = kit.llm().chat([message])
    assert (response.message.content or "").startswith("I see 3 images:")


@pytest.mark.anyio
async def test_images_async(akit: Kit) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="Look"), ImageBlock(image=PNG)])
    response = await akit.llm().achat([message])
    assert (response.message.content or "").startswith("I see 1 image:")


def test_funding_policy_tops_up(kit: Kit) -> None:
    events: list[FundingEvent] = []
    policy = FundingPolicy.of(min_balance="3", target_balance="4", budget="5", after_fund=events.append)
    llm = kit.llm(funding=policy)
    assert llm.chat(ASK).message.content == "2 + 3 = 5"
    assert [(e.kind, e.provider) for e in events] == [("funded", kit.address("chat-a"))]
    assert "funding" not in llm.to_dict()


def test_async_works_across_event_loops(kit: Kit) -> None:
    llm = kit.llm()

    async def ask() -> str | None:
        return (await llm.achat(ASK)).message.content

    assert asyncio.run(ask()) == "2 + 3 = 5"
    assert asyncio.run(ask()) == "2 + 3 = 5"  # a new loop gets a new AsyncZeroG
    assert llm.chat(ASK).message.content == "2 + 3 = 5"


def test_verification_modes(kit: Kit) -> None:
    assert kit.llm(verification="off").chat(ASK).additional_kwargs["verdict"] == "skipped"
    kit.net.provider("chat-a").faults.set(sign_other_content=True)
    flagged = kit.llm(await_verification=True).chat(ASK)
    assert flagged.additional_kwargs["verdict"] == "content_mismatch"  # warn: reported, not raised
    kit.net.provider("chat-a").faults.set(wrong_signature=True)
    with pytest.raises(VerificationError, match="invalid_signature"):
        kit.llm(verification="enforce").chat(ASK)
    events: list[Any] = []
    pool = kit.llm(
        providers=[kit.address("chat-a"), kit.address("chat-b")], verification="enforce", on_event=events.append
    )
    response = pool.chat(ASK)  # enforce + failover: the badly signed answer is not accepted
    assert response.additional_kwargs["provider"] == kit.address("chat-b")
    assert response.additional_kwargs["verdict"] == "verified"
