"""``Devnet``: anvil + the real 0G contracts + providers speaking the broker protocol, in one object."""

from __future__ import annotations

import atexit
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from . import artifacts, chain
from .accounts import FIRST_PROVIDER_INDEX, FIRST_USER_INDEX, DevAccount, dev_account, model_tee_account, tee_account
from .anvil import CHAIN_ID, AnvilProcess, start_anvil
from .broker import teetls
from .broker.faults import Faults
from .broker.runtime import ProviderConfig, ProviderRuntime
from .broker.separated import SeparatedUpstream
from .broker.timing import NEVER, ManualClock, SettlementTimer, TimingProfile
from .broker.upstream import HttpUpstream, ScriptedUpstream, Upstream
from .errors import ConfigError
from .router import RouterHandle, routed, start_router
from .server import ProviderHost, bind

log = logging.getLogger(__name__)

ENV_DESCRIPTION_FILE = "ZG_DEVNET_FILE"
MAX_PROVIDERS = FIRST_USER_INDEX - FIRST_PROVIDER_INDEX
SERVICE_TYPES = ("chatbot", "text-to-image", "speech-to-text", "embedding")
ROUTER_FUNDS_PER_PROVIDER = 5 * 10**18
"""What the Router emulator's wallet moves into its sub-account with each provider at start (neuron)."""


def default_description_path() -> Path:
    """Where ``zerog-devnet up`` writes its JSON description (``$ZG_DEVNET_FILE`` overrides)."""
    return Path(os.environ.get(ENV_DESCRIPTION_FILE) or Path.home() / ".zerog" / "devnet.json")


@dataclass(frozen=True)
class ProviderSpec:
    """What one devnet provider serves and charges. Prices are neuron per token/image/second."""

    name: str
    service_type: str = "chatbot"
    model: str = "zerog-devnet/scripted-chat"
    input_price: int = 100_000_000_000
    output_price: int = 200_000_000_000
    upstream: str | None = None
    upstream_api_key: str | None = field(default=None, repr=False)
    acknowledge: bool = True
    port: int = 0
    context_length: int = 8192
    rpm: int = 30
    burst: int = 5
    max_concurrent: int = 5
    max_global_concurrent: int = 20
    rewrite_requests: bool = False
    """Rewrite every chat request like a production broker (stream_options, model, operator fields, max_tokens)
    and sign the body forwarded: the client's request hash never matches, its response hash does."""
    separated: bool = False
    """The model runs in its own TEE (``additionalInfo.TargetSeparated``), which signs with ``TargetTeeAddress``;
    no ``ZG-Res-Key``: clients fetch the signature by the completion id."""
    extra_models: tuple[str, ...] = ()
    """More models served besides ``model`` (``additionalInfo.MultiModel``; all at the on-chain prices)."""
    timing: TimingProfile | None = None
    """Production timing (:data:`~zerog_devnet.broker.timing.PRODUCTION`) on a clock moved by
    :meth:`ProviderHandle.advance_clock`: account cache, delayed acknowledgement and revocation, settlement
    timers and minimum."""
    tee_tls: bool = False
    """A TeeTLS (centralized) provider: its upstream is served over HTTPS with a certificate made at start,
    and it signs routing proofs with that certificate's fingerprint (``zerog_devnet.broker.teetls``)."""

    def validate(self) -> None:
        if self.service_type not in SERVICE_TYPES:
            raise ConfigError(f"provider {self.name!r}: service_type must be one of {SERVICE_TYPES}")
        if (self.separated or self.rewrite_requests or self.extra_models) and self.service_type != "chatbot":
            raise ConfigError(f"provider {self.name!r}: separated, rewrite_requests and extra_models need a chatbot")
        if self.model in self.extra_models or len(set(self.extra_models)) != len(self.extra_models):
            raise ConfigError(f"provider {self.name!r}: extra_models must be distinct and differ from model")
        if self.tee_tls and self.service_type == "text-to-image":
            raise ConfigError(f"provider {self.name!r}: brokers sign no routing proof for images; tee_tls is refused")
        if self.input_price < 0 or self.output_price < 0:
            raise ConfigError(f"provider {self.name!r}: prices must be >= 0 neuron")
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"provider name {self.name!r} must be letters, digits, '-' or '_'")


