"""Server-sent events: an incremental decoder and the chat-stream accumulator.

Pure code, no I/O: the runner feeds bytes in; what an error *status* means is in :mod:`.http_errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ._io import loads_json
from .errors import ProviderUnavailableError
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Choice,
    ChunkChoice,
    FunctionCall,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "MAX_LINE_BYTES",
    "ChatStreamAccumulator",
    "SSEDecoder",
    "SSEEvent",
]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Default limit for one SSE line and for the data of one event."""

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- decoder


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: ``data`` is the data lines joined by ``"\\n"``."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules), fed with arbitrary byte chunks.

    Lines end with CRLF, LF or CR; chunks may split anywhere, even inside ``\\r\\n`` or a UTF-8
    character (lines are decoded whole, invalid UTF-8 becomes U+FFFD). Comments are dropped, ``id``
    persists across events as the spec says, ``retry`` is kept in :attr:`retry`. Unlike the spec,
    :meth:`flush` also dispatches a last event that lacks its blank line. A line or an event longer
    than ``max_line_bytes`` raises :class:`ProviderUnavailableError`.
    """

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES, provider: str | None = None) -> None:
        self.max_line_bytes = max_line_bytes
        self.provider = provider
        self.retry: int | None = None
        """The last ``retry:`` value (milliseconds)."""
        self._buf = bytearray()
        self._scanned = 0
        self._skip_lf = False
        self._first_line = True
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None
        self._last_id: str | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode a chunk; return the events it completes."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        self._buf += data
        events: list[SSEEvent] = []
        start = 0
        while (match := _EOL.search(self._buf, max(start, self._scanned))) is not None:
            self._line(bytes(self._buf[start : match.start()]), events)
            start = match.end()
            if match.group() == b"\r" and start == len(self._buf):
                self._skip_lf = True
        del self._buf[:start]
        self._scanned = len(self._buf)
        if len(self._buf) > self.max_line_bytes:
            self._too_long("line")
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: finish a partial line and dispatch a pending event."""
        events: list[SSEEvent] = []
        if self._buf:
            self._line(bytes(self._buf), events)
            self._buf.clear()
            self._scanned = 0
        self._dispatch(events)
        self._skip_lf = False
        return events

    def _too_long(self, what: str) -> None:
        source = f"provider {self.provider}" if self.provider else "the provider"
        raise ProviderUnavailableError(
            f"stream {what} too long: {source} sent more than {self.max_line_bytes} bytes without a line break; "
            "the stream is corrupt, retry the request",
            provider=self.provider,
        )

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if self._first_line:
            self._first_line = False
            raw = raw.removeprefix(_BOM)
        if not raw:
            self._dispatch(events)
            return
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._field(name, value)

    def _field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self.max_line_bytes:
                self._too_long("event")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(data="\n".join(self._data), event=self._event or None, id=self._last_id))
        self._data = []
        self._data_size = 0
        self._event = None


# --------------------------------------------------------------------------- chat stream accumulator


@dataclass
class _ToolParts:
    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def add(self, delta: ToolCallDelta) -> None:
        if delta.id and not self.id:
            self.id = delta.id
        if delta.type:
            self.type = delta.type
        function = delta.function
        if function is None:
            return
        if function.name and function.name != self.name:
            self.name += function.name
        if function.arguments:
            self.arguments.append(function.arguments)

    def build(self) -> ToolCall:
        return ToolCall(
            id=self.id, type=self.type, function=FunctionCall(name=self.name, arguments="".join(self.arguments))
        )


@dataclass
class _ChoiceParts:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tools: list[tuple[int, _ToolParts]] = field(default_factory=list)
    finish_reason: str | None = None

    def add(self, choice: ChunkChoice) -> bool:
        """Apply one choice delta; True if it carried content (text, reasoning, refusal or a tool call)."""
        delta = choice.delta
        if delta.role:
            self.role = delta.role
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        pieces = [
            (self.content, delta.content),
            (self.reasoning, delta.reasoning_content),
            (self.refusal, delta.refusal),
        ]
        carried = False
        for parts, text in pieces:
            if text:
                parts.append(text)
                carried = True
        for call in delta.tool_calls or []:
            self._tool(call).add(call)
            carried = True
        return carried

    def _tool(self, delta: ToolCallDelta) -> _ToolParts:
        if delta.index is None:  # some providers omit the index: a new id starts a new call
            if self.tools and not (delta.id and delta.id != self.tools[-1][1].id):
                return self.tools[-1][1]
            index = len(self.tools)
        else:
            index = delta.index
        for known, parts in self.tools:
            if known == index:
                return parts
        self.tools.append((index, _ToolParts()))
        return self.tools[-1][1]

    def message(self) -> ChatMessage:
        calls = [parts.build() for _, parts in sorted(self.tools, key=lambda item: item[0])]
        text = "".join(self.content)
        return ChatMessage(
            role=self.role,
            content=None if calls and not text else text,
            tool_calls=calls or None,
            refusal="".join(self.refusal) or None,
            reasoning_content="".join(self.reasoning) or None,
        )


