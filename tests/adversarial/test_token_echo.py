"""A provider echoing our session token back, in any form, never gets a piece of it into an error we raise."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from urllib.parse import quote, unquote

import pytest

from zerog_compute import ProviderError, ZeroG
from zerog_compute.http_errors import MIN_SECRET_PIECE, scrub

from .conftest import Hostile
from .hostile import CHAT, Behaviour, HostileProvider, Writer, answer

MESSAGES = [{"role": "user", "content": "hi"}]
Transform = Callable[[str], str]


def in_pieces(token: str) -> str:
    return " ".join(token[i : i + 10] for i in range(0, len(token), 10))


def reversed_halves(token: str) -> str:
    half = len(token) // 2
    return token[:half][::-1] + " / " + token[half:][::-1]


TRANSFORMS: dict[str, Transform] = {
    "whole": lambda token: token,
    "pieces": in_pieces,
    "reversed-halves": reversed_halves,
    "url-encoded": lambda token: quote(token, safe=""),
    "percent-every-byte": lambda token: "".join(f"%{b:02X}" for b in token.encode()),
    "upper-case": str.upper,
    "payload-only": lambda token: token.removeprefix("app-sk-")[5:60],
}


def _sse(echo: str) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    content = json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": echo}}]})
    return f"data: {content}\n\ndata: {json.dumps({'error': {'message': 'bad ' + echo}})}\n\n".encode()


CHANNELS: dict[str, Callable[[str], Behaviour]] = {
    "400-json": lambda echo: answer(400, json.dumps({"error": f"bad request from {echo}"}).encode()),
    "401-token": lambda echo: answer(401, json.dumps({"error": f"validate session: {echo}"}).encode()),
    "500-text": lambda echo: answer(500, f"upstream said {echo}".encode(), content_type="text/plain"),
    "stream-error": lambda echo: answer(200, _sse(echo), content_type="text/event-stream"),
    "content-encoding": lambda echo: answer(200, b"{}", **{"Content-Encoding": echo[:200]}),
}


def echoing(server: HostileProvider, transform: Transform, channel: Callable[[str], Behaviour]) -> Behaviour:
    """Answer with the request's own token, transformed, through ``channel``."""

    async def run(writer: Writer) -> None:
        token = server.authorization.removeprefix("Bearer ").strip()
        await channel(transform(token))(writer)

    return run


def strings(value: object, depth: int = 0) -> Iterator[str]:
    """Every string reachable from an error: message, repr, attributes, and the errors it was raised from."""
    if depth > 4:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseException):
        yield str(value)
        yield repr(value)
        for item in (*value.args, *getattr(value, "__dict__", {}).values(), value.__cause__, value.__context__):
            yield from strings(item, depth + 1)
        request = getattr(value, "_request", None)  # an HTTP client's error keeps its request
        if request is not None:
            yield from strings(dict(request.headers), depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item, depth + 1)


def leaked(token: str, error: BaseException) -> list[str]:
    """The strings of ``error`` holding a piece of ``token`` (any case, reversed, URL-decoded)."""
    pieces = {
        form[i : i + MIN_SECRET_PIECE].lower()
        for form in (token, token[::-1])
        for i in range(len(form) - MIN_SECRET_PIECE + 1)
    }
    return [text for text in strings(error) if any(p in unquote(text).lower() for p in pieces)]


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_an_echoed_token_never_reaches_an_error(hostile: Hostile, transform: str, channel: str) -> None:
    hostile.server.script(CHAT, echoing(hostile.server, TRANSFORMS[transform], CHANNELS[channel]))
    stream = channel.startswith("stream")
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg,
        pytest.raises(ProviderError) as caught,
    ):
        reply = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=stream)
        for _ in reply if stream else ():
            pass
    token = hostile.server.authorization.removeprefix("Bearer ").strip()
    assert token.startswith("app-sk-")
    assert leaked(token, caught.value) == []
    assert "<redacted>" in str(caught.value) or channel == "content-encoding"


def test_a_streamed_echo_is_cut_from_the_partial_text(hostile: Hostile) -> None:
    hostile.server.script(CHAT, echoing(hostile.server, in_pieces, CHANNELS["stream-error"]))
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg,
        pytest.raises(ProviderError) as caught,
    ):
        for _ in zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True):
            pass
    token = hostile.server.authorization.removeprefix("Bearer ").strip()
    assert getattr(caught.value, "text", None) is not None and "<redacted>" in caught.value.text  # type: ignore[attr-defined]
    assert leaked(token, caught.value) == []


def test_scrub_keeps_what_is_not_the_token() -> None:
    token = "app-sk-" + "QWxhZGRpbjpvcGVuIHNlc2FtZQ" * 4
    text = "user 0x1234567890abcdef1234567890abcdef12345678 has no balance; retry in 2s"
    assert scrub(text, [f"Bearer {token}"]) == text
    assert scrub(f"a {token[3:20]} b", [token]) == "a <redacted> b"
    assert scrub(f"a {token[3:10]} b", [token]) == f"a {token[3:10]} b"  # 7 characters: too short to mean anything
