"""Session tokens: ``app-sk-<base64(rawMessage|signature)>``, byte-identical to the TypeScript SDK 0.9.0.

``rawMessage`` is the compact JSON ``{address, provider, timestamp, expiresAt, nonce, generation, tokenId}``
(milliseconds); the signature is EIP-191 over the 32-byte ``keccak256(rawMessage)``. Token id 255 is the
ephemeral session (at most 24 h), ids 0..254 are persistent API keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigurationError, VerificationError
from .signer import MessageSigner, recover_hash, signature_bytes
from .untrusted_json import parse_json

__all__ = [
    "EPHEMERAL_TOKEN_ID",
    "EPHEMERAL_TOKEN_MAX_DURATION_MS",
    "REFRESH_MARGIN_MS",
    "TOKEN_PREFIX",
    "SessionCache",
    "TokenClaims",
    "bearer",
    "make_token",
    "new_nonce",
    "parse_token",
]

TOKEN_PREFIX = "app-sk-"
EPHEMERAL_TOKEN_ID = 255
EPHEMERAL_TOKEN_MAX_DURATION_MS = 24 * 60 * 60 * 1000
REFRESH_MARGIN_MS = 60 * 60 * 1000
"""A cached ephemeral token is replaced once it has less than this left (the SDK's 1 h)."""

_MAX_SAFE_INT = 2**53 - 1
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"[\x20-\x7b\x7d\x7e]{1,256}")  # printable ASCII without "|"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_nonce() -> str:
    """32 lowercase hex characters from 16 random bytes (the SDK's browser form)."""
    return os.urandom(16).hex()


def bearer(token: str) -> str:
    """The ``Authorization`` header value for a token."""
    return f"Bearer {token}"


