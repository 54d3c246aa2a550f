"""The hosted 0G Router as a second backend: one API key, one balance, server-side routing and failover.

Router mode is selected with ``router_api_key=`` (or ``$ZG_ROUTER_API_KEY`` when no ``private_key=`` is
passed); the base URL is ``router_url=``, else ``$ZG_ROUTER_URL``, else the devnet's Router (for
``network="devnet"``), else ``https://router-api.0g.ai/v1``. The same calls as in Direct mode work::

    zg = ZeroG(router_api_key="sk-…")
    zg.chat.completions.create(model="…", messages=[...])            # the Router picks the provider
    zg.chat.completions.create(model="…", provider="0x…", messages=[...])  # pinned: X-0G-Provider-Address

Results carry the usual ``zerog`` record: ``provider`` from the ``X-0G-Provider`` header (or
``x_0g_trace.provider``), ``chat_id`` from ``ZG-Res-Key``, ``fee`` = usage × the serving provider's price
from ``GET /v1/providers?model=`` (else the model's catalog price from ``GET /v1/models``; else 0, with
``fee_note`` saying why), and ``verification``. A Router client cannot check TEE signatures itself: with
``verification`` other than ``"off"`` it sends ``verify_tee: true`` and maps the Router's
``x_0g_trace.tee_verified`` to a :class:`~zerog_compute.verification.VerificationResult` whose detail says
that the Router verified it. Extra record fields: ``backend="router"``, ``request_id``, ``fee_note`` and
``rate_limit`` (the ``X-RateLimit-*-Requests`` values: ``limit``, ``remaining``, ``reset``).

Routing options: ``provider=`` pins; ``extra_headers={"X-0G-Provider-Sort": "price"}`` (or any
``X-0G-Provider-*`` header) is sent as is; a pool (``zg.pool(model=..., strategy="price"|"latency")``) maps
to the model and ``X-0G-Provider-Sort``.

Everything here is written once as flows (see :mod:`zerog_compute._io`): :mod:`.config` (key, URL,
caches), :mod:`.listings` (models, providers, balance), :mod:`.backend` (requests and streams, beside
their Direct twin :mod:`zerog_compute.direct`) and :mod:`.records` (fees and the Router's verdict). What a
Router error status means is in :mod:`zerog_compute.http_errors`, the Router's stream decoder in
:mod:`zerog_compute.stream`.
"""

from __future__ import annotations

from .._context import DIRECT_ONLY, NEEDS_WALLET
from . import jobs
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
from .records import record_for, verification_from_trace

__all__ = [
    "DEFAULT_ROUTER_URL",
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
