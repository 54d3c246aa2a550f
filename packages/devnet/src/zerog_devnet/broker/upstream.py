"""What sits behind the broker: the scripted model in-process, or any OpenAI-compatible server.

Both look the same to the broker: ``send(method, path, headers, body)`` returns a status, headers
and an async iterator of body bytes, exactly what an HTTP call to vLLM would give. The broker
code path is therefore identical for scripted and forwarded providers.
"""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from .. import scripted

JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


@dataclass
class UpstreamResponse:
    """An upstream answer whose body is read as a stream."""

    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]
    close: Callable[[], Any] = field(default=lambda: None)
    tls_fingerprint: str | None = None
    """SHA-256 of the leaf certificate the upstream's TLS connection presented (TeeTLS upstreams only)."""

    async def read(self) -> bytes:
        chunks = [chunk async for chunk in self.body]
        await _maybe_await(self.close())
        return b"".join(chunks)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


class Upstream(Protocol):
    """The model server a provider fronts."""

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _sse(events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for event in events:
        yield b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        await asyncio.sleep(0)
    yield b"data: [DONE]\n\n"


def _json(status: int, payload: dict[str, Any]) -> UpstreamResponse:
    return UpstreamResponse(status, dict(JSON_HEADERS), _once(json.dumps(payload).encode()))


def _error(status: int, message: str) -> UpstreamResponse:
    return _json(status, {"error": {"message": message, "type": "invalid_request_error"}})


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split multipart/form-data into text fields and files ``name -> (filename, bytes)``."""
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("expected multipart/form-data")
    values: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.get_payload():
        if not isinstance(part, email.message.Message):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if not isinstance(name, str):
            continue
        if filename is not None:
            files[name] = (filename, data)
        else:
            values[name] = data.decode()
    return values, files


class ScriptedUpstream:
    """The deterministic scripted model (see :mod:`zerog_devnet.scripted`) as an upstream."""

    def __init__(self, model: str) -> None:
        self.model = model

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        if method != "POST":
            return _error(405, f"method {method} not allowed")
        try:
            return self._dispatch(path, headers, body)
        except (scripted.ScriptedModelError, ValueError) as exc:
            return _error(400, str(exc))

    def _dispatch(self, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        if path == "/audio/transcriptions":
            return self._transcribe(headers.get("content-type", ""), body)
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise ValueError("request body must be a JSON object")
        if path == "/chat/completions":
            return self._chat(request)
        if path == "/images/generations":
            return _json(200, scripted.generate_images(request, model=self.model))
        if path == "/embeddings":
            return _json(200, scripted.embed(request, model=self.model))
        return _error(404, f"scripted model does not serve {path}")

    def _chat(self, request: dict[str, Any]) -> UpstreamResponse:
        asked = request.get("model")
        model = asked if isinstance(asked, str) and asked else self.model  # the broker admitted it (its catalog)
        if not request.get("stream"):
            return _json(200, scripted.chat_completion(request, model=model))
        chunks = scripted.chat_completion_chunks(request, model=model)
        options = request.get("stream_options") or {}
        if not options.get("include_usage"):
            chunks = [c for c in chunks if c.get("choices")]
        return UpstreamResponse(200, dict(SSE_HEADERS), _sse(chunks))

    def _transcribe(self, content_type: str, body: bytes) -> UpstreamResponse:
        values, files = parse_multipart(content_type, body)
        if "file" not in files:
            raise ValueError("multipart field 'file' is required")
        filename, audio = files["file"]
        result = scripted.transcribe(
            audio,
            filename=filename,
            model=values.get("model", self.model),
            response_format=values.get("response_format", "json"),
            language=values.get("language"),
        )
        return _json(200, result)

    async def aclose(self) -> None:
        return None


class HttpUpstream:
    """Forward to an OpenAI-compatible server (``--upstream URL``), the way brokers front vLLM."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._extra = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        request = self._client.build_request(
            method, self.base_url + path, headers={**headers, **self._extra}, content=body
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            return _json(504, {"error": "Gateway Timeout"})
        except httpx.HTTPError:
            return _json(502, {"error": "Bad Gateway"})
        return UpstreamResponse(response.status_code, dict(response.headers), response.aiter_raw(), response.aclose)

    async def aclose(self) -> None:
        await self._client.aclose()
