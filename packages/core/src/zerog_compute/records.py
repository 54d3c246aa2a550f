"""What a response cost and which id verifies it: the broker's fee formulas, usage counters, chat ids.

Pure functions shared by both backends and by streams (no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .http_errors import header
from .services import Service
from .untrusted_json import parse_json

__all__ = ["as_dict", "chat_id", "count", "fee_for", "tokens"]


def fee_for(service: Service, route: str, data: dict[str, Any], request_body: bytes) -> int:
    """What the provider bills for this response, with the broker's formulas (neuron)."""
    usage = as_dict(data.get("usage"))
    if route == "/chat/completions":
        return (
            count(usage, "prompt_tokens") * service.input_price
            + count(usage, "completion_tokens") * service.output_price
        )
    if route == "/embeddings":
        return count(usage, "prompt_tokens") * service.input_price
    if route == "/images/generations":
        return _image_count(request_body) * service.output_price
    seconds = _speech_seconds(usage, data)
    if seconds is not None:
        return max(int(min(seconds, 356_400) + 0.5), 1) * service.input_price
    return count(usage, "input_tokens") * service.input_price + count(usage, "output_tokens") * service.output_price


def _speech_seconds(usage: dict[str, Any], data: dict[str, Any]) -> float | None:
    """The seconds a transcription is billed for, or None when it is billed by tokens.

    Like the SDK and the broker: by duration when ``usage.type`` is ``"duration"``, or is not ``"tokens"`` and
    ``usage.seconds`` is positive (whisper sends ``seconds`` without a ``type``); else the top-level
    ``duration`` of a ``verbose_json`` answer.
    """
    kind = usage.get("type")
    if kind == "tokens":
        return None
    seconds = usage.get("seconds") if kind == "duration" or "seconds" in usage else data.get("duration")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
        return float(seconds)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (providers send anything)."""
    return value if isinstance(value, dict) else {}


def tokens(usage: dict[str, Any], key: str) -> int | None:
    """A usage counter; None unless an integer in 0..2**63-1 (the broker's int64), whatever the provider sent."""
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def count(usage: dict[str, Any], key: str) -> int:
    """:func:`tokens`, with 0 for a missing or invalid counter."""
    return tokens(usage, key) or 0


def _image_count(body: bytes) -> int:
    try:
        n = parse_json(body).get("n", 1)
    except (ValueError, AttributeError):
        return 1
    return n if isinstance(n, int) and n > 0 else 1


def chat_id(headers: Mapping[str, str], body_id: str | None, service_type: str) -> str | None:
    """The id to fetch a response's signature with (client-protocol §9.3).

    The ``ZG-Res-Key`` header (any case) wins; chatbots fall back to the body ``id`` (providers whose
    model runs in a separate TEE send no header); other service types use the header only.
    """
    key = header(headers, "ZG-Res-Key")
    if key:
        return key
    if service_type == "chatbot" and body_id:
        return body_id
    return None
