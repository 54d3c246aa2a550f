"""Response signing, the signature cache and EIP-712 settlement: the §4.4 and §5.2 vectors."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from zerog_devnet.broker.signing import (
    CHAT_ID_NOT_FOUND_ERROR,
    MOCK_TEE_ADDRESS,
    MOCK_TEE_KEY,
    SignatureCache,
    domain_separator,
    image_response_text,
    recover_text_signer,
    requests_hash,
    response_text,
    settlement_digest,
    sign_settlement,
    sign_text,
)

USER_KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
REQUEST = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
RESPONSE = b'{"id":"chatcmpl-x"}'
CHAT_TEXT = (
    "798d46639491d6c18f1779ddfca7da4b672f23a4cb57d66eeae48d9b8ccb6075:"
    "4bdc167f41842940a056a9195368a5ef454bfecbb3a7ee8c247e07313dd4fbef"
)
CHAT_SIGNATURE = (
    "0xce74cb87fdf174f93845cd2aa612e7be70758b902026a6f57c42d79c79b81296"
    "0d54cc11d3b9ee41ecbf06491df6778609293129b69b400c52df281e57ccde401c"
)
SETTLEMENT: dict[str, Any] = {
    "chain_id": 31337,
    "verifying_contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "requests_hash": keccak(b"abc"),
    "nonce": 17_500_000_000_000_000,
    "provider": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "user": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "total_fee": 10**15,
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_mock_tee_key_address() -> None:
    assert Account.from_key(MOCK_TEE_KEY).address == MOCK_TEE_ADDRESS


# ---------------------------------------------------------------------------------------------------------
# response signing


def test_response_signing_vector() -> None:
    text = response_text(REQUEST, RESPONSE)
    assert text == CHAT_TEXT
    digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(text)).encode() + text.encode())
    assert "0x" + digest.hex() == "0x05713efb009e7c3fe1b46b68f37c6b7863fafd3f78c9feb6482f5d3f2f7e92c9"
    assert sign_text(text, MOCK_TEE_KEY) == CHAT_SIGNATURE
    assert recover_text_signer(text, CHAT_SIGNATURE) == MOCK_TEE_ADDRESS


def test_sign_text_sanity_vector() -> None:
    signature = sign_text("abc:def", USER_KEY)
    assert signature == (
        "0x61c3fcc1a52d6a12ede1f5d5626db0a343cc34e6c1384ffbfa7193ee91e0bcf7"
        "62dbdcb32a053b080ce6adae629ca546d774d1e44b08eaa4e4dc2a5b70b1cef21b"
    )
    assert len(signature) == 132 and int(signature[-2:], 16) in (27, 28)


def test_image_response_text() -> None:
    images = [b"\x89PNG one", b"\x89PNG two"]
    expected = ":".join(
        [
            hashlib.sha256(REQUEST).hexdigest(),
            ",".join(hashlib.sha256(image).hexdigest() for image in images),
        ]
    )
    assert image_response_text(REQUEST, images) == expected
    assert image_response_text(REQUEST, images[:1]) == response_text(REQUEST, images[0])


# ---------------------------------------------------------------------------------------------------------
# signature cache


def test_cache_hit_body() -> None:
    cache = SignatureCache()
    cache.put("Chat-1", CHAT_TEXT, CHAT_SIGNATURE, MOCK_TEE_ADDRESS)
    assert cache.get("chat-1") == {
        "text": CHAT_TEXT,
        "signature": CHAT_SIGNATURE,
        "signing_address": MOCK_TEE_ADDRESS.lower(),
        "signing_algo": "ecdsa",
    }
    assert cache.get("CHAT-1") is not None
    assert cache.get("chat-2") is None


def test_cache_ttl_defaults_to_20_minutes() -> None:
    clock = FakeClock()
    cache = SignatureCache(clock=clock)
    cache.put("k", "t", "0xsig", MOCK_TEE_ADDRESS)
    clock.now += 20 * 60 - 0.001
    assert cache.get("k") is not None
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0


def test_cache_custom_ttl_prunes_and_clear() -> None:
    clock = FakeClock()
    cache = SignatureCache(ttl=5, clock=clock)
    cache.put("old", "t", "0xsig", MOCK_TEE_ADDRESS)
    clock.now += 6
    cache.put("new", "t", "0xsig", MOCK_TEE_ADDRESS)
    assert len(cache) == 1
    cache.clear()
    assert cache.get("new") is None


def test_cache_returns_a_copy() -> None:
    cache = SignatureCache()
    cache.put("k", "t", "0xsig", MOCK_TEE_ADDRESS)
    body = cache.get("k")
    assert body is not None
    body["text"] = "changed"
    assert cache.get("k") == {**body, "text": "t"}


def test_miss_error_text() -> None:
    assert CHAT_ID_NOT_FOUND_ERROR == "prepare HTTP request: Chat id not found or expired, chat_id_not_found"


# ---------------------------------------------------------------------------------------------------------
# EIP-712 settlement


def test_requests_hash_vector() -> None:
    rows = [
        (
            "123e4567-e89b-12d3-a456-426614174000",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            "1000",
            "400",
            "600",
        )
    ]
    assert "0x" + requests_hash(rows).hex() == ("0x4296d87fa3731a034807b884f72cb2a092463358f713d12e7604213e8fc117e6")


def test_requests_hash_concatenates_rows_in_order() -> None:
    a = ("a", "0xU", "3", "1", "2")
    b = ("b", "0xU", "5", "0", "5")
    assert requests_hash([a, b]) == keccak(b"a0xU312b0xU505")
    assert requests_hash([]) == keccak(b"")


def test_domain_separator_vector() -> None:
    separator = domain_separator(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    assert "0x" + separator.hex() == "0x5e9e221e5f8f7cbbe8af60d8d96a928129a96e678b65ea192079c1dbb5b0458a"


def test_settlement_digest_and_signature_vector() -> None:
    assert "0x" + keccak(b"abc").hex() == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    digest = settlement_digest(**SETTLEMENT)
    assert "0x" + digest.hex() == "0x64b1c2aaa9e219c5e23188d995c149e4cc5a826a2f1f1a541589a5b37297e6dc"
    signature = sign_settlement(**SETTLEMENT, private_key=MOCK_TEE_KEY)
    assert "0x" + signature.hex() == (
        "0x35e87398a75d867f0dbe52de43fd6a1e20851aa27afee659061f120ee43ee8b6"
        "1d488f7c3620ab88a8f8820fd9052fd1b67a1f678de402be1a599377660188781b"
    )
    assert len(signature) == 65 and signature[64] in (27, 28)


def test_settlement_digest_matches_eth_account_typed_data() -> None:
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "TEESettlement": [
                    {"name": "requestsHash", "type": "bytes32"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "provider", "type": "address"},
                    {"name": "user", "type": "address"},
                    {"name": "totalFee", "type": "uint256"},
                ],
            },
            "primaryType": "TEESettlement",
            "domain": {
                "name": "0G Inference Serving",
                "version": "1",
                "chainId": 1,
                "verifyingContract": SETTLEMENT["verifying_contract"],
            },
            "message": {
                "requestsHash": keccak(b"x"),
                "nonce": 5,
                "provider": SETTLEMENT["provider"],
                "user": SETTLEMENT["user"],
                "totalFee": 7,
            },
        }
    )
    params = {**SETTLEMENT, "chain_id": 1, "requests_hash": keccak(b"x"), "nonce": 5, "total_fee": 7}
    signed = Account.sign_message(message, MOCK_TEE_KEY)
    assert signed.message_hash == settlement_digest(**params)


@pytest.mark.parametrize(
    "override",
    [{"requests_hash": b"short"}, {"nonce": -1}, {"total_fee": 2**256}, {"user": "0x1234"}],
)
def test_settlement_rejects_malformed_fields(override: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        settlement_digest(**{**SETTLEMENT, **override})
