"""Session-token validation, step for step like the broker's ``ctrl.ValidateSession``.

Header: ``Authorization: Bearer app-sk-<std base64(rawMessage + "|" + signature)>``; ``rawMessage`` is the
JSON token, ``signature`` an EIP-191 signature over the 32 bytes ``keccak256(rawMessage)``.
Every failure raises :class:`SessionError` whose ``message`` is the broker's exact text (the server wraps
it as ``validate session: <message>``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from zerog_devnet.broker._gocompat import GoError, GoNumber, b64_std_decode, hexutil_decode, json_loads

BEARER_PREFIX = "Bearer app-sk-"
EPHEMERAL_TOKEN_ID = 255
EPHEMERAL_MAX_DURATION_MS = 24 * 60 * 60 * 1000

MISSING_HEADER = "missing or invalid Authorization header, must be Bearer app-sk-<base64(rawMessage:signature)>"
BAD_PAYLOAD = "invalid Authorization payload, expect base64(rawMessage:signature)"
WRONG_PROVIDER = "session token is for different provider"
EPHEMERAL_NO_EXPIRY = "ephemeral token must have an expiration time"
EPHEMERAL_TOO_LONG = "ephemeral token duration cannot exceed 24 hours"
EXPIRED = "session token expired"
GENERATION_EXPIRED = "session token has been revoked (generation expired)"
FUTURE_GENERATION = "invalid session token (future generation)"
REVOKED = "session token has been revoked"
BAD_SIGNATURE_LENGTH = "invalid signature length"
ADDRESS_MISMATCH = "signature verification failed: address mismatch"

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_GO_STRUCT = "SessionToken"
_GO_TYPE = "ctrl.SessionToken"
# Folded JSON key -> (canonical JSON name, attribute, Go type). Go matches keys case-insensitively.
_FIELDS: dict[str, tuple[str, str, str]] = {
    "address": ("address", "address", "string"),
    "provider": ("provider", "provider", "string"),
    "timestamp": ("timestamp", "timestamp", "int64"),
    "expiresat": ("expiresAt", "expires_at", "int64"),
    "nonce": ("nonce", "nonce", "string"),
    "generation": ("generation", "generation", "uint64"),
    "tokenid": ("tokenId", "token_id", "uint8"),
}
_INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1), "uint8": (0, 255)}


class SessionError(Exception):
    """A rejected session; ``message`` is the broker's exact error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SessionToken:
    """A decoded token. ``address`` is the user exactly as written in the token (the broker's user key)."""

    address: str
    provider: str
    timestamp: int
    expires_at: int
    nonce: str
    generation: int
    token_id: int
    raw_message: str
    signature: str


@dataclass(frozen=True)
class AccountState:
    """The on-chain ``Account`` fields revocation depends on."""

    generation: int
    revoked_bitmap: int


# ---------------------------------------------------------------------------------------------------------
# steps 1-4: header -> token


def parse_authorization(header: str | None) -> SessionToken:
    """Steps 1-4: prefix, base64, ``|`` split, JSON decode."""
    if not header or not header.startswith(BEARER_PREFIX):
        raise SessionError(MISSING_HEADER)
    try:
        decoded = b64_std_decode(_header_bytes(header[len(BEARER_PREFIX) :]))
    except GoError as exc:
        raise SessionError(f"invalid base64 in Authorization header: {exc}") from None
    raw, sep, signature = decoded.partition(b"|")
    if not sep:
        raise SessionError(BAD_PAYLOAD)
    raw_message = raw.decode("utf-8", "surrogateescape")
    try:
        values = _decode_token_json(raw_message)
    except GoError as exc:
        raise SessionError(f"invalid session token format in Authorization: {exc}") from None
    return SessionToken(raw_message=raw_message, signature=signature.decode("utf-8", "surrogateescape"), **values)


