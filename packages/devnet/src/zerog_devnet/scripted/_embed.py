"""Hashed bag-of-words embeddings of the scripted model."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections import Counter
from typing import Any, TypeAlias

from ._common import STOPWORDS, ScriptedModelError, count_tokens, stem, words

__all__ = ["embed", "embedding_vector"]

MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048
EmbedInput: TypeAlias = str | list[int]


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _inputs(raw: Any) -> list[EmbedInput]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and 0 < len(raw) <= MAX_INPUTS:
        if all(isinstance(item, str) for item in raw):
            return list(raw)
        if all(_is_token_id(item) for item in raw):
            return [list(raw)]
        if all(isinstance(item, list) and item and all(map(_is_token_id, item)) for item in raw):
            return [list(item) for item in raw]
    raise ScriptedModelError(
        f"input must be a string, a list of strings, a list of token ids or a list of token-id lists "
        f"(1 to {MAX_INPUTS} items)"
    )


def _dimensions(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DIMENSIONS:
        raise ScriptedModelError(f"dimensions must be an integer from 1 to {MAX_DIMENSIONS}, got {raw!r}")
    return raw


def _features(item: EmbedInput) -> list[str]:
    if isinstance(item, list):
        return [f"#token:{token}" for token in item]
    found = [stem(word) for word in words(item) if word not in STOPWORDS]
    return found or [f"#raw:{item}"]


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    hashed = hashlib.sha256(feature.encode()).digest()
    return int.from_bytes(hashed[:8], "little") % dimensions, 1.0 if hashed[8] & 1 else -1.0


def embedding_vector(item: EmbedInput, dimensions: int) -> list[float]:
    """L2-normalised hashed bag of words: each feature adds ``sign * (1 + log tf)`` to its bucket."""
    vector = [0.0] * dimensions
    for feature, frequency in Counter(_features(item)).items():
        bucket, sign = _bucket(feature, dimensions)
        vector[bucket] += sign * (1.0 + math.log(frequency))
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # every feature cancelled out in shared buckets
        bucket, _ = _bucket(f"#raw:{item}", dimensions)
        vector[bucket], norm = 1.0, 1.0
    return [x / norm for x in vector]


def embed(body: dict[str, Any], *, model: str, dimensions: int = 256) -> dict[str, Any]:
    """OpenAI ``embeddings`` answer; ``body["dimensions"]`` overrides ``dimensions``."""
    if not isinstance(body, dict):
        raise ScriptedModelError("the request body must be a JSON object")
    size = _dimensions(body["dimensions"] if body.get("dimensions") is not None else dimensions)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ScriptedModelError("encoding_format must be 'float' or 'base64'")
    data = []
    tokens = 0
    for index, item in enumerate(_inputs(body.get("input"))):
        vector = embedding_vector(item, size)
        tokens += len(item) if isinstance(item, list) else count_tokens(item)
        value: list[float] | str = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
