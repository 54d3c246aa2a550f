"""zerog-compute: the Python client for the 0G Compute Network.

>>> from zerog_compute import ZeroG
>>> zg = ZeroG(network="testnet")          # key from $ZG_PRIVATE_KEY
>>> zg.ledger.create("3")                   # 3 0G into the ledger
>>> zg.acknowledge(provider, amount="1")    # open a sub-account with 1 0G
>>> reply = zg.chat.completions.create(provider=provider, messages=[{"role": "user", "content": "hi"}])
>>> reply.zerog.fee_0g, reply.zerog.verdict().verdict

Router mode (the hosted 0G Router, no wallet needed), with the same calls:

>>> zg = ZeroG(router_api_key="sk-…")      # or $ZG_ROUTER_API_KEY
>>> zg.chat.completions.create(model="…", messages=[{"role": "user", "content": "hi"}])
"""

from ._aresources import AsyncProviderPool
from ._resources import ProviderPool
from .apikeys import ApiKey
from .auth import TokenClaims, parse_token
from .client import AsyncZeroG, ZeroG
from .errors import (
    BudgetExhaustedError,
    ChainError,
    ConfigurationError,
    ContractRevertError,
    DeadlineExceededError,
    ExhaustedError,
    FundingHaltedError,
    InsufficientBalanceError,
    InvalidTokenError,
    LedgerError,
    LedgerNotFoundError,
    NetworkMismatchError,
    NotAcknowledgedError,
    PoolCandidate,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ResponseTooLargeError,
    RpcError,
    ServiceNotFoundError,
    StreamInterruptedError,
    StreamTimeoutError,
    TransactionUncertainError,
    VerificationError,
    ZeroGError,
)
from .failover import DEFAULT_STRATEGY, PoolEvent, Strategy
from .funding import FundingEvent, FundingPolicy
from .lazy import LazyClients
from .ledger import LedgerInfo, SubAccount
from .networks import MAINNET, TESTNET, Network
from .ratelimit import RateLimit
from .router import (
    ImageJob,
    RouterBalance,
    RouterFunds,
    RouterModel,
    RouterProvider,
    TrustMode,
    UsageEntry,
    UsageHistory,
    UsageStats,
)
from .services import ModelInfo, Service
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingsResponse,
    ImagesResponse,
    Transcription,
    Usage,
    ZeroGRecord,
)
from .units import Amount, format_0g, to_0g, to_neuron
from .untrusted_json import MAX_JSON_DEPTH, UntrustedJSONError, parse_json
from .verification import AttestationReport, Verdict, VerificationPolicy, VerificationResult
from .wallet_state import forget_wallet_states

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_STRATEGY",
    "MAINNET",
    "MAX_JSON_DEPTH",
    "TESTNET",
    "Amount",
    "ApiKey",
    "AsyncProviderPool",
    "AsyncZeroG",
    "AttestationReport",
    "BudgetExhaustedError",
    "ChainError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConfigurationError",
    "ContractRevertError",
    "DeadlineExceededError",
    "EmbeddingsResponse",
    "ExhaustedError",
    "FundingEvent",
    "FundingHaltedError",
    "FundingPolicy",
    "ImageJob",
    "ImagesResponse",
    "InsufficientBalanceError",
    "InvalidTokenError",
    "LazyClients",
    "LedgerError",
    "LedgerInfo",
    "LedgerNotFoundError",
    "ModelInfo",
    "Network",
    "NetworkMismatchError",
    "NotAcknowledgedError",
    "PoolCandidate",
    "PoolEvent",
    "ProviderError",
    "ProviderPool",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimit",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseTooLargeError",
    "RouterBalance",
    "RouterFunds",
    "RouterModel",
    "RouterProvider",
    "RpcError",
    "Service",
    "ServiceNotFoundError",
    "Strategy",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "SubAccount",
    "TokenClaims",
    "UntrustedJSONError",
    "TransactionUncertainError",
    "Transcription",
    "TrustMode",
    "Usage",
    "UsageEntry",
    "UsageHistory",
    "UsageStats",
    "Verdict",
    "VerificationError",
    "VerificationPolicy",
    "VerificationResult",
    "ZeroG",
    "ZeroGError",
    "ZeroGRecord",
    "__version__",
    "forget_wallet_states",
    "format_0g",
    "parse_json",
    "parse_token",
    "to_0g",
    "to_neuron",
]
