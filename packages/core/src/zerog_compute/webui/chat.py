"""The Chat page's endpoint: one conversation turn, streamed to the page as JSON lines, ending with fee and verdict.

The page posts ``{"target": "provider:0x…" | "pool:<model>", "messages": [...]}``; the answer is
``application/x-ndjson``: ``{"delta": "..."}`` lines as the provider streams, then one
``{"done": true, "provider", "model", "chat_id", "fee", "verdict", "detail"}`` (or ``{"error": "..."}``).
A pool fails over across the model's chatbot providers before the first chunk, as ``zg.pool`` does everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..client import AsyncZeroG
from ..errors import ConfigurationError, ZeroGError
from ..services import checksum
from ..types import ZeroGRecord
from ..units import format_0g

if TYPE_CHECKING:
    from .._aresources import AsyncProviderPool

log = logging.getLogger(__name__)

VERDICT_WAIT_S = 15.0
MAX_MESSAGES = 100
MAX_TEXT = 16_000
MAX_POOLS = 64
"""Pools the chat page keeps (one per model asked for); a model past that is refused, not a new pool."""
ROLES = ("system", "user", "assistant")


def parse_turn(body: Any) -> tuple[str, list[dict[str, str]]]:
    """The target and messages of a chat request (validated); else :class:`ConfigurationError`."""
    if not isinstance(body, dict):
        raise ConfigurationError("send a JSON object with 'target' and 'messages'")
    target, messages = body.get("target"), body.get("messages")
    if not isinstance(target, str) or not target.startswith(("provider:", "pool:")):
        raise ConfigurationError("'target' must be 'provider:<address>' or 'pool:<model>'")
    if not isinstance(messages, list) or not 0 < len(messages) <= MAX_MESSAGES:
        raise ConfigurationError(f"'messages' must be a list of 1 to {MAX_MESSAGES} messages")
    clean = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ConfigurationError(f"each message needs a role ({', '.join(ROLES)}) and content")
        content = message.get("content")
        if not isinstance(content, str) or len(content) > MAX_TEXT:
            raise ConfigurationError(f"a message's content must be text of at most {MAX_TEXT} characters")
        clean.append({"role": str(message["role"]), "content": content})
    return target, clean


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


class ChatTargets:
    """The pools of the chat page (one per model), made once and reused so their breakers and state persist."""

    def __init__(self, zg: AsyncZeroG) -> None:
        self.zg = zg
        self._pools: dict[str, AsyncProviderPool] = {}

    def pool(self, model: str) -> AsyncProviderPool:
        if model not in self._pools:
            if len(self._pools) >= MAX_POOLS or not model:
                raise ConfigurationError(f"pick a model the network serves (this page keeps {MAX_POOLS} pools)")
            self._pools[model] = self.zg.pool(model=model, service_type="chatbot")
        return self._pools[model]

    async def stream(self, target: str, messages: list[dict[str, str]]) -> AsyncIterator[Any]:
        kind, _, name = target.partition(":")
        if kind == "provider":
            return await self.zg.chat.completions.create(provider=checksum(name), messages=messages, stream=True)
        return await self.pool(name).chat.completions.create(messages=messages, stream=True)

    async def answer(self, target: str, messages: list[dict[str, str]]) -> AsyncIterator[bytes]:
        """The NDJSON lines of one turn; errors become an ``{"error"}`` line, never a broken stream."""
        record: ZeroGRecord | None = None
        try:
            chunks = await self.stream(target, messages)
            async for chunk in chunks:
                piece = "".join(c.delta.content or "" for c in chunk.choices if c.index == 0)
                if piece:
                    yield line({"delta": piece})
                if chunk.zerog is not None:
                    record = chunk.zerog
        except ZeroGError as exc:
            yield line({"error": str(exc)})
            return
        except Exception as exc:  # the page shows it; the log has the traceback
            log.exception("chat turn failed")
            yield line({"error": f"unexpected error: {type(exc).__name__}"})
            return
        yield line(await done(record))


async def done(record: ZeroGRecord | None) -> dict[str, Any]:
    """The closing line: who answered, what it cost and whether its signature verified."""
    if record is None:
        return {"done": True, "provider": None, "fee": None, "verdict": "no record", "detail": ""}
    try:
        result = await asyncio.wait_for(record.averdict(), VERDICT_WAIT_S)
    except asyncio.TimeoutError:
        verdict, detail = "pending", "the verification did not finish in time"
    except Exception as exc:  # a verification that crashed is a verdict to show
        verdict, detail = "unavailable", type(exc).__name__
    else:
        verdict = result.verdict.value if result is not None else "skipped"
        detail = "" if result is None or result.ok else (result.detail or "")
    return {
        "done": True,
        "provider": record.provider,
        "model": record.model,
        "chat_id": record.chat_id,
        "fee": format_0g(record.fee),
        "fee_neuron": str(record.fee),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "verdict": verdict,
        "detail": detail,
    }
