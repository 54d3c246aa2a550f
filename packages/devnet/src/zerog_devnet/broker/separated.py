"""A separated provider: the model runs in its own TEE, which signs its answers; the broker only relays.

``additionalInfo.TargetSeparated`` is true and ``TargetTeeAddress`` names the model TEE's signer
(provider-protocol §1, §5.3). The broker sends no ``ZG-Res-Key``, passes the model's bytes through unchanged
(the id stays the model's completion id, which is the chat id clients fetch the signature with) and forwards
``/v1/proxy/signature/{id}`` to the model server. The model TEE signs the "chat" text
``sha256hex(request it received):sha256hex(bytes it sent)``; for a stream, every SSE line it sent up to and
including ``data: [DONE]`` and the blank line after it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from eth_account import Account
from starlette.requests import Request
from starlette.responses import Response

from . import signing
from .faults import Faults
from .upstream import JSON_HEADERS, Upstream, UpstreamResponse

if TYPE_CHECKING:
    from .runtime import ProviderRuntime

SIGNATURE_PREFIX = "/signature/"


def model_signer(rt: ProviderRuntime) -> str:
    """The address the model TEE of a separated provider signs with."""
    upstream = rt.upstream
    if not isinstance(upstream, SeparatedUpstream):
        raise TypeError(f"provider {rt.config.name} is not separated")
    return upstream.address


class SeparatedUpstream:
    """The model server of a separated provider: answers through ``inner`` and signs with its own TEE key.

    ``faults`` (the provider's) make it sign other content or with a wrong key, like a broker under fault.
    """

    def __init__(self, inner: Upstream, tee_private_key: str, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self._key = tee_private_key
        self.address = str(Account.from_key(tee_private_key).address)
        self.signatures = signing.SignatureCache()

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        if method == "GET" and path.startswith(SIGNATURE_PREFIX):
            return self._signature(path[len(SIGNATURE_PREFIX) :].split("?", 1)[0])
        answer = await self.inner.send(method, path, headers, body)
        if answer.status != 200 or path != "/chat/completions":
            return answer
        chat_id = f"chatcmpl-{uuid.uuid4()}"
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            return UpstreamResponse(answer.status, answer.headers, self._stream(answer, body, chat_id), answer.close)
        payload = _with_id(await answer.read(), chat_id)
        self._sign(chat_id, body, payload)
        return UpstreamResponse(200, dict(answer.headers), _once(payload))

    async def _stream(self, answer: UpstreamResponse, request: bytes, chat_id: str) -> AsyncIterator[bytes]:
        sent, buffer = bytearray(), b""
        async for chunk in answer.body:
            *lines, buffer = (buffer + chunk).split(b"\n")
            out = b"".join(_sse_line_with_id(line, chat_id) + b"\n" for line in lines)
            sent += out
            yield out
        if buffer:
            sent += _sse_line_with_id(buffer, chat_id)
            yield _sse_line_with_id(buffer, chat_id)
        self._sign(chat_id, request, bytes(sent))

    def _sign(self, chat_id: str, request: bytes, response: bytes) -> None:
        state = self.faults.state
        text = signing.response_text(request, b"not-what-was-sent" if state.sign_other_content else response)
        key = "0x" + uuid.uuid5(uuid.NAMESPACE_OID, chat_id).hex * 2 if state.wrong_signature else self._key
        self.signatures.put(chat_id, text, signing.sign_text(text, key), self.address)

    def _signature(self, chat_id: str) -> UpstreamResponse:
        entry = self.signatures.get(chat_id)
        if entry is None:
            return UpstreamResponse(400, dict(JSON_HEADERS), _once(_error_body()))
        return UpstreamResponse(200, dict(JSON_HEADERS), _once(json.dumps(entry).encode()))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def forward_signature(rt: ProviderRuntime, chat_id: str, request: Request) -> Response:
    """The broker's ``/v1/proxy/signature/{id}`` for a separated provider: asked of the model server."""
    query = f"?{request.url.query}" if request.url.query else ""
    answer = await rt.upstream.send("GET", f"{SIGNATURE_PREFIX}{chat_id}{query}", {}, b"")
    return Response(await answer.read(), status_code=answer.status, media_type="application/json")


def _error_body() -> bytes:
    return json.dumps({"error": signing.CHAT_ID_NOT_FOUND_ERROR}).encode()


def _with_id(payload: bytes, chat_id: str) -> bytes:
    try:
        parsed: Any = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(parsed, dict):
        return payload
    parsed["id"] = chat_id
    return json.dumps(parsed, separators=(",", ":")).encode()


def _sse_line_with_id(line: bytes, chat_id: str) -> bytes:
    if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
        return line
    return b"data: " + _with_id(line[len(b"data: ") :], chat_id)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
