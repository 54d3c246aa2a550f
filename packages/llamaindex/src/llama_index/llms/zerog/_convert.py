"""Pure conversions between LlamaIndex messages and the OpenAI-compatible dicts zerog-compute sends.

* :func:`to_openai_messages`: ``ChatMessage`` (text, image, audio, tool-call blocks; tool results) →
  request dicts; images become ``image_url`` parts (URLs as given, bytes and paths as data URLs).
* :func:`chat_response`: a ``zerog_compute.ChatCompletion`` → ``ChatResponse`` with ``ToolCallBlock``\\ s,
  usage and the 0G record (provider, chat id, fee, verdict) in ``additional_kwargs``.
* :class:`StreamAccumulator`: ``ChatCompletionChunk``\\ s → cumulative ``ChatResponse``\\ s, streamed
  tool-call fragments merged by index; the last one carries usage and the 0G record.
* :func:`tool_selections`: ``ToolCallBlock``\\ s (partial JSON allowed) → ``ToolSelection``\\ s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    ChatMessage,
    ChatResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from zerog_compute import ChatCompletion, ChatCompletionChunk, UntrustedJSONError, ZeroGRecord, parse_json

log = logging.getLogger(__name__)

ROLES = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "developer",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}
TEXT_ONLY_ROLES = ("system", "developer", "assistant", "tool")


# --------------------------------------------------------------------------- requests


def _image_part(block: ImageBlock) -> dict[str, Any]:
    """An ``image_url`` part: a URL as given, bytes and paths as a data URL.

    Encoded from the block's fields with ``resolve_image`` (in every llama-index-core >= 0.14.5), not
    ``ImageBlock.inline_url`` (only from 0.14.15); the block itself is left unchanged.
    """
    if block.url is not None and not block.image and not block.path:
        url = str(block.url)
    else:
        data = block.resolve_image(as_base64=True).read().decode("ascii")
        url = f"data:{block.image_mimetype or 'image/png'};base64,{data}"
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if block.detail:
        part["image_url"]["detail"] = block.detail
    return part


def _audio_part(block: AudioBlock) -> dict[str, Any]:
    data = block.resolve_audio(as_base64=True).read().decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": data, "format": block.format or "wav"}}


def _arguments(kwargs: dict[str, Any] | str) -> str:
    return kwargs if isinstance(kwargs, str) else json.dumps(kwargs)


def _tool_call(block: ToolCallBlock) -> dict[str, Any]:
    return {
        "id": block.tool_call_id or "",
        "type": "function",
        "function": {"name": block.tool_name, "arguments": _arguments(block.tool_kwargs)},
    }


def _legacy_tool_calls(calls: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for call in calls:
        data = call.model_dump() if hasattr(call, "model_dump") else dict(call)
        function = dict(data.get("function") or {})
        function["arguments"] = _arguments(function.get("arguments") or "")
        out.append({"id": data.get("id") or "", "type": "function", "function": function})
    return out


def to_openai_message(message: ChatMessage) -> dict[str, Any]:
    """One ``ChatMessage`` as an OpenAI chat message dict."""
    role = ROLES.get(message.role, str(message.role.value))
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
        elif isinstance(block, AudioBlock):
            parts.append(_audio_part(block))
        elif isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call(block))
        elif isinstance(block, (ThinkingBlock, CachePoint)):
            continue
        else:
            raise ValueError(
                f"ZeroG cannot send {type(block).__name__} content blocks (text, image, audio, tool calls)"
            )
    text = "".join(texts)
    result: dict[str, Any] = {"role": role}
    if role in TEXT_ONLY_ROLES or all(p["type"] == "text" for p in parts):
        if len(parts) != len(texts):
            log.warning("dropping non-text content of a %s message: the API takes text only there", role)
        result["content"] = text
    else:
        result["content"] = parts
    if not tool_calls and message.additional_kwargs.get("tool_calls"):
        tool_calls = _legacy_tool_calls(message.additional_kwargs["tool_calls"])
    if tool_calls and role == "assistant":
        result["tool_calls"] = tool_calls
        if not text:
            result["content"] = None
    for key in ("tool_call_id", "name"):
        if message.additional_kwargs.get(key):
            result[key] = message.additional_kwargs[key]
    return result


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Messages as OpenAI chat message dicts."""
    return [to_openai_message(m) for m in messages]


