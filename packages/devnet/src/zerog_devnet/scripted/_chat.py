"""Chat completions of the scripted model, whole (``chat.completion``) or as stream chunks."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ._common import count_tokens, digest, now, truncate_tokens
from ._reply import json_object_answer, source_text, text_reply
from ._request import TOOL_ROLES, ChatRequest, Message, parse_chat_request
from ._schema import fill
from ._tools import make_tool_calls, select_tools

__all__ = ["chat_completion", "chat_completion_chunks"]

FINGERPRINT = "fp_scripted"
IMAGE_TOKENS = 85
MESSAGE_OVERHEAD = 3
ARGUMENT_FRAGMENT = 8
_PIECE_RE = re.compile(r"\S+\s*|\s+")
_VOLATILE_KEYS = ("stream", "stream_options")


@dataclass(frozen=True)
class _Answer:
    content: str | None
    tool_calls: tuple[dict[str, Any], ...]
    finish_reason: str


def _answer(request: ChatRequest, body: dict[str, Any]) -> _Answer:
    if request.messages[-1].role not in TOOL_ROLES:
        tools = select_tools(request)
        if tools:
            calls = make_tool_calls(request, tools, digest(body.get("messages")))
            return _Answer(None, calls, "tool_calls")
    return _limit(_content(request), request)


def _content(request: ChatRequest) -> str:
    if request.response_format == "json_schema":
        return json.dumps(fill(request.schema, source_text(request)), ensure_ascii=False)
    if request.response_format == "json_object":
        answer = json_object_answer(source_text(request), text_reply(request))
        return json.dumps(answer, ensure_ascii=False)
    return text_reply(request)


def _limit(content: str, request: ChatRequest) -> _Answer:
    cuts = [content.find(stop) for stop in request.stop if stop in content]
    if cuts:
        content = content[: min(cuts)]
    truncated = False
    if request.max_tokens is not None:
        content, truncated = truncate_tokens(content, request.max_tokens)
    return _Answer(content, (), "length" if truncated else "stop")


def _message_tokens(message: Message) -> int:
    tokens = count_tokens(message.text) + IMAGE_TOKENS * len(message.images) + MESSAGE_OVERHEAD
    if message.tool_calls:
        tokens += count_tokens(json.dumps(list(message.tool_calls), sort_keys=True))
    return tokens


def _usage(request: ChatRequest, answer: _Answer) -> dict[str, int]:
    prompt = sum(_message_tokens(message) for message in request.messages)
    if request.tools:
        prompt += count_tokens(request.tools_json)
    if answer.tool_calls:
        calls = [call["function"] for call in answer.tool_calls]
        completion = count_tokens(json.dumps(calls))
    else:
        completion = count_tokens(answer.content or "")
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _prepare(body: dict[str, Any], model: str) -> tuple[ChatRequest, _Answer, dict[str, Any]]:
    request = parse_chat_request(body)
    answer = _answer(request, body)
    stable = {key: value for key, value in body.items() if key not in _VOLATILE_KEYS}
    header = {
        "id": "chatcmpl-scripted-" + digest(stable, model)[:24],
        "created": now(),
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }
    return request, answer, header


def chat_completion(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The scripted answer to an OpenAI chat request, as a ``chat.completion`` object."""
    request, answer, header = _prepare(body, model)
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = copy.deepcopy(list(answer.tool_calls))
    choice = {"index": 0, "message": message, "finish_reason": answer.finish_reason, "logprobs": None}
    return {
        "id": header["id"],
        "object": "chat.completion",
        "created": header["created"],
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [choice],
        "usage": _usage(request, answer),
    }


def _tool_call_deltas(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    function = call["function"]
    first = {
        "index": index,
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": ""},
    }
    deltas: list[dict[str, Any]] = [{"tool_calls": [first]}]
    arguments = function["arguments"]
    for start in range(0, len(arguments), ARGUMENT_FRAGMENT):
        fragment = arguments[start : start + ARGUMENT_FRAGMENT]
        deltas.append({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    return deltas


def chat_completion_chunks(body: dict[str, Any], *, model: str) -> list[dict[str, Any]]:
    """The same answer as :func:`chat_completion`, as ``chat.completion.chunk`` objects.

    Role chunk, one chunk per word, tool-call chunks, a finish chunk and always a final usage chunk.
    """
    request, answer, header = _prepare(body, model)
    base = {"id": header["id"], "object": "chat.completion.chunk", **header}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in _PIECE_RE.findall(answer.content or "")]
    for index, call in enumerate(answer.tool_calls):
        deltas += _tool_call_deltas(index, call)
    finals: list[tuple[dict[str, Any], str | None]] = [(delta, None) for delta in deltas]
    finals.append(({}, answer.finish_reason))
    chunks = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": f, "logprobs": None}], "usage": None}
        for d, f in finals
    ]
    chunks.append({**base, "choices": [], "usage": _usage(request, answer)})
    return chunks
