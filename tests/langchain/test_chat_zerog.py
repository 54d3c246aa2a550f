"""ChatZeroG against the devnet: metadata, verification, streaming usage, failover, events, tools, images."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_zerog import ChatZeroG
from zerog_compute import RequestRejectedError, StreamInterruptedError, VerificationError
from zerog_compute.funding import FundingEvent, FundingPolicy

from .conftest import ALT_MODEL, CHAT_MODEL, G, LcNet

pytestmark = [pytest.mark.devnet, pytest.mark.anyio]
ASK = "What is 2 + 3?"


def chat(lc: LcNet, *, user: int = 0, **kwargs: Any) -> ChatZeroG:
    if "provider" not in kwargs and "providers" not in kwargs:
        kwargs["providers"] = [lc.address("lc-a"), lc.address("lc-b")]
    return ChatZeroG(model=CHAT_MODEL, **lc.connection(user), **kwargs)


def fee_of(lc: LcNet, name: str, usage: Any) -> int:
    info = lc.net.provider(name).info
    return int(usage["input_tokens"] * info.input_price + usage["output_tokens"] * info.output_price)


class Events(BaseCallbackHandler):
    """Records custom events and every callback payload."""

    def __init__(self) -> None:
        self.custom: list[tuple[str, dict[str, Any], UUID]] = []
        self.llm_runs: list[UUID] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.custom.append((name, data, run_id))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.llm_runs.append(run_id)


class AsyncEvents(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.custom: list[tuple[str, dict[str, Any]]] = []

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.custom.append((name, data))


def kinds(message: AIMessage) -> list[str]:
    return [e["kind"] for e in message.response_metadata.get("zerog_events", []) if e["event"] == "zerog_pool_event"]


# --------------------------------------------------------------------------- metadata and verification


def test_invoke_carries_usage_fee_and_verified_verdict(lc: LcNet) -> None:
    llm = chat(lc, provider=lc.address("lc-a"), providers=None, await_verification=True)
    msg = llm.invoke(ASK)
    assert msg.content == "2 + 3 = 5"
    meta, usage = msg.response_metadata, msg.usage_metadata
    assert usage is not None and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert meta["model_provider"] == "zerog" and meta["model_name"] == CHAT_MODEL
    assert meta["finish_reason"] == "stop"
    assert meta["zerog_provider"] == lc.address("lc-a")
    assert meta["zerog_chat_id"] and msg.id == f"chatcmpl-{meta['zerog_chat_id']}"
    assert meta["zerog_fee"] == fee_of(lc, "lc-a", usage) > 0
    assert meta["zerog_fee_0g"] == format(meta["zerog_fee"] / 10**18, ".7f").rstrip("0")
    assert meta["zerog_verification"] == "verified" and meta["zerog_content_bound"] is True
    assert "zerog_events" not in meta  # one provider: no pool steps


def test_background_verdict_is_available_later(lc: LcNet) -> None:
    llm = chat(lc)
    msg = llm.invoke(ASK)
    assert msg.response_metadata["zerog_verification"] in ("pending", "verified")
    result = llm.verdict(msg, timeout=10)
    assert result is not None and result.verdict.value == "verified"
    again = chat(lc).verdict(msg)  # another instance has no record: it re-verifies by chat id
    assert again is not None and again.verdict.value == "verified"


def test_verification_modes(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(sign_other_content=True)
    warned = chat(lc, provider=lc.address("lc-a"), providers=None, await_verification=True).invoke(ASK)
    assert warned.response_metadata["zerog_verification"] == "content_mismatch"
    off = chat(lc, verification="off").invoke(ASK)
    assert off.response_metadata["zerog_verification"] == "skipped"
    with pytest.raises(VerificationError):
        chat(lc, provider=lc.address("lc-a"), providers=None, verification="enforce").invoke(ASK)


def test_enforced_verification_fails_over(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(wrong_signature=True)
    msg = chat(lc, verification="enforce").invoke(ASK)
    assert msg.response_metadata["zerog_provider"] == lc.address("lc-b")
    assert msg.response_metadata["zerog_verification"] == "verified"
    failover = [e for e in msg.response_metadata["zerog_events"] if e.get("kind") == "failover"]
    assert failover and failover[0]["error_type"] == "VerificationError"


# --------------------------------------------------------------------------- streaming


def test_stream_yields_tokens_and_one_usage_chunk(lc: LcNet) -> None:
    llm = chat(lc, provider=lc.address("lc-a"), providers=None, await_verification=True)
    chunks = list(llm.stream("say 'one two three four'"))
    assert [c.content for c in chunks if c.content] == ["one ", "two ", "three ", "four"]
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1]
    assert chunks[-1].chunk_position == "last"
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert isinstance(full, AIMessageChunk) and full.content == "one two three four"
    assert full.usage_metadata == llm.invoke("say 'one two three four'").usage_metadata
    meta = full.response_metadata
    assert meta["model_name"] == CHAT_MODEL and meta["finish_reason"] == "stop"
    assert meta["zerog_fee"] == fee_of(lc, "lc-a", full.usage_metadata) and meta["zerog_verification"] == "verified"


async def test_astream_and_ainvoke_use_the_async_client_only(lc: LcNet) -> None:
    llm = chat(lc, await_verification=True)
    chunks = [c async for c in llm.astream(ASK)]
    assert "".join(str(c.content) for c in chunks) == "2 + 3 = 5"
    assert chunks[-1].usage_metadata is not None and chunks[-1].response_metadata["zerog_verification"] == "verified"
    msg = await llm.ainvoke(ASK)
    assert msg.content == "2 + 3 = 5" and msg.response_metadata["zerog_verification"] == "verified"
    results = await llm.abatch(["What is 1 + 1?", "What is 2 * 4?"])
    assert [m.content for m in results] == ["1 + 1 = 2", "2 * 4 = 8"]
    assert llm.zerog_clients._sync is None  # never the sync path
    assert (await llm.averdict(msg)) is not None
    await llm.aclose()


def test_each_event_loop_gets_its_own_async_client(lc: LcNet) -> None:
    llm = chat(lc)
    first = asyncio.run(llm.ainvoke(ASK))
    second = asyncio.run(llm.ainvoke(ASK))  # the first loop (and its HTTP client) is gone
    assert first.content == second.content == "2 + 3 = 5"


# --------------------------------------------------------------------------- failover and events


def test_failover_mid_run_surfaces_in_metadata_and_callbacks(lc: LcNet) -> None:
    llm = chat(lc, pool_options={"cooldown": 60})
    before = llm.invoke(ASK)
    assert before.response_metadata["zerog_provider"] == lc.address("lc-a")
    assert kinds(before) == ["attempt", "success"]
    lc.net.provider("lc-a").faults.set(http_status=502)  # lc-a breaks mid-run
    handler = Events()
    after = llm.invoke(ASK, config={"callbacks": [handler]})
    assert after.content == "2 + 3 = 5" and after.response_metadata["zerog_provider"] == lc.address("lc-b")
    assert kinds(after) == ["attempt", "failover", "cooldown", "attempt", "success"]
    failover = after.response_metadata["zerog_events"][1]
    assert failover["provider"] == lc.address("lc-a") and failover["error_type"] == "ProviderUnavailableError"
    assert [d["kind"] for n, d, _ in handler.custom if n == "zerog_pool_event"] == kinds(after)
    assert {run for _, _, run in handler.custom} == set(handler.llm_runs)  # attached to the chat model's run
    third = llm.invoke(ASK)  # lc-a is cooling down: not even tried
    assert kinds(third) == ["attempt", "success"] and third.response_metadata["zerog_provider"] == lc.address("lc-b")


def test_stream_fails_over_before_the_first_chunk(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(drop_connection=True)
    chunks = list(chat(lc).stream(ASK))
    assert "".join(str(c.content) for c in chunks) == "2 + 3 = 5"
    assert chunks[-1].response_metadata["zerog_provider"] == lc.address("lc-b")
    assert kinds(chunks[-1]) == ["attempt", "failover", "cooldown", "attempt", "success"]  # type: ignore[arg-type]
    assert [c for c in chunks if c.response_metadata.get("zerog_events")] == [chunks[-1]]


def test_streamed_events_reach_the_enclosing_run(lc: LcNet) -> None:
    """``stream()`` keeps LangChain's run manager to itself: events go to the enclosing run (here a chain)."""
    lc.net.provider("lc-a").faults.set(http_status=500)
    handler = Events()
    chain = RunnableLambda(lambda text: text) | chat(lc)
    chunks = list(chain.stream(ASK, config={"callbacks": [handler]}))
    assert chunks[-1].response_metadata["zerog_provider"] == lc.address("lc-b")
    assert [d["kind"] for _, d, _ in handler.custom] == ["attempt", "failover", "cooldown", "attempt", "success"]


