"""``zerog proxy``: serve an OpenAI-compatible endpoint on loopback that spends this wallet on 0G."""

from __future__ import annotations

import os

from ..client import AsyncZeroG
from ..errors import ConfigurationError
from ..funding import FundingPolicy
from ..proxy import serve
from ._session import Session


def proxy(s: Session) -> int:
    """Run the proxy in the foreground until Ctrl-C."""
    args = s.args
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise ConfigurationError(f"no private key: set the environment variable {args.key_env} to your wallet's key")
    s.secrets.append(key)
    if not args.model and not args.provider:
        raise ConfigurationError("pass --model MODEL (providers are discovered) or --provider ADDRESS (repeatable)")
    funding = FundingPolicy.of(min_balance=args.fund_min, target_balance=args.fund_target) if args.auto_fund else None
    zg = AsyncZeroG(
        private_key=key,
        network=args.network,
        rpc_url=args.rpc,
        verification=args.verification,
        funding=funding,
        state=args.state,
    )
    s.ui.note(
        f"zerog proxy on http://{args.host}:{args.port}/v1 (model {args.model or 'from providers'}); Ctrl-C stops"
    )
    serve(zg, model=args.model, providers=args.provider or None, host=args.host, port=args.port)
    return 0
