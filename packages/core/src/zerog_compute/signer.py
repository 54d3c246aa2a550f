"""The wallet: a private key kept as a secret, plus signature recovery helpers.

A :class:`Wallet` signs EIP-191 messages and transactions. Its key lives only in a private attribute:
``repr``/``str`` show the address, and pickling, copying or serialising the wallet raises ``TypeError``.
"""

from __future__ import annotations

import os
import re
from typing import Any, NoReturn, Protocol

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError
from pydantic import SecretStr

from .errors import ConfigurationError, VerificationError

__all__ = ["DEFAULT_KEY_ENV", "MessageSigner", "Wallet", "recover_hash", "signature_bytes"]

DEFAULT_KEY_ENV = "ZG_PRIVATE_KEY"
_KEY_FORMAT = "private key must be 32 bytes of hex (64 hex digits, optional 0x)"
_HEX_KEY = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")
_HEX_SIGNATURE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{130})")


class MessageSigner(Protocol):
    """What token signing needs: an address and EIP-191 message signing (a :class:`Wallet` fits)."""

    @property
    def address(self) -> str: ...

    def sign_message(self, message: SignableMessage) -> bytes: ...


def _key_bytes(private_key: object) -> bytes:
    """Decode a key given as hex text, raw bytes or a ``SecretStr``; never echo it."""
    if isinstance(private_key, SecretStr):
        private_key = private_key.get_secret_value()
    if isinstance(private_key, (bytes, bytearray, memoryview)):
        raw = bytes(private_key)
        if len(raw) == 32:
            return raw
        try:
            private_key = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(_KEY_FORMAT) from None
    if not isinstance(private_key, str):
        raise ConfigurationError(f"{_KEY_FORMAT}; got a {type(private_key).__name__}")
    match = _HEX_KEY.fullmatch(private_key.strip())
    if match is None:
        raise ConfigurationError(_KEY_FORMAT)
    return bytes.fromhex(match.group(1))


def _refuse_copy() -> NoReturn:
    raise TypeError("Wallet holds a private key: it cannot be pickled, copied or serialised")


class Wallet:
    """An Ethereum account whose private key never leaves this object.

    ``Wallet("0x…")``, ``Wallet(bytes32)``, ``Wallet(SecretStr(...))`` or :meth:`from_env`.
    """

    __slots__ = ("_account",)
    _account: LocalAccount

    def __init__(self, private_key: str | bytes | SecretStr) -> None:
        raw = _key_bytes(private_key)
        try:
            account = Account.from_key(raw)
        except (ValueError, ValidationError):
            raise ConfigurationError("private key is not a valid secp256k1 key (out of the curve's range)") from None
        object.__setattr__(self, "_account", account)

    @classmethod
    def from_env(cls, var: str = DEFAULT_KEY_ENV) -> Wallet:
        """A wallet from the private key in environment variable ``var``."""
        value = os.environ.get(var, "").strip()
        if not value:
            raise ConfigurationError(
                f"no private key: pass private_key=... or set the environment variable {var} to your wallet's key"
            )
        try:
            return cls(value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{var}: {exc}") from None

    @property
    def address(self) -> str:
        """The EIP-55 checksummed address."""
        return str(self._account.address)

    def sign_message(self, message: SignableMessage) -> bytes:
        """The 65-byte ``r‖s‖v`` signature (v 27/28) of an EIP-191/EIP-712 signable message."""
        return bytes(self._account.sign_message(message).signature)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """The raw signed transaction, ready for ``eth_sendRawTransaction``."""
        try:
            signed = self._account.sign_transaction(tx)
        except (TypeError, ValueError, ValidationError) as exc:
            raise ConfigurationError(f"cannot sign transaction: {exc}") from None
        return bytes(signed.raw_transaction)

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"

    def __str__(self) -> str:
        return self.address

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Wallet is immutable")

    def __reduce__(self) -> NoReturn:
        _refuse_copy()

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        _refuse_copy()

    def __getstate__(self) -> NoReturn:
        _refuse_copy()


def signature_bytes(signature: bytes | str) -> bytes:
    """A 65-byte ``r‖s‖v`` signature from bytes or (0x-optional) hex; v is normalised to 27/28."""
    if isinstance(signature, str):
        match = _HEX_SIGNATURE.fullmatch(signature.strip())
        if match is None:
            raise VerificationError("malformed signature: expected 65 bytes of hex (130 hex digits)")
        raw = bytes.fromhex(match.group(1))
    else:
        raw = bytes(signature)
    if len(raw) != 65:
        raise VerificationError(f"malformed signature: expected 65 bytes, got {len(raw)}")
    v = raw[64]
    if v in (0, 1):
        v += 27
    if v not in (27, 28):
        raise VerificationError(f"malformed signature: recovery byte v must be 27 or 28, got {raw[64]}")
    return raw[:64] + bytes([v])


def recover_hash(message_hash: bytes, signature: bytes | str) -> str:
    """The checksummed address whose key produced ``signature`` over the 32-byte ``message_hash``."""
    raw = signature_bytes(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
    try:
        public_key = Signature(vrs=(raw[64] - 27, r, s)).recover_public_key_from_msg_hash(message_hash)
    except (BadSignature, ValidationError, ValueError):
        raise VerificationError("malformed signature: no public key recovers from it") from None
    return str(public_key.to_checksum_address())
