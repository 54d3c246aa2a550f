"""ZeroGEmbeddings, the tools and the toolkit against the devnet."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest
from langchain_core.messages import ToolCall

from langchain_zerog import (
    ZeroGBalanceTool,
    ZeroGEmbeddings,
    ZeroGImageGenerationTool,
    ZeroGProvidersTool,
    ZeroGSpeechToTextTool,
    ZeroGToolkit,
    ZeroGTransferTool,
)
from zerog_devnet.media import silent_wav as _wav

from .conftest import CHAT_MODEL, EMBED_MODEL, LcNet

pytestmark = [pytest.mark.devnet, pytest.mark.anyio]


def test_embeddings_batches_keep_the_order(lc: LcNet) -> None:
    texts = ["the cat sat", "a dog ran", "the cat ran", "birds fly", "fish swim"]
    one_by_one = ZeroGEmbeddings(provider=lc.address("lc-embed"), chunk_size=1, **lc.connection())
    batched = ZeroGEmbeddings(model=EMBED_MODEL, chunk_size=2, **lc.connection())
    expected = [one_by_one.embed_query(t) for t in texts]
    assert batched.embed_documents(texts) == expected
    assert batched.embed_documents([]) == []
    cat, dog, cat_ran = expected[:3]
    assert sum(a * b for a, b in zip(cat, cat_ran, strict=True)) > sum(a * b for a, b in zip(cat, dog, strict=True))


async def test_async_embeddings_and_dimensions(lc: LcNet) -> None:
    embeddings = ZeroGEmbeddings(chunk_size=2, dimensions=32, **lc.connection())  # every embedding provider
    vectors = await embeddings.aembed_documents(["a b", "c d", "e f"])
    assert [len(v) for v in vectors] == [32, 32, 32]
    assert await embeddings.aembed_query("a b") == vectors[0]
    assert embeddings.zerog_clients._sync is None


def test_image_tool_artifact(lc: LcNet) -> None:
    image = ZeroGImageGenerationTool(**lc.connection())  # discovers the text-to-image provider
    call = ToolCall(name=image.name, args={"prompt": "a red fox", "size": "16x16", "n": 2}, id="1", type="tool_call")
    message = image.invoke(call)
    assert "Generated 2 image(s)" in message.content and lc.address("lc-image") in message.content
    art = message.artifact
    assert len(art["images"]) == 2 and base64.b64decode(art["images"][0]["b64_json"]).startswith(b"\x89PNG")
    assert art["zerog_provider"] == lc.address("lc-image") and art["zerog_fee"] == 2 * 10**15


async def test_speech_tool(lc: LcNet, tmp_path: Path) -> None:
    clip = tmp_path / "meeting.wav"
    clip.write_bytes(_wav(2.0))
    stt = ZeroGSpeechToTextTool(provider=lc.address("lc-speech"), **lc.connection())
    call = ToolCall(name=stt.name, args={"file_path": str(clip)}, id="1", type="tool_call")
    message = await stt.ainvoke(call)
    assert message.content.startswith("scripted transcript of meeting.wav (2.0 s)")
    assert message.artifact["usage"] == {"type": "duration", "seconds": 2}
    assert message.artifact["zerog_fee"] == 2 * lc.net.provider("lc-speech").info.input_price
    missing = stt.invoke({"file_path": str(tmp_path / "nope.wav")})
    assert "does not exist" in missing  # a tool error the model can read, not an exception


def test_read_only_tools(lc: LcNet) -> None:
    balance = json.loads(ZeroGBalanceTool(**lc.connection()).invoke({}))
    assert balance["address"] == lc.net.users[0].address
    assert {a["provider"] for a in balance["sub_accounts"]} >= {lc.address("lc-a"), lc.address("lc-embed")}
    listed = json.loads(ZeroGProvidersTool(**lc.connection()).invoke({"service_type": "chatbot", "model": CHAT_MODEL}))
    assert {p["provider"] for p in listed} == {lc.address(n) for n in ("lc-a", "lc-b", "lc-c")}
    assert all(p["verifiable"] for p in listed)
    no_ledger = ZeroGBalanceTool(**lc.connection(user=2)).invoke({})
    assert "ledger" in no_ledger.lower()  # the core's error, readable by the model


def test_transfer_is_capped(lc: LcNet) -> None:
    transfer = ZeroGTransferTool(max_transfer="0.5", max_total_transfer="0.6", **lc.connection())
    target = lc.address("lc-c")
    assert "refused" in transfer.invoke({"provider": target, "amount": "0.75"})
    assert "moved 0.5 0G" in transfer.invoke({"provider": target, "amount": "0.5"})
    assert "only 0.1 0G more" in transfer.invoke({"provider": target, "amount": "0.2"})
    balance = json.loads(ZeroGBalanceTool(**lc.connection()).invoke({}))
    held = {a["provider"]: a["balance_0g"] for a in balance["sub_accounts"]}
    assert held[target] == "3.5"
    with pytest.raises(ValueError, match="floats"):
        ZeroGTransferTool(max_transfer=0.5)


def test_toolkit_shares_one_connection_and_gates_transfers(lc: LcNet) -> None:
    toolkit = ZeroGToolkit(image_provider=lc.address("lc-image"), **lc.connection())
    tools = toolkit.get_tools()
    names = [t.name for t in tools]
    assert names == ["zerog_image_generation", "zerog_speech_to_text", "zerog_balance", "zerog_providers"]
    assert all(t.zerog_clients is toolkit.zerog_clients for t in tools)  # type: ignore[attr-defined]
    assert json.loads(tools[2].invoke({}))["address"] == lc.net.users[0].address
    gated = ZeroGToolkit(allow_fund_transfers=True, max_transfer="0.25", **lc.connection()).get_tools()
    transfer = gated[-1]
    assert isinstance(transfer, ZeroGTransferTool) and transfer.max_transfer == Decimal("0.25")
    assert transfer.zerog_clients is not toolkit.zerog_clients and transfer.rate_limit is None


def test_tools_and_toolkit_pass_state_and_bounds_to_their_client(lc: LcNet, tmp_path: Path) -> None:
    """``state=``, ``deadline=`` and ``max_response_bytes=`` reach the clients the tools build, as for ChatZeroG."""
    url = f"sqlite://{tmp_path / 'tools.db'}"
    bounds = {"state": url, "deadline": 42.0, "max_response_bytes": 12345}
    balance = ZeroGBalanceTool(**lc.connection(), **bounds)
    assert json.loads(balance.invoke({}))["address"] == lc.net.users[0].address
    client = balance.zerog_clients.sync()
    assert client._wallet_state.store.url == url
    assert (client._ctx.deadline, client._ctx.max_response_bytes) == (42.0, 12345)
    toolkit = ZeroGToolkit(**lc.connection(), **bounds)
    for tool in toolkit.get_tools():
        kwargs = tool.zerog_clients.client_kwargs()  # type: ignore[attr-defined]
        assert {name: kwargs[name] for name in bounds} == bounds, tool.name
    plain = ZeroGProvidersTool(**lc.connection()).zerog_clients.client_kwargs()
    assert not {"state", "deadline", "max_response_bytes"} & set(plain)  # unset: the core's defaults
