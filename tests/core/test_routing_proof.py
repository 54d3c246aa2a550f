"""TeeTLS routing proofs (provider-protocol §5.4): what the signed text must say, judged without I/O."""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from zerog_compute import routing_proof
from zerog_compute._io import PeerCertificate
from zerog_compute._tls_probe import ProbeRefused, vetted_address
from zerog_compute.errors import VerificationError
from zerog_compute.routing_proof import TlsTarget, certificate_fingerprint, tls_target
from zerog_compute.verification import Verdict, VerificationResult, evaluate

TEE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe512961708279b7e1a8d7d7a3c2b9e3"
TEE_ADDRESS = "0x325744be57db298C2652c672B32Eb12875d92D83"
OTHER_KEY = "0x" + "11" * 32
REQUEST = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
RESPONSE = b'{"id":"chatcmpl-x"}'
FINGERPRINT = hashlib.sha256(b"a certificate").hexdigest()
IDENTITY = "devnet-upstream"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(text: str, key: str = TEE_KEY) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=text), key).signature).hex()


def proof(
    provider_type: str = "centralized",
    identity: str = IDENTITY,
    fingerprint: str = FINGERPRINT,
    response: bytes = RESPONSE,
) -> str:
    return f"{sha(REQUEST)}:{sha(response)}:{provider_type}:{identity}:{fingerprint}"


def service(**info: Any) -> dict[str, Any]:
    additional = {"ProviderType": "centralized", "ProviderIdentity": IDENTITY, "TargetSeparated": True} | info
    return {
        "provider": "0xa48f01287233509FD694a22Bf840225062E67836",
        "verifiability": "TeeML",
        "tee_signer_acknowledged": True,
        "additional_info": json.dumps({k: v for k, v in additional.items() if v is not None}),
        "tee_signer_address": TEE_ADDRESS,
    }


def judge(text: str, *, key: str = TEE_KEY, **info: Any) -> VerificationResult:
    return evaluate(
        service=service(**info),
        chat_id="chat-1",
        signature_payload={"text": text, "signature": sign(text, key)},
        request_body=REQUEST,
        response_body=RESPONSE,
    )


def test_an_honest_routing_proof_is_verified_and_says_what_it_binds() -> None:
    result = judge(proof())
    assert result.verdict is Verdict.verified and result.content_bound is True
    assert IDENTITY in result.detail and FINGERPRINT in result.detail


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (proof(identity="someone-else"), "provider identity 'someone-else'"),
        (proof(provider_type="decentralized"), "provider type 'decentralized'"),
        (proof(fingerprint="zz" * 32), "is not 64 hex digits"),
        (proof(fingerprint=FINGERPRINT[:-2]), "is not 64 hex digits"),
        (proof(fingerprint=FINGERPRINT + "00"), "is not 64 hex digits"),
        (proof(fingerprint=""), "is not 64 hex digits"),
        (f"{sha(REQUEST)}:{sha(RESPONSE)}", "no routing proof"),
    ],
    ids=["identity", "type", "non-hex", "short", "long", "empty", "chat-format"],
)
def test_a_tampered_routing_proof_is_refused_with_the_reason(text: str, why: str) -> None:
    result = judge(text)
    assert result.verdict is Verdict.routing_mismatch and not result.ok, result
    assert why in result.detail and result.recovered_signer == TEE_ADDRESS
    with pytest.raises(VerificationError, match="routing_mismatch"):
        result.raise_for_verdict()


def test_the_chain_decides_type_and_identity() -> None:
    assert judge(proof(), ProviderIdentity=None).verdict is Verdict.routing_mismatch
    assert "registered no ProviderIdentity" in judge(proof(), ProviderIdentity=None).detail
    decentralized = judge(proof(), ProviderType=None, ProviderIdentity=None)
    assert decentralized.verdict is Verdict.routing_mismatch and "(decentralized)" in decentralized.detail
    assert judge(proof(identity="other"), ProviderIdentity="other").verdict is Verdict.verified


def test_a_tampered_response_or_signer_is_refused_before_the_routing_fields() -> None:
    assert judge(proof(response=b"another answer")).verdict is Verdict.content_mismatch
    assert judge(proof(), key=OTHER_KEY).verdict is Verdict.invalid_signature


def test_parse_takes_only_the_five_field_form_with_two_hashes() -> None:
    parsed = routing_proof.parse(proof())
    assert parsed is not None and parsed.provider_identity == IDENTITY and parsed.tls_cert_fingerprint == FINGERPRINT
    assert routing_proof.parse(f"{sha(REQUEST)}:{sha(RESPONSE)}") is None
    assert routing_proof.parse(f"{sha(REQUEST)}:junk:centralized:{IDENTITY}:{FINGERPRINT}") is None
    assert routing_proof.parse(proof() + ":extra") is None


def test_certificate_fingerprint_is_lower_case_sha256_of_the_der() -> None:
    assert certificate_fingerprint(b"\x30\x82") == hashlib.sha256(b"\x30\x82").hexdigest()


PROVIDER = "http://127.0.0.1:3080"


@pytest.mark.parametrize(
    ("domain", "target"),
    [
        ("api.openai.com", TlsTarget("api.openai.com", 443, public_only=True)),
        ("API.OpenAI.com:8443", TlsTarget("api.openai.com", 8443, public_only=True)),
        ("https://api.openai.com", TlsTarget("api.openai.com", 443, public_only=True)),
        ("127.0.0.1:9443", TlsTarget("127.0.0.1", 9443, public_only=False)),
        ("10.0.0.1", TlsTarget("10.0.0.1", 443, public_only=True)),
        ("localhost:9443", TlsTarget("localhost", 9443, public_only=True)),
    ],
)
def test_tls_target_lets_only_the_providers_own_host_be_private(domain: str, target: TlsTarget) -> None:
    assert tls_target(domain, PROVIDER) == target


@pytest.mark.parametrize(
    "domain",
    [None, "", 5, "http://api.openai.com", "api.openai.com/v1", "user@api.openai.com", "a b", "x" * 300, "h?q"],
)
def test_tls_target_refuses_what_is_not_a_host(domain: object) -> None:
    assert isinstance(tls_target(domain, PROVIDER), str)


def _infos(*addresses: str) -> list[tuple[object, ...]]:
    return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443)) for a in addresses]


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("10.0.0.7",),
        ("169.254.169.254",),
        ("::1",),
        ("::ffff:127.0.0.1",),
        ("224.0.0.1",),
        ("100.64.0.1",),
        ("8.8.8.8", "192.168.1.1"),
        ("fe80::1%eth0",),
    ],
)
def test_the_probe_refuses_any_address_that_is_not_public(addresses: tuple[str, ...]) -> None:
    with pytest.raises(ProbeRefused, match="not a public address"):
        vetted_address(PeerCertificate("api.example", 443), _infos(*addresses))


def test_the_probe_connects_to_a_vetted_public_address_or_the_providers_own_host() -> None:
    assert vetted_address(PeerCertificate("api.example", 443), _infos("8.8.8.8", "2001:4860::8888")) == "8.8.8.8"
    own = PeerCertificate("127.0.0.1", 9443, public_only=False)
    assert vetted_address(own, _infos("127.0.0.1")) == "127.0.0.1"
    with pytest.raises(ProbeRefused, match="no address"):
        vetted_address(own, [])
