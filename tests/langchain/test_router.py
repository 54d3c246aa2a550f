"""Router mode: ChatZeroG and ZeroGEmbeddings on the hosted-Router backend of zerog-compute, against the
devnet's Router emulator over a real socket (routing, failover and TEE verification happen server-side)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool

from langchain_zerog import ChatZeroG, ZeroGEmbeddings, ZeroGImageGenerationTool
from zerog_compute import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    LazyClients,
    ProviderUnavailableError,
    VerificationError,
    ZeroGError,
)

from .conftest import CHAT_MODEL, EMBED_MODEL, LcNet

pytestmark = [pytest.mark.devnet, pytest.mark.anyio]
ASK = "What is 2 + 3?"
CHAT = ("lc-a", "lc-b", "lc-c")


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZG_PRIVATE_KEY", "ZG_ROUTER_API_KEY", "ZG_ROUTER_URL", "ZG_NETWORK", "ZG_DEVNET_FILE"):
        monkeypatch.delenv(name, raising=False)


def routed(lc: LcNet, **kwargs: Any) -> ChatZeroG:
    return ChatZeroG(model=CHAT_MODEL, **lc.router_connection(), **kwargs)


def name_of(lc: LcNet, address: str) -> str:
    return next(p.name for p in lc.net.providers if p.address == address)


def fee_of(lc: LcNet, name: str, usage: Any) -> int:
    info = lc.net.provider(name).info
    return int(usage["input_tokens"] * info.input_price + usage["output_tokens"] * info.output_price)


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# --------------------------------------------------------------------------- results and metadata


def test_invoke_goes_through_the_router_with_full_metadata(lc: LcNet) -> None:
    key = lc.net.router.api_keys[0]
    before = lc.net.router.balance(key)
    llm = routed(lc)
    msg = llm.invoke(ASK)
    assert msg.content == "2 + 3 = 5" and llm.zerog_clients.sync().backend == "router"
    meta, usage = msg.response_metadata, msg.usage_metadata
    assert usage is not None and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert meta["model_provider"] == "zerog" and meta["model_name"] == CHAT_MODEL and meta["finish_reason"] == "stop"
    served = name_of(lc, meta["zerog_provider"])
    assert served in CHAT
    assert meta["zerog_chat_id"] and msg.id == f"chatcmpl-{meta['zerog_chat_id']}"
    assert meta["zerog_fee"] == fee_of(lc, served, usage) > 0
    assert meta["zerog_fee"] == before - lc.net.router.balance(key)  # what the Router billed the key
    assert meta["zerog_verification"] == "verified"  # the Router's verify_tee verdict: known at once
    assert meta["zerog_backend"] == "router" and meta["zerog_request_id"].startswith("req-")
    assert "zerog_fee_note" not in meta and "zerog_events" not in meta  # failover is server-side
    assert set(meta["zerog_rate_limit"]) == {"limit", "remaining", "reset"}
    result = llm.verdict(msg)
    assert result is not None and result.verdict.value == "verified" and "Router" in result.detail


def test_stream_has_usage_and_metadata_on_the_final_chunk_only(lc: LcNet) -> None:
    chunks = list(routed(lc).stream("say 'one two three four'"))
    assert [c.content for c in chunks if c.content] == ["one ", "two ", "three ", "four"]
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1].chunk_position == "last"
    assert [c for c in chunks if c.response_metadata.get("zerog_provider")] == [chunks[-1]]
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert isinstance(full, AIMessageChunk) and full.content == "one two three four"
    meta = full.response_metadata
    assert full.usage_metadata is not None and meta["finish_reason"] == "stop"
    assert meta["zerog_fee"] == fee_of(lc, name_of(lc, meta["zerog_provider"]), full.usage_metadata) > 0
    assert meta["zerog_verification"] == "verified" and meta["zerog_backend"] == "router"


async def test_async_paths_use_the_async_router_client(lc: LcNet) -> None:
    llm = routed(lc)
    msg = await llm.ainvoke(ASK)
    assert msg.content == "2 + 3 = 5" and msg.response_metadata["zerog_verification"] == "verified"
    chunks = [c async for c in llm.astream(ASK)]
    assert "".join(str(c.content) for c in chunks) == "2 + 3 = 5"
    assert chunks[-1].usage_metadata is not None and chunks[-1].response_metadata["zerog_backend"] == "router"
    results = await llm.abatch(["What is 1 + 1?", "What is 2 * 4?"])
    assert [m.content for m in results] == ["1 + 1 = 2", "2 * 4 = 8"]
    verdict = await llm.averdict(msg)
    assert verdict is not None and verdict.verdict.value == "verified"
    assert llm.zerog_clients._sync is None  # never the sync path
    await llm.aclose()


def test_tool_calling_round_trip(lc: LcNet) -> None:
    llm = routed(lc).bind_tools([multiply, add])
    question = HumanMessage("multiply 3 by 4 and add 5 and 6")
    asked = llm.invoke([question])
    assert isinstance(asked, AIMessage) and asked.response_metadata["finish_reason"] == "tool_calls"
    assert [(c["name"], c["args"]) for c in asked.tool_calls] == [
        ("multiply", {"a": 3, "b": 4}),
        ("add", {"a": 5, "b": 6}),
    ]
    results = [{"multiply": multiply, "add": add}[call["name"]].invoke(call) for call in asked.tool_calls]
    answer = llm.invoke([question, asked, *results])
    assert str(answer.content).startswith("Tool result (multiply): 12")
    streamed = None
    for chunk in llm.stream([question]):
        streamed = chunk if streamed is None else streamed + chunk
    assert isinstance(streamed, AIMessageChunk)
    assert [c["name"] for c in streamed.tool_calls] == ["multiply", "add"]
    forced = routed(lc).bind_tools([multiply, add], tool_choice="add").invoke("Hello there")
    assert [c["name"] for c in forced.tool_calls] == ["add"]


# --------------------------------------------------------------------------- routing and failover


def test_provider_pins_and_strategy_sorts(lc: LcNet) -> None:
    for name in CHAT:
        msg = routed(lc, provider=lc.address(name)).invoke(ASK)
        assert msg.response_metadata["zerog_provider"] == lc.address(name)
    cheapest = routed(lc, strategy="price").invoke(ASK)  # X-0G-Provider-Sort: price
    assert cheapest.response_metadata["zerog_provider"] == lc.address("lc-b")


def test_router_fails_over_server_side(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(http_status=502)
    llm = routed(lc)
    served = {llm.invoke(ASK).response_metadata["zerog_provider"] for _ in range(4)}
    assert served and lc.address("lc-a") not in served and served <= {lc.address("lc-b"), lc.address("lc-c")}
    chunks = list(llm.stream(ASK))
    assert "".join(str(c.content) for c in chunks) == "2 + 3 = 5"
    assert chunks[-1].response_metadata["zerog_provider"] != lc.address("lc-a")
    assert chunks[-1].response_metadata["zerog_verification"] == "verified"
    with pytest.raises(ProviderUnavailableError, match="provider_error"):
        routed(lc, provider=lc.address("lc-a")).invoke(ASK)  # a pin does not fall back


def test_client_side_pool_restrictions_are_refused(lc: LcNet) -> None:
    with pytest.raises(ConfigurationError, match="cannot apply providers"):
        routed(lc, providers=[lc.address("lc-a"), lc.address("lc-b")]).invoke(ASK)
    with pytest.raises(ConfigurationError, match="deny"):
        routed(lc, pool_options={"deny": [lc.address("lc-a")]}).invoke(ASK)
    with pytest.raises(ConfigurationError, match="routes by model"):
        ZeroGEmbeddings(**lc.router_connection()).embed_query("hi")  # no model: nothing to route


# --------------------------------------------------------------------------- verification and errors


def test_router_verdicts_and_enforcement(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(wrong_signature=True)
    pinned = lc.address("lc-a")
    warned = routed(lc, provider=pinned).invoke(ASK)
    assert warned.response_metadata["zerog_verification"] == "invalid_signature"
    with pytest.raises(VerificationError):
        routed(lc, provider=pinned, verification="enforce").invoke(ASK)
    off = routed(lc, provider=pinned, verification="off").invoke(ASK)
    assert off.response_metadata["zerog_verification"] == "skipped"


def test_router_errors_are_typed(lc: LcNet) -> None:
    with pytest.raises(InsufficientBalanceError, match="pc.0g.ai"):
        ChatZeroG(model=CHAT_MODEL, **{**lc.router_connection(), "router_api_key": lc.net.router.create_key(0)}).invoke(
            ASK
        )
    with pytest.raises(InvalidTokenError):
        ChatZeroG(model=CHAT_MODEL, **{**lc.router_connection(), "router_api_key": "sk-not-a-real-key"}).invoke(ASK)


# --------------------------------------------------------------------------- embeddings and tools


async def test_embeddings_are_refused_through_the_router_with_a_pointer_to_direct_mode(lc: LcNet) -> None:
    embeddings = ZeroGEmbeddings(model=EMBED_MODEL, chunk_size=2, **lc.router_connection())
    with pytest.raises(ZeroGError, match="Direct mode"):
        embeddings.embed_documents(["one", "two", "three"])
    with pytest.raises(ZeroGError, match="Direct mode"):
        await embeddings.aembed_query("one")


def test_trust_mode_and_async_image_jobs_through_the_adapter(lc: LcNet) -> None:
    teetls = (lc.address("lc-a"), lc.address("lc-b"))
    lc.net.router.faults.set(teetls_providers=teetls)
    llm = ChatZeroG(model=CHAT_MODEL, trust_mode="private", **lc.router_connection())
    for _ in range(2):
        assert llm.invoke(ASK).response_metadata["zerog_provider"] == lc.address("lc-c")
    pooled = ChatZeroG(model=CHAT_MODEL, strategy="price", trust_mode="private", **lc.router_connection())
    assert pooled.invoke(ASK).response_metadata["zerog_provider"] == lc.address("lc-c")
    image_tool = ZeroGImageGenerationTool(model="zerog-devnet/scripted-image", async_job=True, **lc.router_connection())
    message = image_tool.invoke({"type": "tool_call", "id": "1", "name": image_tool.name, "args": {"prompt": "a cat"}})
    artifact = message.artifact
    assert artifact["zerog_provider"] == lc.address("lc-image") and artifact["zerog_fee"] == 10**15
    assert artifact["zerog_verification"] == "verified" and base64.b64decode(artifact["images"][0]["b64_json"])


def test_image_tool_through_the_router(lc: LcNet) -> None:
    image_tool = ZeroGImageGenerationTool(model="zerog-devnet/scripted-image", **lc.router_connection())
    message = image_tool.invoke({"type": "tool_call", "id": "1", "name": image_tool.name, "args": {"prompt": "a cat"}})
    artifact = message.artifact
    assert artifact["zerog_backend"] == "router" and artifact["zerog_provider"] == lc.address("lc-image")
    assert artifact["zerog_fee"] > 0 and artifact["zerog_verification"] == "verified"
    assert base64.b64decode(artifact["images"][0]["b64_json"])


# --------------------------------------------------------------------------- the same code on both backends


@pytest.fixture(params=["direct", "router"])
def backend(request: pytest.FixtureRequest, lc: LcNet) -> Iterator[tuple[str, dict[str, Any]]]:
    yield request.param, lc.connection() if request.param == "direct" else lc.router_connection()


def test_the_same_code_runs_in_direct_and_router_mode(lc: LcNet, backend: tuple[str, dict[str, Any]]) -> None:
    mode, connection = backend
    # user code: nothing below knows which backend it runs on
    llm = ChatZeroG(model=CHAT_MODEL, strategy="price", await_verification=True, **connection)
    msg = llm.invoke(ASK)
    streamed = list(llm.stream(ASK))
    with_tools = llm.bind_tools([multiply])
    asked = with_tools.invoke("multiply 3 by 4")
    answer = with_tools.invoke([HumanMessage("multiply 3 by 4"), asked, multiply.invoke(asked.tool_calls[0])])
    # the checks
    assert msg.content == "".join(str(c.content) for c in streamed) == "2 + 3 = 5"
    assert str(answer.content).startswith("Tool result (multiply): 12")
    for meta, usage in (
        (msg.response_metadata, msg.usage_metadata),
        (streamed[-1].response_metadata, streamed[-1].usage_metadata),
    ):
        assert meta["zerog_backend"] == mode and meta["zerog_provider"] == lc.address("lc-b")  # the cheapest
        assert meta["zerog_fee"] == fee_of(lc, "lc-b", usage) > 0 and meta["zerog_verification"] == "verified"
    assert llm.verdict(msg) is not None


# --------------------------------------------------------------------------- configuration


def test_environment_and_precedence(lc: LcNet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_ROUTER_API_KEY", lc.net.router.api_keys[1])
    monkeypatch.setenv("ZG_ROUTER_URL", lc.net.router.url)  # read by zerog-compute itself
    from_env = ChatZeroG(model=CHAT_MODEL, network=lc.network)  # no wallet key: Router mode
    assert from_env.invoke(ASK).response_metadata["zerog_backend"] == "router"
    assert from_env.zerog_clients.sync().router.url == lc.net.router.url
    wallet = ChatZeroG(model=CHAT_MODEL, **lc.connection())  # a wallet key wins over $ZG_ROUTER_API_KEY
    assert wallet.router_api_key is not None and wallet.invoke(ASK).response_metadata["zerog_backend"] == "direct"
    both = ChatZeroG(model=CHAT_MODEL, router_api_key=lc.net.router.api_keys[0], **lc.connection())
    assert both.invoke(ASK).response_metadata["zerog_backend"] == "router"  # an explicit Router key wins
    assert both.zerog_clients.sync().address == lc.net.users[0].address  # the wallet stays for Direct features


def test_network_devnet_finds_the_devnets_router(lc: LcNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    description = lc.net.write_description(tmp_path / "devnet.json")
    monkeypatch.setenv("ZG_DEVNET_FILE", str(description))
    llm = ChatZeroG(model=CHAT_MODEL, network="devnet", router_api_key=lc.net.router.api_keys[0])
    assert llm.invoke(ASK).response_metadata["zerog_backend"] == "router"
    data = json.loads(description.read_text())
    assert llm.zerog_clients.sync().router.url == data["router"]["url"]


def test_client_config_hands_the_key_over_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    key, wallet = SecretStr("sk-abcdefgh12345"), SecretStr("0x" + "11" * 32)
    routed_config = LazyClients(router_api_key=key, router_url="http://router.invalid/v1")
    kwargs = routed_config.client_kwargs()
    assert kwargs["router_api_key"] is key and kwargs["router_url"] == "http://router.invalid/v1"
    assert "sk-abcdefgh12345" not in repr(routed_config)
    assert "router_url" not in LazyClients(router_api_key=key, router_key_from_env=True).client_kwargs()
    direct = LazyClients(
        private_key=wallet, router_api_key=key, router_url="http://router.invalid/v1", router_key_from_env=True
    )
    assert not direct.router_mode and "router_api_key" not in direct.client_kwargs()
    assert "router_url" not in direct.client_kwargs()
    with monkeypatch.context() as env:  # the fields map onto that: a key from $ZG_ROUTER_API_KEY is not explicit
        env.setenv("ZG_ROUTER_API_KEY", "sk-fromtheenvironment")
        from_env = ChatZeroG(model="m", private_key=wallet, router_url="http://router.invalid/v1", network="testnet")
        assert from_env.router_api_key is not None and not from_env.zerog_clients.router_mode
        assert "router_api_key" not in from_env.zerog_clients.client_kwargs()
        explicit = ChatZeroG(model="m", private_key=wallet, api_key=key, network="testnet").zerog_clients
        assert (
            explicit.router_mode
            and explicit.client_kwargs()["router_api_key"].get_secret_value() == key.get_secret_value()
        )
    llm = ChatZeroG(model="m", router_api_key="sk-abcdefgh12345", network="testnet")
    assert llm._clients is None and llm.zerog_clients.sync().backend == "router"  # no I/O to build it
    assert llm.zerog_clients.sync().router.url == "https://router-api-testnet.integratenetwork.work/v1"
    llm.close()