def test_stream_cut_after_the_first_chunk_raises(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(stream_cut_after=3)
    with pytest.raises(StreamInterruptedError):
        list(chat(lc).stream("say 'one two three four five six'"))


async def test_async_failover_dispatches_custom_events(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(http_status=503)
    handler = AsyncEvents()
    llm = chat(lc)
    msg = await llm.ainvoke(ASK, config={"callbacks": [handler]})
    assert msg.response_metadata["zerog_provider"] == lc.address("lc-b")
    assert [d["kind"] for _, d in handler.custom] == kinds(msg)
    chain = RunnableLambda(lambda text: text) | llm
    events = [e async for e in chain.astream_events(ASK, version="v2")]
    custom = [e["data"]["kind"] for e in events if e["event"] == "on_custom_event" and e["name"] == "zerog_pool_event"]
    assert custom == ["attempt", "success"]  # lc-a is cooling down since the failover
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    assert kinds(end["data"]["output"]) == custom


def test_request_errors_fail_fast(lc: LcNet) -> None:
    with pytest.raises(RequestRejectedError, match="model not supported"):
        chat(lc).invoke(ASK, model="no-such-model")


def test_batch_keeps_events_per_request(lc: LcNet) -> None:
    results = chat(lc, strategy="round_robin").batch([f"What is {i} + 1?" for i in range(4)])
    assert [m.content for m in results] == [f"{i} + 1 = {i + 1}" for i in range(4)]
    assert all(kinds(m) == ["attempt", "success"] for m in results)
    assert {m.response_metadata["zerog_provider"] for m in results} == {lc.address("lc-a"), lc.address("lc-b")}


def test_model_discovery_and_per_call_override(lc: LcNet) -> None:
    llm = ChatZeroG(model=CHAT_MODEL, strategy="price", **lc.connection())
    assert llm.invoke(ASK).response_metadata["zerog_provider"] == lc.address("lc-b")  # the cheapest
    alt = llm.invoke(ASK, model=ALT_MODEL)
    assert alt.response_metadata["model_name"] == ALT_MODEL
    assert alt.response_metadata["zerog_provider"] == lc.address("lc-alt")


def test_funding_events_surface(lc: LcNet) -> None:
    lc.net.fund(lc.net.users[1], [], ledger=10 * G)  # a ledger, no sub-account yet
    seen: list[FundingEvent] = []
    policy = FundingPolicy.of(min_balance="1", target_balance="2", after_fund=seen.append)
    handler = Events()
    llm = chat(lc, user=1, provider=lc.address("lc-a"), providers=None, funding=policy)
    msg = llm.invoke(ASK, config={"callbacks": [handler]})
    funding = [e for e in msg.response_metadata["zerog_events"] if e["event"] == "zerog_funding_event"]
    assert [e["kind"] for e in funding] == ["low_balance", "before_fund", "funded"]
    assert funding[-1]["amount"] == 2 * G and funding[-1]["provider"] == lc.address("lc-a")
    assert [e.kind for e in seen] == ["funded"]  # the user's own hook still runs
    assert [d["kind"] for n, d, _ in handler.custom if n == "zerog_funding_event"] == [e["kind"] for e in funding]
    assert "zerog_events" not in llm.invoke(ASK).response_metadata  # funded now: nothing to report


# --------------------------------------------------------------------------- tools, structured output, images


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_calls_parallel_and_forced(lc: LcNet) -> None:
    llm = chat(lc)
    both = llm.bind_tools([multiply, add]).invoke("multiply 3 by 4 and add 5 and 6")
    assert [(c["name"], c["args"]) for c in both.tool_calls] == [
        ("multiply", {"a": 3, "b": 4}),
        ("add", {"a": 5, "b": 6}),
    ]
    assert both.response_metadata["finish_reason"] == "tool_calls"
    one = llm.bind_tools([multiply, add], parallel_tool_calls=False).invoke("multiply 3 by 4 and add 5 and 6")
    assert [c["name"] for c in one.tool_calls] == ["multiply"]
    named = llm.bind_tools([multiply, add], tool_choice="add").invoke("Hello there")
    assert [c["name"] for c in named.tool_calls] == ["add"]
    forced = llm.bind_tools([multiply, add], tool_choice="any").invoke("Hello there")
    assert len(forced.tool_calls) == 1
    assert llm.bind_tools([multiply], tool_choice="none").invoke("multiply 3 by 4").tool_calls == []
    streamed = None
    for chunk in llm.bind_tools([multiply, add]).stream("multiply 3 by 4 and add 5 and 6"):
        streamed = chunk if streamed is None else streamed + chunk
    assert isinstance(streamed, AIMessageChunk)
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        c[:2] for c in [("multiply", {"a": 3, "b": 4}), ("add", {"a": 5, "b": 6})]
    ]
    result = multiply.invoke(both.tool_calls[0])
    answer = llm.bind_tools([multiply, add]).invoke([HumanMessage("multiply 3 by 4"), both, result])
    assert answer.content.startswith("Tool result (multiply): 12")


class Person(BaseModel):
    name: str
    age: int


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_output_methods(lc: LcNet, method: str) -> None:
    llm = chat(lc).with_structured_output(Person, method=method, include_raw=True)  # type: ignore[arg-type]
    out = llm.invoke('Extract: the person named "Ada" whose age is 36. Return keys "name" and "age".')
    assert out["parsing_error"] is None and isinstance(out["raw"], AIMessage)
    if method == "json_mode":  # the scripted json_object answer has the asked keys, with placeholder strings
        assert isinstance(out["parsed"], Person)
    else:
        assert out["parsed"] == Person(name="Ada", age=36)


def test_structured_output_dict_schema_streams(lc: LcNet) -> None:
    schema = {"title": "city", "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    chunks = list(chat(lc).with_structured_output(schema).stream("the weather in San Francisco"))
    assert chunks[-1] == {"city": "San Francisco"}


def _hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def test_image_inputs_reach_the_provider(lc: LcNet) -> None:
    data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Describe these."},
            {"type": "image", "base64": data, "mime_type": "image/png"},
            {"type": "image", "url": "https://example.com/cat.png"},
            {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}},
        ]
    )
    reply = chat(lc).invoke([message])
    hashes = [
        _hash(f"data:image/png;base64,{data}"),
        _hash("https://example.com/cat.png"),
        _hash("https://example.com/dog.png"),
    ]
    assert str(reply.content).startswith(f"I see 3 images: {', '.join(hashes)}.")


# --------------------------------------------------------------------------- construction


def test_construction_does_no_io_and_validates() -> None:
    llm = ChatZeroG(model="m", network="mainnet", private_key="0x" + "11" * 32)
    assert llm._clients is None
    with pytest.raises(ValueError, match="not both"):
        ChatZeroG(provider="0x" + "1" * 40, providers=["0x" + "2" * 40])
    with pytest.raises(ValueError, match="pass model"):
        ChatZeroG()
