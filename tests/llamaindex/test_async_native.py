"""Async methods use ``AsyncZeroG`` only: with the sync client made unusable, every async path still works."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock

import zerog_compute

from .conftest import Kit, wav
from .test_llm import PNG
from .test_tool_calling import PROMPT, TEXT, TOOLS, Invoice

pytestmark = pytest.mark.devnet
ASK = [ChatMessage(role="user", content="What is 2 + 3?")]


@pytest.fixture
def no_sync_client(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every use of the sync ``ZeroG`` client fail loudly, and record attempts."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def method(*args: Any, **kwargs: Any) -> Any:
            attempts.append(name)
            raise AssertionError(f"sync zerog_compute.ZeroG.{name} called from an async path")

        return method

    for name in ("__init__", "_run", "_iterate"):
        monkeypatch.setattr(zerog_compute.ZeroG, name, refuse(name))
    return attempts


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_async_paths_never_touch_the_sync_client(akit: Kit, no_sync_client: list[str], tmp_path: Path) -> None:
    llm = akit.llm(await_verification=True)
    assert (await llm.achat(ASK)).message.content == "2 + 3 = 5"
    assert [r async for r in await llm.astream_chat(ASK)][-1].message.content == "2 + 3 = 5"
    assert (await llm.acomplete("What is 1 + 1?")).text == "1 + 1 = 2"
    assert [r async for r in await llm.astream_complete("What is 1 + 1?")][-1].text == "1 + 1 = 2"
    assert llm.metadata.context_window == 8192  # loaded by the async path, read without I/O
    tools = await llm.achat_with_tools(TOOLS, user_msg="multiply 3 by 4")
    assert llm.get_tool_calls_from_response(tools)[0].tool_kwargs == {"a": 3, "b": 4}
    assert [r async for r in await llm.astream_chat_with_tools(TOOLS, user_msg="add 1 and 2")][-1].message.blocks
    assert (await llm.apredict_and_call(TOOLS, user_msg="add 2 and 2")).response == "4"
    assert await llm.astructured_predict(Invoice, PROMPT, text=TEXT) == Invoice(customer="Alice", total=42)
    agent = FunctionAgent(tools=TOOLS, llm=llm)
    assert str(await agent.run(user_msg="multiply 5 by 5")) == "Tool result (multiply): 25"
    pool_llm = akit.llm(providers=[akit.address("chat-a"), akit.address("chat-b")])
    assert (await pool_llm.achat(ASK)).additional_kwargs["provider"] == akit.address("chat-a")

    embed = akit.embedding()
    assert len(await embed.aget_query_embedding("hello")) == 256
    assert len(await embed.aget_text_embedding_batch(["a", "b", "c"])) == 3

    mm = akit.multimodal()
    image = ChatMessage(role="user", blocks=[TextBlock(text="look"), ImageBlock(image=PNG)])
    assert ((await mm.achat([image])).message.content or "").startswith("I see 1 image")
    assert (await mm.acomplete("What is 2 + 2?")).text == "2 + 2 = 4"

    audio = tmp_path / "note.wav"
    audio.write_bytes(wav(1.0))
    spec = akit.tools(output_dir=tmp_path)
    assert "image(s)" in await spec.agenerate_image("a tree", size="16x16")
    assert "note.wav" in await spec.atranscribe_audio(str(audio))
    assert "ledger total" in await spec.aget_balance()
    assert akit.address("embed") in await spec.alist_providers()
    docs = await akit.reader().aload_data(audio)
    assert docs[0].metadata["verdict"] == "verified"
    assert no_sync_client == []


@pytest.mark.anyio
async def test_the_event_loop_keeps_running_during_requests(akit: Kit) -> None:
    """A ticker task advances while requests are in flight: nothing blocks the loop for long."""
    akit.net.provider("chat-a").faults.set(latency_ms=300)
    llm = akit.llm()
    await llm.aload_metadata()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        replies = await asyncio.gather(*(llm.achat(ASK) for _ in range(3)))
    finally:
        task.cancel()
    assert all(r.message.content == "2 + 3 = 5" for r in replies)
    assert len(gaps) > 10 and max(gaps) < 0.25


def test_metadata_inside_a_coroutine_is_the_catalogs(kit: Kit) -> None:
    """A query engine built inside a coroutine sizes prompts from ``metadata``: the catalog's values, first read,
    fetched on a worker thread (the loop's thread does no I/O)."""
    llm = kit.llm()
    fetched_on: list[str] = []
    fetch = llm._catalog.fetch

    def recording_fetch(*args: Any) -> None:
        fetched_on.append(threading.current_thread().name)
        fetch(*args)

    llm._catalog.fetch = recording_fetch  # type: ignore[method-assign]

    async def read() -> tuple[int, int]:
        meta = llm.metadata
        return meta.context_window, meta.num_output

    assert asyncio.run(read()) == (8192, 4096)
    assert fetched_on == ["zerog-catalog"]
