"""``zerog proxy`` as an attack surface: only its owner can use it, and nothing it refuses is billed.

A wallet with a ledger and sub-accounts with the two chat providers (not with the embedding one) serves
``--model <chat>`` with auto-funding on. Every attack a web page or another local user could try is sent
over a real socket and must be refused with its status in the OpenAI error shape, before any provider is
called: the providers' unsettled fees stay 0 and no sub-account is opened. The crash case runs against a
real ``zerog proxy`` subprocess.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from zerog_compute import AsyncZeroG, FundingPolicy, ZeroG
from zerog_compute.cli._errors import UsageError
from zerog_compute.cli.app import build_parser
from zerog_compute.proxy import build_app, new_token, write_token_file
from zerog_devnet import Devnet
from zerog_devnet.anvil import free_port

from ..core.conftest import devnet_network

pytestmark = pytest.mark.devnet

TOKEN = new_token()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HI = {"model": "default", "messages": [{"role": "user", "content": "What is 2 + 3?"}]}
DEEP = b'{"messages":' + b"[" * 100_000  # one 100 kB request: a C-stack overflow for a recursive parser

Serve = Callable[..., str]


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b"])  # no sub-account with "embed"
    return devnet


@pytest.fixture
def serve(funded: Devnet) -> Iterator[Serve]:
    """Start the proxy app (``build_app`` options) on a free loopback port; returns its base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**options: Any) -> str:
        port = free_port()
        ready = threading.Event()
        holder: list[uvicorn.Server] = []
        options.setdefault("model", funded.provider("chat-a").info.model)
        options.setdefault("token", TOKEN)

        async def main() -> None:
            funding = FundingPolicy.of(min_balance="2", target_balance="3")
            user = funded.users[0].private_key
            async with AsyncZeroG(private_key=user, network=devnet_network(funded), funding=funding) as zg:
                app = build_app(zg, port=port, **options)
                server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
                holder.append(server)
                task = asyncio.create_task(server.serve())
                while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
                    await asyncio.sleep(0.01)
                ready.set()
                await task

        thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        thread.start()
        assert ready.wait(15)
        servers.append((holder[0], thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def billed(net: Devnet) -> dict[str, int]:
    """What each provider would settle for the user: any request that reached one shows here."""
    user = net.users[0].address
    return {name: net.provider(name).unsettled(user) for name in ("chat-a", "chat-b", "embed")}


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an OpenAI-shaped refusal with ``status``; returns its ``error`` object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["type"] and error["code"]
    return dict(error)


NOTHING = {"chat-a": 0, "chat-b": 0, "embed": 0}


# ---------------------------------------------------------------------------------------------------- web pages


def test_web_pages_and_rebound_hosts_are_refused_and_nothing_is_billed(serve: Serve, funded: Devnet) -> None:
    url = serve()
    port = url.rsplit(":", 1)[1]
    chat = f"{url}/v1/chat/completions"
    page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    body = httpx.Request("POST", chat, json=HI).content
    # a cross-site "simple" request (no CORS preflight): refused whether or not the page guessed the token
    refused(httpx.post(chat, content=body, headers=page), 403)
    refused(httpx.post(chat, content=body, headers={**page, **AUTH}), 403)
    refused(httpx.post(chat, content=body, headers={"Sec-Fetch-Site": "cross-site", **AUTH}), 403)
    refused(httpx.request("OPTIONS", chat, headers={**page, "Access-Control-Request-Method": "POST"}), 403)
    # DNS rebinding: the page's own name resolved to 127.0.0.1, so its Host header is foreign
    refused(httpx.post(chat, json=HI, headers={"Host": f"evil.example:{port}", **AUTH}), 421)
    refused(httpx.post(chat, json=HI, headers={"Host": "127.0.0.1:1", **AUTH}), 421)
    refused(httpx.get(f"{url}/v1/models", headers={"Host": f"rebind.evil.example:{port}", **AUTH}), 421)
    assert billed(funded) == NOTHING


def test_the_bearer_token_is_required(serve: Serve, funded: Devnet) -> None:
    url = serve()
    chat = f"{url}/v1/chat/completions"
    missing = httpx.post(chat, json=HI)
    assert refused(missing, 401)["type"] == "authentication_error"
    assert missing.headers["www-authenticate"] == "Bearer"
    refused(httpx.post(chat, json=HI, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}), 401)
    refused(httpx.post(chat, json=HI, headers={"Authorization": TOKEN}), 401)
    refused(httpx.get(f"{url}/v1/models"), 401)
    assert TOKEN not in missing.text
    assert billed(funded) == NOTHING
    ok = httpx.post(chat, json=HI, headers={"Authorization": f"bearer {TOKEN}"}, timeout=30)  # the scheme in any case
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "2 + 3 = 5"
    assert sum(billed(funded).values()) > 0  # the measure sees a request that went through


def test_an_allowed_origin_gets_cors_and_others_do_not(serve: Serve, funded: Devnet) -> None:
    url = serve(cors_origins=["https://app.example"])
    chat = f"{url}/v1/chat/completions"
    preflight = httpx.request(
        "OPTIONS",
        chat,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    refused(httpx.post(chat, json=HI, headers={"Origin": "https://app.example.evil", **AUTH}), 403)
    no_token = httpx.post(chat, json=HI, headers={"Origin": "https://app.example"})
    refused(no_token, 401)  # the page reads the refusal, and still needs the token
    assert no_token.headers["access-control-allow-origin"] == "https://app.example"
    assert billed(funded) == NOTHING
    ok = httpx.post(chat, json=HI, headers={"Origin": "https://app.example", **AUTH}, timeout=30)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "X-ZeroG-Provider" in ok.headers["access-control-expose-headers"]


# ---------------------------------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),  # was a 500 with a traceback
        (b'"messages"', "application/json"),
        (b"42", "application/json"),
        (b"{", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', "application/json"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": -Infinity}', "application/json"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e400}', "application/json"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "model": 7}', "application/json"),
        (b'{"messages": "hi"}', "application/json"),
        (b'{"model": "default"}', "application/json"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "input": "hi", "provider": "0x0"}', "application/json"),
        (DEEP, "application/json"),
    ],
    ids=lambda v: v[:24].decode("latin-1") if isinstance(v, bytes) else v,
)
def test_bad_json_is_a_400_in_the_openai_shape(serve: Serve, funded: Devnet, body: bytes, content_type: str) -> None:
    url = serve()
    for route in ("chat/completions", "embeddings"):
        response = httpx.post(f"{url}/v1/{route}", content=body, headers={"Content-Type": content_type, **AUTH})
        assert refused(response, 400)["type"] == "invalid_request_error"
    assert billed(funded) == NOTHING


