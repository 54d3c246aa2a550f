"""Unit tests of the scripted model (zerog_devnet.scripted): pure functions, no network."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import struct
import wave
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from zerog_devnet.scripted import (
    ScriptedModelError,
    chat_completion,
    chat_completion_chunks,
    count_tokens,
    embed,
    generate_images,
    transcribe,
)

MODEL = "scripted-test-model"

# --------------------------------------------------------------------------- helpers


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = root
        for token in schema["$ref"].lstrip("#").split("/"):
            if token:
                node = node[token]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _validate_branches(value: Any, branches: list[dict[str, Any]], root: dict[str, Any], path: str) -> None:
    errors = []
    for branch in branches:
        try:
            validate(value, branch, root, path)
            return
        except AssertionError as error:
            errors.append(str(error))
    raise AssertionError(f"{path}: {value!r} matches no branch: {errors}")


def _validate_container(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing required {key!r}"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), f"{path}: extra keys {set(value) - set(props)}"
        for key, sub in props.items():
            if key in value:
                validate(value[key], sub, root, f"{path}.{key}")
    if isinstance(value, list):
        assert schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf), path
        for i, item in enumerate(value):
            if isinstance(schema.get("items"), dict):
                validate(item, schema["items"], root, f"{path}[{i}]")


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$") -> None:
    """A tiny JSON-schema validator (the keywords the scripted model promises to honour)."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    for part in schema.get("allOf", []):
        validate(value, part, root, path)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        _validate_branches(value, branches, root, path)
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(_TYPES[k](value) for k in kinds), f"{path}: {value!r} is not {kinds}"
    _validate_container(value, schema, root, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf), path
    if isinstance(value, str):
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf), path


