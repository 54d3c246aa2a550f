"""The devnet's TeeTLS (centralized) provider: real HTTPS upstream, routing proofs, verdicts and the live check."""

from __future__ import annotations

import json

import httpx
import pytest

from zerog_compute import AsyncZeroG, ConfigurationError, Verdict, VerificationResult, ZeroG, routing_proof
from zerog_devnet import Devnet
from zerog_devnet.broker import teetls
from zerog_devnet.chain import contract

from .conftest import devnet_network

pytestmark = pytest.mark.devnet
MESSAGES = [{"role": "user", "content": "What is 2 + 3?"}]


def upstream(net: Devnet) -> teetls.TlsUpstream:
    tls = net.provider("teetls").runtime.upstream
    assert isinstance(tls, teetls.TlsUpstream)
    return tls


def test_the_provider_registers_as_centralized_and_publishes_its_serving_domain(devnet: Devnet) -> None:
    info = devnet.provider("teetls").info
    inference = contract(devnet.w3, "InferenceServing", devnet.contracts.inference)
    additional = json.loads(inference.functions.getService(info.address).call()[8])
    assert additional["ProviderType"] == "centralized" and additional["TargetSeparated"] is True
    assert additional["ProviderIdentity"] == teetls.DEFAULT_IDENTITY
    entry = httpx.get(f"{info.url}/v1/models").json()["data"][0]
    assert entry["provider_type"] == "centralized" and entry["provider_identity"] == teetls.DEFAULT_IDENTITY
    assert entry["serving_domain"] == upstream(devnet).serving_domain
    assert upstream(devnet).base_url.startswith("https://")


def _check_routing(result: object, net: Devnet) -> None:
    assert isinstance(result, VerificationResult)
    assert result.verdict is Verdict.verified and result.content_bound is True, result
    proof = routing_proof.parse(result.signed_text or "")
    assert proof is not None and proof.provider_type == "centralized"
    assert proof.provider_identity == teetls.DEFAULT_IDENTITY
    assert proof.tls_cert_fingerprint == upstream(net).identity.fingerprint


def test_chat_plain_and_streamed_are_verified_routing_proofs(devnet: Devnet) -> None:
    address = devnet.provider("teetls").info.address
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), verification="enforce") as zg:
        zg.ledger.create("10")
        zg.acknowledge(address, amount="2")
        reply = zg.chat.completions.create(provider=address, messages=MESSAGES)
        assert reply.zerog is not None and "5" in (reply.choices[0].message.content or "")
        _check_routing(reply.zerog.verification, devnet)
        chunks = list(zg.chat.completions.create(provider=address, messages=MESSAGES, stream=True))
        assert chunks[-1].zerog is not None
        _check_routing(chunks[-1].zerog.verification, devnet)
        signature = httpx.get(f"{devnet.provider('teetls').info.url}/v1/proxy/signature/{reply.zerog.chat_id}").json()
    assert signature["provider_type"] == "centralized"
    assert signature["tls_cert_fingerprint"] == upstream(devnet).identity.fingerprint


@pytest.mark.anyio
async def test_the_live_certificate_check_passes_against_the_devnet_upstream(devnet: Devnet) -> None:
    address = devnet.provider("teetls").info.address
    async with AsyncZeroG(
        private_key=devnet.users[0].private_key,
        network=devnet_network(devnet),
        verification="enforce",
        check_upstream_certificate=True,
    ) as zg:
        await zg.ledger.create("10")
        await zg.acknowledge(address, amount="2")
        reply = await zg.chat.completions.create(provider=address, messages=MESSAGES)
        assert reply.zerog is not None
        _check_routing(reply.zerog.verification, devnet)
        assert reply.zerog.verification is not None
        assert f"the live certificate of {upstream(devnet).serving_domain} matches" in reply.zerog.verification.detail
        last = None
        async for chunk in await zg.chat.completions.create(provider=address, messages=MESSAGES, stream=True):
            last = chunk
        assert last is not None and last.zerog is not None and last.zerog.verification is not None
        assert "matches" in last.zerog.verification.detail
        by_id = await zg.verify(address, reply.zerog.chat_id or "")
    assert by_id.verdict is Verdict.verified and "matches" in by_id.detail


def test_the_live_check_is_off_by_default_and_validated(devnet: Devnet) -> None:
    address = devnet.provider("teetls").info.address
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), verification="enforce") as zg:
        zg.ledger.create("10")
        zg.acknowledge(address, amount="2")
        reply = zg.chat.completions.create(provider=address, messages=MESSAGES)
    assert reply.zerog is not None and reply.zerog.verification is not None
    assert "live certificate" not in reply.zerog.verification.detail
    with pytest.raises(ConfigurationError, match="check_upstream_certificate"):
        ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), check_upstream_certificate=1)
