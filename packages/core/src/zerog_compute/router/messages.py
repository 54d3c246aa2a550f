"""``POST /v1/messages``: the Router's Anthropic-format endpoint (non-streamed), with the usual record.

The body is Anthropic's (``model``, ``max_tokens``, ``messages``, optional ``system`` and other parameters);
routing headers, ``verify_tee`` and the record (the billed fee, the Router's verdict) work as for chat
completions. The answer is an Anthropic message: ``content`` blocks, ``stop_reason``, ``usage`` with
``input_tokens`` / ``output_tokens``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._io import Flow, HttpResult
from ..backend import Call
from ..errors import ConfigurationError, ProviderError
from ..types import ZeroGRecord
from .backend import exchange, prepare
from .config import RouterState
from .jobs import _json_object
from .records import record_for, settle

ROUTE = "/messages"


class AnthropicMessage(BaseModel):
    """An Anthropic-format answer of ``POST /v1/messages`` (unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    type: str = "message"
    role: str = "assistant"
    content: list[dict[str, Any]] = Field(default_factory=list)
    model: str = ""
    stop_reason: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    zerog: ZeroGRecord | None = None

    @property
    def text(self) -> str:
        """The text of the ``text`` content blocks, joined."""
        return "".join(str(block.get("text") or "") for block in self.content if block.get("type") == "text")


def payload(messages: Any, max_tokens: int, system: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic request body (without ``model``)."""
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ConfigurationError("messages must be a non-empty list of dicts such as [{'role': 'user', ...}]")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, **params}
    if system is not None:
        body["system"] = system
    return body


def create(state: RouterState, call: Call) -> Flow[AnthropicMessage]:
    """Send one Anthropic-format request through the Router and return the answer with its record."""
    chat = Call("/chat/completions", call.payload, model=call.model, provider=call.provider, pool=call.pool)
    request = yield from prepare(state, chat)  # a chat request in Anthropic's shape: same routing, same billing
    request.url = state.url + ROUTE
    result: HttpResult = yield from exchange(state, request, stream=False)
    data = _json_object(result.content, ROUTE)
    raw = data.get("usage")
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    counted = {"prompt_tokens": usage.get("input_tokens"), "completion_tokens": usage.get("output_tokens")}
    record = yield from record_for(state, request, result.headers, {**data, "usage": counted})
    data.pop("x_0g_trace", None)
    settle(state, record)
    try:
        answer = AnthropicMessage.model_validate({k: v for k, v in data.items() if k != "zerog"})
    except ValidationError:
        raise ProviderError("the 0G Router sent a /v1/messages answer of the wrong shape", status_code=200) from None
    answer.zerog = record
    return answer