def tool(name: str, description: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


MULTIPLY = tool("multiply", "Multiply two integers.", {"a": {"type": "integer"}, "b": {"type": "integer"}})
ADD = tool("add", "Add two integers together.", {"a": {"type": "integer"}, "b": {"type": "integer"}})
WEATHER = tool(
    "get_weather",
    "Get the current weather at a location.",
    {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    required=["location"],
)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def ask(messages: list[dict[str, Any]] | str, **extra: Any) -> dict[str, Any]:
    body = {"messages": [user(messages)] if isinstance(messages, str) else messages, **extra}
    return chat_completion(body, model=MODEL)


def message_of(response: dict[str, Any]) -> dict[str, Any]:
    assert len(response["choices"]) == 1
    message: dict[str, Any] = response["choices"][0]["message"]
    return message


def calls_of(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    calls = message_of(response).get("tool_calls") or []
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def schema_of(body_tool: dict[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = body_tool["function"]["parameters"]
    return parameters


# --------------------------------------------------------------------------- tokens and shape


def test_count_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens(" ") == 1
    assert count_tokens("hello") == 1
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("a_b 12 3.5") == 5  # a_b, 12, 3, ".", 5


def test_completion_shape_and_determinism() -> None:
    body = {"messages": [user("Hello there")], "temperature": 0.3, "seed": 7}
    first = chat_completion(body, model=MODEL)
    second = chat_completion(body, model=MODEL)
    assert first["object"] == "chat.completion"
    assert first["model"] == MODEL
    assert re.fullmatch(r"chatcmpl-scripted-[0-9a-f]{24}", first["id"])
    assert isinstance(first["created"], int)
    choice = first["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == 'You said: "Hello there"'
    assert "tool_calls" not in choice["message"]
    assert {k: v for k, v in first.items() if k != "created"} == {k: v for k, v in second.items() if k != "created"}
    other = chat_completion({"messages": [user("Hello here")]}, model=MODEL)
    assert other["id"] != first["id"]


def test_usage_counts() -> None:
    response = ask([{"role": "system", "content": "Be brief."}, user("What is 2 + 3?")])
    usage = response["usage"]
    assert usage["prompt_tokens"] == (count_tokens("Be brief.") + 3) + (count_tokens("What is 2 + 3?") + 3)
    assert usage["completion_tokens"] == count_tokens(message_of(response)["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    with_tools = ask("What is 2 + 3?", tools=[ADD])
    assert with_tools["usage"]["prompt_tokens"] > usage["prompt_tokens"] - count_tokens("Be brief.") - 3


# --------------------------------------------------------------------------- text replies


def test_arithmetic_answers() -> None:
    assert message_of(ask("What is 2 + 3?"))["content"] == "2 + 3 = 5"
    assert message_of(ask("what is 3 * 4"))["content"] == "3 * 4 = 12"
    assert message_of(ask("Compute (2+3)*4 and 7 divided by 2"))["content"] == "(2+3)*4 = 20; 7 / 2 = 3.5"
    assert message_of(ask("What is 12 plus 30?"))["content"] == "12 + 30 = 42"
    assert "undefined" in message_of(ask("what is 1/0"))["content"]


def test_say_and_repeat() -> None:
    assert message_of(ask('Please repeat "the quick brown fox" back to me'))["content"] == "the quick brown fox"
    assert message_of(ask("Say hello world."))["content"] == "hello world"
    assert message_of(ask("Can you say 'Paris' and nothing else?"))["content"] == "Paris"


def test_echo_with_turns_and_truncation_marker() -> None:
    messages = [user("My name is Bob."), {"role": "assistant", "content": "Hi Bob"}, user("How are you?")]
    content = message_of(ask(messages))["content"]
    assert content.startswith('You said: "How are you?"')
    assert "turn 2" in content
    long_text = "word " * 100
    assert message_of(ask(long_text))["content"] == f'You said: "{long_text.strip()[:200]}..."'


def test_system_prompt_rules() -> None:
    upper = ask([{"role": "system", "content": "Always respond in UPPERCASE."}, user("hi there")])
    assert message_of(upper)["content"] == 'YOU SAID: "HI THERE"'
    only = ask([{"role": "developer", "content": "Only answer with 'ok'."}, user("What is 2 + 2?")])
    assert message_of(only)["content"] == "ok"


def test_images_are_acknowledged_with_hashes() -> None:
    urls = ["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo="]
    content = [{"type": "text", "text": "What is in these pictures?"}] + [
        {"type": "image_url", "image_url": {"url": url}} for url in urls
    ]
    response = ask([{"role": "user", "content": content}])
    text = message_of(response)["content"]
    hashes = [hashlib.sha256(url.encode()).hexdigest()[:12] for url in urls]
    assert text.startswith(f"I see 2 images: {hashes[0]}, {hashes[1]}.")
    assert 'You said: "What is in these pictures?"' in text
    assert response["usage"]["prompt_tokens"] == count_tokens("What is in these pictures?") + 2 * 85 + 3


# --------------------------------------------------------------------------- tool calls


def test_tool_call_from_name_and_numbers() -> None:
    response = ask("Please multiply 3 by 4", tools=[MULTIPLY, ADD])
    assert response["choices"][0]["finish_reason"] == "tool_calls"
    message = message_of(response)
    assert message["content"] is None
    assert calls_of(response) == [("multiply", {"a": 3, "b": 4})]
    call = message["tool_calls"][0]
    assert call["type"] == "function"
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
    expected = count_tokens(json.dumps([call["function"]]))
    assert response["usage"]["completion_tokens"] == expected


def test_tool_arguments_bound_by_name() -> None:
    response = ask("multiply where b is 4 and a is 3", tools=[MULTIPLY])
    assert calls_of(response) == [("multiply", {"a": 3, "b": 4})]


def test_magic_function_langchain_style() -> None:
    magic = tool("magic_function", "Applies a magic function to an input.", {"input": {"type": "integer"}})
    no_args = tool("magic_function_no_args", "Calculates a magic function.", {})
    response = ask("What is the value of magic_function(3)? Use the tool.", tools=[magic, no_args])
    assert calls_of(response) == [("magic_function", {"input": 3})]
    response = ask("What is the value of magic_function_no_args()? Use the tool.", tools=[magic, no_args])
    assert calls_of(response) == [("magic_function_no_args", {})]


def test_tool_matched_by_keyword_fills_string_and_enum() -> None:
    response = ask("What is the weather in San Francisco in fahrenheit?", tools=[WEATHER])
    [(name, args)] = calls_of(response)
    assert name == "get_weather"
    assert args == {"location": "San Francisco", "unit": "fahrenheit"}
    validate(args, schema_of(WEATHER))


def test_parallel_tool_calls_take_their_own_numbers() -> None:
    response = ask("multiply 3 by 4 and add 5 and 6", tools=[MULTIPLY, ADD])
    assert calls_of(response) == [("multiply", {"a": 3, "b": 4}), ("add", {"a": 5, "b": 6})]
    ids = [c["id"] for c in message_of(response)["tool_calls"]]
    assert len(set(ids)) == 2
    single = ask("multiply 3 by 4 and add 5 and 6", tools=[MULTIPLY, ADD], parallel_tool_calls=False)
    assert calls_of(single) == [("multiply", {"a": 3, "b": 4})]


def test_tool_choice_forced_required_none_and_auto() -> None:
    forced = ask("Hello!", tools=[MULTIPLY, ADD], tool_choice={"type": "function", "function": {"name": "add"}})
    assert [name for name, _ in calls_of(forced)] == ["add"]
    validate(calls_of(forced)[0][1], schema_of(ADD))
    required = ask("Hello!", tools=[MULTIPLY, ADD], tool_choice="required")
    assert [name for name, _ in calls_of(required)] == ["multiply"]
    assert [name for name, _ in calls_of(ask("Hello!", tools=[MULTIPLY], tool_choice="any"))] == ["multiply"]
    none = ask("multiply 3 times 4", tools=[MULTIPLY], tool_choice="none")
    assert calls_of(none) == [] and message_of(none)["content"] == "3 * 4 = 12"
    auto = ask("Hello!", tools=[MULTIPLY, ADD])
    assert calls_of(auto) == [] and auto["choices"][0]["finish_reason"] == "stop"


PYDANTIC_STYLE = {
    "$defs": {
        "Address": {
            "properties": {
                "street": {"title": "Street", "type": "string"},
                "zip_code": {"title": "Zip Code", "type": "integer", "minimum": 1000, "maximum": 99999},
            },
            "required": ["street", "zip_code"],
            "title": "Address",
            "type": "object",
        },
        "Color": {"enum": ["red", "green", "blue"], "title": "Color", "type": "string"},
    },
    "properties": {
        "name": {"title": "Name", "type": "string", "maxLength": 20},
        "age": {"title": "Age", "type": "integer"},
        "height": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None, "title": "Height"},
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Nickname"},
        "color": {"$ref": "#/$defs/Color"},
        "address": {"$ref": "#/$defs/Address"},
        "previous": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
        "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array", "minItems": 2},
        "scores": {"items": {"type": "number"}, "type": "array"},
        "active": {"type": "boolean", "default": True},
        "verified": {"type": "boolean"},
        "created": {"type": "string", "format": "date-time"},
    },
    "required": ["name", "age", "nickname", "color", "address", "tags", "scores", "verified"],
    "title": "Person",
    "type": "object",
    "additionalProperties": False,
}


def test_complex_schema_arguments_are_valid() -> None:
    person = tool("register_person", "Register a person.", {})
    person["function"]["parameters"] = PYDANTIC_STYLE
    text = "Register a person: age is 42, favourite colour blue, verified is yes."
    response = ask(text, tools=[person])
    [(name, args)] = calls_of(response)
    assert name == "register_person"
    validate(args, PYDANTIC_STYLE)
    assert args["age"] == 42
    assert args["color"] == "blue"
    assert args["verified"] is True
    assert args["height"] is None  # anyOf-null with default None and nothing in the text
    assert args["previous"] is None
    assert isinstance(args["nickname"], str)
    assert len(args["tags"]) >= 2
    assert args["active"] is True  # the default


def test_structured_output_by_forced_tool_validates_with_pydantic() -> None:
    class Contact(BaseModel):
        """A contact card."""

        name: str
        city: str
        age: int = Field(ge=0, le=150)
        email: str | None = None
        kind: str = Field(json_schema_extra={"enum": ["friend", "work"]})

    schema = Contact.model_json_schema()
    contact = tool("Contact", "A contact card.", {})
    contact["function"]["parameters"] = schema
    choice = {"type": "function", "function": {"name": "Contact"}}
    text = 'Save "Lisbon" as city for my work contact; her name is Ada and age: 36'
    response = ask(text, tools=[contact], tool_choice=choice, parallel_tool_calls=False)
    [(name, args)] = calls_of(response)
    parsed = Contact.model_validate(args)
    assert (parsed.name, parsed.city, parsed.age, parsed.kind, parsed.email) == (
        "Ada",
        "Lisbon",
        36,
        "work",
        None,
    )


def test_tool_result_round_trip() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "multiply", "arguments": '{"a": 3, "b": 4}'},
    }
    call2 = {"id": "call_2", "type": "function", "function": {"name": "add", "arguments": '{"a": 5, "b": 6}'}}
    messages = [
        user("multiply 3 by 4 and add 5 and 6"),
        {"role": "assistant", "content": None, "tool_calls": [call, call2]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12"},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"result": 11}'},
    ]
    response = ask(messages, tools=[MULTIPLY, ADD])
    assert response["choices"][0]["finish_reason"] == "stop"
    assert calls_of(response) == []
    assert message_of(response)["content"] == 'Tool result (multiply): 12\nTool result (add): {"result": 11}'
    unknown = ask([user("x"), {"role": "tool", "tool_call_id": "zzz", "content": "sunny"}])
    assert message_of(unknown)["content"] == "Tool result: sunny"


# --------------------------------------------------------------------------- JSON answers


def test_json_schema_pydantic_style() -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "Person", "schema": PYDANTIC_STYLE}}
    response = ask("The person is 30 years old with scores 1.5 and 2.5", response_format=response_format)
    value = json.loads(message_of(response)["content"])
    validate(value, PYDANTIC_STYLE)
    assert value["age"] == 30
    assert value["scores"] == [1.5, 2.5]


def test_json_schema_validates_with_pydantic() -> None:
    class Joke(BaseModel):
        setup: str
        punchline: str
        rating: int | None = None

    schema = Joke.model_json_schema()
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "Joke", "schema": schema, "strict": True},
    }
    content = message_of(ask("Tell me a joke about cats, rating 7", response_format=response_format))["content"]
    joke = Joke.model_validate_json(content)
    assert joke.rating == 7


_SCALARS = st.one_of(
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-9, 9),
        st.integers(0, 4),
    ),
    st.builds(
        lambda lo, span: {"type": "string", "minLength": lo, "maxLength": lo + span},
        st.integers(0, 4),
        st.integers(0, 4),
    ),
    st.sampled_from([{"type": "boolean"}, {"type": "number"}, {"enum": ["x", 2, None]}, {"$ref": "#/$defs/D"}]),
)
_SCHEMAS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.builds(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)},
            st.dictionaries(st.sampled_from(["a", "b", "name", "city", "scores"]), inner, max_size=3),
        ),
        st.builds(
            lambda item, low: {"type": "array", "items": item, "minItems": low, "maxItems": low + 2},
            inner,
            st.integers(0, 2),
        ),
        st.builds(lambda branch: {"anyOf": [branch, {"type": "null"}]}, inner),
    ),
    max_leaves=8,
)
_TEXTS = st.sampled_from(
    ["", "a is 3 and b is 40", "name is Bob, city 'Paris', scores 1, 2 and 3", "weather in San Francisco x"]
)


