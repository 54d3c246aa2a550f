"""The official TypeScript SDK, run under Node, against the devnet: proof that the devnet is faithful."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zerog_devnet import Devnet, artifacts
from zerog_devnet.chain import contract

pytestmark = [pytest.mark.devnet, pytest.mark.node]
SCRIPT = Path(__file__).parent / "node" / "sdk_flow.cjs"


def run_node(mode: str, env: dict[str, str] | None = None) -> Any:
    node = shutil.which("node")
    assert node, "Node.js is required for the SDK interop tests"
    proc = subprocess.run(
        [node, str(SCRIPT), mode], env={**os.environ, **(env or {})}, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sdk_flow(devnet_session: Devnet) -> Iterator[tuple[Devnet, dict[str, Any]]]:
    net = devnet_session
    snapshot = net.snapshot()
    provider = net.provider("chat-a").info
    env = {
        "ZG_RPC_URL": net.rpc_url,
        "ZG_USER_KEY": net.users[0].private_key,
        "ZG_PROVIDER": provider.address,
    }
    try:
        yield net, run_node("flow", env)
    finally:
        net.revert(snapshot)


def test_python_abi_parser_matches_what_ethers_loads() -> None:
    from_node = run_node("abi")
    for name, abi in from_node.items():
        assert artifacts.load(name).abi == abi, name


def test_sdk_lists_the_provider_and_gets_metadata(sdk_flow: tuple[Devnet, dict[str, Any]]) -> None:
    net, out = sdk_flow
    info = net.provider("chat-a").info
    assert info.address in out["listed"]
    assert out["endpoint"] == f"{info.url}/v1/proxy"
    assert out["model"] == info.model


def test_sdk_chat_is_answered_and_process_response_verifies(sdk_flow: tuple[Devnet, dict[str, Any]]) -> None:
    _, out = sdk_flow
    assert out["status"] == 200
    assert out["answer"].strip().endswith("5") or "5" in out["answer"]
    assert out["valid"] is True
    assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["completion_tokens"] > 0


def test_sdk_stream_ends_with_usage_and_verifies(sdk_flow: tuple[Devnet, dict[str, Any]]) -> None:
    _, out = sdk_flow
    stream = out["stream"]
    assert stream["status"] == 200
    assert stream["usage"]["completion_tokens"] > 0
    assert stream["content"]
    assert stream["valid"] is True


def test_settlement_drops_sub_account_by_the_billed_fee(sdk_flow: tuple[Devnet, dict[str, Any]]) -> None:
    net, out = sdk_flow
    handle = net.provider("chat-a")
    inference = contract(net.w3, "InferenceServing", net.contracts.inference)
    user = out["user"]
    before = inference.functions.getAccount(user, handle.info.address).call()[3]
    expected = sum(
        u["prompt_tokens"] * handle.info.input_price + u["completion_tokens"] * handle.info.output_price
        for u in (out["usage"], out["stream"]["usage"])
    )
    assert handle.unsettled(user) == expected
    summary = handle.settle_now()
    after = inference.functions.getAccount(user, handle.info.address).call()[3]
    assert int(summary["settled"]) == expected
    assert before - after == expected
    assert handle.unsettled(user) == 0


def _tamper(authorization: str) -> str:
    raw = base64.b64decode(authorization.removeprefix("Bearer app-sk-")).decode()
    message, signature = raw.split("|", 1)
    token = json.loads(message)
    token["nonce"] = token["nonce"][:-1] + ("1" if token["nonce"][-1] != "1" else "2")
    forged = json.dumps(token, separators=(",", ":")) + "|" + signature
    return "Bearer app-sk-" + base64.b64encode(forged.encode()).decode()


def test_provider_accepts_the_sdk_token_and_rejects_a_tampered_one(
    sdk_flow: tuple[Devnet, dict[str, Any]],
) -> None:
    net, out = sdk_flow
    url = f"{net.provider('chat-a').info.url}/v1/proxy/chat/completions"
    body = {"model": out["model"], "messages": [{"role": "user", "content": "hi"}]}
    good = httpx.post(url, json=body, headers={"Authorization": out["authorization"]})
    assert good.status_code == 200, good.text
    bad = httpx.post(url, json=body, headers={"Authorization": _tamper(out["authorization"])})
    assert bad.status_code == 400
    assert bad.json() == {"error": "validate session: signature verification failed: address mismatch"}
