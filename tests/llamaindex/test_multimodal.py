"""``ZeroGMultiModal``: the legacy MultiModalLLM interface, sync, async and streamed, with image documents."""

from __future__ import annotations

import base64

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.multi_modal_llms import MultiModalLLM
from llama_index.core.schema import ImageDocument, ImageNode
from llama_index.llms.zerog import ZeroG
from llama_index.multi_modal_llms.zerog import ZeroGMultiModal

from .conftest import CHAT_MODEL, Kit
from .test_llm import PNG

pytestmark = pytest.mark.devnet
B64 = base64.b64encode(PNG).decode()


def images() -> list[ImageNode | ImageBlock]:
    return [ImageDocument(image=B64), ImageBlock(url="https://example.com/a.png")]


def test_interface_and_metadata(kit: Kit) -> None:
    mm = kit.multimodal()
    assert isinstance(mm, MultiModalLLM) and isinstance(mm.llm, ZeroG)
    assert mm.metadata.context_window == 8192 and mm.metadata.model_name == CHAT_MODEL
    assert "private_key" not in mm.to_dict() and mm.to_payload()["class_name"] == "zerog_multi_modal_llm"


def test_complete_and_stream(kit: Kit) -> None:
    mm = kit.multimodal()
    response = mm.complete("What do you see?", image_documents=images())
    assert response.text.startswith("I see 2 images:") and response.additional_kwargs["fee"] > 0
    streamed = list(mm.stream_complete("What do you see?", image_documents=images()))
    assert streamed[-1].text == response.text
    message = ChatMessage(role="user", blocks=[TextBlock(text="and now?"), ImageBlock(image=PNG)])
    assert (mm.chat([message]).message.content or "").startswith("I see 1 image:")
    assert "".join(r.delta or "" for r in mm.stream_chat([message])).startswith("I see 1 image:")


@pytest.mark.anyio
async def test_async(akit: Kit) -> None:
    mm = akit.multimodal()
    response = await mm.acomplete("What do you see?", image_documents=images())
    assert response.text.startswith("I see 2 images:")
    streamed = [r async for r in await mm.astream_complete("What?", image_documents=images())]
    assert streamed[-1].text.startswith("I see 2 images:")
    message = ChatMessage(role="user", blocks=[TextBlock(text="hi"), ImageBlock(image=PNG)])
    assert ((await mm.achat([message])).message.content or "").startswith("I see 1 image:")
    chunks = [r async for r in await mm.astream_chat([message])]
    assert chunks[-1].additional_kwargs["fee"] > 0


def test_text_only_prompt(kit: Kit) -> None:
    mm = ZeroGMultiModal(**{**kit.common, "provider": kit.address("chat-b")})
    try:
        assert mm.complete("What is 2 + 3?").text == "2 + 3 = 5"
    finally:
        mm.close()
