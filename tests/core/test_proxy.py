"""The local OpenAI-compatible proxy, driven by the real ``openai`` SDK over a socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from zerog_compute import AsyncZeroG
from zerog_compute.proxy import build_app, new_token
from zerog_devnet import Devnet
from zerog_devnet.anvil import free_port

from .conftest import devnet_network

pytestmark = pytest.mark.devnet

TOKEN = new_token()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def proxy_url(devnet: Devnet) -> Iterator[str]:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b", "embed"])
    port = free_port()
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    def run() -> None:
        async def main() -> None:
            async with AsyncZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as zg:
                # allow_any_model: the open routing these tests rely on; tests/adversarial checks the default
                app = build_app(
                    zg, model=devnet.provider("chat-a").info.model, token=TOKEN, port=port, allow_any_model=True
                )
                server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
                holder["server"] = server
                task = asyncio.create_task(server.serve())
                while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
                    await asyncio.sleep(0.01)
                ready.set()
                await task

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}/v1"
    holder["server"].should_exit = True
    thread.join(10)


def test_openai_sdk_chat_through_the_proxy(proxy_url: str, devnet: Devnet) -> None:
    client = openai.OpenAI(base_url=proxy_url, api_key=TOKEN)
    raw = client.chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": "What is 2 + 3?"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "2 + 3 = 5"
    assert raw.headers["x-zerog-provider"] in {devnet.provider(n).info.address for n in ("chat-a", "chat-b")}
    assert raw.headers["x-zerog-verification"] == "verified"
    assert int(raw.headers["x-zerog-fee"]) > 0 and raw.headers["x-zerog-chat-id"]


def test_streaming_passes_chunks_and_ends_with_the_record(proxy_url: str) -> None:
    client = openai.OpenAI(base_url=proxy_url, api_key=TOKEN)
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "What is 2 + 3?"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "2 + 3 = 5"
    with httpx.stream(
        "POST",
        f"{proxy_url}/chat/completions",
        json={"model": "default", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
    ) as response:
        body = response.read().decode()
    assert ': zerog {"provider":' in body and body.rstrip().endswith("data: [DONE]")


def test_failover_and_errors_through_the_proxy(proxy_url: str, devnet: Devnet) -> None:
    devnet.provider("chat-a").faults.set(http_status=502)
    client = openai.OpenAI(base_url=proxy_url, api_key=TOKEN, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-zerog-provider"] == devnet.provider("chat-b").info.address
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])


def test_embeddings_and_models(proxy_url: str, devnet: Devnet) -> None:
    client = openai.OpenAI(base_url=proxy_url, api_key=TOKEN)
    models = [m.id for m in client.models.list()]
    assert models == [devnet.provider("chat-a").info.model]
    result = client.embeddings.create(model=devnet.provider("embed").info.model, input=["hello world"])
    assert len(result.data[0].embedding) > 0


def test_zerog_proxy_command(devnet: Devnet, tmp_path: Path) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    description = devnet.write_description(tmp_path / "devnet.json")
    port = free_port()
    env = {
        **os.environ,
        "ZG_NETWORK": "devnet",
        "ZG_DEVNET_FILE": str(description),
        "ZG_PRIVATE_KEY": devnet.users[0].private_key,
    }
    command = [
        sys.executable,
        "-m",
        "zerog_compute.cli",
        "proxy",
        "--provider",
        devnet.provider("chat-a").info.address,
        "--port",
        str(port),
        "--token-file",
        str(tmp_path / "proxy-token"),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    timeout=10,
                    json={"model": "default", "messages": [{"role": "user", "content": "What is 2 + 3?"}]},
                    headers={"Authorization": f"Bearer {(tmp_path / 'proxy-token').read_text().strip()}"},
                )
                break
            except (httpx.ConnectError, FileNotFoundError):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
        assert reply.json()["choices"][0]["message"]["content"] == "2 + 3 = 5"
        assert reply.headers["x-zerog-provider"] == devnet.provider("chat-a").info.address
    finally:
        proc.terminate()
        proc.wait(10)