def test_only_json_bodies_within_the_size_limit(serve: Serve, funded: Devnet) -> None:
    url = serve(max_body=64 * 1024)
    chat = f"{url}/v1/chat/completions"
    as_text = httpx.Request("POST", chat, json=HI).content
    refused(httpx.post(chat, content=as_text, headers={"Content-Type": "text/plain", **AUTH}), 415)
    refused(httpx.post(chat, content=as_text, headers=AUTH), 415)  # no content type at all
    big = {**HI, "messages": [{"role": "user", "content": "x" * 100_000}]}
    refused(httpx.post(chat, json=big, headers=AUTH), 413)
    assert billed(funded) == NOTHING


def test_a_64_mib_declared_body_is_refused_before_it_is_sent(serve: Serve) -> None:
    host, port = serve().removeprefix("http://").split(":")
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + b'{"messages": [')  # and not one byte more
        answer = conn.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413"), answer


@pytest.mark.anyio
async def test_a_chunked_body_stops_being_read_at_the_limit(funded: Devnet) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 64:
            sent += 1
            yield b" " * 1024 * 1024

    async with AsyncZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded)) as zg:
        app = build_app(zg, model="m", token=TOKEN, max_body=4 * 1024 * 1024)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            response = await http.post(
                "/v1/chat/completions", content=endless(), headers={"Content-Type": "application/json", **AUTH}
            )
    refused(response, 413)
    assert sent <= 6  # 4 MiB allowed: the fifth chunk is the last one read (httpx may have one more in flight)


# ---------------------------------------------------------------------------------------------------- models


def test_only_the_served_model_and_no_funding_elsewhere(serve: Serve, funded: Devnet) -> None:
    url = serve()
    embed = funded.provider("embed").info
    chat_model = funded.provider("chat-a").info.model
    error = refused(httpx.post(f"{url}/v1/embeddings", json={"model": embed.model, "input": ["hi"]}, headers=AUTH), 400)
    assert error["code"] == "model_not_found" and chat_model in error["message"]
    error = refused(httpx.post(f"{url}/v1/chat/completions", json={**HI, "model": embed.model}, headers=AUTH), 400)
    assert chat_model in error["message"]
    assert billed(funded) == NOTHING
    with ZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded)) as zg:
        assert zg.ledger.sub_account(embed.address) is None  # auto-funding opened nothing with it
    models = httpx.get(f"{url}/v1/models", headers=AUTH).json()
    assert [m["id"] for m in models["data"]] == [chat_model]


