"""A stream that stalls after its first chunks ends, ``timeout`` seconds later, with ``StreamTimeoutError``: what
arrived is kept (a ``StreamInterruptedError``) and timeout handlers catch it (a builtin ``TimeoutError``)."""

from __future__ import annotations

import json

import pytest

from zerog_compute import AsyncZeroG, StreamInterruptedError, StreamTimeoutError, ZeroG

from .conftest import Hostile
from .hostile import CHAT, drip

MESSAGES = [{"role": "user", "content": "hi"}]
CHUNK = json.dumps(
    {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hello"}}]}
).encode()
STALL = drip(b"data: " + CHUNK + b"\n\n", every=3600, stream=True)
"""One chunk, then silence (a byte an hour)."""


def test_a_stalled_stream_is_a_timeout_error(hostile: Hostile) -> None:
    hostile.server.script(CHAT, STALL)
    received = []
    zg = ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off", timeout=1)
    with zg, pytest.raises(StreamTimeoutError) as caught:
        for chunk in zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True):
            received.append(chunk)
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, StreamInterruptedError)
    assert error.received == 1 and error.text == "Hello" and len(received) == 0  # the held chunk never left
    assert "stalled after 1 chunks" in str(error) and "ReadTimeout" in str(error)


@pytest.mark.anyio
async def test_a_stalled_async_stream_is_a_timeout_error(hostile: Hostile) -> None:
    hostile.server.script(CHAT, STALL)
    async with AsyncZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="off", timeout=1
    ) as azg:
        stream = await azg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True)
        with pytest.raises(StreamTimeoutError) as caught:
            async for _ in stream:
                pass
    assert isinstance(caught.value, TimeoutError) and caught.value.text == "Hello"