@settings(max_examples=200, deadline=None)
@given(text=_TEXTS, schema=_SCHEMAS)
def test_any_schema_is_filled_validly(text: str, schema: dict[str, Any]) -> None:
    root = {
        "$defs": {"D": {"type": "object", "properties": {"x": {"type": "integer", "maximum": 2}}, "required": ["x"]}},
        "type": "object",
        "properties": {"p": schema},
        "required": ["p"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": root}}
    validate(json.loads(message_of(ask(text, response_format=response_format))["content"]), root)
    forced = ask(
        text,
        tools=[{"type": "function", "function": {"name": "f", "parameters": root}}],
        tool_choice="required",
    )
    validate(calls_of(forced)[0][1], root)


def test_json_object_keys_from_the_prompt() -> None:
    prompt = (
        "Tell me a joke about cats. Return the result as a JSON with 'setup' and 'punchline' keys. "
        "Return nothing other than JSON."
    )
    value = json.loads(message_of(ask(prompt, response_format={"type": "json_object"}))["content"])
    assert set(value) == {"setup", "punchline"}
    assert all(isinstance(v, str) for v in value.values())
    listed = json.loads(
        message_of(ask("Give JSON with keys name, age and city", response_format={"type": "json_object"}))["content"]
    )
    assert set(listed) == {"name", "age", "city"}
    plain = json.loads(message_of(ask("What is 2 + 3?", response_format={"type": "json_object"}))["content"])
    assert plain == {"answer": "2 + 3 = 5"}


# --------------------------------------------------------------------------- limits


def test_max_tokens_truncates_with_length() -> None:
    text = "Tell me a long story about a brave knight who fought a dragon"
    for key in ("max_tokens", "max_completion_tokens"):
        response = ask(text, **{key: 5})
        assert response["choices"][0]["finish_reason"] == "length"
        content = message_of(response)["content"]
        assert count_tokens(content) == 5
        assert 'You said: "Tell me a long story'.startswith(content)
        assert response["usage"]["completion_tokens"] == 5
    roomy = ask(text, max_tokens=500)
    assert roomy["choices"][0]["finish_reason"] == "stop"


def test_stop_sequence_cuts() -> None:
    response = ask("hi you there", stop=["you", "zzz"])
    assert message_of(response)["content"] == 'You said: "hi '
    assert response["choices"][0]["finish_reason"] == "stop"


# --------------------------------------------------------------------------- streaming


def _replay(chunks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str | None, list[str]]:
    content = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    pieces = []
    for chunk in chunks[:-1]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["usage"] is None
        [choice] = chunk["choices"]
        delta = choice["delta"]
        if delta.get("content"):
            content += delta["content"]
            pieces.append(delta["content"])
        for part in delta.get("tool_calls", []):
            entry = calls.setdefault(part["index"], {"id": None, "name": "", "arguments": ""})
            if "id" in part:
                assert entry["id"] is None and part["type"] == "function"
                entry["id"] = part["id"]
                entry["name"] = part["function"]["name"]
            entry["arguments"] += part["function"]["arguments"]
        if choice["finish_reason"] is not None:
            assert delta == {}
            finish = choice["finish_reason"]
    return content, [calls[i] for i in sorted(calls)], finish, pieces


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": [user("Tell me something nice about the sea and the sky")]},
        {"messages": [user("multiply 3 by 4 and add 5 and 6")], "tools": [MULTIPLY, ADD]},
        {"messages": [user("What is 2 + 3?")], "response_format": {"type": "json_object"}},
        {"messages": [user("Tell me a long story about a brave knight")], "max_tokens": 4},
    ],
)
def test_stream_matches_completion(extra: dict[str, Any]) -> None:
    body = {**extra, "stream": True, "stream_options": {"include_usage": True}}
    whole = chat_completion(body, model=MODEL)
    chunks = chat_completion_chunks(body, model=MODEL)
    assert {c["id"] for c in chunks} == {whole["id"]}
    assert len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"] == whole["usage"]
    content, calls, finish, pieces = _replay(chunks)
    message = message_of(whole)
    assert finish == whole["choices"][0]["finish_reason"]
    assert content == (message["content"] or "")
    expected_calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message.get("tool_calls", [])
    ]
    assert calls == expected_calls
    if message["content"] and count_tokens(message["content"]) >= 3:
        assert len(pieces) >= 3
    for call in message.get("tool_calls", []):
        fragments = [
            part["function"]["arguments"]
            for c in chunks[:-1]
            for part in c["choices"][0]["delta"].get("tool_calls", [])
            if part.get("id") is None and part["index"] == message["tool_calls"].index(call)
        ]
        assert len(fragments) >= 2


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "body",
    [
        "not a dict",
        {},
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user", "content": 42}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
        {"messages": [user("hi")], "n": 2},
        {"messages": [user("hi")], "max_tokens": 0},
        {"messages": [user("hi")], "stop": 5},
        {"messages": [user("hi")], "tools": {"type": "function"}},
        {"messages": [user("hi")], "tools": [{"type": "function", "function": {"description": "no name"}}]},
        {"messages": [user("hi")], "tool_choice": "required"},
        {
            "messages": [user("hi")],
            "tools": [ADD],
            "tool_choice": {"type": "function", "function": {"name": "x"}},
        },
        {"messages": [user("hi")], "tools": [ADD], "tool_choice": "sometimes"},
        {"messages": [user("hi")], "tools": [ADD], "parallel_tool_calls": "yes"},
        {"messages": [user("hi")], "response_format": {"type": "yaml"}},
        {"messages": [user("hi")], "response_format": {"type": "json_schema", "json_schema": {"schema": 3}}},
    ],
)
def test_invalid_chat_requests(body: Any) -> None:
    with pytest.raises(ScriptedModelError):
        chat_completion(body, model=MODEL)
    with pytest.raises(ValueError):
        chat_completion_chunks(body, model=MODEL)