DEFAULT_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("chat-a"),
    ProviderSpec("chat-b", input_price=50_000_000_000, output_price=100_000_000_000),
    ProviderSpec("chat-c", input_price=150_000_000_000, output_price=300_000_000_000),
    ProviderSpec("image", "text-to-image", "zerog-devnet/scripted-image", input_price=0, output_price=10**15),
    ProviderSpec("speech", "speech-to-text", "zerog-devnet/scripted-whisper", input_price=10**13, output_price=0),
    ProviderSpec("embed", "embedding", "zerog-devnet/scripted-embed", input_price=20_000_000_000, output_price=0),
    ProviderSpec("rewriter", model="zerog-devnet/rewritten-chat", rewrite_requests=True),
    ProviderSpec("separated", model="zerog-devnet/separated-chat", separated=True),
    ProviderSpec(
        "multi",
        model="zerog-devnet/multi-chat",
        extra_models=("zerog-devnet/multi-chat-mini", "zerog-devnet/multi-chat-code"),
    ),
    ProviderSpec("teetls", model="zerog-devnet/teetls-chat", tee_tls=True),
)
"""The kinds real networks have: three plain chat providers, image, speech and embedding, a broker that rewrites
requests, a separated model TEE and a multi-model catalog."""


@dataclass(frozen=True)
class ProviderInfo:
    """A running provider as clients see it."""

    name: str
    address: str
    url: str
    model: str
    service_type: str
    input_price: int
    output_price: int
    tee_signer: str
    acknowledged: bool


class ProviderHandle:
    """Control of one running provider: faults, settlement, stop/restart."""

    def __init__(self, net: Devnet, info: ProviderInfo, runtime: ProviderRuntime) -> None:
        self._net = net
        self.info = info
        self.runtime = runtime
        self.running = True
        self.timer: SettlementTimer | None = None

    @property
    def faults(self) -> Faults:
        return self.runtime.faults

    def settle_now(self) -> dict[str, Any]:
        """Run one settlement round immediately and return its summary."""
        return self._net.host.call(self.runtime.settler.settle_once())

    def advance_clock(self, seconds: float) -> dict[str, Any] | None:
        """Move a timed provider's clock (``ProviderSpec(timing=...)``): cached accounts age, and when a
        settlement round falls due it runs now; its summary is returned (None when none was due)."""
        if self.timer is None:
            raise ConfigError(f"provider {self.info.name!r} has no timing profile: ProviderSpec(timing=PRODUCTION)")
        self.timer.clock.advance(seconds)
        return self.settle_now() if self.timer.due() else None

    def unsettled(self, user: str) -> int:
        """Unsettled fees this provider holds for ``user`` (neuron)."""
        return self.runtime.fees.unsettled(user)

    def stop(self) -> None:
        """Kill the provider's server: clients get connection refused."""
        self._net.host.stop_provider(self.info.name)
        self.running = False

    def restart(self) -> None:
        """Serve again on the same port after :meth:`stop`."""
        port = int(self.info.url.rsplit(":", 1)[1])
        self._net.host.serve(self.runtime, bind(port))
        self.running = True