def _header_bytes(text: str) -> bytes:
    """Header value as the bytes Go sees (Starlette hands headers over Latin-1 decoded)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _decode_token_json(raw_message: str) -> dict[str, Any]:
    """``json.Unmarshal`` into the Go struct: zero defaults, null ignored, first type error wins."""
    values: dict[str, Any] = {
        "address": "",
        "provider": "",
        "timestamp": 0,
        "expires_at": 0,
        "nonce": "",
        "generation": 0,
        "token_id": 0,
    }
    document = json_loads(raw_message)
    if document is None:
        return values
    if not isinstance(document, dict):
        kind = _json_kind(document)
        raise GoError(f"json: cannot unmarshal {kind} into Go value of type {_GO_TYPE}")
    first_error: GoError | None = None
    for key, value in document.items():
        field = _FIELDS.get(key.lower())
        if field is None or value is None:
            continue
        try:
            values[field[1]] = _convert(value, field)
        except GoError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return values


def _convert(value: Any, field: tuple[str, str, str]) -> Any:
    name, _attr, go_type = field
    if go_type == "string":
        if isinstance(value, str) and not isinstance(value, GoNumber):
            return value
        kind = "number" if isinstance(value, GoNumber) else _json_kind(value)
    elif isinstance(value, GoNumber):
        parsed = _parse_go_int(value, go_type)
        if parsed is not None:
            return parsed
        kind = f"number {value}"
    else:
        kind = _json_kind(value)
    raise GoError(f"json: cannot unmarshal {kind} into Go struct field {_GO_STRUCT}.{name} of type {go_type}")


def _parse_go_int(literal: str, go_type: str) -> int | None:
    """``strconv.ParseInt``/``ParseUint`` base 10 plus the overflow check, or None on failure."""
    digits = literal[1:] if literal.startswith("-") else literal
    if not digits.isdigit() or len(digits) > 20 or (go_type.startswith("u") and literal.startswith("-")):
        return None  # more than 20 digits overflows any Go integer (and Python's int() refuses > 4300 digits)
    low, high = _INT_RANGES[go_type]
    number = int(literal)
    return number if low <= number <= high else None


def _json_kind(value: Any) -> str:
    if isinstance(value, GoNumber):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# ---------------------------------------------------------------------------------------------------------
# steps 5-13


def check_claims(token: SessionToken, *, provider_address: str, now_ms: int) -> None:
    """Steps 5-8: provider, ephemeral constraints, expiry (``now_s > expiresAt / 1000``)."""
    if token.provider.lower() != provider_address.lower():  # strings.EqualFold
        raise SessionError(WRONG_PROVIDER)
    if token.token_id == EPHEMERAL_TOKEN_ID:
        if token.expires_at == 0:
            raise SessionError(EPHEMERAL_NO_EXPIRY)
        if _wrap_int64(token.expires_at - token.timestamp) > EPHEMERAL_MAX_DURATION_MS:
            raise SessionError(EPHEMERAL_TOO_LONG)
    if token.expires_at > 0 and now_ms // 1000 > token.expires_at // 1000:
        raise SessionError(EXPIRED)


def _wrap_int64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def check_revocation(token: SessionToken, account: AccountState | None) -> None:
    """Steps 9-9c: generation must match; persistent token ids must not be in the revoked bitmap."""
    if account is None:
        return
    generation = account.generation % 2**64  # big.Int.Uint64()
    if token.generation < generation:
        raise SessionError(GENERATION_EXPIRED)
    if token.generation > generation:
        raise SessionError(FUTURE_GENERATION)
    if token.token_id != EPHEMERAL_TOKEN_ID and account.revoked_bitmap >> token.token_id & 1:
        raise SessionError(REVOKED)


def verify_signature(token: SessionToken) -> None:
    """Steps 10-13: hex-decode, 65 bytes, recover with ``v - 27``, compare with ``token.address``."""
    try:
        signature = hexutil_decode(token.signature)
    except GoError as exc:
        raise SessionError(f"invalid signature format: {exc}") from None
    if len(signature) != 65:
        raise SessionError(BAD_SIGNATURE_LENGTH)
    recovered = _recover(keccak(token.raw_message.encode("utf-8", "surrogateescape")), signature)
    if recovered.lower() != token.address.lower():
        raise SessionError(ADDRESS_MISMATCH)


def _recover(message_hash: bytes, signature: bytes) -> str:
    """Recover like go-ethereum's cgo ``crypto.SigToPub`` after the broker's byte-wrapping ``v - 27``."""
    recovery_id = (signature[64] - 27) % 256
    if recovery_id >= 4:
        raise SessionError("failed to recover public key from signature: invalid signature recovery id")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if recovery_id >= 2 or not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise SessionError("failed to recover public key from signature: recovery failed")
    try:
        address: str = Account.recover_message(encode_defunct(primitive=message_hash), vrs=(recovery_id + 27, r, s))
    except Exception:  # any backend rejection is libsecp256k1's "recovery failed"
        raise SessionError("failed to recover public key from signature: recovery failed") from None
    return address


def validate_session(
    header: str | None,
    *,
    provider_address: str,
    now_ms: int,
    account_lookup: Callable[[str], AccountState | None],
) -> SessionToken:
    """Run steps 1-13 in the broker's order; ``account_lookup(token.address)`` is called at step 9 only."""
    token = parse_authorization(header)
    check_claims(token, provider_address=provider_address, now_ms=now_ms)
    check_revocation(token, account_lookup(token.address))
    verify_signature(token)
    return token