# --------------------------------------------------------------------------- images


def _read_png(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        chunks[kind] = payload
        if kind == b"IDAT":
            idat += payload
        pos += 12 + length
    assert list(chunks)[0] == b"IHDR" and list(chunks)[-1] == b"IEND"
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    return width, height, zlib.decompress(idat)


def test_images_are_valid_distinct_pngs() -> None:
    response = generate_images({"prompt": "a red fox", "n": 3, "size": "64x32"}, model="img")
    assert isinstance(response["created"], int)
    assert len(response["data"]) == 3
    raws = []
    for item in response["data"]:
        assert item["revised_prompt"] == "a red fox"
        width, height, raw = _read_png(base64.b64decode(item["b64_json"]))
        assert (width, height) == (64, 32)
        assert len(raw) == height * (1 + 3 * width)
        assert all(raw[y * (1 + 3 * width)] == 0 for y in range(height))  # filter bytes
        raws.append(raw)
    assert len(set(raws)) == 3
    again = generate_images({"prompt": "a red fox", "n": 3, "size": "64x32"}, model="img")
    assert [d["b64_json"] for d in again["data"]] == [d["b64_json"] for d in response["data"]]


def test_image_defaults_cap_and_url_format() -> None:
    [item] = generate_images({"prompt": "x"}, model="img")["data"]
    assert _read_png(base64.b64decode(item["b64_json"]))[:2] == (256, 256)
    [big] = generate_images({"prompt": "x", "size": "4096x100", "response_format": "url"}, model="img")["data"]
    assert big["url"].startswith("data:image/png;base64,")
    width, height, _ = _read_png(base64.b64decode(big["url"].split(",", 1)[1]))
    assert (width, height) == (1024, 100)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ""},
        {"n": 1},
        {"prompt": "x", "n": 0},
        {"prompt": "x", "n": 11},
        {"prompt": "x", "size": "big"},
        {"prompt": "x", "size": "0x10"},
        {"prompt": "x", "response_format": "svg"},
    ],
)
def test_invalid_image_requests(body: dict[str, Any]) -> None:
    with pytest.raises(ScriptedModelError):
        generate_images(body, model="img")


