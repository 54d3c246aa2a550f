"""Response signing (EIP-191), the signature cache, and EIP-712 settlement signatures.

Responses: the TEE key signs ``sha256hex(request):sha256hex(response)`` as UTF-8 text; the result is cached
20 minutes under the chat key returned in ``ZG-Res-Key`` and served at ``/v1/proxy/signature/{chatID}``.
Settlements: ``settleFeesWithTEE`` items carry an EIP-712 ``TEESettlement`` signature by the same key.
"""

import hashlib
import threading
import time
from collections.abc import Callable, Sequence

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

MOCK_TEE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe512961708279b7e1a8d7d7a3c2b9e3"
"""The broker's fixed mock-mode TEE signer key (``NETWORK=hardhat``); public test material."""
MOCK_TEE_ADDRESS = "0x325744be57db298C2652c672B32Eb12875d92D83"

SIGNATURE_TTL_SECONDS = 20 * 60
CHAT_ID_NOT_FOUND_ERROR = "prepare HTTP request: Chat id not found or expired, chat_id_not_found"
"""Body text (``{"error": ...}``) of a signature-cache miss."""

DOMAIN_NAME = "0G Inference Serving"
DOMAIN_VERSION = "1"
DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
SETTLEMENT_TYPEHASH = keccak(
    b"TEESettlement(bytes32 requestsHash,uint256 nonce,address provider,address user,uint256 totalFee)"
)


# ---------------------------------------------------------------------------------------------------------
# response signing (EIP-191 personal_sign over text)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def response_text(request_body: bytes, response_body: bytes) -> str:
    """The "chat" format: ``sha256hex(request) + ":" + sha256hex(response)``."""
    return f"{_sha256_hex(request_body)}:{_sha256_hex(response_body)}"


def image_response_text(request_body: bytes, images: list[bytes]) -> str:
    """Image format: ``sha256hex(body) + ":" + ",".join(sha256hex(image))`` over the decoded images.

    The broker falls back to :func:`response_text` when no images can be extracted; callers do the same.
    """
    return f"{_sha256_hex(request_body)}:{','.join(_sha256_hex(image) for image in images)}"


def sign_text(text: str, private_key: str) -> str:
    """EIP-191 ``personal_sign`` over the UTF-8 text; ``0x`` + 130 hex, v in {27, 28}."""
    signed = Account.sign_message(encode_defunct(text=text), private_key)
    return "0x" + bytes(signed.signature).hex()


def recover_text_signer(text: str, signature: str) -> str:
    """The checksummed address that produced ``signature`` over ``text`` (EIP-191)."""
    address: str = Account.recover_message(encode_defunct(text=text), signature=signature)
    return address


class SignatureCache:
    """In-memory ``chat:<id>`` cache of response signatures with a fixed TTL; thread-safe."""

    def __init__(self, ttl: float = SIGNATURE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def put(
        self, chat_id: str, text: str, signature: str, signing_address: str, extra: dict[str, str] | None = None
    ) -> None:
        """Cache a signature; ``signing_address`` is stored lower-case, as Go encodes ``common.Address``;
        ``extra`` holds a routing proof's ``provider_type``, ``provider_identity`` and ``tls_cert_fingerprint``."""
        body = {
            "text": text,
            "signature": signature,
            "signing_address": signing_address.lower(),
            "signing_algo": "ecdsa",
            **(extra or {}),
        }
        with self._lock:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[chat_id.lower()] = (now + self._ttl, body)

    def get(self, chat_id: str) -> dict[str, str] | None:
        """The JSON body for a hit, or None when missing or expired (lookups are case-insensitive)."""
        key = chat_id.lower()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            return dict(entry[1])

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# ---------------------------------------------------------------------------------------------------------
# EIP-712 settlement


def requests_hash(rows: Sequence[tuple[str, str, str, str, str]]) -> bytes:
    """keccak256 of the UTF-8 concatenation of ``requestHash‖user‖fee‖inputFee‖outputFee`` over the rows."""
    return keccak("".join("".join(row) for row in rows).encode("utf-8"))


def _uint256(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"not a uint256: {value}")
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address[:2].lower() == "0x" else address)
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address}")
    return raw.rjust(32, b"\0")


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """EIP-712 domain separator for ``{"0G Inference Serving", "1", chainId, verifyingContract}``."""
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + _uint256(chain_id)
        + _address_word(verifying_contract)
    )


def settlement_digest(
    *,
    chain_id: int,
    verifying_contract: str,
    requests_hash: bytes,
    nonce: int,
    provider: str,
    user: str,
    total_fee: int,
) -> bytes:
    """``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(TEESettlement))``."""
    if len(requests_hash) != 32:
        raise ValueError("requests_hash must be 32 bytes")
    struct_hash = keccak(
        SETTLEMENT_TYPEHASH
        + requests_hash
        + _uint256(nonce)
        + _address_word(provider)
        + _address_word(user)
        + _uint256(total_fee)
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, verifying_contract) + struct_hash)


def sign_settlement(
    *,
    chain_id: int,
    verifying_contract: str,
    requests_hash: bytes,
    nonce: int,
    provider: str,
    user: str,
    total_fee: int,
    private_key: str,
) -> bytes:
    """The 65-byte ``r‖s‖v`` (v in {27, 28}) TEE signature over :func:`settlement_digest`."""
    digest = settlement_digest(
        chain_id=chain_id,
        verifying_contract=verifying_contract,
        requests_hash=requests_hash,
        nonce=nonce,
        provider=provider,
        user=user,
        total_fee=total_fee,
    )
    return bytes(Account.unsafe_sign_hash(digest, private_key).signature)
