"""Our own minimal ABI of LedgerManager and InferenceServing, plus revert decoding.

The ABI is written as human-readable Solidity signatures for only what the client uses and turned
into JSON ABI dicts by :func:`parse_signature` (no ABI JSON is copied from the npm packages).
Struct field names equal the SDK's, so results decode into the same named fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from .units import format_0g

ABIDict = dict[str, Any]

# --------------------------------------------------------------------------------------------- parser

_TOKEN = re.compile(r"\s*(?:([A-Za-z_$][\w$]*)|(\[[0-9]*\])|([(),]))")
_MUTABILITY = frozenset({"view", "pure", "payable", "nonpayable"})
_IGNORED_WORDS = frozenset({"external", "public", "memory", "calldata", "storage"})
_ELEMENTARY = frozenset(
    {"address", "bool", "string", "bytes"}
    | {f"bytes{n}" for n in range(1, 33)}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in range(8, 257, 8)}
)
_ALIASES = {"uint": "uint256", "int": "int256"}


class _Tokens:
    """A cursor over the tokens of one signature."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.items = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError(f"unexpected end of signature {self.text!r}")
        self.pos += 1
        return token

    def accept(self, token: str) -> bool:
        if self.peek() == token:
            self.pos += 1
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.accept(token):
            raise ValueError(f"expected {token!r} at {self.peek()!r} in {self.text!r}")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse {text[pos:]!r} in signature {text!r}")
        tokens.append(match.group(match.lastindex or 0))
        pos = match.end()
    return tokens


def _is_identifier(token: str | None) -> bool:
    return token is not None and token[0] not in "(),["


def _param_list(tokens: _Tokens, *, event: bool = False) -> list[ABIDict]:
    tokens.expect("(")
    params: list[ABIDict] = []
    if tokens.accept(")"):
        return params
    while True:
        params.append(_param(tokens, event=event))
        if tokens.accept(")"):
            return params
        tokens.expect(",")


def _param(tokens: _Tokens, *, event: bool) -> ABIDict:
    param: ABIDict = {}
    tokens.accept("tuple")  # optional in `tuple(...)`
    if tokens.peek() == "(":
        param["components"] = _param_list(tokens)
        base = "tuple"
    else:
        word = tokens.take()
        base = _ALIASES.get(word, word)
        if base not in _ELEMENTARY:
            raise ValueError(f"unknown type {word!r} in {tokens.text!r}")
    while (token := tokens.peek()) is not None and token.startswith("["):
        base += tokens.take()
    if event:
        param["indexed"] = tokens.accept("indexed")
    while tokens.peek() in _IGNORED_WORDS:
        tokens.take()
    name = tokens.take() if _is_identifier(tokens.peek()) else ""
    return {"name": name, "type": base, **param}


def _function_tail(tokens: _Tokens) -> tuple[str, list[ABIDict]]:
    mutability, outputs = "nonpayable", []
    while (word := tokens.peek()) is not None:
        tokens.take()
        if word in _MUTABILITY:
            mutability = word
        elif word == "returns":
            outputs = _param_list(tokens)
        elif word not in _IGNORED_WORDS:
            raise ValueError(f"unexpected {word!r} in {tokens.text!r}")
    return mutability, outputs


def parse_signature(sig: str) -> ABIDict:
    """Turn ``"function f(uint256 a) view returns (bool)"`` (or an error/event) into a JSON ABI dict."""
    tokens = _Tokens(sig)
    kind, name = tokens.take(), tokens.take()
    if kind not in ("function", "error", "event") or not _is_identifier(name):
        raise ValueError(f"signature must start with 'function|error|event <name>': {sig!r}")
    inputs = _param_list(tokens, event=kind == "event")
    entry: ABIDict = {"type": kind, "name": name, "inputs": inputs}
    if kind == "function":
        entry["stateMutability"], entry["outputs"] = _function_tail(tokens)
    elif kind == "event":
        entry["anonymous"] = tokens.accept("anonymous")
    if tokens.peek() is not None:
        raise ValueError(f"unexpected {tokens.peek()!r} at the end of {sig!r}")
    return entry


def canonical_type(param: Mapping[str, Any]) -> str:
    """The type as it appears in a selector: tuples spelled out as ``(t1,t2)[]``."""
    kind = str(param["type"])
    if not kind.startswith("tuple"):
        return kind
    inner = ",".join(canonical_type(c) for c in param["components"])
    return f"({inner}){kind[len('tuple') :]}"


