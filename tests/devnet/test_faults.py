"""Fault injection: every fault switch changes what a client sees, and clearing it restores service."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from zerog_devnet import Devnet

from .conftest import make_auth

pytestmark = pytest.mark.devnet


@pytest.fixture
def net(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a"])
    return devnet


def call(net: Devnet, *, stream: bool = False, timeout: float = 10) -> httpx.Response:
    info = net.provider("chat-a").info
    body = {"model": info.model, "messages": [{"role": "user", "content": "tell me a story about foxes"}]}
    if stream:
        body["stream"] = True
    headers = {"Authorization": make_auth(net.users[0], info.address)}
    return httpx.post(f"{info.url}/v1/proxy/chat/completions", json=body, headers=headers, timeout=timeout)


def signature(net: Devnet, chat_id: str) -> dict[str, str]:
    url = net.provider("chat-a").info.url
    return httpx.get(f"{url}/v1/proxy/signature/{chat_id}").json()  # type: ignore[no-any-return]


def test_http_5xx_fault_is_masked_and_not_billed(net: Devnet) -> None:
    net.provider("chat-a").faults.set(http_status=502)
    response = call(net)
    assert (response.status_code, response.json()) == (502, {"error": "Bad Gateway"})
    assert net.provider("chat-a").unsettled(net.users[0].address) == 0
    net.provider("chat-a").faults.clear()
    assert call(net).status_code == 200


def test_rate_limit_storm(net: Devnet) -> None:
    net.provider("chat-a").faults.set(rate_limit_storm=True)
    response = call(net)
    assert response.status_code == 429 and response.json()["error"]["type"] == "rate_limit_error"


def test_hang_outlasts_the_client_timeout(net: Devnet) -> None:
    net.provider("chat-a").faults.set(hang=True)
    with pytest.raises(httpx.ReadTimeout):
        call(net, timeout=0.5)
    net.provider("chat-a").faults.clear()


def test_latency_is_added(net: Devnet) -> None:
    net.provider("chat-a").faults.set(latency_ms=300)
    response = call(net)
    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.3


def test_connection_drop(net: Devnet) -> None:
    net.provider("chat-a").faults.set(drop_connection=True)
    with pytest.raises(httpx.TransportError):
        call(net)


def test_stream_cut_after_n_chunks(net: Devnet) -> None:
    net.provider("chat-a").faults.set(stream_cut_after=2)
    info = net.provider("chat-a").info
    body = {
        "model": info.model,
        "messages": [{"role": "user", "content": "tell me a long story"}],
        "stream": True,
    }
    headers = {"Authorization": make_auth(net.users[0], info.address)}
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{info.url}/v1/proxy/chat/completions", json=body, headers=headers) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line)
    assert len(received) == 2


def test_wrong_signature_is_signed_by_another_key(net: Devnet) -> None:
    net.provider("chat-a").faults.set(wrong_signature=True)
    response = call(net)
    sig = signature(net, response.headers["ZG-Res-Key"])
    signer = Account.recover_message(encode_defunct(text=sig["text"]), signature=sig["signature"])
    assert signer != net.provider("chat-a").info.tee_signer


def test_signature_over_other_content(net: Devnet) -> None:
    net.provider("chat-a").faults.set(sign_other_content=True)
    response = call(net)
    sig = signature(net, response.headers["ZG-Res-Key"])
    signer = Account.recover_message(encode_defunct(text=sig["text"]), signature=sig["signature"])
    assert signer == net.provider("chat-a").info.tee_signer
    assert sig["text"].split(":")[1] != hashlib.sha256(response.content).hexdigest()


def test_missing_res_key(net: Devnet) -> None:
    net.provider("chat-a").faults.set(missing_res_key=True)
    response = call(net)
    assert response.status_code == 200 and "ZG-Res-Key" not in response.headers
    body_id = response.json()["id"]
    assert signature(net, body_id) == {"error": "prepare HTTP request: Chat id not found or expired, chat_id_not_found"}


def test_stopped_provider_refuses_connections_and_restarts(net: Devnet) -> None:
    handle = net.provider("chat-a")
    handle.stop()
    with pytest.raises(httpx.ConnectError):
        call(net)
    handle.restart()
    assert call(net).status_code == 200


def test_admin_api_sets_faults_over_http(net: Devnet) -> None:
    url = net.provider("chat-a").info.url
    state = httpx.put(f"{url}/admin/faults", json={"http_status": 503}).json()
    assert state["http_status"] == 503
    assert call(net).status_code == 503
    bad = httpx.put(f"{url}/admin/faults", json={"explode": True})
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    httpx.delete(f"{url}/admin/faults")
    assert call(net).status_code == 200
    assert json.loads(httpx.get(f"{url}/admin/state").text)["faults"]["http_status"] == 0
