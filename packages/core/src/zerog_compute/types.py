"""Pydantic models of the OpenAI-compatible results a 0G provider returns.

The models are lenient: unknown provider fields are kept (``extra="allow"``) and most fields have
defaults, so a provider that adds or omits a field does not break parsing. Every result carries a
:class:`ZeroGRecord` in ``.zerog``: who served it, the chat id, the fee and the verification outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ConfigurationError
from .verification import VerificationResult

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChoiceDelta",
    "Choice",
    "ChunkChoice",
    "Embedding",
    "EmbeddingsResponse",
    "FunctionCall",
    "FunctionCallDelta",
    "Image",
    "ImagesResponse",
    "ToolCall",
    "ToolCallDelta",
    "Transcription",
    "Usage",
    "ZeroGRecord",
]

NEURON_PER_0G = 10**18


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ZeroGRecord(_Lenient):
    """What 0G adds to every result: provider, chat id, fee and verification.

    ``verification`` holds the :class:`~zerog_compute.verification.VerificationResult` once known. In
    the "warn" mode it is computed in the background; :meth:`verdict` (sync) or :meth:`averdict`
    (async) waits for it and stores it in ``verification``.
    """

    provider: str
    model: str
    chat_id: str | None = None
    fee: int = 0
    """Fee estimate in neuron (1 0G = 10**18 neuron)."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    service_type: str = "chatbot"
    latency_ms: float | None = None
    """Time from sending the request that answered to the complete response, in milliseconds (the
    provider's latency: client-side queueing is in ``queue_ms``)."""
    queue_ms: float | None = None
    """Time spent waiting for a client-side rate-limit slot before sending, in milliseconds (Direct mode)."""
    events_after_done: int = 0
    """Stream events the provider sent after ``data: [DONE]``: ignored and never handed on (normally 0)."""
    verification: VerificationResult | None = None
    """The verification outcome, or None while pending or when not verified."""
    verification_future: Any = Field(default=None, exclude=True, repr=False)
    """A ``concurrent.futures.Future`` or ``asyncio.Future`` resolving to the verification result."""

    @property
    def fee_0g(self) -> Decimal:
        """The fee in 0G."""
        return Decimal(self.fee) / NEURON_PER_0G

    def verdict(self, timeout: float | None = None) -> VerificationResult | None:
        """The verification result, waiting up to ``timeout`` seconds for a background verification.

        Returns None when no verification was requested. Raises ``TimeoutError`` when it is not done in
        time, and re-raises the error the verification itself raised.
        """
        future = self.verification_future
        if self.verification is not None or future is None:
            return self.verification
        result: VerificationResult
        if isinstance(future, concurrent.futures.Future):
            try:
                result = future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise TimeoutError(f"verification of chat {self.chat_id} not finished after {timeout} s") from None
        elif asyncio.isfuture(future) and future.done():
            result = future.result()
        else:
            raise ConfigurationError("verification runs on an event loop: use `await record.averdict()` there")
        self.verification = result
        return result

    async def averdict(self) -> VerificationResult | None:
        """The verification result, awaiting a background verification; None when none was requested."""
        future = self.verification_future
        if self.verification is not None or future is None:
            return self.verification
        if isinstance(future, concurrent.futures.Future):
            future = asyncio.wrap_future(future)
        result: VerificationResult = await asyncio.shield(future)
        self.verification = result
        return result


class Usage(_Lenient):
    """Token counts; missing or null counters are 0."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None

    @field_validator("prompt_tokens", "completion_tokens", "total_tokens", mode="before")
    @classmethod
    def _none_is_zero(cls, value: Any) -> Any:
        return 0 if value is None else value


# --------------------------------------------------------------------------- chat


class FunctionCall(_Lenient):
    """A function the model calls; ``arguments`` is a JSON string (possibly invalid)."""

    name: str = ""
    arguments: str = ""


class ToolCall(_Lenient):
    """One tool call of an assistant message."""

    id: str = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class ChatMessage(_Lenient):
    """The assistant message of a choice."""

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None


class Choice(_Lenient):
    """One choice of a chat completion."""

    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletion(_Lenient):
    """A ``chat.completion`` object."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    zerog: ZeroGRecord | None = None


class FunctionCallDelta(_Lenient):
    """A fragment of a streamed function call."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(_Lenient):
    """A fragment of a streamed tool call; fragments with the same ``index`` belong together."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None


class ChoiceDelta(_Lenient):
    """The change a stream chunk brings to one choice."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(_Lenient):
    """One choice of a stream chunk."""

    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_Lenient):
    """A ``chat.completion.chunk`` object (one SSE event of a chat stream)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    zerog: ZeroGRecord | None = None


# --------------------------------------------------------------------------- images, audio, embeddings


class Image(_Lenient):
    """One generated image: base64 PNG data or a URL (the broker re-hosts images for ``url``)."""

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(_Lenient):
    """The result of an image generation or edit."""

    created: int = 0
    data: list[Image] = Field(default_factory=list)
    zerog: ZeroGRecord | None = None


class Transcription(_Lenient):
    """A speech-to-text result; ``usage`` is e.g. ``{"type": "duration", "seconds": 3}``."""

    text: str = ""
    language: str | None = None
    duration: float | None = None
    segments: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    zerog: ZeroGRecord | None = None


class Embedding(_Lenient):
    """One embedding vector; a base64 string when ``encoding_format="base64"`` was requested."""

    index: int = 0
    embedding: list[float] | str = Field(default_factory=list)
    object: str = "embedding"


class EmbeddingsResponse(_Lenient):
    """The result of an embeddings request."""

    object: str = "list"
    data: list[Embedding] = Field(default_factory=list)
    model: str = ""
    usage: Usage | None = None
    zerog: ZeroGRecord | None = None
