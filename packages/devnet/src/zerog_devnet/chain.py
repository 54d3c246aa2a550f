"""Deploy the real 0G contracts on anvil and register providers, as the upstream scripts do.

Order (``0g-serving-contract/src/deploy``): for each of LedgerManager, InferenceServing and
FineTuningServing deploy the implementation, an ``UpgradeableBeacon(impl)`` and a
``BeaconProxy(beacon, "")``, then ``initialize`` through the proxy and
``registerService`` + ``setRecommendedService`` on the ledger. On a fresh anvil the proxies land at
the addresses the TS SDK knows as ``CONTRACT_ADDRESSES.hardhat``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt

from . import artifacts
from .accounts import dev_account
from .errors import DeploymentError

log = logging.getLogger(__name__)

NEURON_PER_0G = 10**18
LOCK_TIME = 86_400
PROVIDER_STAKE = 100 * NEURON_PER_0G
FINE_TUNING_PENALTY_PERCENT = 30
INFERENCE_SERVICE = ("inference", "v1.0")
FINE_TUNING_SERVICE = ("fine-tuning", "v1.0")


@dataclass(frozen=True)
class Contracts:
    """Proxy addresses of the deployed contracts."""

    ledger: str
    inference: str
    fine_tuning: str


@dataclass(frozen=True)
class ServiceRegistration:
    """The ``ServiceParams`` tuple of ``InferenceServing.addOrUpdateService``."""

    service_type: str
    url: str
    model: str
    verifiability: str
    input_price: int
    output_price: int
    additional_info: str
    tee_signer: str

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.service_type,
            self.url,
            self.model,
            self.verifiability,
            self.input_price,
            self.output_price,
            self.additional_info,
            self.tee_signer,
        )


def connect(rpc_url: str) -> Web3:
    """A web3 client for the devnet chain."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))


def contract(w3: Web3, name: str, address: str) -> Contract:
    """Contract object for ``name`` (artifact ABI) at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.load(name).abi)


def transact(w3: Web3, call: Any, sender: str, value: int = 0) -> TxReceipt:
    """Send ``call`` from an unlocked anvil account and require success."""
    params: TxParams = {"from": Web3.to_checksum_address(sender), "value": Web3.to_wei(value, "wei")}
    try:
        tx_hash = call.transact(params)
    except Exception as exc:  # web3 raises many types for reverts
        raise DeploymentError(f"{call.fn_name} from {sender} failed: {exc}") from exc
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
    if receipt["status"] != 1:
        raise DeploymentError(f"{call.fn_name} from {sender} reverted (tx {tx_hash.hex()})")
    return receipt


def _deploy(w3: Web3, name: str, args: tuple[Any, ...], sender: str) -> str:
    art = artifacts.load(name)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = transact(w3, factory.constructor(*args), sender)
    address = receipt["contractAddress"]
    if address is None:
        raise DeploymentError(f"{name} deployment returned no address")
    return str(address)


def deploy_behind_beacon(w3: Web3, name: str, owner: str) -> str:
    """Deploy ``name`` as implementation → UpgradeableBeacon → BeaconProxy; return the proxy."""
    impl = _deploy(w3, name, (), owner)
    beacon = _deploy(w3, "UpgradeableBeacon", (impl,), owner)
    return _deploy(w3, "BeaconProxy", (beacon, b""), owner)


def deploy_all(w3: Web3, *, lock_time: int = LOCK_TIME) -> Contracts:
    """Deploy, initialize and link the three 0G contracts like the real deployment."""
    owner = dev_account(0).address
    ledger_addr = deploy_behind_beacon(w3, "LedgerManager", owner)
    ledger = contract(w3, "LedgerManager", ledger_addr)
    transact(w3, ledger.functions.initialize(owner), owner)

    inference_addr = deploy_behind_beacon(w3, "InferenceServing", owner)
    inference = contract(w3, "InferenceServing", inference_addr)
    transact(w3, inference.functions.initialize(lock_time, ledger_addr, owner), owner)
    _register(w3, ledger, INFERENCE_SERVICE, inference_addr, owner)

    ft_addr = deploy_behind_beacon(w3, "FineTuningServing", owner)
    fine_tuning = contract(w3, "FineTuningServing", ft_addr)
    init = fine_tuning.functions.initialize(lock_time, ledger_addr, owner, FINE_TUNING_PENALTY_PERCENT)
    transact(w3, init, owner)
    _register(w3, ledger, FINE_TUNING_SERVICE, ft_addr, owner)
    log.info("deployed ledger=%s inference=%s fine_tuning=%s", ledger_addr, inference_addr, ft_addr)
    return Contracts(ledger_addr, inference_addr, ft_addr)


def _register(w3: Web3, ledger: Contract, service: tuple[str, str], address: str, owner: str) -> None:
    kind, version = service
    description = f"{kind} serving service {version}"
    transact(w3, ledger.functions.registerService(kind, version, address, description), owner)
    transact(w3, ledger.functions.setRecommendedService(kind, version), owner)


def register_provider(
    w3: Web3, contracts: Contracts, provider: str, service: ServiceRegistration, *, acknowledge: bool
) -> None:
    """Stake 100 0G and register ``service``; the owner then acknowledges the TEE signer."""
    inference = contract(w3, "InferenceServing", contracts.inference)
    existing = inference.functions.getService(provider).call() if _has_service(inference, provider) else None
    stake = 0 if existing else PROVIDER_STAKE
    transact(w3, inference.functions.addOrUpdateService(service.as_tuple()), provider, stake)
    if acknowledge:
        transact(w3, inference.functions.acknowledgeTEESignerByOwner(provider), dev_account(0).address)


def _has_service(inference: Contract, provider: str) -> bool:
    try:
        inference.functions.getService(provider).call()
    except Exception:  # ServiceNotExist revert
        return False
    return True


def additional_info(tee_signer: str, *, separated: bool = False, extra: dict[str, Any] | None = None) -> str:
    """The additionalInfo JSON a decentralized TeeML broker publishes (keys sorted, like Go)."""
    info: dict[str, Any] = {
        "ImageDigest": "sha256:zerog-devnet",
        "ImageName": "zerog-devnet/provider",
        "TEEVerifier": "cryptopilot",
        "TargetSeparated": separated,
        "TargetTeeAddress": tee_signer if separated else "",
        "VerifierURL": "",
    }
    info.update(extra or {})
    return json.dumps(info, sort_keys=True, separators=(",", ":"))
