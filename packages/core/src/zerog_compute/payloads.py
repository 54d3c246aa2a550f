"""Request payloads, their exact bytes, and typed results for the OpenAI-compatible routes.

Pure, shared by both clients and both backends.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .errors import ConfigurationError, ProviderError

ROUTE_TYPES = {
    "/chat/completions": "chatbot",
    "/images/generations": "text-to-image",
    "/audio/transcriptions": "speech-to-text",
    "/embeddings": "embedding",
}
"""The service type that serves each route."""
Files = dict[str, tuple[str, bytes, str]]
FileInput = str | os.PathLike[str] | bytes | IO[bytes] | tuple[str, bytes]
RESERVED = ("model", "messages", "stream", "prompt", "input", "file")
M = TypeVar("M", bound=BaseModel)
_MESSAGES = "messages must be a list of dicts such as [{'role': 'user', 'content': 'Hi'}]"
_FILE = "pass file= as a path, bytes, a file opened with 'rb' or a (filename, bytes) tuple"


def chat_payload(messages: Iterable[Mapping[str, Any]], *, stream: bool, params: Mapping[str, Any]) -> dict[str, Any]:
    """The chat request body; streams always ask for the final usage chunk."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise ConfigurationError(f"{_MESSAGES}, got a {type(messages).__name__}")
    as_list = [dict(m) if isinstance(m, Mapping) else m for m in messages]
    if not as_list:
        raise ConfigurationError("messages must contain at least one message")
    for message in as_list:
        if not isinstance(message, dict):
            raise ConfigurationError(f"{_MESSAGES}, got an item of type {type(message).__name__}")
        if "role" not in message:
            raise ConfigurationError(f"every message needs a 'role', got {message!r}")
    _check_params(params)
    payload: dict[str, Any] = {"messages": as_list, **params}
    if stream:
        options = dict(payload.get("stream_options") or {})
        options.setdefault("include_usage", True)
        payload.update(stream=True, stream_options=options)
    return payload


def _check_params(params: Mapping[str, Any]) -> None:
    clash = [name for name in RESERVED if name in params]
    if clash:
        raise ConfigurationError(f"pass {clash[0]!r} as its own argument, not in extra parameters")


def image_payload(
    prompt: str, *, n: int, size: str | None, response_format: str | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The image generation body."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError("prompt must be a non-empty string")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        raise ConfigurationError(f"n must be an integer from 1 to 10, got {n!r}")
    _check_params(params)
    payload: dict[str, Any] = {"prompt": prompt, "n": n, **params}
    if size is not None:
        payload["size"] = size
    if response_format is not None:
        payload["response_format"] = response_format
    return payload


def embedding_payload(
    input: str | list[str] | list[int] | list[list[int]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The embeddings body."""
    if isinstance(input, str) and not input:
        raise ConfigurationError("input must not be empty")
    if isinstance(input, list) and not input:
        raise ConfigurationError("input must contain at least one item")
    _check_params(params)
    return {"input": input, **params}


def encode_body(payload: Mapping[str, Any], model: str, files: Files | None = None) -> tuple[bytes, str]:
    """The exact request bytes and content type (JSON, or multipart when ``files`` are given).

    These bytes are what the provider's signature must cover, so they are built once and kept.
    """
    if files is None:
        body = json.dumps({"model": model, **payload}, separators=(",", ":"), ensure_ascii=False).encode()
        return body, "application/json"
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {"model": model, **payload}.items()}
    request = httpx.Request("POST", "http://multipart.invalid", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def read_file(file: FileInput) -> tuple[str, bytes]:
    """``(filename, bytes)`` from a path, bytes, a binary file object or a ``(name, bytes)`` tuple."""
    if isinstance(file, tuple):
        if len(file) != 2 or not isinstance(file[1], (bytes, bytearray)):
            raise ConfigurationError(f"{_FILE}; got a tuple that is not (filename, bytes)")
        return str(file[0]), bytes(file[1])
    if isinstance(file, bytes):
        return "audio.wav", file
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise ConfigurationError(f"audio file {str(path)!r} does not exist")
        return path.name, path.read_bytes()
    if not callable(getattr(file, "read", None)):
        raise ConfigurationError(f"{_FILE}; got {type(file).__name__}")
    data = file.read()
    if not isinstance(data, bytes):
        raise ConfigurationError("open audio files in binary mode ('rb')")
    return Path(getattr(file, "name", "audio.wav")).name, data


def transcription_files(file: FileInput) -> Files:
    """The multipart ``file`` part."""
    name, data = read_file(file)
    if not data:
        raise ConfigurationError("the audio file is empty")
    return {"file": (name, data, "application/octet-stream")}


def image_files(image: FileInput, mask: FileInput | None = None) -> Files:
    """The multipart ``image`` (and optional ``mask``) parts of an image edit."""
    files: Files = {}
    for part, given in (("image", image), ("mask", mask)):
        if given is None:
            continue
        name, data = read_file(given if not isinstance(given, bytes) else (f"{part}.png", given))
        if not data:
            raise ConfigurationError(f"the {part} file is empty")
        files[part] = (name, data, "application/octet-stream")
    return files


def decoded_images(data: Mapping[str, Any]) -> list[bytes] | None:
    """Decoded ``b64_json`` images of an images response (None when it returned URLs)."""
    items = data.get("data")
    if not isinstance(items, list):
        return None
    images = []
    for item in items:
        encoded = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(encoded, str):
            return None
        try:
            images.append(base64.b64decode(encoded))
        except (binascii.Error, ValueError):
            return None
    return images


def parse_result(model: type[M], data: Mapping[str, Any], provider: str) -> M:
    """``model`` from a provider's JSON object; one of the wrong shape is a ``ProviderError``, not a crash.

    A ``zerog`` key is dropped first: the record is the client's, and a provider's never fails an answer.
    """
    try:
        return model.model_validate({key: value for key, value in data.items() if key != "zerog"})
    except ValidationError as exc:
        where = ".".join(map(str, exc.errors()[0]["loc"])) or "top level"
        raise ProviderError(
            f"provider {provider} sent a response that is not a valid {model.__name__} ({exc.error_count()} "
            f"errors, the first at {where}): retry, or choose another provider",
            status_code=200,
            provider=provider,
        ) from None
