"""Router mode's configuration: the key, the base URL and the per-client caches."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from .._bounds import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES
from .._context import TTLCache
from ..errors import ConfigurationError
from ..networks import Network, devnet_file
from ..signer import Wallet
from ..untrusted_json import parse_json
from ..verification import VerificationPolicy

TrustMode = Literal["private"]

if TYPE_CHECKING:
    from ..usage.ledger import Recorder
    from .listings import RouterModel, RouterProvider

MAINNET_ROUTER_URL = "https://router-api.0g.ai/v1"
TESTNET_ROUTER_URL = "https://router-api-testnet.integratenetwork.work/v1"
ROUTER_URLS = {"mainnet": MAINNET_ROUTER_URL, "testnet": TESTNET_ROUTER_URL}
"""The hosted Router of each network: separate environments with their own keys and balances."""
DEFAULT_ROUTER_URL = MAINNET_ROUTER_URL
TRUST_MODES = ("private",)
ENV_ROUTER_KEY = "ZG_ROUTER_API_KEY"
ENV_ROUTER_URL = "ZG_ROUTER_URL"
ENV_MANAGEMENT_KEY = "ZG_ROUTER_MANAGEMENT_KEY"
LISTING_TTL_S = 600.0


class RouterState:
    """Router-mode configuration and caches of one client (the API key is a ``SecretStr``)."""

    def __init__(
        self,
        url: str,
        api_key: SecretStr,
        *,
        verification: VerificationPolicy = "warn",
        timeout: float = 60.0,
        max_retries: int = 2,
        trust_mode: TrustMode | None = None,
        network: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.trust_mode = check_trust_mode(trust_mode)
        self.network = network
        self._api_key = api_key
        self.verification: VerificationPolicy = verification
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = DEFAULT_DEADLINE
        self.max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES
        self.models: TTLCache[str, list[RouterModel]] = TTLCache(LISTING_TTL_S)
        self.providers: TTLCache[str, list[RouterProvider]] = TTLCache(LISTING_TTL_S)
        self.usage: Recorder | None = None

    def auth(self, key: SecretStr | None = None) -> dict[str, str]:
        """The Authorization header (built on demand; never stored in plain text)."""
        return {"Authorization": f"Bearer {(key or self._api_key).get_secret_value()}"}

    def __repr__(self) -> str:
        return f"RouterState(url={self.url!r}, api_key=SecretStr('**********'))"


def uses_router(private_key: object, router_api_key: object, *, router_key_from_env: bool = False) -> bool:
    """Whether a client given these keys runs in Router mode (the precedence ``ZeroG`` applies).

    ``router_key_from_env=True`` says the caller read ``router_api_key`` from ``$ZG_ROUTER_API_KEY`` itself
    (a framework field default): like the environment, it then yields to a wallet key. With no Router key,
    ``$ZG_ROUTER_API_KEY`` decides when no wallet key is given.
    """
    if router_api_key is None:
        return private_key is None and bool(os.environ.get(ENV_ROUTER_KEY, "").strip())
    return not router_key_from_env or private_key is None


def configure(
    api_key: str | SecretStr | None,
    url: str | None,
    network: Network,
    *,
    explicit_private_key: bool,
    verification: VerificationPolicy,
    timeout: float,
    max_retries: int,
    trust_mode: TrustMode | None = None,
) -> RouterState | None:
    """The Router configuration, or None for Direct mode (precedence: :func:`uses_router`)."""
    if not uses_router(explicit_private_key or None, api_key):
        if trust_mode is not None:
            raise ConfigurationError(
                "trust_mode= is a Router option (X-0G-Provider-Trust-Mode): pass router_api_key='sk-…'; in Direct "
                "mode choose TeeML providers yourself (zg.services.list(verifiable_only=True))"
            )
        return None
    if api_key is None:
        api_key = os.environ.get(ENV_ROUTER_KEY, "")
    value = (api_key.get_secret_value() if isinstance(api_key, SecretStr) else str(api_key)).strip()
    if not value:
        raise ConfigurationError("router_api_key is empty: pass the sk-… key created at pc.0g.ai")
    if value.startswith("app-sk-"):
        raise ConfigurationError(
            "router_api_key is a Direct-mode session token or provider API key (app-sk-…), not a Router key: "
            "Router keys start with sk- (pc.0g.ai → Dashboard → API Keys)"
        )
    return RouterState(
        router_url(url, network),
        SecretStr(value),
        verification=verification,
        timeout=timeout,
        max_retries=max_retries,
        trust_mode=trust_mode,
        network=network.name,
    )


def check_trust_mode(trust_mode: object) -> TrustMode | None:
    """``None`` or ``"private"`` (the one documented ``X-0G-Provider-Trust-Mode``), else ConfigurationError."""
    if trust_mode is None:
        return None
    if trust_mode == "private":
        return "private"
    raise ConfigurationError(
        f"trust_mode must be 'private' (only TeeML providers, which keep prompts hidden) or None, got {trust_mode!r}"
    )


def router_url(url: str | None, network: Network) -> str:
    """``router_url=``, else ``$ZG_ROUTER_URL``, else the network's Router (mainnet, testnet, the devnet's).

    A hosted Router URL given for another network is refused: the two are separate environments with their
    own keys and balances, so a mismatch means either the key or the chain is not the one meant.
    """
    chosen = url or os.environ.get(ENV_ROUTER_URL, "").strip()
    if chosen:
        if not chosen.startswith(("http://", "https://")):
            raise ConfigurationError(f"router_url must be an http(s) URL, got {chosen!r}")
        chosen = chosen.rstrip("/")
        check_network(chosen, network)
        return chosen
    if network.name == "devnet":
        return devnet_router_url(network)
    if network.name in ROUTER_URLS:
        return ROUTER_URLS[network.name]
    raise ConfigurationError(
        f"no hosted 0G Router is known for network {network.name!r}: pass router_url=... "
        f"(mainnet {MAINNET_ROUTER_URL}, testnet {TESTNET_ROUTER_URL})"
    )


def check_network(url: str, network: Network) -> None:
    """Refuse a hosted Router URL that belongs to another network than the client's."""
    served = next((name for name, known in ROUTER_URLS.items() if known.rstrip("/") == url), None)
    if served is not None and served != network.name:
        raise ConfigurationError(
            f"router_url {url} is the {served} Router, but the client's network is {network.name!r}: Router keys, "
            f"balances and chains are separate per network; pass network={served!r} (or $ZG_NETWORK={served}), "
            f"or drop router_url to use the {network.name} Router"
        )


def devnet_router_url(network: Network) -> str:
    """The Router URL in the running devnet's description (``zerog-devnet up``)."""
    source = devnet_file()
    hint = "pass router_url=net.router.url (or start the devnet with its Router: `zerog-devnet up`)"
    try:
        data = parse_json(source.read_text())
        url = data["router"]["url"]
        described_rpc = data.get("rpc_url")
    except FileNotFoundError:
        raise ConfigurationError(f"Router mode on network 'devnet' needs the devnet's Router URL: {hint}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(f"{source} describes no Router: {hint}") from None
    if described_rpc != network.rpc_url:
        raise ConfigurationError(f"{source} describes another devnet (RPC {described_rpc}): {hint}")
    return str(url).rstrip("/")


def require(state: RouterState | None) -> RouterState:
    if state is None:
        raise ConfigurationError(
            "zg.router is for Router mode: create the client with router_api_key='sk-…' (or $ZG_ROUTER_API_KEY)"
        )
    return state


def router_wallet() -> Wallet | None:
    """``$ZG_PRIVATE_KEY``'s wallet when set (Direct features stay available), else None."""
    return Wallet.from_env() if os.environ.get("ZG_PRIVATE_KEY", "").strip() else None