def signature_text(entry: Mapping[str, Any]) -> str:
    """``name(type1,type2)`` — the text whose keccak gives the selector or event topic."""
    return f"{entry['name']}({','.join(canonical_type(p) for p in entry['inputs'])})"


def selector(entry: Mapping[str, Any]) -> str:
    """4-byte selector of a function or error, as ``0x``-prefixed hex."""
    return "0x" + keccak(text=signature_text(entry))[:4].hex()


# ------------------------------------------------------------------------------------------ the ABI

_LEDGER = "(address user, uint256 availableBalance, uint256 totalBalance, string additionalInfo)"
_SERVICE_INFO = (
    "(address serviceAddress, address serviceContract, string serviceType, string version, string fullName,"
    " string description, bool isRecommended, uint256 registeredAt)"
)
_SERVICE = (
    "(address provider, string serviceType, string url, uint256 inputPrice, uint256 outputPrice, uint256 updatedAt,"
    " string model, string verifiability, string additionalInfo, address teeSignerAddress,"
    " bool teeSignerAcknowledged)"
)
_REFUND = "(uint256 index, uint256 amount, uint256 createdAt, bool processed)"
_ACCOUNT = (
    f"(address user, address provider, uint256 nonce, uint256 balance, uint256 pendingRefund, {_REFUND}[] refunds,"
    " string additionalInfo, bool acknowledged, uint256 validRefundsLength, uint256 generation, uint256 revokedBitmap)"
)

LEDGER_SIGNATURES: Final = (
    "function addLedger(string additionalInfo) payable returns (uint256, uint256)",
    "function depositFund() payable",
    "function depositFundFor(address recipient) payable",
    "function refund(uint256 amount)",
    "function transferFund(address provider, string serviceName, uint256 amount)",
    "function retrieveFund(address[] providers, string serviceName)",
    "function deleteLedger()",
    f"function getLedger(address user) view returns ({_LEDGER})",
    "function getLedgerProviders(address user, string serviceName) view returns (address[])",
    f"function getServiceInfo(address serviceAddress) view returns ({_SERVICE_INFO})",
    "function MIN_ACCOUNT_BALANCE() view returns (uint256)",
    "function MIN_TRANSFER_AMOUNT() view returns (uint256)",
    "error AdditionalInfoTooLong(uint256 length, uint256 max)",
    "error AlreadyInitialized()",
    "error CallFailed()",
    "error CallerNotRegisteredService(address caller)",
    "error DirectDepositsDisabled()",
    "error InsufficientAvailableBalance(uint256 available, uint256 required)",
    "error InsufficientBalance(address user)",
    "error InvalidServiceAddress(address serviceAddress)",
    "error InvalidServiceType(string serviceType)",
    "error LedgerExists(address user)",
    "error LedgerLocked()",
    "error LedgerNotExists(address user)",
    "error MinimumDepositRequired(uint256 provided, uint256 required)",
    "error MustWithdrawAllFundsFirst(uint256 remainingBalance)",
    "error NoRecommendedService(string serviceType)",
    "error ServiceAlreadyRegistered(address serviceAddress)",
    "error ServiceMustImplementIServing(address serviceAddress)",
    "error ServiceNameExists(string serviceName)",
    "error ServiceNotFound(address serviceAddress)",
    "error ServiceNotRegistered(address serviceAddress)",
    "error ServiceRegistryLimitReached(uint256 limit)",
    "error ServiceTypeRequired()",
    "error TooManyProviders(uint256 requested, uint256 maximum)",
    "error TooManyProvidersForService(uint256 current, uint256 maximum)",
    "error TransferFailed()",
    "error VersionRequired()",
    "error ZeroAddressNotAllowed()",
    "error ZeroAmountNotAllowed()",
)

