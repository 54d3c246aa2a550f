"""``ChatResult.llm_output`` as ChatOpenAI fills it: ``token_usage`` (the provider's usage object), ``model_name``,
``model_provider`` and ``system_fingerprint``; summed over the prompts of one ``generate`` call. As with ChatOpenAI,
answers LangChain gathers from a stream (``streaming=True``) have usage only in ``usage_metadata``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zerog_compute import ChatCompletion

MODEL_PROVIDER = "zerog"


def completion_llm_output(completion: ChatCompletion) -> dict[str, Any]:
    """The ``llm_output`` of one non-streamed answer."""
    usage = completion.usage.model_dump(exclude_none=True) if completion.usage is not None else {}
    return {
        "token_usage": usage,
        "model_name": completion.model,
        "model_provider": MODEL_PROVIDER,
        "system_fingerprint": completion.system_fingerprint,
    }


def _add(total: Any, value: Any) -> Any:
    if isinstance(total, Mapping) and isinstance(value, Mapping):
        merged = dict(total)
        for key, item in value.items():
            merged[key] = _add(merged[key], item) if key in merged else item
        return merged
    if isinstance(total, (int, float)) and isinstance(value, (int, float)):
        return total + value
    return total


def combine_llm_outputs(outputs: Sequence[Mapping[str, Any] | None], model_name: str | None) -> dict[str, Any]:
    """One ``llm_output`` for the answers of a ``generate`` call: token counts summed (nested details too)."""
    token_usage: dict[str, Any] = {}
    fingerprint = None
    for output in outputs:
        if not output:
            continue
        for key, value in (output.get("token_usage") or {}).items():
            if value is not None:
                token_usage[key] = _add(token_usage[key], value) if key in token_usage else value
        fingerprint = fingerprint or output.get("system_fingerprint")
    combined: dict[str, Any] = {"token_usage": token_usage, "model_name": model_name, "model_provider": MODEL_PROVIDER}
    if fingerprint:
        combined["system_fingerprint"] = fingerprint
    return combined