def _is_keep_alive(chunk: ChatCompletionChunk) -> bool:
    """No usage, no finish reason and only empty delta fields (``{"content": ""}`` included)."""
    if chunk.usage is not None:
        return False
    return all(choice.finish_reason is None and not any(choice.delta.model_dump().values()) for choice in chunk.choices)


def _all_zero(usage: Usage) -> bool:
    return not (usage.prompt_tokens or usage.completion_tokens or usage.total_tokens)


class ChatStreamAccumulator:
    """Assembles an OpenAI chat stream, event by event, into the equivalent ``ChatCompletion``.

    Malformed events (invalid JSON, not a chunk) are skipped and described in :attr:`errors`, since a
    broker may forward upstream garbage; an ``{"error": ...}`` event sets :attr:`provider_error`. The
    caller decides whether either is fatal. ``usage`` is the last non-null usage, except that an
    all-zero usage does not replace a non-zero one (the broker bills the same way).
    """

    def __init__(self) -> None:
        self.chunks_received = 0
        """Chunks that carried content: text, reasoning, refusal or tool-call fragments."""
        self.done = False
        """``data: [DONE]`` was seen."""
        self.after_done = 0
        """Events the provider sent after ``[DONE]``: ignored, never handed on (a conforming stream has none)."""
        self.chat_id_from_body: str | None = None
        """The ``id`` (or ``chatID``) of the first chunk that has one."""
        self.usage: Usage | None = None
        self.errors: list[str] = []
        self.provider_error: str | None = None
        self.model = ""
        self.created = 0
        self.system_fingerprint: str | None = None
        self._choices: dict[int, _ChoiceParts] = {}

    @property
    def malformed(self) -> int:
        """How many events were skipped as malformed."""
        return len(self.errors)

    @property
    def content(self) -> str:
        """The text of choice 0 so far."""
        parts = self._choices.get(0)
        return "".join(parts.content) if parts else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls of choice 0 so far (arguments may still be incomplete)."""
        return self._message().tool_calls or []

    @property
    def finish_reason(self) -> str | None:
        """The finish reason of choice 0, once sent."""
        parts = self._choices.get(0)
        return parts.finish_reason if parts else None

    def add(self, event: SSEEvent) -> ChatCompletionChunk | None:
        """Apply one event; return its chunk, or None for ``[DONE]``, keep-alives, skipped events and anything
        after ``[DONE]`` (counted in :attr:`after_done`)."""
        if self.done:
            self.after_done += 1
            return None
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return None
        if not data:
            return None
        payload = self._decode(data)
        if payload is None:
            return None
        chunk = self._chunk(payload, data)
        if chunk is None:
            return None
        self._apply(chunk, payload)
        return None if _is_keep_alive(chunk) else chunk

    def _decode(self, data: str) -> dict[str, Any] | None:
        try:
            payload = loads_json(data)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's recursion limit
            self.errors.append(f"malformed JSON in stream event: {data[:200]!r}")
            return None
        if not isinstance(payload, dict):
            self.errors.append(f"stream event is not a JSON object: {data[:200]!r}")
            return None
        error = payload.get("error")
        if error is not None and "choices" not in payload:
            message = error.get("message") if isinstance(error, dict) else error
            self.provider_error = str(message or error)
            return None
        return payload

    def _chunk(self, payload: dict[str, Any], data: str) -> ChatCompletionChunk | None:
        payload.pop("zerog", None)  # the record is the client's: a provider's key is dropped, not validated
        try:
            return ChatCompletionChunk.model_validate(payload)
        except ValidationError as exc:
            self.errors.append(
                f"stream event is not a chat.completion.chunk ({exc.error_count()} errors): {data[:200]!r}"
            )
            return None

    def _apply(self, chunk: ChatCompletionChunk, payload: dict[str, Any]) -> None:
        if self.chat_id_from_body is None:
            body_id = payload.get("id") or payload.get("chatID")
            self.chat_id_from_body = str(body_id) if body_id else None
        self.model = self.model or chunk.model
        self.created = self.created or chunk.created
        self.system_fingerprint = self.system_fingerprint or chunk.system_fingerprint
        if chunk.usage is not None and not (self.usage is not None and _all_zero(chunk.usage)):
            self.usage = chunk.usage
        carried = False
        for choice in chunk.choices:
            carried = self._choices.setdefault(choice.index, _ChoiceParts()).add(choice) or carried
        self.chunks_received += carried

    def _message(self) -> ChatMessage:
        parts = self._choices.get(0)
        return parts.message() if parts else ChatMessage()

    def completion(self) -> ChatCompletion:
        """The non-streaming equivalent of everything received so far."""
        choices = [
            Choice(index=index, message=parts.message(), finish_reason=parts.finish_reason)
            for index, parts in sorted(self._choices.items())
        ]
        return ChatCompletion(
            id=self.chat_id_from_body or "",
            created=self.created,
            model=self.model,
            choices=choices,
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
        )