def _address(value: object, name: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ConfigurationError(f"{name} must be a 0x-prefixed 20-byte hex address, got {value!r}")
    return value


def _int(value: object, name: str, low: int, high: int = _MAX_SAFE_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


def _nonce(value: object) -> str:
    if not isinstance(value, str) or not _NONCE.fullmatch(value):
        raise ConfigurationError("nonce must be 1-256 printable ASCII characters without '|'")
    return value


def _expires_at(token_id: int, timestamp: int, expires_at_ms: int | None) -> int:
    """The SDK's expiry rules: ephemeral defaults to and is capped at 24 h; persistent defaults to never (0)."""
    if expires_at_ms is not None:
        _int(expires_at_ms, "expires_at_ms", 0)
    if token_id == EPHEMERAL_TOKEN_ID:
        duration = EPHEMERAL_TOKEN_MAX_DURATION_MS if expires_at_ms is None else expires_at_ms - timestamp
        if duration <= 0:
            duration = EPHEMERAL_TOKEN_MAX_DURATION_MS
        if duration > EPHEMERAL_TOKEN_MAX_DURATION_MS:
            raise ConfigurationError(
                f"ephemeral token duration cannot exceed 24 hours ({EPHEMERAL_TOKEN_MAX_DURATION_MS}ms)"
            )
        return timestamp + duration
    if not expires_at_ms:
        return 0
    if expires_at_ms <= timestamp:
        raise ConfigurationError("expires_at_ms must be 0 (never) or later than the token's timestamp")
    return expires_at_ms


def _signature_hex(signed: object) -> str:
    """``0x`` + 130 hex from a signer's result (bytes, or an eth-account ``SignedMessage``)."""
    raw = signed if isinstance(signed, (bytes, bytearray)) else getattr(signed, "signature", signed)
    if not isinstance(raw, (bytes, bytearray, str)):
        raise ConfigurationError(f"the account returned a {type(raw).__name__} instead of signature bytes")
    try:
        return "0x" + signature_bytes(bytes(raw) if isinstance(raw, bytearray) else raw).hex()
    except VerificationError as exc:
        raise ConfigurationError(f"the account returned an unusable signature: {exc}") from None


def make_token(
    account: MessageSigner,
    provider: str,
    *,
    generation: int = 0,
    token_id: int = EPHEMERAL_TOKEN_ID,
    timestamp_ms: int | None = None,
    expires_at_ms: int | None = None,
    nonce: str | None = None,
) -> str:
    """A signed ``app-sk-…`` token (without ``Bearer``); ``provider`` is written exactly as passed."""
    _address(provider, "provider")
    token_id = _int(token_id, "token_id", 0, EPHEMERAL_TOKEN_ID)
    timestamp = _now_ms() if timestamp_ms is None else _int(timestamp_ms, "timestamp_ms", 0)
    claims = {
        "address": _address(account.address, "account address"),
        "provider": provider,
        "timestamp": timestamp,
        "expiresAt": _expires_at(token_id, timestamp, expires_at_ms),
        "nonce": new_nonce() if nonce is None else _nonce(nonce),
        "generation": _int(generation, "generation", 0),
        "tokenId": token_id,
    }
    raw_message = json.dumps(claims, separators=(",", ":"))
    signature = _signature_hex(account.sign_message(encode_defunct(primitive=keccak(raw_message.encode()))))
    return TOKEN_PREFIX + base64.b64encode(f"{raw_message}|{signature}".encode()).decode("ascii")


class TokenClaims(BaseModel):
    """The decoded content of a session token."""

    model_config = ConfigDict(frozen=True, strict=True)

    address: str
    provider: str
    timestamp: int
    expires_at: int
    nonce: str
    generation: int
    token_id: int
    signature: str
    raw_message: str

    @property
    def ephemeral(self) -> bool:
        """Token id 255: a session token rather than a persistent API key."""
        return self.token_id == EPHEMERAL_TOKEN_ID

    def recovered_address(self) -> str:
        """The address that signed ``raw_message`` (compare with :attr:`address`)."""
        digest = keccak(b"\x19Ethereum Signed Message:\n32" + keccak(self.raw_message.encode()))
        try:
            return recover_hash(digest, self.signature)
        except VerificationError as exc:
            raise ConfigurationError(f"session token signature is unusable: {exc}") from None


def _base64_part(token: str) -> str:
    """The base64 payload of ``[Bearer ][app-sk-]<base64>``."""
    text = token.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].lstrip()
    return text.removeprefix(TOKEN_PREFIX)


def _payload(token: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(_base64_part(token), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ConfigurationError("not a session token: the payload is not base64 of UTF-8 text") from None
    raw_message, sep, signature = decoded.partition("|")
    if not sep:
        raise ConfigurationError("not a session token: expected base64(rawMessage|signature)")
    return raw_message, signature


def parse_token(token: str) -> TokenClaims:
    """Decode ``[Bearer ][app-sk-]<base64>`` into :class:`TokenClaims` (the signature is not checked)."""
    if not isinstance(token, str):
        raise ConfigurationError(f"session token must be a string, got {type(token).__name__}")
    raw_message, signature = _payload(token)
    try:
        data = parse_json(raw_message)
    except ValueError:
        raise ConfigurationError("not a session token: rawMessage is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("not a session token: rawMessage is not a JSON object")
    try:
        return TokenClaims.model_validate(
            {
                "address": data.get("address"),
                "provider": data.get("provider"),
                "timestamp": data.get("timestamp"),
                "expires_at": data.get("expiresAt"),
                "nonce": data.get("nonce"),
                "generation": data.get("generation"),
                "token_id": data.get("tokenId"),
                "signature": signature,
                "raw_message": raw_message,
            }
        )
    except ValidationError as exc:
        bad = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        raise ConfigurationError(f"not a session token: missing or invalid {', '.join(bad)}") from None


@dataclass(frozen=True)
class _Entry:
    token: str
    expires_at: int
    generation: int


class SessionCache:
    """Ephemeral tokens per (user, provider), reused until ``refresh_margin_ms`` before expiry; thread-safe.

    The user is the token's own address. Lookups without ``user=`` use the cache's bound ``user`` if any,
    else the provider's only cached user (with several users cached for a provider they find nothing).
    ``clock`` returns the current Unix time in milliseconds.
    """

    def __init__(
        self,
        *,
        user: str | None = None,
        refresh_margin_ms: int = REFRESH_MARGIN_MS,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._user = user.lower() if user is not None else None
        self._margin = refresh_margin_ms
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def _key(self, provider: str, user: str | None) -> tuple[str, str] | None:
        """The entry key for a lookup (the lock is held)."""
        chosen = user.lower() if user is not None else self._user
        if chosen is not None:
            return chosen, provider.lower()
        keys = [key for key in self._entries if key[1] == provider.lower()]
        return keys[0] if len(keys) == 1 else None

    def get(self, provider: str, generation: int, now_ms: int | None = None, *, user: str | None = None) -> str | None:
        """The cached token while ``expiresAt > now + margin`` and its generation is ``generation``, else None."""
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            key = self._key(provider, user)
            entry = self._entries.get(key) if key is not None else None
            if entry is None or key is None:
                return None
            if entry.generation != generation or entry.expires_at <= now + self._margin:
                del self._entries[key]
                return None
            return entry.token

    def put(self, provider: str, generation: int, token: str) -> TokenClaims:
        """Cache an ephemeral token made for ``provider`` at ``generation``; returns its claims."""
        claims = parse_token(token)
        if not claims.ephemeral:
            raise ConfigurationError("only ephemeral session tokens (token id 255) are cached")
        if claims.provider.lower() != provider.lower() or claims.generation != generation:
            raise ConfigurationError("token was not made for this provider and generation")
        user = claims.address.lower()
        if self._user is not None and user != self._user:
            raise ConfigurationError(f"token belongs to {claims.address}, not to this cache's user")
        entry = _Entry(TOKEN_PREFIX + _base64_part(token), claims.expires_at, claims.generation)
        with self._lock:
            self._entries[(user, provider.lower())] = entry
        return claims

    def get_or_create(self, account: MessageSigner, provider: str, *, generation: int = 0) -> str:
        """The cached token for (account, provider), or a fresh 24 h one (then cached) when stale or missing."""
        now = self._clock()
        cached = self.get(provider, generation, now, user=account.address)
        if cached is not None:
            return cached
        token = make_token(account, provider, generation=generation, timestamp_ms=now)
        self.put(provider, generation, token)
        return token

    def invalidate(self, provider: str | None = None, *, user: str | None = None) -> None:
        """Forget tokens: all of them, or those of ``provider`` (and of ``user`` when given)."""
        wanted_user = user.lower() if user is not None else None
        wanted_provider = provider.lower() if provider is not None else None
        with self._lock:
            for key in list(self._entries):
                if wanted_user in (None, key[0]) and wanted_provider in (None, key[1]):
                    del self._entries[key]
