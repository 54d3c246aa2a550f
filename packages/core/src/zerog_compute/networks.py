"""The networks zerog-compute can talk to: chain id, RPC URL and contract addresses.

``resolve_network`` applies the fallbacks: the ``network=`` argument, else ``$ZG_NETWORK``, else
testnet (``"testnet"`` means the SDK's ``testnetDev`` contracts, :data:`TESTNET_DEV`, when ``$ZG_DEV_MODE`` or
``$NEXT_PUBLIC_ZG_DEV_MODE`` is ``true`` or ``1``, as in the SDK; ``"testnet-dev"`` names them always);
``rpc_url=`` else ``$ZG_RPC_URL`` else the network's default (``$ZG_RPC_URL`` never
replaces the RPC of an explicit ``Network(...)`` object, unless that object has none: one restored
from a serialised form or a pickle, which never carry RPC URLs). ``"devnet"`` reads the JSON
description written by ``zerog-devnet up`` (``$ZG_DEVNET_FILE``, default ``~/.zerog/devnet.json``).
No I/O beyond that file happens here; the chain id is checked against the RPC on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigurationError
from .untrusted_json import parse_json

ENV_NETWORK = "ZG_NETWORK"
ENV_RPC_URL = "ZG_RPC_URL"
ENV_DEVNET_FILE = "ZG_DEVNET_FILE"


class Network(BaseModel):
    """One 0G chain and the addresses of its compute contracts."""

    model_config = ConfigDict(frozen=True)

    name: str
    chain_id: int
    rpc_url: str
    ledger: str
    inference: str
    fine_tuning: str | None = None
    explorer: str | None = None

    def with_rpc(self, rpc_url: str) -> Network:
        """The same network reached through another RPC endpoint."""
        return self.model_copy(update={"rpc_url": rpc_url})


TESTNET = Network(
    name="testnet",
    chain_id=16602,
    rpc_url="https://evmrpc-testnet.0g.ai",
    ledger="0xE70830508dAc0A97e6c087c75f402f9Be669E406",
    inference="0xa79F4c8311FF93C06b8CfB403690cc987c93F91E",
    fine_tuning="0xC6C075D8039763C8f1EbE580be5ADdf2fd6941bA",
    explorer="https://chainscan-galileo.0g.ai",
)
MAINNET = Network(
    name="mainnet",
    chain_id=16661,
    rpc_url="https://evmrpc.0g.ai",
    ledger="0x2dE54c845Cd948B72D2e32e39586fe89607074E3",
    inference="0x47340d900bdFec2BD393c626E12ea0656F938d84",
    fine_tuning="0x4e3474095518883744ddf135b7E0A23301c7F9c0",
    explorer="https://chainscan.0g.ai",
)
TESTNET_DEV = Network(
    name="testnet-dev",
    chain_id=16602,
    rpc_url="https://evmrpc-testnet.0g.ai",
    ledger="0x815B93ab4Ba4BDF530dbF1552649a3c534F8BbF7",
    inference="0x41bD7Ac5c19000A974D5c192bcd5FB67b56C85c5",
    fine_tuning="0x4e4158DF35CfdC0ac63264D3E112F5B8E9a5c569",
    explorer="https://chainscan-galileo.0g.ai",
)
"""The SDK's ``testnetDev`` contracts: the same chain as testnet, the 0G team's development deployment."""
NETWORKS = {"testnet": TESTNET, "mainnet": MAINNET, "testnet-dev": TESTNET_DEV}
ENV_DEV_MODE = ("ZG_DEV_MODE", "NEXT_PUBLIC_ZG_DEV_MODE")


def dev_mode() -> bool:
    """The SDK's ``isDevMode()``: ``$ZG_DEV_MODE`` or ``$NEXT_PUBLIC_ZG_DEV_MODE`` is ``true`` or ``1``."""
    return any(os.environ.get(name) in ("true", "1") for name in ENV_DEV_MODE)


def devnet_file() -> Path:
    """Where ``zerog-devnet up`` writes its description."""
    return Path(os.environ.get(ENV_DEVNET_FILE) or Path.home() / ".zerog" / "devnet.json")


def devnet_network(path: Path | None = None) -> Network:
    """The running devnet, from its JSON description."""
    source = path or devnet_file()
    try:
        data = parse_json(source.read_text())
        contracts = data["contracts"]
        return Network(
            name="devnet",
            chain_id=data["chain_id"],
            rpc_url=data["rpc_url"],
            ledger=contracts["ledger"],
            inference=contracts["inference"],
            fine_tuning=contracts.get("fine_tuning"),
        )
    except FileNotFoundError:
        raise ConfigurationError(
            f"network 'devnet' needs a running devnet: start one with `zerog-devnet up` (no {source})"
        ) from None
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise ConfigurationError(f"{source} is not a devnet description ({exc}); restart `zerog-devnet up`") from None


def _rpc_of_redacted(network: Network) -> str:
    """The RPC URL of a network restored without one (serialised forms and pickles leave RPC URLs out, as they
    often embed an API key): ``$ZG_RPC_URL``, else the public endpoint of testnet or mainnet."""
    public = {known.chain_id: known.rpc_url for known in NETWORKS.values()}
    found = os.environ.get(ENV_RPC_URL) or public.get(network.chain_id)
    if not found:
        raise ConfigurationError(
            f"network {network.name!r} has no RPC URL (RPC URLs are never serialised or pickled): "
            f"pass rpc_url=... or set ${ENV_RPC_URL}"
        )
    return found


def resolve_network(network: str | Network | None = None, rpc_url: str | None = None) -> Network:
    """Pick the network from the argument, ``$ZG_NETWORK`` or the testnet default."""
    chosen = network if network is not None else os.environ.get(ENV_NETWORK) or "testnet"
    if isinstance(chosen, Network):
        resolved = chosen
    elif chosen == "devnet":
        resolved = devnet_network()
    elif chosen == "testnet" and dev_mode():  # the SDK picks testnetDev on chain 16602 in dev mode
        resolved = TESTNET_DEV
    elif isinstance(chosen, str) and chosen in NETWORKS:
        resolved = NETWORKS[chosen]
    else:
        known = ", ".join([*NETWORKS, "devnet"])
        raise ConfigurationError(f"unknown network {chosen!r}: use one of {known}, or pass a Network(...)")
    if rpc_url is not None and not isinstance(rpc_url, str):
        raise ConfigurationError(f"rpc_url must be a URL string like {TESTNET.rpc_url!r}, got {type(rpc_url).__name__}")
    # an explicit Network(...) already names its RPC: only the rpc_url argument may replace it
    override = rpc_url or (None if isinstance(chosen, Network) else os.environ.get(ENV_RPC_URL))
    if not override and not resolved.rpc_url:
        override = _rpc_of_redacted(resolved)
    return resolved.with_rpc(override) if override else resolved