INFERENCE_SIGNATURES: Final = (
    f"function getService(address provider) view returns ({_SERVICE} service)",
    f"function getAllServices(uint256 offset, uint256 limit) view returns ({_SERVICE}[] services, uint256 total)",
    f"function getAccount(address user, address provider) view returns ({_ACCOUNT})",
    "function accountExists(address user, address provider) view returns (bool)",
    "function getPendingRefund(address user, address provider) view returns (uint256)",
    "function lockTime() view returns (uint256)",
    "function isTokenRevoked(address user, address provider, uint8 tokenId) view returns (bool)",
    "function acknowledgeTEESigner(address provider, bool acknowledged)",
    "function revokeToken(address provider, uint8 tokenId)",
    "function revokeAllTokens(address provider)",
    "error AccountExists(address user, address provider)",
    "error AccountNotExists(address user, address provider)",
    "error AdditionalInfoTooLong()",
    "error AlreadyInitialized()",
    "error BatchSizeTooLarge(uint256 size, uint256 max)",
    "error CallerNotLedger(address caller)",
    "error CannotAddStakeWhenUpdating()",
    "error CannotRevokeWithNonZeroBalance(address user, address provider, uint256 balance)",
    "error DirectDepositsDisabled()",
    "error InsufficientStake(uint256 provided, uint256 required)",
    "error InvalidAddress(address addr)",
    "error InvalidTEESignature(string reason)",
    "error LimitTooLarge(uint256 limit, uint256 max)",
    "error LockTimeOutOfRange(uint256 lockTime, uint256 min, uint256 max)",
    "error NoSettlementsProvided()",
    "error ProviderCannotBeUser()",
    "error ServiceNotExist(address provider)",
    "error TooManyRefunds(address user, address provider)",
    "error TooManySettlements(uint256 count, uint256 max)",
    "error TransferFailed()",
    "event BalanceUpdated(address indexed user, address indexed provider, uint256 amount, uint256 pendingRefund)",
    "event TEESettlementResult(address indexed user, uint8 status, uint256 unsettledAmount)",
    "event RefundRequested(address indexed user, address indexed provider, uint256 indexed index, uint256 timestamp)",
    "event TokenRevoked(address indexed user, address indexed provider, uint8 tokenId)",
    "event AllTokensRevoked(address indexed user, address indexed provider, uint256 newGeneration)",
)

LEDGER_ABI: Final[list[ABIDict]] = [parse_signature(s) for s in LEDGER_SIGNATURES]
INFERENCE_ABI: Final[list[ABIDict]] = [parse_signature(s) for s in INFERENCE_SIGNATURES]

# ---------------------------------------------------------------------------------- revert decoding

_BUILTIN_ERRORS = (parse_signature("error Error(string reason)"), parse_signature("error Panic(uint256 code)"))


def _error_table(entries: Iterable[ABIDict]) -> dict[bytes, ABIDict]:
    return {bytes.fromhex(selector(e)[2:]): e for e in entries if e["type"] == "error"}


ERRORS_BY_SELECTOR: Final = _error_table([*LEDGER_ABI, *INFERENCE_ABI, *_BUILTIN_ERRORS])
_PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
}


def _as_bytes(data: bytes | str) -> bytes | None:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    text = data.strip().removeprefix("0x").removeprefix("0X")
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _checksum_addresses(types: list[str], values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True))


def decode_revert(data: bytes | str) -> tuple[str, tuple[Any, ...]] | None:
    """Decode revert data (selector + arguments) into ``(error name, arguments)``; None when unknown."""
    raw = _as_bytes(data)
    entry = ERRORS_BY_SELECTOR.get(raw[:4]) if raw is not None and len(raw) >= 4 else None
    if raw is None or entry is None:
        return None
    types = [canonical_type(p) for p in entry["inputs"]]
    try:
        values = tuple(abi_decode(types, raw[4:]))
    except (DecodingError, OverflowError, ValueError):
        return None
    return str(entry["name"]), _checksum_addresses(types, values)


# ---------------------------------------------------------------------------------- revert messages

