"""Pure mapping between LangChain messages/tools and the OpenAI-compatible wire format of 0G providers.

No I/O here. Requests go out through ``langchain_core``'s own converters
(``convert_to_openai_messages``, ``convert_to_openai_tool``); responses come back from
``zerog_compute``'s typed ``ChatCompletion`` / ``ChatCompletionChunk`` into ``AIMessage`` /
``AIMessageChunk`` with tool calls parsed by ``langchain_core.output_parsers.openai_tools``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    convert_to_openai_messages,
)
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_function

from zerog_compute import (
    MAX_JSON_DEPTH,
    ChatCompletion,
    ChatCompletionChunk,
    UntrustedJSONError,
    Usage,
    ZeroGRecord,
    parse_json,
)

from ._llm_output import MODEL_PROVIDER, completion_llm_output

_TOOL_CHOICE_KEYWORDS = ("auto", "none", "required")


# --------------------------------------------------------------------------- requests


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages (any content-block flavour) → OpenAI chat messages.

    Images (OpenAI ``image_url`` parts, v1 ``{"type": "image", "base64"/"url"}`` blocks, Anthropic
    ``source`` blocks) become ``image_url`` parts. Assistant turns keep only their text: reasoning,
    thinking and ``tool_use`` blocks of earlier turns are not part of the chat-completions format
    (their tool calls travel in ``tool_calls``).
    """
    converted = convert_to_openai_messages(list(messages))
    out = [converted] if isinstance(converted, dict) else list(converted)
    for message in out:
        if message.get("role") == "assistant":
            _flatten_assistant(message)
    return out


def _flatten_assistant(message: dict[str, Any]) -> None:
    content = message.get("content")
    if isinstance(content, list):
        texts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        kinds = [p.get("type") if isinstance(p, dict) else "text" for p in content]
        content = "".join(t for t, k in zip(texts, kinds, strict=True) if k == "text")
    if not content and message.get("tool_calls"):
        content = None
    message["content"] = content if content is not None or message.get("tool_calls") else ""


def format_tool_choice(tool_choice: Any) -> str | dict[str, Any] | None:
    """LangChain ``tool_choice`` → OpenAI: ``"any"``/``True`` → ``"required"``, a tool name → a named function."""
    if tool_choice is None or tool_choice is False:
        return None
    if tool_choice is True or tool_choice == "any":
        return "required"
    if isinstance(tool_choice, str):
        if tool_choice in _TOOL_CHOICE_KEYWORDS:
            return tool_choice
        return {"type": "function", "function": {"name": tool_choice}}
    if isinstance(tool_choice, dict):
        return tool_choice
    raise ValueError(
        f"tool_choice must be a tool name, 'auto', 'none', 'any', 'required' or a dict, not {tool_choice!r}"
    )


# --------------------------------------------------------------------------- responses


def usage_metadata(usage: Usage | None) -> UsageMetadata | None:
    """OpenAI usage → LangChain ``UsageMetadata`` (with cached / reasoning token details when reported)."""
    if usage is None:
        return None
    result = cast(
        "UsageMetadata",
        {
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
        },
    )
    cached = (usage.prompt_tokens_details or {}).get("cached_tokens")
    if isinstance(cached, int):
        result["input_token_details"] = InputTokenDetails(cache_read=cached)
    reasoning = (usage.completion_tokens_details or {}).get("reasoning_tokens")
    if isinstance(reasoning, int):
        result["output_token_details"] = OutputTokenDetails(reasoning=reasoning)
    return result


def peek_verification(record: ZeroGRecord) -> Any:
    """The verification result if it is already known (never blocks), else None."""
    if record.verification is not None:
        return record.verification
    future = record.verification_future
    if future is None or not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()


def record_metadata(record: ZeroGRecord | None, *, verification_enabled: bool = True) -> dict[str, Any]:
    """The 0G part of ``response_metadata``: who served, the chat id, the fee, the verification verdict, the
    backend (``direct`` or ``router``; Router mode adds the Router's request id, rate-limit state and fee note)."""
    if record is None:
        return {}
    result = peek_verification(record)
    if result is not None:
        verdict: str | None = getattr(result.verdict, "value", str(result.verdict))
    else:
        verdict = "pending" if verification_enabled else None
    meta: dict[str, Any] = {
        "zerog_provider": record.provider,
        "zerog_chat_id": record.chat_id,
        "zerog_fee": record.fee,
        "zerog_fee_0g": format(record.fee_0g, "f"),
        "zerog_verification": verdict,
    }
    if result is not None and getattr(result, "content_bound", None) is not None:
        meta["zerog_content_bound"] = result.content_bound
    if record.latency_ms is not None:
        meta["zerog_latency_ms"] = round(record.latency_ms, 1)
    extra = record.model_extra or {}
    meta["zerog_backend"] = extra.get("backend") or "direct"
    for name in ("request_id", "fee_note", "rate_limit"):  # Router mode: what the Router reported
        if extra.get(name) is not None:
            meta[f"zerog_{name}"] = extra[name]
    return meta