def test_a_second_model_serves_embeddings(serve: Serve, funded: Devnet) -> None:
    embed = funded.provider("embed").info.model
    url = serve(model=[funded.provider("chat-a").info.model, embed])
    reply = httpx.post(f"{url}/v1/embeddings", json={"model": embed, "input": ["hi"]}, headers=AUTH, timeout=30)
    assert reply.status_code == 200 and reply.json()["data"][0]["embedding"]


# ---------------------------------------------------------------------------------------------------- zerog proxy


def test_the_zerog_proxy_process_survives_deep_json_and_keeps_its_token_private(funded: Devnet, tmp_path: Path) -> None:
    token_file = tmp_path / "secrets" / "proxy-token"
    port = free_port()
    env = {
        **os.environ,
        "ZG_NETWORK": "devnet",
        "ZG_DEVNET_FILE": str(funded.write_description(tmp_path / "devnet.json")),
        "ZG_PRIVATE_KEY": funded.users[0].private_key,
    }
    model = funded.provider("chat-a").info.model
    command = [sys.executable, "-m", "zerog_compute.cli", "proxy", "--model", model, "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--token-file", str(token_file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        token = wait_for_token(proc, token_file, port)
        chat = f"http://127.0.0.1:{port}/v1/chat/completions"
        auth = {"Authorization": f"Bearer {token}"}
        for route in ("chat/completions", "embeddings"):
            as_page = httpx.post(
                f"http://127.0.0.1:{port}/v1/{route}", content=DEEP, headers={"Content-Type": "text/plain"}
            )
            assert as_page.status_code == 401
            as_text = httpx.post(chat, content=DEEP, headers={"Content-Type": "text/plain", **auth})
            assert as_text.status_code == 415
            as_json = httpx.post(
                f"http://127.0.0.1:{port}/v1/{route}",
                content=DEEP,
                headers={"Content-Type": "application/json", **auth},
            )
            assert as_json.status_code == 400 and as_json.json()["error"]["type"] == "invalid_request_error"
        assert proc.poll() is None  # alive
        ok = httpx.post(chat, json=HI, headers=auth, timeout=30)
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "2 + 3 = 5"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGTERM, err.decode()  # ended by our SIGTERM, not by a crash (SIGSEGV: -11)
    assert b"Fatal Python error" not in err
    assert out.decode().count(token) == 1  # printed once, on stdout
    assert token not in err.decode()


def wait_for_token(proc: subprocess.Popen[bytes], token_file: Path, port: int) -> str:
    """The token, once the proxy wrote it and answers on its port."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        try:
            token = token_file.read_text().strip()
            httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {token}"})
            return token
        except (FileNotFoundError, httpx.ConnectError):
            time.sleep(0.2)


def test_the_token_file_is_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "proxy-token"
    path.write_text("an old token\n")
    path.chmod(0o644)
    token = new_token()
    assert write_token_file(token, path) == path
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["proxy-token"]  # no temporary file left behind
    assert token != new_token() and len(token) >= 43


def test_no_auth_is_an_explicit_choice_and_warned(funded: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    async def models() -> httpx.Response:
        async with AsyncZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded)) as zg:
            app = build_app(zg, model=funded.provider("chat-a").info.model, token=None)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8788") as http:
                return await http.get("/v1/models")

    assert asyncio.run(models()).status_code == 200
    assert "WITHOUT a token" in caplog.text
    with pytest.raises(TypeError):
        build_app(None, model="m")  # type: ignore[arg-type,call-arg]  # no token argument: no app


def test_cli_access_options_are_checked() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["proxy", "--model", "a", "--model", "b", "--max-body", "512KiB", "--cors-origin", "https://App.example/"]
    )
    assert args.model == ["a", "b"] and args.max_body == 512 * 1024 and args.cors_origin == ["https://app.example"]
    assert parser.parse_args(["proxy", "--model", "a"]).max_body == 8 * 1024 * 1024
    for bad in (["--max-body", "lots"], ["--max-body", "0"], ["--cors-origin", "*"], ["--cors-origin", "evil.example"]):
        with pytest.raises(UsageError):
            parser.parse_args(["proxy", "--model", "a", *bad])