# --------------------------------------------------------------------------- transcription


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x01\x00" * int(seconds * rate))
    return buffer.getvalue()


def test_transcribe_wav_duration() -> None:
    audio = _wav(3.2)
    result = transcribe(audio, filename="talk.wav", model="whisper")
    assert result["text"].startswith("scripted transcript of talk.wav (3.2 s): ")
    assert result["usage"] == {"type": "duration", "seconds": 4}
    assert set(result) == {"text", "usage"}
    assert transcribe(audio, filename="talk.wav", model="whisper") == result
    other = transcribe(_wav(3.2, rate=16000), filename="talk.wav", model="whisper")
    assert other["text"] != result["text"]  # different bytes, different words


def test_transcribe_verbose_and_non_wav() -> None:
    verbose = transcribe(_wav(2.0), filename="a.wav", model="w", response_format="verbose_json", language="de")
    assert verbose["duration"] == 2.0 and verbose["language"] == "de"
    assert verbose["usage"]["seconds"] == 2
    [segment] = verbose["segments"]
    assert segment["start"] == 0.0 and segment["end"] == 2.0 and segment["text"] == verbose["text"]
    blob = transcribe(b"\xff" * 40_000, filename="x.mp3", model="w")
    assert "(2.5 s)" in blob["text"] and blob["usage"]["seconds"] == 3
    tiny = transcribe(b"abc", filename="x.mp3", model="w")
    assert "(1.0 s)" in tiny["text"] and tiny["usage"]["seconds"] == 1
    with pytest.raises(ScriptedModelError):
        transcribe(b"", filename="x", model="w")
    with pytest.raises(ScriptedModelError):
        transcribe(b"abc", filename="x", model="w", response_format="srt")


