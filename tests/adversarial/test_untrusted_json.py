"""One bounded JSON parser for untrusted input, and tool calls a provider nests 100,000 deep: never a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from zerog_compute import UntrustedJSONError, parse_json
from zerog_compute.untrusted_json import nesting_exceeds

DEEP = "[" * 200_000 + "]" * 200_000  # beyond the 100000 recursion limit py_ecc sets: a C stack overflow


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 513 + "]" * 513, "deep"),
        ('{"a":' * 600 + "1" + "}" * 600, "deep"),
        ("not json", "malformed"),
        ('{"t": NaN}', "malformed"),
        ("[Infinity]", "malformed"),
    ],
)
def test_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(UntrustedJSONError) as caught:
        parse_json(text)
    assert caught.value.reason == reason and isinstance(caught.value, ValueError)


def test_accepted_at_the_limits_and_brackets_in_strings_do_not_count() -> None:
    assert parse_json("[" * 512 + "]" * 512) is not None
    assert parse_json(b'{"text": "' + b"[" * 10_000 + b'"}') == {"text": "[" * 10_000}
    assert parse_json('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_size_limit() -> None:
    with pytest.raises(UntrustedJSONError) as caught:
        parse_json(b'"' + b"x" * 100 + b'"', max_bytes=50)
    assert caught.value.reason == "large"


def test_nesting_of_a_partial_document() -> None:
    assert nesting_exceeds('{"a": ' + "[" * 600) and not nesting_exceeds('{"a": "' + "[" * 600)


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from langchain_zerog._convert import completion_to_result
    from llama_index.llms.zerog._convert import chat_response, tool_selections
    from zerog_compute import ChatCompletion, parse_json

    deep = "[" * 200_000 + "]" * 200_000
    call = {"id": "c1", "type": "function", "function": {"name": "multiply", "arguments": '{"a": ' + deep + "}"}}
    completion = ChatCompletion.model_validate(
        {"id": "x", "model": "m", "choices": [
            {"index": 0, "finish_reason": "tool_calls",
             "message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}
    )
    message = completion_to_result(completion).generations[0].message
    assert message.tool_calls == [] and len(message.invalid_tool_calls) == 1, message
    assert "nested deeper" in message.invalid_tool_calls[0]["error"]
    response = chat_response(completion, None)
    try:
        tool_selections(response)
    except ValueError as exc:
        assert "multiply" in str(exc)
    else:
        raise AssertionError("a too-deep tool call must be refused")
    try:
        parse_json(deep)
    except ValueError:
        pass
    print("survived")
    """
)


def test_too_deep_tool_calls_never_crash_the_adapters() -> None:
    """Run where a crash (SIGSEGV) kills only a subprocess; its exit code and output say it survived."""
    result = subprocess.run([sys.executable, "-c", CRASH_SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("survived")


STREAM_SCRIPT = textwrap.dedent(
    """
    from langchain_zerog._convert import ArgsGuard, chunk_to_generation
    from zerog_compute import ChatCompletionChunk

    def chunk(arguments, index=0, name=None):
        call = {"index": index, "id": "c1" if name else None, "type": "function",
                "function": {"name": name, "arguments": arguments}}
        return ChatCompletionChunk.model_validate(
            {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})

    guard = ArgsGuard()
    pieces = [chunk('{"a": ', name="multiply")] + [chunk("[" * 1000) for _ in range(200)] + [chunk("]" * 200_000)]
    pieces += [chunk('{"x": 1}', index=1, name="add")]
    merged = None
    for piece in pieces:
        generation = chunk_to_generation(piece, guard=guard)
        merged = generation if merged is None else merged + generation
    message = merged.message
    assert [c["name"] for c in message.invalid_tool_calls] == ["multiply"], message.invalid_tool_calls
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("add", {"x": 1})], message.tool_calls
    print("survived")
    """
)


def test_a_too_deep_streamed_tool_call_becomes_invalid_not_a_crash() -> None:
    """langchain-core joins streamed argument fragments and json.loads them: the guard keeps that bounded."""
    result = subprocess.run([sys.executable, "-c", STREAM_SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("survived")


RPC_SCRIPT = textwrap.dedent(
    """
    import httpx
    from zerog_compute import ChainError
    from zerog_compute._io import Rpc
    from zerog_compute.runners import SyncRunner

    deep = b'{"jsonrpc": "2.0", "id": 1, "result": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    rpc = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=deep)))
    runner = SyncRunner("http://rpc.invalid", 1, httpx.Client(), rpc)
    runner._chain_checked = True
    def flow():
        return (yield Rpc("eth_blockNumber"))
    try:
        runner.run(flow())
    except ChainError as exc:
        assert "non-JSON" in str(exc)
    else:
        raise AssertionError("a too-deep RPC answer must be refused")
    print("survived")
    """
)


def test_an_rpc_node_cannot_crash_the_client_with_deep_json() -> None:
    result = subprocess.run([sys.executable, "-c", RPC_SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("survived")