_Args = tuple[Any, ...]
_MESSAGES: dict[str, Callable[[_Args], str]] = {
    "Error": lambda a: f"contract reverted: {a[0]}",
    "Panic": lambda a: f"contract panicked with code {a[0]:#04x} ({_PANIC_REASONS.get(a[0], 'internal error')})",
    # LedgerManager
    "LedgerNotExists": lambda _: (
        "No ledger for this wallet yet. Create one with zg.ledger.create(amount) (minimum 3 0G)."
    ),
    "LedgerExists": lambda _: "A ledger already exists for this wallet; add funds with zg.ledger.deposit(amount).",
    "InsufficientAvailableBalance": lambda a: (
        f"Not enough available balance in the ledger: {format_0g(a[0])} available, {format_0g(a[1])} required."
        " Add funds with zg.ledger.deposit(amount)."
    ),
    "InsufficientBalance": lambda a: (
        f"Not enough balance in the ledger of {a[0]}. Add funds with zg.ledger.deposit(amount)."
    ),
    "MinimumDepositRequired": lambda a: (
        f"Amount too small: {format_0g(a[0])} given, at least {format_0g(a[1])} required"
        " (a new ledger needs 3 0G, a new provider sub-account 1 0G)."
    ),
    "MustWithdrawAllFundsFirst": lambda a: (
        f"The ledger still holds {format_0g(a[0])}; retrieve the sub-account funds and refund everything"
        " to the wallet before deleting it."
    ),
    "TooManyProviders": lambda a: f"Too many providers in one call ({a[0]}, maximum {a[1]}); split them into batches.",
    "TooManyProvidersForService": lambda a: (
        f"This ledger already has {a[0]} provider sub-accounts for the service (maximum {a[1]});"
        " no more providers can be funded."
    ),
    "LedgerLocked": lambda _: "The ledger is locked by another operation in progress; retry in a moment.",
    "DirectDepositsDisabled": lambda _: (
        "The contract does not accept plain transfers; deposit with zg.ledger.deposit(amount)."
    ),
    "ZeroAddressNotAllowed": lambda _: "The zero address is not allowed here; pass a real address.",
    "ZeroAmountNotAllowed": lambda _: "The amount must be greater than 0.",
    "AdditionalInfoTooLong": lambda a: (
        f"The additionalInfo text is too long ({a[0]} bytes, maximum {a[1]})."
        if a
        else "The additionalInfo text is too long for the contract."
    ),
    "InvalidServiceType": lambda a: (
        f"The ledger has no service named {a[0]!r}; the name comes from getServiceInfo(contract).fullName."
    ),
    "ServiceNotFound": lambda a: (
        "No service with that name in the ledger; the name is getServiceInfo(contract).fullName, e.g. 'inference-v1.0'."
        if int(a[0], 16) == 0
        else f"The ledger knows no service contract at {a[0]}; check the network's contract addresses."
    ),
    "ServiceNotRegistered": lambda a: (
        f"The service contract {a[0]} is not registered in the ledger; check the network's contract addresses."
    ),
    "NoRecommendedService": lambda a: f"No recommended {a[0]!r} service is registered in the ledger.",
    "TransferFailed": lambda _: "The contract could not send the funds to the recipient.",
    # InferenceServing
    "AccountNotExists": lambda a: (
        f"No sub-account with provider {a[1]} yet. Fund it with zg.ledger.transfer(provider, amount)"
        " (minimum 1 0G for a new sub-account)."
    ),
    "AccountExists": lambda a: f"A sub-account with provider {a[1]} already exists.",
    "ServiceNotExist": lambda a: (
        f"Provider {a[0]} is not registered in the inference contract; check the address and the network."
    ),
    "TooManyRefunds": lambda a: (
        f"Too many pending refunds with provider {a[1]}; wait until they unlock, then retrieve again to collect them."
    ),
    "CannotRevokeWithNonZeroBalance": lambda a: (
        f"Cannot revoke while the sub-account with provider {a[1]} holds {format_0g(a[2])}; retrieve the funds first."
    ),
    "LimitTooLarge": lambda a: f"Page size {a[0]} is too large; request at most {a[1]} entries per call.",
    "InvalidAddress": lambda a: f"Invalid address {a[0]}.",
    "ProviderCannotBeUser": lambda _: "A provider cannot open a sub-account with itself; use another wallet.",
    "InvalidTEESignature": lambda a: f"The contract rejected a TEE signature: {a[0]}.",
}

GENERIC_ERRORS: Final = frozenset(
    {
        # registry administration (contract owner only)
        "AlreadyInitialized",
        "CallFailed",
        "CallerNotRegisteredService",
        "InvalidServiceAddress",
        "ServiceAlreadyRegistered",
        "ServiceMustImplementIServing",
        "ServiceNameExists",
        "ServiceRegistryLimitReached",
        "ServiceTypeRequired",
        "VersionRequired",
        "LockTimeOutOfRange",
        # provider-side or ledger-internal calls the client never makes
        "BatchSizeTooLarge",
        "CallerNotLedger",
        "CannotAddStakeWhenUpdating",
        "InsufficientStake",
        "NoSettlementsProvided",
        "TooManySettlements",
    }
)
"""Errors that only owner/provider/internal calls raise: they get the generic message."""


def _format_arg(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) and not value.startswith("0x") else str(value)


def generic_revert_message(name: str, args: _Args) -> str:
    """``contract reverted with Name(arg, ...)``."""
    return f"contract reverted with {name}({', '.join(_format_arg(a) for a in args)})"


def revert_message(name: str, args: _Args) -> str:
    """A readable message for a decoded revert that says what to do next."""
    render = _MESSAGES.get(name)
    if render is None:
        return generic_revert_message(name, args)
    try:
        return render(args)
    except (IndexError, TypeError, ValueError):
        return generic_revert_message(name, args)
