"""Pure conversions and catalog rules (no devnet)."""

from __future__ import annotations

import json

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.llms.zerog import ZeroG
from llama_index.llms.zerog._catalog import supports_images, supports_tools
from llama_index.llms.zerog._convert import (
    StreamAccumulator,
    chat_response,
    resolve_tool_choice,
    to_openai_message,
    tool_selections,
)

from zerog_compute import ChatCompletion, ChatCompletionChunk, ModelInfo

from .test_llm import PNG


def test_messages_to_openai() -> None:
    assert to_openai_message(ChatMessage(role="user", content="hi")) == {"role": "user", "content": "hi"}
    vision = to_openai_message(ChatMessage(role="user", blocks=[TextBlock(text="see"), ImageBlock(image=PNG)]))
    assert vision["content"][0] == {"type": "text", "text": "see"}
    assert vision["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    url = to_openai_message(ChatMessage(role="user", blocks=[ImageBlock(url="https://x.org/a.png", detail="low")]))
    assert url["content"] == [{"type": "image_url", "image_url": {"url": "https://x.org/a.png", "detail": "low"}}]
    call = ChatMessage(
        role="assistant",
        blocks=[ThinkingBlock(content="hmm"), ToolCallBlock(tool_call_id="c1", tool_name="f", tool_kwargs={"a": 1})],
    )
    assert to_openai_message(call) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
    }
    result = ChatMessage(role="tool", content="2", additional_kwargs={"tool_call_id": "c1"})
    assert to_openai_message(result) == {"role": "tool", "content": "2", "tool_call_id": "c1"}
    legacy = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": {"x": 2}}}]},
    )
    assert to_openai_message(legacy)["tool_calls"][0]["function"] == {"name": "g", "arguments": '{"x": 2}'}
    with pytest.raises(ValueError, match="DocumentBlock"):
        to_openai_message(ChatMessage(role="user", blocks=[DocumentBlock(data=b"%PDF-1.4", title="x")]))


def test_completion_and_chunks_to_responses() -> None:
    completion = ChatCompletion.model_validate(
        {
            "choices": [
                {
                    "message": {
                        "content": None,
                        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    response = chat_response(completion)
    assert response.additional_kwargs == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "finish_reason": "tool_calls",
    }
    assert [(s.tool_name, s.tool_kwargs) for s in tool_selections(response)] == [("f", {"a": 1})]
    accumulator = StreamAccumulator()
    pieces = ['{"a"', ": 4", "2}"]
    last = None
    for i, piece in enumerate(pieces):
        delta = {"tool_calls": [{"index": 0, "id": "c9" if i == 0 else None, "function": {"arguments": piece}}]}
        if i == 0:
            delta["tool_calls"][0]["function"]["name"] = "f"
        last = accumulator.feed(ChatCompletionChunk.model_validate({"choices": [{"delta": delta}]}))
        assert tool_selections(last)[0].tool_name == "f"  # partial JSON parses leniently
    assert last is not None and tool_selections(last)[0].tool_kwargs == {"a": 42}
    assert json.loads(last.message.additional_kwargs["tool_calls"][0]["function"]["arguments"]) == {"a": 42}


def test_tool_choice_and_empty_responses() -> None:
    assert resolve_tool_choice(None, False) == "auto"
    assert resolve_tool_choice(None, True) == "required"
    assert resolve_tool_choice("none", True) == "none"
    assert resolve_tool_choice("add", False) == {"type": "function", "function": {"name": "add"}}
    empty = ChatResponse(message=ChatMessage(role="assistant", content="hi"))
    assert tool_selections(empty, error_on_no_tool_call=False) == []


def test_catalog_capabilities() -> None:
    plain = ModelInfo(id="m")
    assert supports_tools(plain) is None and supports_images(plain) is None
    rich = ModelInfo.model_validate(
        {"id": "m", "supported_parameters": ["temperature"], "architecture": {"input_modalities": ["text", "image"]}}
    )
    assert supports_tools(rich) is False and supports_images(rich) is True
    assert supports_tools(ModelInfo.model_validate({"id": "m", "capabilities": {"tools": True}})) is True


def test_catalog_without_tools_or_images_is_honoured() -> None:
    llm = ZeroG(provider="0x" + "1" * 40, private_key="0x" + "11" * 32, network="testnet")
    llm._catalog.info = ModelInfo.model_validate(
        {"id": "m", "context_length": 1000, "supported_parameters": ["max_tokens"], "input_modalities": ["text"]}
    )
    llm._catalog.loaded = True
    assert llm.metadata.context_window == 1000 and llm.metadata.is_function_calling_model is False
    with pytest.raises(ValueError, match="no image input"):
        llm.chat([ChatMessage(role="user", blocks=[TextBlock(text="x"), ImageBlock(image=PNG)])])


def test_namespace_layout_and_exports() -> None:
    import importlib
    from pathlib import Path

    import llama_index
    import llama_index.llms

    assert getattr(llama_index, "__file__", None) is None and getattr(llama_index.llms, "__file__", None) is None
    expected = {
        "llama_index.llms.zerog": ["ZeroG", "__version__"],
        "llama_index.multi_modal_llms.zerog": ["ZeroGMultiModal"],
        "llama_index.embeddings.zerog": ["ZeroGEmbedding"],
        "llama_index.tools.zerog": ["ZeroGToolSpec"],
        "llama_index.readers.zerog": ["ZeroGTranscriptionReader"],
    }
    for name, exports in expected.items():
        module = importlib.import_module(name)
        assert module.__all__ == exports
        assert module.__file__ is not None and (Path(module.__file__).parent / "py.typed").is_file()
        parent = Path(module.__file__).parent.parent
        assert not (parent / "__init__.py").exists() and not (parent.parent / "__init__.py").exists()
