"""A hostile TeeTLS provider: registered on chain as centralized, it signs routing proofs that lie.

Each lie is signed with the registered, acknowledged TEE key, so the SDK's ``processResponse`` would accept
it; the verdict refuses it and names why. The opt-in live check connects only where the SSRF policy allows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

import pytest
from eth_account import Account

from tests.core.conftest import devnet_network
from zerog_compute import Verdict, VerificationError, VerificationResult, ZeroG
from zerog_devnet import Devnet
from zerog_devnet.accounts import tee_account
from zerog_devnet.broker import teetls
from zerog_devnet.network import MAX_PROVIDERS

from .conftest import Hostile
from .hostile import SIGNATURE, HostileProvider, answer, completion, signed

MESSAGES = [{"role": "user", "content": "hi"}]
IDENTITY = "openai"
OTHER_CERT = teetls.make_certificate()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def proof(
    identity: str = IDENTITY, fingerprint: str = OTHER_CERT.fingerprint, response: bytes | None = None
) -> Callable[[bytes], str]:
    """A routing proof over the request received and ``response`` (default: the answer sent)."""
    answered = sha(completion() if response is None else response)

    def text_of(request: bytes) -> str:
        return f"{sha(request)}:{answered}:centralized:{identity}:{fingerprint}"

    return text_of


@pytest.fixture
def teetls_hostile(devnet: Devnet, hostile_server: HostileProvider) -> Iterator[Hostile]:
    """The hostile server registered as a centralized provider named ``openai`` (reverted after the test)."""
    hostile_server.reset()
    extra = teetls.additional_info(IDENTITY)
    info = devnet.register_external("hostile-teetls", hostile_server.url, additional_info=extra)
    user = devnet.users[1]
    network = devnet_network(devnet)
    with ZeroG(private_key=user.private_key, network=network, verification="off") as zg:
        zg.ledger.create("10")
        zg.acknowledge(info.address, amount="2")
    tee_key = tee_account(MAX_PROVIDERS - 1).private_key
    assert Account.from_key(tee_key).address == info.tee_signer
    yield Hostile(hostile_server, info.address, info.model, network, user.private_key, tee_key)
    hostile_server.reset()


def sign_with(hostile: Hostile, text_of: Callable[[bytes], str], key: str | None = None) -> None:
    hostile.server.script(SIGNATURE, signed(hostile.server, key or hostile.tee_key, text_of))


def serve_domain(hostile: Hostile, domain: str) -> None:
    listing = {"object": "list", "data": [{"id": hostile.model, "serving_domain": domain}]}
    hostile.server.script("/v1/models", answer(200, json.dumps(listing).encode()))


def verdict(hostile: Hostile, *, live: bool = False) -> VerificationResult:
    with ZeroG(
        private_key=hostile.private_key, network=hostile.network, verification="warn", check_upstream_certificate=live
    ) as zg:
        reply = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        assert reply.zerog is not None
        result = reply.zerog.verdict(timeout=60)
    assert result is not None
    return result


def test_control_an_honest_routing_proof_is_verified(teetls_hostile: Hostile) -> None:
    sign_with(teetls_hostile, proof())
    result = verdict(teetls_hostile)
    assert result.verdict is Verdict.verified and OTHER_CERT.fingerprint in result.detail


TAMPERED = {
    "identity": (proof(identity="anthropic"), Verdict.routing_mismatch, "provider identity 'anthropic'"),
    "fingerprint": (proof(fingerprint="not-a-fingerprint"), Verdict.routing_mismatch, "is not 64 hex digits"),
    "response": (proof(response=b"another answer"), Verdict.content_mismatch, "response hash differs"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_each_tampering_is_refused_with_a_verdict_that_names_it(teetls_hostile: Hostile, case: str) -> None:
    text_of, expected, why = TAMPERED[case]
    sign_with(teetls_hostile, text_of)
    result = verdict(teetls_hostile)
    assert result.verdict is expected and why in result.detail, result
    with (
        ZeroG(private_key=teetls_hostile.private_key, network=teetls_hostile.network, verification="enforce") as zg,
        pytest.raises(VerificationError, match=expected.value),
    ):
        zg.chat.completions.create(messages=MESSAGES, provider=teetls_hostile.address)


def test_a_routing_proof_signed_by_another_key_is_refused(teetls_hostile: Hostile) -> None:
    sign_with(teetls_hostile, proof(), key="0x" + "42" * 32)
    result = verdict(teetls_hostile)
    assert result.verdict is Verdict.invalid_signature and "not by the TEE signer" in result.detail


def test_the_live_check_passes_on_the_signed_certificate(teetls_hostile: Hostile, devnet: Devnet) -> None:
    tls = devnet.provider("teetls").runtime.upstream
    assert isinstance(tls, teetls.TlsUpstream)
    sign_with(teetls_hostile, proof(fingerprint=tls.identity.fingerprint))
    serve_domain(teetls_hostile, tls.serving_domain)
    result = verdict(teetls_hostile, live=True)
    assert result.verdict is Verdict.verified and "matches" in result.detail, result


def test_the_live_check_refuses_a_different_certificate(teetls_hostile: Hostile, devnet: Devnet) -> None:
    tls = devnet.provider("teetls").runtime.upstream
    assert isinstance(tls, teetls.TlsUpstream)
    sign_with(teetls_hostile, proof())  # signs OTHER_CERT, while serving_domain presents the devnet upstream's
    serve_domain(teetls_hostile, tls.serving_domain)
    result = verdict(teetls_hostile, live=True)
    assert result.verdict is Verdict.certificate_mismatch, result
    assert tls.identity.fingerprint in result.detail and OTHER_CERT.fingerprint in result.detail
    assert verdict(teetls_hostile).verdict is Verdict.verified  # without the opt-in nobody looks


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("localhost:443", "not a public address"),
        ("169.254.169.254", "not a public address"),
        ("10.1.2.3:8443", "not a public address"),
        ("api.example/v1", "not a host name"),
        ("", "names no serving_domain"),
    ],
)
def test_the_live_check_connects_only_where_the_policy_allows(teetls_hostile: Hostile, domain: str, why: str) -> None:
    sign_with(teetls_hostile, proof())
    serve_domain(teetls_hostile, domain)
    result = verdict(teetls_hostile, live=True)
    assert result.verdict is Verdict.unavailable and why in result.detail, result
    assert "check_upstream_certificate" in result.detail
