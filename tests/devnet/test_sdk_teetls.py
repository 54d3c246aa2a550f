"""The official TS SDK and our verdicts on the same TeeTLS answers: an honest routing proof and a lying one.

The SDK's ``processResponse`` checks only who signed; our verdict also checks what the routing proof says.
On the devnet's honest TeeTLS provider both accept; on a hostile one that signs another provider identity
with its registered TEE key, the SDK accepts and we refuse (``routing_mismatch``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.hostile import SIGNATURE, HostileProvider, completion, signed
from tests.core.conftest import devnet_network
from zerog_compute import Verdict, VerificationResult, ZeroG
from zerog_devnet import Devnet
from zerog_devnet.accounts import tee_account
from zerog_devnet.broker import teetls
from zerog_devnet.network import MAX_PROVIDERS

pytestmark = [pytest.mark.devnet, pytest.mark.node]
SCRIPT = Path(__file__).parent / "node" / "sdk_teetls.cjs"
LIE = "someone-else"


def _lying_proof(request: bytes) -> str:
    hashes = f"{hashlib.sha256(request).hexdigest()}:{hashlib.sha256(completion()).hexdigest()}"
    return f"{hashes}:centralized:{LIE}:{'ab' * 32}"


@pytest.fixture(scope="module")
def sdk_run(devnet_session: Devnet) -> Iterator[tuple[Devnet, dict[str, str], dict[str, Any]]]:
    node = shutil.which("node")
    assert node, "Node.js is required for the SDK interop tests"
    net = devnet_session
    snapshot = net.snapshot()
    server = HostileProvider()
    try:
        hostile = net.register_external("hostile-teetls", server.url, additional_info=teetls.additional_info("openai"))
        server.script(SIGNATURE, signed(server, tee_account(MAX_PROVIDERS - 1).private_key, _lying_proof))
        addresses = {"honest": net.provider("teetls").info.address, "lying": hostile.address}
        env = {
            "ZG_RPC_URL": net.rpc_url,
            "ZG_USER_KEY": net.users[2].private_key,
            "ZG_PROVIDERS": ",".join(addresses.values()),
        }
        proc = subprocess.run(
            [node, str(SCRIPT)], env={**os.environ, **env}, capture_output=True, timeout=180, check=False
        )
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        yield net, addresses, json.loads(proc.stdout.decode().strip().splitlines()[-1])
    finally:
        server.close()
        net.revert(snapshot)


def _our_verdicts(net: Devnet, address: str, run: dict[str, Any]) -> dict[str, VerificationResult]:
    """Our verdicts on the exact bytes the SDK sent and received."""
    with ZeroG(private_key=net.users[2].private_key, network=devnet_network(net), verification="warn") as zg:
        return {
            kind: zg.verify(
                address,
                run[kind]["chatID"],
                request_body=run[kind]["request"].encode(),
                response_body=run[kind]["response"].encode(),
            )
            for kind in ("plain", "stream")
        }


def test_sdk_and_we_both_verify_the_honest_teetls_provider(
    sdk_run: tuple[Devnet, dict[str, str], dict[str, Any]],
) -> None:
    net, addresses, out = sdk_run
    run = out[addresses["honest"]]
    assert run["plain"]["status"] == run["stream"]["status"] == 200
    assert run["plain"]["valid"] is True and run["stream"]["valid"] is True
    for kind, result in _our_verdicts(net, addresses["honest"], run).items():
        assert result.verdict is Verdict.verified and result.content_bound is True, (kind, result)
        assert teetls.DEFAULT_IDENTITY in result.detail, result


def test_sdk_accepts_a_lying_routing_proof_that_we_refuse(
    sdk_run: tuple[Devnet, dict[str, str], dict[str, Any]],
) -> None:
    net, addresses, out = sdk_run
    run = out[addresses["lying"]]
    assert run["plain"]["valid"] is True and run["stream"]["valid"] is True  # the SDK checks the signer only
    # the hostile signs over the last request it received: the SDK's second one, which we judge
    result = _our_verdicts(net, addresses["lying"], run)["stream"]
    assert result.verdict is Verdict.routing_mismatch and f"provider identity {LIE!r}" in result.detail, result
