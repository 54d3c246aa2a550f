"""A provider fronting a real OpenAI-compatible server over a socket, the way brokers front vLLM."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from zerog_devnet import Devnet, ProviderSpec
from zerog_devnet.anvil import free_port

from .conftest import make_auth

pytestmark = pytest.mark.devnet
SEEN: list[dict[str, Any]] = []


async def completions(request: Request) -> Response:
    body = await request.json()
    SEEN.append({"body": body, "headers": dict(request.headers)})
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    if not body.get("stream"):
        message = {"role": "assistant", "content": "from upstream"}
        return JSONResponse(
            {
                "id": "up-1",
                "object": "chat.completion",
                "model": body["model"],
                "provider": "leak",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def events() -> Any:
        yield ": keep-alive comment\n\n"
        yield 'data: {"id":"up-2","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
        if (body.get("stream_options") or {}).get("include_usage"):
            yield "data: " + json.dumps({"id": "up-2", "choices": [], "usage": usage}) + "\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(5)


def test_forwarding_bills_and_signs_like_the_scripted_model(upstream_url: str) -> None:
    spec = ProviderSpec("fwd", model="real/model", upstream=upstream_url, upstream_api_key="sk-upstream")
    with Devnet.start([spec], users=1) as net:
        info, user = net.provider("fwd").info, net.users[0]
        net.fund(user, ["fwd"])
        headers = {"Authorization": make_auth(user, info.address)}
        url = f"{info.url}/v1/proxy/chat/completions"
        body = {"model": "real/model", "messages": [{"role": "user", "content": "hi"}]}
        plain = httpx.post(url, json=body, headers=headers)
        assert plain.status_code == 200
        data = plain.json()
        assert data["id"] == f"chatcmpl-{plain.headers['ZG-Res-Key']}" and "provider" not in data
        assert SEEN[-1]["headers"]["authorization"] == "Bearer sk-upstream"
        assert "app-sk-" not in json.dumps(SEEN[-1]["headers"])
        streamed = httpx.post(url, json={**body, "stream": True}, headers=headers)
        assert SEEN[-1]["body"]["stream_options"] == {"include_usage": True}  # injected by the broker
        assert ": keep-alive" not in streamed.text and streamed.text.rstrip().endswith("data: [DONE]")
        assert net.provider("fwd").unsettled(user.address) == 2 * (11 * info.input_price + 7 * info.output_price)