class Devnet:
    """A running local 0G Compute Network. Use :meth:`start`; stop with :meth:`stop` or ``with``."""

    def __init__(self, anvil: AnvilProcess, contracts: chain.Contracts, users: list[DevAccount]) -> None:
        self.anvil = anvil
        self.contracts = contracts
        self.users = users
        self.owner = dev_account(0)
        self.chain_id = CHAIN_ID
        self.host = ProviderHost()
        self.w3: Web3 = chain.connect(anvil.rpc_url)
        self._providers: dict[str, ProviderHandle] = {}
        self._router: RouterHandle | None = None
        self._stopped = False
        self.started_in: float = 0.0
        atexit.register(self.stop)

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def providers(self) -> list[ProviderInfo]:
        return [handle.info for handle in self._providers.values()]

    @property
    def router(self) -> RouterHandle:
        """The Router emulator (``Devnet.start(router=True)``, the default): URL, keys, balances, faults."""
        if self._router is None:
            raise ConfigError("this devnet runs without the Router emulator: start it with Devnet.start(router=True)")
        return self._router

    @property
    def router_account(self) -> DevAccount:
        """The dev account reserved for the Router's wallet (the one after the users)."""
        return dev_account(FIRST_USER_INDEX + len(self.users))

    def provider(self, name: str) -> ProviderHandle:
        """The handle of provider ``name`` (see :data:`DEFAULT_PROVIDERS`)."""
        try:
            return self._providers[name]
        except KeyError:
            raise ConfigError(f"no provider named {name!r}; have {sorted(self._providers)}") from None

    @classmethod
    def start(
        cls,
        providers: Sequence[ProviderSpec] = DEFAULT_PROVIDERS,
        *,
        port: int = 0,
        users: int = 5,
        settle_interval: float = 5.0,
        lock_time: int = chain.LOCK_TIME,
        router: bool = True,
        router_port: int = 0,
    ) -> Devnet:
        """Start anvil, deploy the contracts, register and serve ``providers``.

        With ``router`` (the default) the Router emulator is started too (see :attr:`router`): its wallet
        gets a ledger and a funded sub-account with every provider, and it serves on ``router_port``.
        """
        _validate(providers, users, settle_interval)
        artifacts.find_node_modules()  # fail early, with the install hint, before starting anything
        started = time.perf_counter()
        anvil = start_anvil(port=port, accounts=FIRST_USER_INDEX + users + 1)  # + the Router's wallet
        try:
            w3 = chain.connect(anvil.rpc_url)
            contracts = chain.deploy_all(w3, lock_time=lock_time)
            accounts = [dev_account(FIRST_USER_INDEX + i) for i in range(users)]
            net = cls(anvil, contracts, accounts)
        except BaseException:
            anvil.stop()
            raise
        try:
            for slot, spec in enumerate(providers):
                net._add_provider(slot, spec, settle_interval)
            if router:
                net._start_router(router_port)
        except BaseException:
            net.stop()
            raise
        net.started_in = time.perf_counter() - started
        log.info("devnet ready in %.2fs at %s", net.started_in, net.rpc_url)
        return net

    def _add_provider(self, slot: int, spec: ProviderSpec, settle_interval: float) -> None:
        wallet, tee = dev_account(FIRST_PROVIDER_INDEX + slot), tee_account(slot)
        model_tee = model_tee_account(slot) if spec.separated else tee  # only a separated model has its own key
        sock = bind(spec.port)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        multi = {"MultiModel": True, "priceDenomination": "NATIVE"} if spec.extra_models else None
        upstream = _upstream(spec)
        tls = teetls.TlsUpstream(upstream, bind(0)) if spec.tee_tls else None
        extra = {**(multi or {}), **(teetls.additional_info() if tls else {})} or None
        registration = chain.ServiceRegistration(
            spec.service_type,
            url,
            spec.model,
            "TeeML",
            spec.input_price,
            spec.output_price,
            chain.additional_info(model_tee.address, separated=spec.separated, extra=extra),
            tee.address,
        )
        chain.register_provider(self.w3, self.contracts, wallet.address, registration, acknowledge=spec.acknowledge)
        config = ProviderConfig(
            name=spec.name,
            address=wallet.address,
            private_key=wallet.private_key,
            tee_private_key=tee.private_key,
            service_type=spec.service_type,
            model=spec.model,
            url=url,
            input_price=spec.input_price,
            output_price=spec.output_price,
            chain_id=self.chain_id,
            rpc_url=self.rpc_url,
            inference_address=self.contracts.inference,
            settle_interval=settle_interval,
            context_length=spec.context_length,
            rpm=spec.rpm,
            burst=spec.burst,
            max_concurrent=spec.max_concurrent,
            max_global_concurrent=spec.max_global_concurrent,
            extra_models=spec.extra_models,
            rewrite_requests=spec.rewrite_requests,
            separated=spec.separated,
        )
        if tls is not None:
            self.host.call(tls.start())
            config.provider_identity = teetls.DEFAULT_IDENTITY
            config.extra_model_info.update(teetls.model_info(teetls.DEFAULT_IDENTITY, tls.serving_domain))
        if spec.timing is not None:
            config.account_cache_ttl = spec.timing.account_cache_ttl
            config.min_settlement_fee = spec.timing.min_settlement_fee
            config.settle_interval = NEVER
        runtime = ProviderRuntime(config, tls or upstream)
        if spec.separated:
            runtime.upstream = SeparatedUpstream(runtime.upstream, model_tee.private_key, runtime.faults)
        timer = None
        if spec.timing is not None:
            clock = ManualClock()
            runtime.clock = clock
            timer = SettlementTimer(clock, spec.timing.settle_interval)
        self.host.serve(runtime, sock)
        info = ProviderInfo(
            spec.name,
            wallet.address,
            url,
            spec.model,
            spec.service_type,
            spec.input_price,
            spec.output_price,
            tee.address,
            spec.acknowledge,
        )
        handle = ProviderHandle(self, info, runtime)
        handle.timer = timer
        self._providers[spec.name] = handle

    def register_external(
        self,
        name: str,
        url: str,
        *,
        service_type: str = "chatbot",
        model: str = "zerog-devnet/external",
        input_price: int = 10**11,
        output_price: int = 2 * 10**11,
        additional_info: dict[str, Any] | None = None,
    ) -> ProviderInfo:
        """Register a provider served by someone else at ``url`` (e.g. a test's hostile server), acknowledged.

        It takes the last free provider wallet; the registration is an ordinary ``addOrUpdateService``, so clients
        find it by discovery. The devnet does not serve or settle it, and ``revert`` forgets it with the chain.
        ``additional_info`` adds keys to its on-chain additionalInfo (e.g. ``teetls.additional_info()``).
        """
        slot = MAX_PROVIDERS - 1
        if slot < len(self._providers):
            raise ConfigError(f"no free provider wallet left for {name!r}")
        wallet, tee = dev_account(FIRST_PROVIDER_INDEX + slot), tee_account(slot)
        registration = chain.ServiceRegistration(
            service_type,
            url,
            model,
            "TeeML",
            input_price,
            output_price,
            chain.additional_info(tee.address, extra=additional_info),
            tee.address,
        )
        chain.register_provider(self.w3, self.contracts, wallet.address, registration, acknowledge=True)
        return ProviderInfo(
            name, wallet.address, url, model, service_type, input_price, output_price, tee.address, True
        )

    def _start_router(self, port: int) -> None:
        wallet = self.router_account
        names = [p.name for p in self.providers]
        each = ROUTER_FUNDS_PER_PROVIDER
        self.fund(wallet, names, ledger=each * len(names) + 10**18, each=each)
        self._router = start_router(self.host, wallet, [routed(p) for p in self.providers], bind(port))

    def fund(
        self, user: DevAccount, providers: Sequence[str], *, ledger: int = 10 * 10**18, each: int = 2 * 10**18
    ) -> None:
        """Create ``user``'s ledger with ``ledger`` neuron and move ``each`` to every named provider."""
        ledger_contract = chain.contract(self.w3, "LedgerManager", self.contracts.ledger)
        chain.transact(self.w3, ledger_contract.functions.addLedger(""), user.address, ledger)
        for name in providers:
            address = self.provider(name).info.address
            call = ledger_contract.functions.transferFund(address, "inference-v1.0", each)
            chain.transact(self.w3, call, user.address)

    def snapshot(self) -> str:
        """Take an EVM snapshot (``evm_snapshot``)."""
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot_id: str) -> None:
        """Revert the chain to ``snapshot_id``, forget the providers' per-user state, revive stopped ones.

        Clients that outlive a revert hold state of the future (zerog-compute shares nonces, funding tallies and
        tokens per wallet in a process): call ``zerog_compute.wallet_state.forget_wallet_states()`` after it.
        """
        for handle in self._providers.values():
            self.host.call(_reset(handle.runtime))
            if not handle.running:
                handle.restart()
        result = self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        if result.get("result") is not True:
            raise ConfigError(f"evm_revert({snapshot_id}) failed: {result}")
        self._resync_clock()
        if self._router is not None:
            self._router.reset()

    def _resync_clock(self) -> None:
        """Anvil restarts its clock at the snapshot's block time on a revert, leaving chain time behind the wall
        clock by the snapshot's age; real chains keep block time near the wall clock (the usage audit compares
        the two), so set it back to now (never before the latest block)."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        self.w3.provider.make_request("evm_setTime", [max(int(time.time()), latest)])  # type: ignore[arg-type]

    def increase_time(self, seconds: int) -> None:
        """Move chain time forward (e.g. past the refund lock time) and mine a block."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: RPC, chain id, contracts, dev user keys, providers and the Router."""
        description = {
            "network": "devnet",
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "contracts": asdict(self.contracts),
            "users": [{"address": u.address, "private_key": u.private_key} for u in self.users],
            "owner": self.owner.address,
            "providers": [asdict(p) for p in self.providers],
            "note": "dev keys from the public anvil mnemonic: never use them on a real network",
        }
        if self._router is not None:
            description["router"] = self._router.describe()
        return description

    def write_description(self, path: str | Path | None = None) -> Path:
        """Write :meth:`describe` as JSON (default :func:`default_description_path`)."""
        target = Path(path) if path is not None else default_description_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.describe(), indent=2))
        return target

    def stop(self) -> None:
        """Stop providers and anvil. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._router is not None:
                try:
                    self._router.stop()
                except Exception:
                    log.exception("stopping the Router emulator failed")
            self.host.close()
        finally:
            self.anvil.stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _reset(runtime: ProviderRuntime) -> None:
    if runtime.settler is not None:
        async with runtime.settler.lock:
            runtime.reset()
    else:
        runtime.reset()


def _upstream(spec: ProviderSpec) -> Upstream:
    if spec.upstream:
        return HttpUpstream(spec.upstream, api_key=spec.upstream_api_key)
    return ScriptedUpstream(spec.model)


def _validate(providers: Sequence[ProviderSpec], users: int, settle_interval: float) -> None:
    if not 1 <= len(providers) <= MAX_PROVIDERS:
        raise ConfigError(f"between 1 and {MAX_PROVIDERS} providers are supported, got {len(providers)}")
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ConfigError(f"provider names must be unique, got {names}")
    for spec in providers:
        spec.validate()
    if not 1 <= users <= 100:
        raise ConfigError(f"users must be between 1 and 100, got {users}")
    if settle_interval <= 0:
        raise ConfigError(f"settle_interval must be > 0 seconds, got {settle_interval}")


@contextmanager
def running(providers: Sequence[ProviderSpec] = DEFAULT_PROVIDERS, **kwargs: Any) -> Iterator[Devnet]:
    """``with running() as net:`` — same as ``with Devnet.start() as net:``."""
    net = Devnet.start(providers, **kwargs)
    try:
        yield net
    finally:
        net.stop()
