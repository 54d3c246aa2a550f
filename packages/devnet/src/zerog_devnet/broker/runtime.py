"""One provider's live state: configuration, keys, chain reads, fee rows, caches, limits, faults."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, ContractLogicError

from .. import artifacts
from .billing import FeeLedger, Prices
from .faults import Faults
from .ratelimit import GlobalCap, UserLimits
from .signing import SignatureCache
from .tokens import AccountState
from .upstream import Upstream

log = logging.getLogger(__name__)

MINIMUM_LOCKED_BALANCE = 10**18


@dataclass
class ProviderConfig:
    """Static settings of one devnet provider."""

    name: str
    address: str
    private_key: str
    tee_private_key: str
    service_type: str
    model: str
    url: str
    input_price: int
    output_price: int
    chain_id: int
    rpc_url: str
    inference_address: str
    settle_interval: float = 5.0
    min_settlement_fee: int = 0
    account_cache_ttl: float = 0.0
    minimum_locked_balance: int = MINIMUM_LOCKED_BALANCE
    rpm: int = 30
    burst: int = 5
    max_concurrent: int = 5
    max_global_concurrent: int = 20
    signature_ttl: float = 20 * 60
    context_length: int = 8192
    max_completion_tokens: int = 4096
    extra_model_info: dict[str, Any] = field(default_factory=dict)
    extra_models: tuple[str, ...] = ()
    """More models this provider serves besides ``model`` (a multi-model provider's catalog)."""
    rewrite_requests: bool = False
    """Rewrite every chat request like a production broker and sign what was forwarded (see ``rewrite``)."""
    separated: bool = False
    """The model runs in its own TEE, which signs; the broker passes its answers through (see ``separated``)."""
    provider_identity: str | None = None
    """Set for a TeeTLS (centralized) provider: the identity its routing proofs name."""

    def __repr__(self) -> str:
        return f"ProviderConfig(name={self.name!r}, address={self.address!r}, url={self.url!r})"

    @property
    def catalog(self) -> tuple[str, ...]:
        """Every model served: the on-chain default first."""
        return (self.model, *self.extra_models)

    @property
    def tee_address(self) -> str:
        return str(Account.from_key(self.tee_private_key).address)


@dataclass(frozen=True)
class AccountRecord:
    """The fields of an on-chain sub-account the broker uses."""

    user: str
    nonce: int
    balance: int
    pending_refund: int
    acknowledged: bool
    generation: int
    revoked_bitmap: int

    @property
    def lock_balance(self) -> int:
        return self.balance - self.pending_refund

    @property
    def state(self) -> AccountState:
        return AccountState(generation=self.generation, revoked_bitmap=self.revoked_bitmap)


class AccountMissing(Exception):
    """``getAccount`` reverted: the user has no sub-account with this provider."""


class ProviderRuntime:
    """Everything a running provider needs; shared by its HTTP app and settlement loop."""

    def __init__(self, config: ProviderConfig, upstream: Upstream) -> None:
        self.config = config
        self.upstream = upstream
        self.faults = Faults()
        self.fees = FeeLedger()
        self.signatures = SignatureCache(ttl=config.signature_ttl)
        self.limits = UserLimits(rpm=config.rpm, burst=config.burst, max_concurrent=config.max_concurrent)
        self.global_cap = GlobalCap(config.max_global_concurrent)
        self.images: dict[str, list[bytes]] = {}
        self.model_mismatches: dict[str, list[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.settled_total = 0
        self.w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(config.rpc_url))
        self.inference: AsyncContract = self.w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(config.inference_address),
            abi=artifacts.load("InferenceServing").abi,
        )
        self._account_cache: dict[str, tuple[float, AccountRecord | None]] = {}
        self.settler: Any = None
        self.clock: Callable[[], float] = time.monotonic
        """What the account cache reads time from (a ``timing.ManualClock`` under a timing profile)."""

    async def get_account(self, user: str, *, fresh: bool = False) -> AccountRecord | None:
        """Read the user's sub-account (``None`` when it does not exist), from the cache unless ``fresh``."""
        key = user.lower()
        cached = self._account_cache.get(key)
        if cached and not fresh and self.clock() - cached[0] < self.config.account_cache_ttl:
            return cached[1]
        try:
            raw = await self.inference.functions.getAccount(
                AsyncWeb3.to_checksum_address(user), self.config.address
            ).call()
        except (ContractCustomError, ContractLogicError):
            record = None
        else:
            record = AccountRecord(raw[0], raw[2], raw[3], raw[4], bool(raw[7]), raw[9], raw[10])
        self._account_cache[key] = (self.clock(), record)
        return record

    async def tee_signer_acknowledged(self) -> bool:
        """Whether the contract owner has acknowledged this provider's TEE signer."""
        service = await self.inference.functions.getService(self.config.address).call()
        return bool(service[10])

    @property
    def prices(self) -> Prices:
        return Prices(self.config.input_price, self.config.output_price)

    async def aclose(self) -> None:
        """Close the chain connection and the upstream client."""
        await self.w3.provider.disconnect()
        await self.upstream.aclose()

    def reset(self) -> None:
        """Forget every per-user record (after a chain revert)."""
        self.fees.clear()
        self.signatures.clear()
        self.limits.reset()
        self.global_cap.reset()
        self.images.clear()
        self.model_mismatches.clear()
        self.blocked_until.clear()
        self._account_cache.clear()
        self.faults.clear()
