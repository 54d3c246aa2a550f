"""Every error zerog-compute raises. Catch :class:`ZeroGError` to catch them all.

Each message says what happened and what to do next::

    ZeroGError
    ├── ConfigurationError (also ValueError)     bad input: key, address, amount, network, option
    │   └── NetworkMismatchError                 the RPC's chain id is not the network's
    ├── ChainError                               an RPC call or a transaction failed
    │   ├── RpcError                             the node answered with a JSON-RPC error; .code, .data
    │   ├── ContractRevertError                  the contract reverted; .error_name, .error_args decoded
    │   └── TransactionUncertainError            a transaction may have been sent: check .tx_hash
    │                                            (.nonce) before retrying
    ├── LedgerError                              ledger/sub-account state forbids the operation
    │   ├── LedgerNotFoundError                  no ledger yet: create one first
    │   ├── InsufficientBalanceError             not enough funds (wallet, ledger or sub-account)
    │   │   └── FundingHaltedError               auto-funding stopped funding a provider whose last
    │   │                                        top-up changed nothing (.provider, .reason)
    │   └── BudgetExhaustedError                 the funding policy's budget would be exceeded
    ├── ServiceNotFoundError                     no such provider / no provider serves the model
    ├── NotAcknowledgedError                     the provider's TEE signer (or your sub-account)
    │                                            is not acknowledged
    ├── ProviderError                            the provider answered with an error
    │   ├── InvalidTokenError                    the provider rejected the session token (400)
    │   ├── RequestRejectedError                 4xx for the request itself (bad params, context)
    │   ├── RateLimitedError                     429 (or the 503 global cap); .retry_after
    │   └── ProviderUnavailableError             connection refused/reset, timeout, 5xx
    │       ├── ProviderTimeoutError             connecting or a read timed out (also TimeoutError)
    │       ├── StreamInterruptedError           a stream broke after N chunks (.received)
    │       │   └── StreamTimeoutError           ... because a read timed out (also TimeoutError)
    │       ├── ExhaustedError                   no provider of a pool answered; .errors, .candidates
    │       ├── ResponseTooLargeError            the answer exceeded max_response_bytes (.limit)
    │       └── DeadlineExceededError            the call outlasted its deadline (also TimeoutError)
    └── VerificationError                        a response failed TEE signature verification
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ZeroGError(Exception):
    """Root of every zerog-compute error."""


class ConfigurationError(ZeroGError, ValueError):
    """Bad input from the caller: fix the argument named in the message."""


class NetworkMismatchError(ConfigurationError):
    """The RPC endpoint serves another chain than the selected network."""


class ChainError(ZeroGError):
    """A chain RPC call or transaction failed."""


class RpcError(ChainError):
    """A JSON-RPC error object; ``data`` holds revert data when the node sent it."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")
        self.rpc_message = str(error.get("message", ""))
        super().__init__(f"RPC {method} failed: {self.rpc_message}")


class ContractRevertError(ChainError):
    """A contract call reverted. ``error_name`` and ``error_args`` hold the decoded custom error."""

    def __init__(self, message: str, *, error_name: str | None = None, error_args: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args


class TransactionUncertainError(ChainError):
    """A transaction may or may not have been sent (the RPC failed mid-send, or it was not mined in time).

    ``tx_hash`` and ``nonce`` identify it: look it up before sending again. ``raw_transaction`` holds the
    signed bytes (public, no secret) so the very same transaction can be re-broadcast.
    """

    def __init__(
        self, message: str, *, tx_hash: str, nonce: int | None = None, raw_transaction: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce
        self.raw_transaction = raw_transaction


class LedgerError(ZeroGError):
    """The ledger or a sub-account is not in a state that allows the operation."""


class LedgerNotFoundError(LedgerError):
    """The wallet has no ledger yet."""


class InsufficientBalanceError(LedgerError):
    """Not enough funds where they are needed."""


class FundingHaltedError(InsufficientBalanceError):
    """Auto-funding refuses to top up ``provider`` again: its last top-up did not change what it reports.

    The funding circuit breaker of that provider is open (``reason`` says why) until its cool-down ends or
    ``zg.funding.reset_breaker(provider)``; fund it by hand with ``zg.ledger.transfer`` if you trust it.
    """

    def __init__(self, message: str, *, provider: str, reason: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.reason = reason


class BudgetExhaustedError(LedgerError):
    """Auto-funding stopped: the funding policy's total budget would be exceeded."""


class ServiceNotFoundError(ZeroGError):
    """The provider is not registered, or no provider matches the request."""


class NotAcknowledgedError(ZeroGError):
    """Acknowledgement missing: the provider's TEE signer or the user's sub-account."""


class ProviderError(ZeroGError):
    """The provider answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.provider = provider


class InvalidTokenError(ProviderError):
    """The provider rejected the session token or API key."""


class RequestRejectedError(ProviderError):
    """The provider rejected the request itself (bad parameters, context too long, model not served)."""


class RateLimitedError(ProviderError):
    """Too many requests; wait ``retry_after`` seconds and retry.

    ``retry_after`` is the server's ``Retry-After`` when it sent one; otherwise, once the client has
    estimated the provider's next free slot (from its rate), that estimate, with ``retry_after_estimated``
    set. None when nothing is known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.retry_after_estimated = False


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached or failed (connection, timeout, 5xx)."""


class ProviderTimeoutError(ProviderUnavailableError, TimeoutError):
    """Connecting to the provider (or the Router), or one read of its answer, took longer than ``timeout``.

    Also a ``TimeoutError``, so timeout handlers catch it; the whole call's limit is :class:`DeadlineExceededError`.
    """


class StreamInterruptedError(ProviderUnavailableError):
    """A streamed response broke off after ``received`` chunks."""

    def __init__(self, message: str, *, received: int, text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.received = received
        self.text = text


class StreamTimeoutError(StreamInterruptedError, TimeoutError):
    """A streamed response stalled after ``received`` chunks: no byte within ``timeout`` (also a ``TimeoutError``)."""


@dataclass(frozen=True)
class PoolCandidate:
    """Why one candidate of a pool did not answer a call.

    ``reason`` in words (failed, cooling down, rate-limited, not tried); ``retry_in``: seconds until it
    could be tried again (None: no wait known); ``error``: its error in this call, if it was tried.
    """

    provider: str
    reason: str
    retry_in: float | None = None
    error: ZeroGError | None = None


class ExhaustedError(ProviderUnavailableError):
    """No candidate of a failover pool answered: each failed, was cooling down or was rate-limited.

    ``errors`` maps provider → its error in this call; ``candidates`` says for every candidate why it
    did not answer and when it could be tried again.
    """

    def __init__(
        self, message: str, *, errors: dict[str, ZeroGError], candidates: list[PoolCandidate] | None = None
    ) -> None:
        super().__init__(message)
        self.errors = errors
        self.candidates = candidates or []


class ResponseTooLargeError(ProviderUnavailableError):
    """The provider's answer (decoded) exceeded ``limit`` bytes: raise ``max_response_bytes=`` if it is legitimate."""

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class DeadlineExceededError(ProviderUnavailableError, TimeoutError):
    """The call did not finish within ``deadline`` seconds (slow answer, endless stream): ``.deadline``."""

    def __init__(self, message: str, *, deadline: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.deadline = deadline


class VerificationError(ZeroGError):
    """A response failed verification (wrong signer, or signed content differs from what was exchanged)."""

    def __init__(self, message: str, *, chat_id: str | None = None, provider: str | None = None) -> None:
        super().__init__(message)
        self.chat_id = chat_id
        self.provider = provider
