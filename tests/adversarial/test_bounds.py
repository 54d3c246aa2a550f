"""A hostile provider cannot make a call hold unbounded memory or run past its deadline.

Memory is measured in a fresh process (peak RSS over a warmed-up client); time as an upper bound on elapsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from zerog_compute import (
    AsyncZeroG,
    DeadlineExceededError,
    ProviderError,
    ProviderUnavailableError,
    ResponseTooLargeError,
    ZeroG,
)

from .conftest import Hostile
from .hostile import CHAT, IMAGES, MiB, bomb, drip, flood, honest, huge, keepalives

LIMIT = 32 * MiB
RSS_BOUND = 4 * LIMIT + 32 * MiB
"""Stated bound on peak-RSS growth for one hostile answer with the default 32 MiB limit (was 0.6-2 GB)."""
MESSAGES = [{"role": "user", "content": "hi"}]


def probe(hostile: Hostile, kind: str = "chat", **options: Any) -> dict[str, Any]:
    net = hostile.network
    orders = {
        "provider": hostile.address,
        "kind": kind,
        "options": options,
        "network": {
            "name": net.name,
            "chain_id": net.chain_id,
            "rpc_url": net.rpc_url,
            "ledger": net.ledger,
            "inference": net.inference,
            "fine_tuning": net.fine_tuning,
        },
    }
    env = {**os.environ, "HOSTILE_PROBE": json.dumps(orders), "ZG_PRIVATE_KEY": hostile.private_key}
    done = subprocess.run(
        [sys.executable, "-m", "tests.adversarial.probe"], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1])
    if len(lines) > 1:
        result.update(json.loads(lines[-2]))
    return result


# ------------------------------------------------------------------ memory


def test_gzip_bomb_is_cut_at_the_limit_without_expanding(hostile: Hostile) -> None:
    hostile.server.script(CHAT, bomb(1024 * MiB), after=1)
    result = probe(hostile, verification="off")
    assert result["error"] == "ResponseTooLargeError"
    assert result["growth"] < RSS_BOUND, result


def test_huge_body_is_cut_at_the_limit(hostile: Hostile) -> None:
    hostile.server.script(CHAT, huge(400 * MiB), after=1)
    result = probe(hostile, verification="off")
    assert result["error"] == "ResponseTooLargeError"
    assert result["growth"] < RSS_BOUND, result


def test_stream_flood_keeps_a_hash_not_the_bytes(hostile: Hostile) -> None:
    hostile.server.script(CHAT, flood(400 * MiB), after=1)
    result = probe(hostile, "stream", verification="off")
    assert result["error"] == "ResponseTooLargeError"
    assert result["growth"] < RSS_BOUND, result


def test_huge_image_for_verification_is_not_downloaded_whole(devnet: Any, hostile: Hostile) -> None:
    devnet.register_external("hostile", hostile.server.url, service_type="text-to-image", model=hostile.model)
    image = json.dumps({"created": 0, "data": [{"url": hostile.server.url + "/files/big.png"}]}).encode()
    hostile.server.script(IMAGES, honest(image, **{"ZG-Res-Key": "img-1"}))
    hostile.server.script("/files/", huge(300 * MiB, content_type="image/png"), after=1)  # warm-up: a small one
    hostile.server.script(CHAT, honest())
    result = probe(hostile, "image", verification="warn")
    assert result["error"] is None
    assert result["verdict"] != "verified"
    assert sum(path.startswith("/files/") for path in hostile.server.requests) == 2  # warm-up, then the huge one
    assert result["growth"] < RSS_BOUND, result


def test_declared_length_over_the_limit_is_refused_unread(hostile: Hostile) -> None:
    hostile.server.script(CHAT, huge(400 * MiB, declare=True))
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg,
        pytest.raises(ResponseTooLargeError) as caught,
    ):
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
    assert caught.value.limit == LIMIT and "max_response_bytes" in str(caught.value)


def test_the_limit_is_configurable_and_honest_answers_pass(hostile: Hostile) -> None:
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        assert zg.chat.completions.create(messages=MESSAGES, provider=hostile.address).choices
    hostile.server.script(CHAT, bomb(8 * MiB))
    with (
        ZeroG(
            private_key=hostile.private_key, network=hostile.network, verification="off", max_response_bytes=16 * MiB
        ) as zg,
        pytest.raises(ProviderError) as caught,
    ):  # 8 MiB of zeros fit but are not JSON
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
    assert not isinstance(caught.value, ResponseTooLargeError)
    with (
        ZeroG(
            private_key=hostile.private_key, network=hostile.network, verification="off", max_response_bytes=MiB
        ) as zg,
        pytest.raises(ResponseTooLargeError, match="1048576 bytes"),
    ):
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)


@pytest.mark.anyio
async def test_async_bomb_and_stream_flood_raise_the_typed_error(hostile: Hostile) -> None:
    hostile.server.script(CHAT, bomb(256 * MiB))
    async with AsyncZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="off", max_response_bytes=4 * MiB
    ) as zg:
        with pytest.raises(ResponseTooLargeError):
            await zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        hostile.server.script(CHAT, flood(64 * MiB))
        with pytest.raises(ResponseTooLargeError):
            async for _ in await zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True):
                pass


# ------------------------------------------------------------------ deadline

DEADLINE = 2.0
MARGIN = 4.0
"""Generous: the deadline is checked per read and a read waits at most ``timeout`` (3 s here)."""


@pytest.mark.parametrize(
    ("behaviour", "stream"),
    [(drip(b'{"id": "x",'), False), (drip(stream=True), True), (keepalives(), True)],
    ids=["slow-drip-body", "slow-drip-stream", "endless-keepalives"],
)
def test_sync_calls_end_at_the_deadline(hostile: Hostile, behaviour: Any, stream: bool) -> None:
    hostile.server.script(CHAT, behaviour)
    with ZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="off", timeout=3, deadline=DEADLINE
    ) as zg:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            answer = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=stream)
            for _ in answer if stream else ():
                pass
        elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + MARGIN
    assert isinstance(caught.value, TimeoutError) and caught.value.deadline == DEADLINE
    assert "deadline=" in str(caught.value)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.anyio
async def test_async_calls_end_at_the_deadline(hostile: Hostile, stream: bool) -> None:
    hostile.server.script(CHAT, keepalives() if stream else drip(b"{"))
    async with AsyncZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="off", timeout=3, deadline=DEADLINE
    ) as zg:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            answer = await zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=stream)
            if stream:
                async for _ in answer:
                    pass
        elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + MARGIN


def test_a_pool_fails_over_from_a_provider_that_outlasts_the_deadline(devnet: Any, hostile: Hostile) -> None:
    hostile.server.script(CHAT, keepalives())
    chat_a = devnet.provider("chat-a").info.address
    with ZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="off", timeout=3, deadline=DEADLINE
    ) as zg:
        zg.acknowledge(chat_a, amount="2")
        pool = zg.pool(providers=[hostile.address, chat_a], strategy="priority", deadline=60)
        started = time.monotonic()
        chunks = list(pool.chat.completions.create(messages=MESSAGES, stream=True))
        elapsed = time.monotonic() - started
    assert chunks[-1].zerog is not None and chunks[-1].zerog.provider.lower() == chat_a.lower()
    assert elapsed < DEADLINE + MARGIN


@pytest.mark.anyio
async def test_a_pool_deadline_still_bounds_the_whole_call(hostile: Hostile) -> None:
    hostile.server.script(CHAT, drip(b"{"))
    async with AsyncZeroG(private_key=hostile.private_key, network=hostile.network, verification="off") as zg:
        pool = zg.pool(providers=[hostile.address], deadline=DEADLINE)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError):
            await pool.chat.completions.create(messages=MESSAGES)
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + MARGIN


# ------------------------------------------------------------------ adapters


def test_adapters_pass_the_bounds_through(hostile: Hostile) -> None:
    from llama_index.llms.zerog import ZeroG as LlamaZeroG

    from langchain_zerog import ChatZeroG

    hostile.server.script(CHAT, keepalives())
    chat = ChatZeroG(
        private_key=hostile.private_key,
        network=hostile.network,
        provider=hostile.address,
        verification="off",
        streaming=True,
        request_timeout=3,
        deadline=DEADLINE,
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        chat.invoke("hi")
    assert time.monotonic() - started < DEADLINE + MARGIN
    hostile.server.script(CHAT, bomb(64 * MiB))
    llm = LlamaZeroG(
        private_key=hostile.private_key,
        network=hostile.network,
        provider=hostile.address,
        verification="off",
        max_response_bytes=MiB,
    )
    with pytest.raises(ResponseTooLargeError):
        llm.complete("hi")
