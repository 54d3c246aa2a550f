"""The official TS SDK against the new provider kinds, and zerog-compute's verdict on the very same bytes.

Each case is run by the SDK under Node (fund, acknowledge, chat plain and streamed, ``processResponse``); the
exact request and response texts come back, and Python judges them with the signature the provider serves.
The table in docs/verification.md is this test's expectations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zerog_compute import Verdict, ZeroG
from zerog_compute.verification import VerificationResult, evaluate
from zerog_devnet import Devnet

from ..core.conftest import devnet_network
from .test_sdk_interop import run_node

pytestmark = [pytest.mark.devnet, pytest.mark.node]

# (provider, model or None for the on-chain default, fault or None) -> (SDK processResponse, our verdict)
CASES: dict[tuple[str, str | None, str | None], tuple[bool, Verdict]] = {  # two per provider: its burst is 5
    ("rewriter", None, None): (True, Verdict.verified),
    ("separated", None, None): (True, Verdict.verified),
    ("multi", "zerog-devnet/multi-chat-mini", None): (True, Verdict.verified),
    ("rewriter", None, "sign_other_content"): (True, Verdict.content_mismatch),
    ("multi", None, "sign_other_content"): (True, Verdict.content_mismatch),
    ("separated", None, "wrong_signature"): (False, Verdict.invalid_signature),
}


@pytest.fixture(scope="module")
def sdk_runs(devnet_session: Devnet) -> Iterator[tuple[Devnet, list[dict[str, Any]]]]:
    net = devnet_session
    snapshot = net.snapshot()
    cases = [
        {"address": net.provider(name).info.address, "url": net.provider(name).info.url, "model": model, "fault": fault}
        for name, model, fault in CASES
    ]
    env = {"ZG_RPC_URL": net.rpc_url, "ZG_USER_KEY": net.users[1].private_key, "ZG_CASES": json.dumps(cases)}
    try:
        yield net, run_node("kinds", env)
    finally:
        net.revert(snapshot)


def python_verdict(net: Devnet, address: str, run: dict[str, Any]) -> VerificationResult:
    with ZeroG(private_key=net.users[2].private_key, network=devnet_network(net)) as zg:
        service = zg.services.get(address)
    answer = httpx.get(f"{service.endpoint}/signature/{run['chatID']}", params={"model": service.model}, timeout=10)
    return evaluate(
        service=service,
        chat_id=run["chatID"],
        signature_payload=answer.json() if answer.status_code == 200 else None,
        request_body=run["request"].encode(),
        response_body=run["response"].encode(),
        fetch_error=None if answer.status_code == 200 else answer.text,
    )


@pytest.mark.parametrize("index", range(len(CASES)), ids=["-".join(str(p) for p in case if p) for case in CASES])
def test_sdk_and_python_judge_the_same_responses(sdk_runs: tuple[Devnet, list[dict[str, Any]]], index: int) -> None:
    net, runs = sdk_runs
    (name, model, _fault), (sdk_accepts, verdict) = list(CASES.items())[index]
    address = net.provider(name).info.address
    for run in (runs[index]["plain"], runs[index]["stream"]):
        assert run["status"] == 200, run["response"]
        assert run["valid"] is sdk_accepts
        result = python_verdict(net, address, run)
        assert result.verdict is verdict, result.detail
        if name == "separated":
            assert run["resKey"] is None and run["chatID"].startswith("chatcmpl-")
        if model is not None:
            assert json.loads(run["request"])["model"] == model
        if name == "rewriter" and verdict is Verdict.verified:
            assert result.request_bound is False and "rewrote the request" in result.detail
