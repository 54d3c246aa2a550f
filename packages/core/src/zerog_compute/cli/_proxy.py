"""``zerog proxy``: serve an OpenAI-compatible endpoint on loopback that spends this wallet on 0G."""

from __future__ import annotations

import argparse
import logging
import os
import re

from ..client import AsyncZeroG
from ..errors import ConfigurationError
from ..funding import FundingPolicy
from ..proxy import DEFAULT_MAX_BODY, DEFAULT_TOKEN_FILE, new_token, origin_of, serve, write_token_file
from ._session import Session

log = logging.getLogger(__name__)

_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def size_arg(text: str) -> int:
    """A byte count: ``8388608``, ``512KiB``, ``8MiB`` (k and M are binary)."""
    match = _SIZE.match(text)
    if match is None or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8MiB, 512KiB or 1048576")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def add_access_options(p: argparse.ArgumentParser) -> None:
    """Who may use the proxy: token, Host names, web origins, body size, models."""
    p.add_argument(
        "--token-file",
        default=str(DEFAULT_TOKEN_FILE),
        help=f"write the bearer token here, mode 0600 (default {DEFAULT_TOKEN_FILE})",
    )
    p.add_argument("--no-auth", action="store_true", help="no token: anyone who reaches the port spends your funds")
    p.add_argument(
        "--cors-origin",
        action="append",
        type=_origin_arg,
        metavar="ORIGIN",
        help="let this web origin (https://app.example.com) call the proxy (repeatable; others get 403)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer to this Host name, e.g. behind a reverse proxy (repeatable; others get 421)",
    )
    p.add_argument(
        "--max-body",
        type=size_arg,
        default=DEFAULT_MAX_BODY,
        metavar="SIZE",
        help="largest request body, e.g. 8MiB (default 8MiB; larger gets 413)",
    )
    p.add_argument("--allow-any-model", action="store_true", help="pass any model id on (default: only --model)")


def _origin_arg(text: str) -> str:
    try:
        return origin_of(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def proxy(s: Session) -> int:
    """Run the proxy in the foreground until Ctrl-C."""
    args = s.args
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise ConfigurationError(f"no private key: set the environment variable {args.key_env} to your wallet's key")
    s.secrets.append(key)
    if not args.model and not args.provider:
        raise ConfigurationError("pass --model MODEL (providers are discovered) or --provider ADDRESS (repeatable)")
    funding = _funding_policy(args) if args.auto_fund else None
    zg = AsyncZeroG(
        private_key=key,
        network=args.network,
        rpc_url=args.rpc,
        verification=args.verification,
        funding=funding,
        state=args.state,
        deadline=args.deadline,
    )
    token = _announce(s)
    serve(
        zg,
        model=args.model,
        providers=args.provider or None,
        host=args.host,
        port=args.port,
        token=token,
        allowed_hosts=args.allow_host or (),
        cors_origins=args.cors_origin or (),
        max_body=args.max_body,
        allow_any_model=args.allow_any_model,
    )
    return 0


def _announce(s: Session) -> str | None:
    """Make the token (unless ``--no-auth``), write it to its file and print it once; returns it."""
    args = s.args
    url = f"http://{args.host}:{args.port}/v1"
    models = ", ".join(args.model) if args.model else "from providers"
    if args.no_auth:
        message = f"zerog proxy on {url} WITHOUT AUTH: anyone who can reach it spends this wallet's funds"
        log.warning(message)
        s.ui.note(message, style="bold red")
        if s.ui.json:
            s.ui.emit({"url": url, "token": None, "token_file": None})
        return None
    token = new_token()
    path = write_token_file(token, args.token_file)
    if s.ui.json:
        s.ui.emit({"url": url, "token": token, "token_file": str(path)})
    else:
        s.ui.note(f"zerog proxy on {url} (models {models}); Ctrl-C stops")
        s.ui.note(f"Clients send this token as 'Authorization: Bearer <token>' (api_key=); it is also in {path}:")
        s.ui.line(token)
    s.secrets.append(token)
    return token


def _funding_policy(args: argparse.Namespace) -> FundingPolicy:
    """``--auto-fund``'s policy: ``--fund-min``, ``--fund-target`` and a budget (``--fund-budget``, 10 0G)."""
    if args.fund_budget == "unlimited":
        return FundingPolicy.of(
            min_balance=args.fund_min, target_balance=args.fund_target, budget=None, unlimited_budget=True
        )
    return FundingPolicy.of(min_balance=args.fund_min, target_balance=args.fund_target, budget=args.fund_budget)
