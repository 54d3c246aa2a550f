"""The hosted 0G Router as a second backend: one API key, one balance, server-side routing and failover.

Router mode is selected with ``router_api_key=`` (or ``$ZG_ROUTER_API_KEY`` when no ``private_key=`` is
passed); the base URL is ``router_url=``, else ``$ZG_ROUTER_URL``, else the network's Router (mainnet
``https://router-api.0g.ai/v1``, testnet ``https://router-api-testnet.integratenetwork.work/v1``, the devnet's
for ``network="devnet"``); a hosted Router URL of another network is refused. The same calls as in Direct
mode work::

    zg = ZeroG(router_api_key="sk-…", network="mainnet")
    zg.chat.completions.create(model="…", messages=[...])            # the Router picks the provider
    zg.chat.completions.create(model="…", provider="0x…", messages=[...])  # pinned: X-0G-Provider-Address

Results carry the usual ``zerog`` record, read from the Router's ``x_0g_trace`` (on every answer):
``provider``, ``request_id``, ``fee`` = ``billing.total_cost`` (what the Router charged; ``billing`` keeps the
breakdown; only without a billing is it estimated from ``GET /v1/providers`` / ``GET /v1/models``, with
``fee_estimated=True`` and ``fee_note``), ``chat_id`` from ``ZG-Res-Key``, and ``verification``. A Router
client cannot check TEE signatures itself: with ``verification`` other than ``"off"`` it asks the Router
(``verify_tee: true`` in JSON bodies, ``?verify_tee=true`` on multipart requests) and maps
``x_0g_trace.tee_verified`` to a :class:`~zerog_compute.verification.VerificationResult` whose detail says
that the Router verified it. ``rate_limit`` holds the ``X-RateLimit-*-Requests`` values.

Routing options are headers: ``provider=`` pins; ``trust_mode="private"`` (client or pool) sends
``X-0G-Provider-Trust-Mode``; a pool (``zg.pool(model=..., strategy="price"|"latency")``) maps to the model
and ``X-0G-Provider-Sort``; ``extra_headers`` passes any other. Images are ``b64_json``; embeddings are
refused (no Router page documents them).

Everything here is written once as flows (see :mod:`zerog_compute._io`): :mod:`.config` (key, URL per
network, trust mode, caches), :mod:`.listings` (models, providers, balance, funds, usage stats and history),
:mod:`.backend` (requests and streams, beside their Direct twin :mod:`zerog_compute.direct`), :mod:`.jobs`
(async image jobs) and :mod:`.records` (the billed fee and the Router's verdict). What a Router error status
means is in :mod:`zerog_compute.http_errors`, the Router's stream decoder in :mod:`zerog_compute.stream`.
"""

from __future__ import annotations

from .._context import DIRECT_ONLY, NEEDS_WALLET
from . import jobs, messages
from .backend import RouterBackend, RouterRequest
from .config import (
    DEFAULT_ROUTER_URL,
    ENV_MANAGEMENT_KEY,
    ENV_ROUTER_KEY,
    ENV_ROUTER_URL,
    MAINNET_ROUTER_URL,
    ROUTER_URLS,
    TESTNET_ROUTER_URL,
    RouterState,
    TrustMode,
    check_trust_mode,
    configure,
    require,
    router_url,
    router_wallet,
    uses_router,
)
from .jobs import ImageJob
from .listings import (
    RouterBalance,
    RouterFunds,
    RouterModel,
    RouterProvider,
    UsageEntry,
    UsageHistory,
    UsageStats,
    balance,
    funds,
    list_models,
    list_providers,
    usage_history,
    usage_stats,
)
from .messages import AnthropicMessage
from .records import record_for, verification_from_trace

__all__ = [
    "DEFAULT_ROUTER_URL",
    "AnthropicMessage",
    "messages",
    "MAINNET_ROUTER_URL",
    "ROUTER_URLS",
    "TESTNET_ROUTER_URL",
    "ImageJob",
    "RouterFunds",
    "TrustMode",
    "UsageEntry",
    "UsageHistory",
    "UsageStats",
    "check_trust_mode",
    "funds",
    "jobs",
    "usage_history",
    "usage_stats",
    "DIRECT_ONLY",
    "ENV_MANAGEMENT_KEY",
    "ENV_ROUTER_KEY",
    "ENV_ROUTER_URL",
    "NEEDS_WALLET",
    "RouterBackend",
    "RouterBalance",
    "RouterModel",
    "RouterProvider",
    "RouterRequest",
    "RouterState",
    "balance",
    "configure",
    "list_models",
    "list_providers",
    "record_for",
    "require",
    "router_url",
    "router_wallet",
    "uses_router",
    "verification_from_trace",
]