def has_images(messages: Sequence[ChatMessage]) -> bool:
    return any(isinstance(b, ImageBlock) for m in messages for b in m.blocks)


# --------------------------------------------------------------------------- responses


def _kwargs_block(name: str, call_id: str | None, arguments: str) -> ToolCallBlock:
    try:
        parsed: dict[str, Any] | str = parse_json(arguments) if arguments else {}
    except UntrustedJSONError:
        parsed = arguments  # partial or invalid JSON: keep the text, tool_selections parses leniently (or refuses)
    if not isinstance(parsed, (dict, str)):
        parsed = arguments
    return ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=parsed)


def _assistant(blocks: list[Any], calls: Sequence[tuple[str, str, str]]) -> ChatMessage:
    """The assistant message; tool calls also in ``additional_kwargs["tool_calls"]`` (OpenAI dicts), which
    LlamaIndex's streaming structured-output parser reads."""
    extra: dict[str, Any] = {}
    if calls:
        extra["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in calls
        ]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)


def record_kwargs(record: ZeroGRecord | None, usage: Any, verdict: str | None) -> dict[str, Any]:
    """``ChatResponse.additional_kwargs``: token usage plus the 0G record, as plain values."""
    out: dict[str, Any] = {}
    if usage is not None:
        out.update(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )
    if record is not None:
        out.update(
            provider=record.provider,
            model=record.model,
            chat_id=record.chat_id,
            fee=record.fee,
            fee_0g=str(record.fee_0g),
            latency_ms=record.latency_ms,
            verdict=verdict,
        )
        extra = record.model_extra or {}
        out.update({k: extra[k] for k in ("backend", "request_id", "fee_note") if k in extra})  # Router mode
    return out


def current_verdict(record: ZeroGRecord) -> str:
    """The verdict if known now (``enforce``/``off``, or a finished background check), else ``pending``."""
    if record.verification is None:
        future = record.verification_future
        if future is None or not future.done():
            return "pending" if future is not None else "none"
        try:
            record.verdict(0)
        except Exception as exc:  # the verification itself failed: report, never break the response
            log.warning("verification of chat %s failed: %s", record.chat_id, type(exc).__name__)
            return "error"
    verified = record.verification
    if verified is None:  # the background check resolved to nothing
        return "none"
    return str(getattr(verified.verdict, "value", verified.verdict))


def chat_response(completion: ChatCompletion, verdict: str | None = None) -> ChatResponse:
    """A non-streamed completion as a ``ChatResponse`` (raw: the zerog-compute ``ChatCompletion``)."""
    choice = completion.choices[0] if completion.choices else None
    blocks: list[Any] = []
    if choice is not None:
        message = choice.message
        if message.reasoning_content:
            blocks.append(ThinkingBlock(content=message.reasoning_content))
        blocks.append(TextBlock(text=message.content or ""))
    calls = [
        (c.id, c.function.name, c.function.arguments) for c in (choice.message.tool_calls if choice else None) or []
    ]
    for call_id, name, arguments in calls:
        blocks.append(_kwargs_block(name, call_id or None, arguments))
    record = completion.zerog
    if verdict is None and record is not None:
        verdict = current_verdict(record)
    extra = record_kwargs(record, completion.usage, verdict)
    if choice is not None and choice.finish_reason:
        extra["finish_reason"] = choice.finish_reason
    return ChatResponse(message=_assistant(blocks, calls), raw=completion, additional_kwargs=extra)