def _tool_calls(raw: Sequence[Mapping[str, Any]]) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Parse each call's arguments with core's bounded parser: not JSON, not an object, too deep or too large
    → an invalid tool call, never a crash."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for item in raw:
        function = item.get("function") if isinstance(item.get("function"), Mapping) else None
        if function is None or not function.get("name"):
            continue
        arguments = function.get("arguments") or ""
        try:
            args = parse_json(arguments) if arguments.strip() else {}
        except UntrustedJSONError as exc:
            invalid.append(make_invalid_tool_call(dict(item), f"tool call arguments are not usable: {exc}"))
            continue
        if not isinstance(args, dict):
            invalid.append(make_invalid_tool_call(dict(item), "tool call arguments are not a JSON object"))
            continue
        calls.append(ToolCall(name=str(function["name"]), args=args, id=item.get("id"), type="tool_call"))
    return calls, invalid


def completion_to_result(completion: ChatCompletion, extra: Mapping[str, Any] | None = None) -> ChatResult:
    """A ``ChatCompletion`` (with its 0G record) → ``ChatResult``."""
    generations = []
    for choice in completion.choices or []:
        message = choice.message
        raw_calls = [c.model_dump() for c in message.tool_calls or []]
        calls, invalid = _tool_calls(raw_calls)
        additional: dict[str, Any] = {}
        if message.reasoning_content:
            additional["reasoning_content"] = message.reasoning_content
        if message.refusal:
            additional["refusal"] = message.refusal
        metadata: dict[str, Any] = {
            "model_name": completion.model or (completion.zerog.model if completion.zerog else ""),
            "model_provider": MODEL_PROVIDER,
            "finish_reason": choice.finish_reason,
            "system_fingerprint": completion.system_fingerprint,
            **(extra or {}),
        }
        ai = AIMessage(
            content=message.content or "",
            tool_calls=calls,
            invalid_tool_calls=invalid,
            additional_kwargs=additional,
            usage_metadata=usage_metadata(completion.usage),
            response_metadata=metadata,
            id=completion.id or None,
        )
        generations.append(ChatGeneration(message=ai, generation_info={"finish_reason": choice.finish_reason}))
    return ChatResult(generations=generations, llm_output=completion_llm_output(completion))


class ArgsGuard:
    """Keeps a stream's tool-call arguments parseable: langchain-core joins the fragments and parses them with
    ``json.loads``, which a provider can crash with arguments nested 100,000 deep. Fragments that would nest
    deeper than core's limit are dropped and replaced by one unbalanced ``]``, which makes the call an
    ``invalid_tool_call`` when the chunks are merged."""

    def __init__(self, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.max_depth = max_depth
        self._scans: dict[int, _Scan] = {}

    def args(self, index: int | None, fragment: str | None) -> str | None:
        if not fragment:
            return fragment
        scan = self._scans.setdefault(index if index is not None else -1, _Scan())
        if scan.poisoned:
            return None
        if scan.fits(fragment, self.max_depth):
            return fragment
        scan.poisoned = True
        return "]"


class _Scan:
    """Nesting depth of a JSON text fed in pieces (brackets inside strings do not count)."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.poisoned = False

    def fits(self, fragment: str, max_depth: int) -> bool:
        depth, in_string, escaped = self.depth, self.in_string, self.escaped
        for char in fragment:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
                if depth > max_depth:
                    return False
            elif char in "]}":
                depth -= 1
        self.depth, self.in_string, self.escaped = depth, in_string, escaped
        return True


def chunk_to_generation(
    chunk: ChatCompletionChunk, extra: Mapping[str, Any] | None = None, guard: ArgsGuard | None = None
) -> ChatGenerationChunk:
    """One ``ChatCompletionChunk`` → ``ChatGenerationChunk`` (the usage chunk carries usage and ``extra``)."""
    content = ""
    tool_chunks: list[ToolCallChunk] = []
    additional: dict[str, Any] = {}
    metadata: dict[str, Any] = {"model_provider": MODEL_PROVIDER}
    info: dict[str, Any] | None = None
    if chunk.choices:
        choice = chunk.choices[0]
        delta = choice.delta
        content = delta.content or ""
        for call in delta.tool_calls or []:
            function = call.function
            arguments = function.arguments if function else None
            tool_chunks.append(
                ToolCallChunk(
                    name=function.name if function else None,
                    args=guard.args(call.index, arguments) if guard is not None else arguments,
                    id=call.id,
                    index=call.index,
                    type="tool_call_chunk",
                )
            )
        if delta.reasoning_content:
            additional["reasoning_content"] = delta.reasoning_content
        if choice.finish_reason:
            metadata["finish_reason"] = choice.finish_reason
            info = {"finish_reason": choice.finish_reason}
    is_last = chunk.usage is not None or chunk.zerog is not None
    if is_last:
        metadata["model_name"] = chunk.model or (chunk.zerog.model if chunk.zerog else "")
        if chunk.system_fingerprint:
            metadata["system_fingerprint"] = chunk.system_fingerprint
        metadata.update(extra or {})
    message = AIMessageChunk(
        content=content,
        tool_call_chunks=tool_chunks,
        additional_kwargs=additional,
        usage_metadata=usage_metadata(chunk.usage) if is_last else None,
        response_metadata=metadata,
        id=chunk.id or None,
        chunk_position="last" if is_last else None,
    )
    return ChatGenerationChunk(message=message, generation_info=info)


def response_format(schema: Any, strict: bool | None) -> dict[str, Any]:
    """A ``with_structured_output`` schema → the OpenAI ``response_format`` of ``json_schema`` mode."""
    if isinstance(schema, Mapping) and schema.get("type") == "json_schema" and "json_schema" in schema:
        return dict(schema)
    function = convert_to_openai_function(schema, strict=strict)
    spec: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        spec["description"] = function["description"]
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}
