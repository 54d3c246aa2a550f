"""Offline tests of the pure message/tool mapping and of the chat model's request building."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_zerog import ChatZeroG
from langchain_zerog._convert import (
    chunk_to_generation,
    completion_to_result,
    format_tool_choice,
    to_openai_messages,
    usage_metadata,
)
from zerog_compute import ChatCompletion, ChatCompletionChunk, ZeroGRecord
from zerog_compute.types import Usage


def test_messages_to_openai() -> None:
    out = to_openai_messages(
        [
            SystemMessage("be brief"),
            HumanMessage(
                [
                    {"type": "text", "text": "look"},
                    {"type": "image", "base64": "AAAA", "mime_type": "image/png"},
                    {"type": "image", "url": "https://x/y.png"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "BBB"}},
                ],
                name="ada",
            ),
            AIMessage(
                [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
                ],
                tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}],
            ),
            ToolMessage("3", tool_call_id="c1", status="error"),
            AIMessage("", tool_calls=[{"name": "g", "args": {}, "id": "c2", "type": "tool_call"}]),
        ]
    )
    assert out[0] == {"role": "system", "content": "be brief"}
    user = out[1]
    assert user["role"] == "user" and user["name"] == "ada"
    assert [p.get("image_url", {}).get("url") for p in user["content"]] == [
        None,
        "data:image/png;base64,AAAA",
        "https://x/y.png",
        "data:image/jpeg;base64,BBB",
    ]
    assert out[2]["content"] == "calling"  # thinking and tool_use blocks dropped, the call is in tool_calls
    assert out[2]["tool_calls"] == [
        {"type": "function", "id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert out[3] == {"role": "tool", "tool_call_id": "c1", "content": "3"}
    assert out[4]["content"] is None and out[4]["tool_calls"][0]["function"]["name"] == "g"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (None, None),
        ("auto", "auto"),
        ("none", "none"),
        ("any", "required"),
        ("required", "required"),
        (True, "required"),
        ("add", {"type": "function", "function": {"name": "add"}}),
        ({"type": "function", "function": {"name": "x"}}, {"type": "function", "function": {"name": "x"}}),
    ],
)
def test_tool_choice(given: Any, sent: Any) -> None:
    assert format_tool_choice(given) == sent


def test_usage_details() -> None:
    usage = Usage(
        prompt_tokens=10,
        completion_tokens=5,
        total_tokens=15,
        prompt_tokens_details={"cached_tokens": 4},
        completion_tokens_details={"reasoning_tokens": 2},
    )
    assert usage_metadata(usage) == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "input_token_details": {"cache_read": 4},
        "output_token_details": {"reasoning": 2},
    }
    assert usage_metadata(None) is None


def test_completion_with_bad_tool_arguments() -> None:
    completion = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "model": "m",
            "choices": [
                {
                    "message": {
                        "content": None,
                        "reasoning_content": "thought",
                        "tool_calls": [
                            {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
                            {"id": "b", "function": {"name": "g", "arguments": "{not json"}},
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    completion.zerog = ZeroGRecord(provider="0xP", model="m", chat_id="1", fee=10**12)
    result = completion_to_result(completion, {"zerog_provider": "0xP"})
    msg = result.generations[0].message
    assert isinstance(msg, AIMessage)
    assert msg.tool_calls == [{"name": "f", "args": {"x": 1}, "id": "a", "type": "tool_call"}]
    assert [c["name"] for c in msg.invalid_tool_calls] == ["g"]
    assert msg.additional_kwargs["reasoning_content"] == "thought"
    assert msg.response_metadata["model_provider"] == "zerog" and msg.response_metadata["zerog_provider"] == "0xP"


def test_chunks() -> None:
    first = chunk_to_generation(
        ChatCompletionChunk.model_validate(
            {
                "id": "c",
                "model": "m",
                "choices": [
                    {
                        "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": ""}}]},
                    }
                ],
            }
        )
    )
    assert first.message.tool_call_chunks[0]["name"] == "f" and first.message.usage_metadata is None  # type: ignore[attr-defined]
    last = ChatCompletionChunk.model_validate({"id": "c", "model": "m", "choices": [], "usage": {"prompt_tokens": 1}})
    generation = chunk_to_generation(last, {"zerog_fee": 1})
    assert generation.message.chunk_position == "last"  # type: ignore[attr-defined]
    assert generation.message.response_metadata == {"model_provider": "zerog", "model_name": "m", "zerog_fee": 1}


def test_request_params() -> None:
    llm = ChatZeroG(model="m", temperature=0.1, max_tokens=5, stop=["x"], model_kwargs={"seed": 7}, top_p=None)
    model, params = llm._request(None, {"tools": [{"type": "function"}], "model": "other"})
    assert model == "other"
    assert params == {"temperature": 0.1, "max_tokens": 5, "seed": 7, "tools": [{"type": "function"}], "stop": ["x"]}
    assert llm._request(["y"], {})[1]["stop"] == ["y"]
    assert "stop" not in ChatZeroG(model="m", stop=[])._request(None, {})[1]
    ls = llm._get_ls_params(model="override")
    assert ls == {
        "ls_provider": "zerog",
        "ls_model_name": "override",
        "ls_model_type": "chat",
        "ls_temperature": 0.1,
        "ls_max_tokens": 5,
        "ls_stop": ["x"],
    }


def test_token_counts_are_approximate_and_offline() -> None:
    llm = ChatZeroG(model="m")
    assert llm.get_num_tokens("") == 0 and llm.get_num_tokens("hello world!") == 3
    assert llm.get_num_tokens_from_messages([HumanMessage("hello world")]) > 0
    assert llm._clients is None