class StreamAccumulator:
    """Turns chunks into cumulative ``ChatResponse``\\ s (each carries the whole message so far)."""

    def __init__(self) -> None:
        self.text = ""
        self.reasoning = ""
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.record: ZeroGRecord | None = None

    def _message(self) -> ChatMessage:
        blocks: list[Any] = []
        if self.reasoning:
            blocks.append(ThinkingBlock(content=self.reasoning))
        blocks.append(TextBlock(text=self.text))
        calls = [self.calls[index] for index in sorted(self.calls)]
        for call in calls:
            blocks.append(_kwargs_block(call["name"], call["id"] or None, call["arguments"]))
        return _assistant(blocks, [(c["id"], c["name"], c["arguments"]) for c in calls])

    def _merge_tool_calls(self, deltas: Sequence[Any]) -> None:
        for position, delta in enumerate(deltas):
            index = delta.index if delta.index is not None else position
            call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function is not None:
                call["name"] = call["name"] or (delta.function.name or "")
                call["arguments"] += delta.function.arguments or ""

    def feed(self, chunk: ChatCompletionChunk) -> ChatResponse:
        """The response after ``chunk``; the final chunk's ``additional_kwargs`` carry usage and the record."""
        text_delta = ""
        if chunk.choices:
            choice = chunk.choices[0]
            text_delta = choice.delta.content or ""
            self.text += text_delta
            self.reasoning += choice.delta.reasoning_content or ""
            if choice.delta.tool_calls:
                self._merge_tool_calls(choice.delta.tool_calls)
            self.finish_reason = choice.finish_reason or self.finish_reason
        extra: dict[str, Any] = {}
        if chunk.zerog is not None or chunk.usage is not None:
            self.record = chunk.zerog
            verdict = current_verdict(chunk.zerog) if chunk.zerog is not None else None
            extra = record_kwargs(chunk.zerog, chunk.usage, verdict)
        if self.finish_reason:
            extra["finish_reason"] = self.finish_reason
        return ChatResponse(message=self._message(), delta=text_delta, raw=chunk, additional_kwargs=extra)


# --------------------------------------------------------------------------- tools


def tool_selections(response: ChatResponse, error_on_no_tool_call: bool = True) -> list[ToolSelection]:
    """The tool calls of a (possibly partial, streamed) response as ``ToolSelection``\\ s."""
    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    if not blocks and response.message.additional_kwargs.get("tool_calls"):
        for call in _legacy_tool_calls(response.message.additional_kwargs["tool_calls"]):
            function = call["function"]
            blocks.append(
                ToolCallBlock(tool_call_id=call["id"], tool_name=function["name"], tool_kwargs=function["arguments"])
            )
    if not blocks:
        if error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but the model called none.")
        return []
    selections = []
    for block in blocks:
        kwargs = block.tool_kwargs
        if isinstance(kwargs, str):
            kwargs = _lenient_kwargs(block.tool_name, kwargs)
        selections.append(
            ToolSelection(tool_id=block.tool_call_id or "", tool_name=block.tool_name, tool_kwargs=kwargs)
        )
    return selections


def _lenient_kwargs(tool: str, text: str) -> dict[str, Any]:
    """Arguments that may be partial JSON; too deep or too large for any parser: ValueError, never a crash."""
    if not text.strip():
        return {}
    try:
        parsed = parse_json(text)
    except UntrustedJSONError as exc:
        if exc.reason != "malformed":
            raise ValueError(f"the model's arguments for tool {tool!r} cannot be used: {exc}") from None
        try:
            parsed = parse_partial_json(text)
        except (ValueError, TypeError):
            return {}
    return parsed if isinstance(parsed, dict) else {}


def resolve_tool_choice(tool_choice: str | dict[str, Any] | None, tool_required: bool) -> str | dict[str, Any]:
    """OpenAI ``tool_choice``: a mode, or a tool name turned into a named-function choice."""
    if tool_choice is None:
        return "required" if tool_required else "auto"
    if isinstance(tool_choice, dict) or tool_choice in ("auto", "none", "required"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


def keep_first_tool_call(response: ChatResponse) -> None:
    """Drop all but the first tool call (``allow_parallel_tool_calls=False``)."""
    calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) > 1:
        response.message.blocks = [b for b in response.message.blocks if not isinstance(b, ToolCallBlock)] + [calls[0]]
