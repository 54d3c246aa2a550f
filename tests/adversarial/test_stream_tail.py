"""What a provider sends after ``data: [DONE]`` never reaches the caller; a provider's ``zerog`` key never fails
a valid answer (the record is the client's)."""

from __future__ import annotations

import json
import logging

import pytest

from zerog_compute import AsyncZeroG, ZeroG

from .conftest import Hostile
from .hostile import CHAT, completion, honest, sse

MESSAGES = [{"role": "user", "content": "hi"}]


def chunk(text: str, **extra: object) -> bytes:
    choices = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices, **extra}
    return json.dumps(body).encode()


USAGE = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
).encode()
TAIL = (chunk("EVIL"), b"[DONE]", chunk("MORE EVIL"))


def test_chunks_after_done_never_reach_the_caller(hostile: Hostile, caplog: pytest.LogCaptureFixture) -> None:
    hostile.server.script(CHAT, sse(chunk("Hello"), chunk(" world"), USAGE, b"[DONE]", *TAIL))
    with (
        caplog.at_level(logging.WARNING, logger="zerog_compute"),
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg,
    ):
        chunks = list(zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    record = chunks[-1].zerog
    assert record is not None and record.events_after_done == len(TAIL)
    assert record.output_tokens == 2
    assert any("after [DONE]" in r.getMessage() and hostile.address in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_chunks_after_done_never_reach_the_caller_async(hostile: Hostile) -> None:
    hostile.server.script(CHAT, sse(chunk("Hello"), USAGE, b"[DONE]", *TAIL))
    async with AsyncZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        stream = await zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True)
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].zerog is not None and chunks[-1].zerog.events_after_done == len(TAIL)


def test_an_honest_stream_has_nothing_after_done(hostile: Hostile) -> None:
    hostile.server.script(CHAT, sse(chunk("Hello"), USAGE, b"[DONE]"))
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        chunks = list(zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True))
    assert chunks[-1].zerog is not None and chunks[-1].zerog.events_after_done == 0


@pytest.mark.parametrize("smuggled", ["junk", 5, {"provider": 7, "fee": "lots"}, {"provider": "0xevil", "model": "x"}])
def test_a_provider_zerog_key_never_fails_a_valid_answer(hostile: Hostile, smuggled: object) -> None:
    body = json.loads(completion("fine"))
    hostile.server.script(CHAT, honest(json.dumps({**body, "zerog": smuggled}).encode()))
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        reply = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
    assert reply.choices[0].message.content == "fine"
    assert reply.zerog is not None and reply.zerog.provider == hostile.address and reply.zerog.fee > 0


@pytest.mark.parametrize("smuggled", ["junk", {"provider": 7}])
def test_a_provider_zerog_key_in_a_stream_chunk_is_dropped(hostile: Hostile, smuggled: object) -> None:
    hostile.server.script(CHAT, sse(chunk("Hello", zerog=smuggled), chunk("!"), USAGE, b"[DONE]"))
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        chunks = list(zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert all(c.zerog is None for c in chunks[:-1]) and chunks[-1].zerog is not None
    assert chunks[-1].zerog.provider == hostile.address