# --------------------------------------------------------------------------- embeddings


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_similarity_and_norm() -> None:
    texts = [
        "The cat sat on the mat",
        "A cat sits on a mat",
        "Quantum chromodynamics describes the strong interaction",
    ]
    response = embed({"input": texts}, model="emb")
    assert response["object"] == "list" and response["model"] == "emb"
    vectors = [item["embedding"] for item in response["data"]]
    assert [item["index"] for item in response["data"]] == [0, 1, 2]
    assert all(item["object"] == "embedding" for item in response["data"])
    for vector in vectors:
        assert len(vector) == 256
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)
    assert _cos(vectors[0], vectors[1]) > 0.6  # cat, mat shared; sat / sit differ
    assert abs(_cos(vectors[0], vectors[2])) < 0.3
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2])
    tokens = sum(count_tokens(t) for t in texts)
    assert response["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_embedding_dimensions_base64_and_tokens() -> None:
    body_dims = embed({"input": "hello world", "dimensions": 64}, model="emb", dimensions=512)
    assert len(body_dims["data"][0]["embedding"]) == 64
    assert len(embed({"input": "hello"}, model="emb", dimensions=512)["data"][0]["embedding"]) == 512
    floats = embed({"input": "hello world"}, model="emb")["data"][0]["embedding"]
    encoded = embed({"input": "hello world", "encoding_format": "base64"}, model="emb")["data"][0]["embedding"]
    decoded = struct.unpack("<256f", base64.b64decode(encoded))
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(decoded, floats, strict=True))
    ids = embed({"input": [[1, 2, 3], [1, 2, 3], [9]]}, model="emb")
    assert ids["data"][0]["embedding"] == ids["data"][1]["embedding"] != ids["data"][2]["embedding"]
    assert ids["usage"]["prompt_tokens"] == 7
    flat = embed({"input": [1, 2, 3]}, model="emb")
    assert len(flat["data"]) == 1 and flat["data"][0]["embedding"] == ids["data"][0]["embedding"]
    empty = embed({"input": ""}, model="emb")["data"][0]["embedding"]
    assert math.isclose(sum(x * x for x in empty), 1.0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": []},
        {"input": 5},
        {"input": ["a", 1]},
        {"input": [[1], ["a"]]},
        {"input": [True]},
        {"input": "x", "dimensions": 0},
        {"input": "x", "dimensions": 5000},
        {"input": "x", "encoding_format": "hex"},
    ],
)
def test_invalid_embedding_requests(body: dict[str, Any]) -> None:
    with pytest.raises(ScriptedModelError):
        embed(body, model="emb")
