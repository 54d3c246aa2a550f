"""SSE decoding, chat-stream accumulation (zerog_compute.sse) and chat ids (zerog_compute.records), no network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_compute.errors import ProviderUnavailableError, ZeroGError
from zerog_compute.records import chat_id
from zerog_compute.sse import ChatStreamAccumulator, SSEDecoder, SSEEvent
from zerog_compute.types import ChatCompletion
from zerog_devnet.scripted import chat_completion, chat_completion_chunks

MODEL = "scripted-test-model"

# --------------------------------------------------------------------------- helpers


def decode(*pieces: bytes, decoder: SSEDecoder | None = None) -> list[SSEEvent]:
    decoder = decoder or SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.flush()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def as_sse(chunks: list[dict[str, Any]], eol: bytes = b"\n", done: bool = True) -> bytes:
    lines = [b"data: " + json.dumps(chunk).encode() + eol + eol for chunk in chunks]
    return b"".join(lines) + (b"data: [DONE]" + eol + eol if done else b"")


def accumulate(raw: bytes, pieces: int = 1) -> ChatStreamAccumulator:
    acc = ChatStreamAccumulator()
    size = max(1, len(raw) // pieces)
    for event in decode(*[raw[i : i + size] for i in range(0, len(raw), size)]):
        acc.add(event)
    return acc


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool(name: str, *params: str) -> dict[str, Any]:
    properties = {p: {"type": "integer"} for p in params}
    schema = {"type": "object", "properties": properties, "required": list(params)}
    return {"type": "function", "function": {"name": name, "description": f"{name} numbers", "parameters": schema}}


# --------------------------------------------------------------------------- decoder


def test_basic_fields_and_line_endings() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        raw = eol.join([b"event: add", b"id: 7", b"data: one", b"data:two", b"", b": comment", b"data: x", b"", b""])
        events = decode(raw)
        assert events == [SSEEvent(data="one\ntwo", event="add", id="7"), SSEEvent(data="x", event=None, id="7")]


def test_spec_details() -> None:
    decoder = SSEDecoder()
    raw = b"\xef\xbb\xbfdata\n\nretry: 2500\nretry: x\nid: a\0b\ndata:  two spaces\n\nfoo: bar\n\n"
    assert decode(raw, decoder=decoder) == [SSEEvent(data=""), SSEEvent(data=" two spaces")]
    assert decoder.retry == 2500


def test_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\nid: 1\n\n: keep-alive\n\n") == []


def test_flush_dispatches_a_last_event_without_blank_line() -> None:
    assert decode(b"data: [DONE]") == [SSEEvent(data="[DONE]")]
    assert decode(b"data: a\n") == [SSEEvent(data="a")]


def test_crlf_split_between_cr_and_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(data="a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [SSEEvent(data="b")]


def test_multibyte_character_split() -> None:
    raw = "data: héllo 🌍\n\n".encode()
    for cut in range(len(raw) + 1):
        assert decode(raw[:cut], raw[cut:]) == [SSEEvent(data="héllo 🌍")]


def test_invalid_utf8_is_replaced() -> None:
    assert decode(b"data: \xff\xfe\n\n") == [SSEEvent(data="\ufffd\ufffd")]


def test_line_too_long() -> None:
    decoder = SSEDecoder(max_line_bytes=64, provider="0xP")
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(ProviderUnavailableError, match="0xP") as info:
        decoder.feed(b"y" * 20)
    assert info.value.provider == "0xP"


def test_event_too_long() -> None:
    decoder = SSEDecoder(max_line_bytes=64)
    with pytest.raises(ProviderUnavailableError, match="too long"):
        decoder.feed(b"data: 0123456789\n" * 10)


def test_long_line_in_many_pieces_is_linear() -> None:
    decoder = SSEDecoder()
    for _ in range(20_000):
        assert decoder.feed(b"x" * 100) == []
    assert decoder.feed(b"\n\n") == []  # field "xxx…" is unknown: no event


_SSE_TOKENS = st.sampled_from(
    [
        b"data",
        b"data:",
        b"data: ",
        b"event:",
        b"id:",
        b"retry:",
        b"1",
        b":",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"x",
        b"[DONE]",
        b"\xef\xbb\xbf",
        "é".encode(),
        b"\xff",
        b"\0",
        b"{",
        b"}",
    ]
)
_SSE_BYTES = st.lists(_SSE_TOKENS | st.binary(max_size=8), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=_SSE_BYTES, cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12))
def test_split_anywhere_gives_the_same_events(data: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder()
    pieces = SSEDecoder()
    assert decode(data, decoder=whole) == decode(*split(data, cuts), decoder=pieces)
    assert whole.retry == pieces.retry


@settings(max_examples=300, deadline=2000)
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_garbage_raises_only_zerog_errors(data: bytes, cuts: list[int]) -> None:
    acc = ChatStreamAccumulator()
    try:
        for event in decode(*split(data, cuts), decoder=SSEDecoder(max_line_bytes=512)):
            acc.add(event)
        acc.completion()
    except ZeroGError:
        pass


@settings(max_examples=200, deadline=2000)
@given(st.lists(st.sampled_from(["data: ", "data: {", '{"choices":', "[", "null", "]", "}", "\n", "1", '"x"', ","])))
def test_json_like_garbage_never_raises(parts: list[str]) -> None:
    acc = ChatStreamAccumulator()
    for event in decode("".join(parts).encode() + b"\n\n"):
        acc.add(event)
    acc.completion()


# --------------------------------------------------------------------------- accumulator vs the scripted model


def _assert_equivalent(acc: ChatStreamAccumulator, expected: dict[str, Any]) -> None:
    got = acc.completion()
    want = ChatCompletion.model_validate(expected)
    assert acc.done
    assert acc.errors == []
    assert got.id == want.id == acc.chat_id_from_body
    assert got.model == want.model
    assert got.system_fingerprint == want.system_fingerprint
    assert got.usage == want.usage
    assert len(got.choices) == 1
    message, want_message = got.choices[0].message, want.choices[0].message
    assert message.role == want_message.role == "assistant"
    assert message.content == want_message.content
    assert message.tool_calls == want_message.tool_calls
    assert got.choices[0].finish_reason == want.choices[0].finish_reason == acc.finish_reason


BODIES = [
    {"messages": [user("What is 2 + 3 * 4?")]},
    {"messages": [user("Tell me something about the sea, the sky and the sun.")]},
    {"messages": [user('Say "héllo wörld 🌍" please')]},
    {"messages": [user("Give keys name and city")], "response_format": {"type": "json_object"}},
    {"messages": [user("Write a long story")], "max_tokens": 3},
    {
        "messages": [user("multiply 3 by 4 and add 5 and 6")],
        "tools": [tool("multiply", "a", "b"), tool("add", "a", "b")],
    },
    {"messages": [user("Hello!")], "tools": [tool("lookup", "id")], "tool_choice": "required"},
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("pieces", [1, 7, 10_000])
def test_stream_equals_non_stream(body: dict[str, Any], eol: bytes, pieces: int) -> None:
    body = {"model": MODEL, **body}
    acc = accumulate(as_sse(chat_completion_chunks(body, model=MODEL), eol), pieces)
    _assert_equivalent(acc, chat_completion(body, model=MODEL))


def test_text_stream_counters_and_chunks() -> None:
    body = {"model": MODEL, "messages": [user("one two three four")]}
    chunks = chat_completion_chunks(body, model=MODEL)
    acc = ChatStreamAccumulator()
    returned = [acc.add(event) for event in decode(as_sse(chunks))]
    expected_text = chat_completion(body, model=MODEL)["choices"][0]["message"]["content"]
    assert acc.content == expected_text
    assert acc.chunks_received == len(chunks) - 3  # not the role, finish and usage chunks
    assert returned[-1] is None  # [DONE]
    assert all(chunk is not None for chunk in returned[:-1])
    assert acc.tool_calls == []


def test_tool_call_streaming_assembly() -> None:
    body = {"model": MODEL, "messages": [user("multiply 3 by 4 and add 5 and 6")]}
    body["tools"] = [tool("multiply", "a", "b"), tool("add", "a", "b")]
    acc = accumulate(as_sse(chat_completion_chunks(body, model=MODEL)))
    calls = acc.tool_calls
    assert [c.function.name for c in calls] == ["multiply", "add"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"a": 3, "b": 4}, {"a": 5, "b": 6}]
    assert all(c.id.startswith("call_") and c.type == "function" for c in calls)
    assert acc.completion().choices[0].message.content is None


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return json.dumps(
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra}
    )


def _feed(*datas: str) -> tuple[ChatStreamAccumulator, list[Any]]:
    acc = ChatStreamAccumulator()
    return acc, [acc.add(SSEEvent(data=d)) for d in datas]


def test_interleaved_tool_calls_and_repeated_ids() -> None:
    call = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "b", "arguments": ""}}
    acc, _ = _feed(
        _chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "a"}}]}),
        _chunk({"tool_calls": [call]}),
        _chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"arguments": '{"x":'}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"name": "a", "arguments": " 1}"}}]}),
        _chunk({}, "tool_calls"),
    )
    assert [(c.id, c.function.name, c.function.arguments) for c in acc.tool_calls] == [
        ("call_a", "a", '{"x": 1}'),
        ("call_b", "b", "{}"),
    ]
    assert acc.finish_reason == "tool_calls"


def test_tool_calls_without_index() -> None:
    acc, _ = _feed(
        _chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a"'}}]}),
        _chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        _chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
    )
    assert [(c.id, c.function.name, c.function.arguments) for c in acc.tool_calls] == [
        ("c1", "f", '{"a": 1}'),
        ("c2", "g", "{}"),
    ]


def test_done_keep_alive_and_malformed() -> None:
    acc, returned = _feed(
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": ""}),
        _chunk(),
        "{not json",
        "[1, 2]",
        '{"choices": "nope"}',
        _chunk({"content": "hi"}),
        "  [DONE] ",
    )
    assert returned[0] is not None
    assert returned[1] is None and returned[2] is None  # keep-alives
    assert returned[3:6] == [None, None, None]
    assert returned[6] is not None and returned[7] is None
    assert acc.malformed == 3 and len(acc.errors) == 3
    assert "malformed JSON" in acc.errors[0]
    assert acc.content == "hi" and acc.chunks_received == 1 and acc.done


def test_provider_error_event() -> None:
    acc, returned = _feed(_chunk({"content": "a"}), json.dumps({"error": {"message": "upstream died", "code": 500}}))
    assert returned[1] is None
    assert acc.provider_error == "upstream died"
    assert acc.errors == []


def test_usage_last_non_null_but_not_all_zero() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    acc, returned = _feed(_chunk({"content": "a"}), _chunk(usage=usage), _chunk(usage={}), _chunk(usage=None))
    assert acc.usage is not None and acc.usage.total_tokens == 5
    assert returned[1] is not None and returned[3] is None
    acc2, _ = _feed(_chunk(usage={"prompt_tokens": 1}), _chunk(usage=usage))
    assert acc2.usage is not None and acc2.usage.prompt_tokens == 3


def test_chat_id_from_first_chunk_or_chat_id_key() -> None:
    acc, _ = _feed(json.dumps({"chatID": "abc", "choices": []}), _chunk({"content": "x"}))
    assert acc.chat_id_from_body == "abc"
    assert acc.completion().id == "abc"


def test_reasoning_refusal_and_several_choices() -> None:
    acc = ChatStreamAccumulator()
    for data in (
        json.dumps({"choices": [{"index": 0, "delta": {"reasoning_content": "think "}}]}),
        json.dumps({"choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}]}),
        json.dumps({"choices": [{"index": 1, "delta": {"refusal": "no"}, "finish_reason": "stop"}]}),
    ):
        acc.add(SSEEvent(data=data))
    completion = acc.completion()
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content == "A"
    assert completion.choices[0].message.reasoning_content == "think "
    assert completion.choices[1].message.refusal == "no"
    assert completion.choices[1].finish_reason == "stop"
    assert acc.chunks_received == 3


def test_unknown_fields_survive() -> None:
    acc, returned = _feed(_chunk({"content": "x", "audio": {"id": 1}}, provider_extra="kept"))
    chunk = returned[0]
    assert chunk is not None
    assert chunk.model_dump()["provider_extra"] == "kept"
    assert chunk.choices[0].delta.model_dump()["audio"] == {"id": 1}


# --------------------------------------------------------------------------- chat ids


@pytest.mark.parametrize(
    ("headers", "body_id", "service_type", "expected"),
    [
        ({"ZG-Res-Key": "key-1"}, "chatcmpl-x", "chatbot", "key-1"),
        ({"zg-res-key": "key-2"}, "chatcmpl-x", "chatbot", "key-2"),
        ({"Zg-Res-Key": " key-3 "}, None, "text-to-image", "key-3"),
        ({}, "chatcmpl-x", "chatbot", "chatcmpl-x"),
        ({"ZG-Res-Key": ""}, "chatcmpl-x", "chatbot", "chatcmpl-x"),
        ({}, "chatcmpl-x", "text-to-image", None),
        ({}, "chatcmpl-x", "image-editing", None),
        ({}, "id", "speech-to-text", None),
        ({"ZG-Res-Key": "k"}, None, "speech-to-text", "k"),
        ({}, None, "chatbot", None),
    ],
)
def test_chat_id(headers: dict[str, str], body_id: str | None, service_type: str, expected: str | None) -> None:
    assert chat_id(headers, body_id, service_type) == expected


def test_chat_id_with_httpx_headers() -> None:
    import httpx

    assert chat_id(httpx.Headers({"zg-res-key": "abc"}), "other", "chatbot") == "abc"
