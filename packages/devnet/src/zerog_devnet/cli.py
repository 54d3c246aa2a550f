"""``zerog-devnet``: run a local 0G Compute Network in the foreground."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .errors import DevnetError
from .network import DEFAULT_PROVIDERS, Devnet, ProviderSpec, default_description_path
from .node_install import install_node

ENV_UPSTREAM_KEY = "ZG_DEVNET_UPSTREAM_API_KEY"  # a secret: read from the environment, never from argv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zerog-devnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the devnet and keep it running until Ctrl-C")
    up.add_argument("--port", type=int, default=0, help="anvil RPC port (default: any free port)")
    up.add_argument("--users", type=int, default=5, help="number of funded dev user accounts")
    up.add_argument("--settle-interval", type=float, default=5.0, help="seconds between settlements")
    up.add_argument(
        "--upstream",
        help=f"OpenAI-compatible base URL the chat providers forward to (API key from ${ENV_UPSTREAM_KEY})",
    )
    up.add_argument("--upstream-model", help="model id the upstream serves (with --upstream)")
    up.add_argument("--file", type=Path, default=None, help="where to write the JSON description")
    up.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    node = sub.add_parser(
        "install-node",
        help="install the pinned npm packages (anvil, 0G contracts) into ~/.zerog/node_modules, for pip installs",
    )
    node.add_argument("--dir", type=Path, default=None, help="install into DIR/node_modules instead of ~/.zerog")
    return parser


def _install_node(target: Path | None) -> int:
    try:
        installed = install_node(target)
    except DevnetError as exc:
        print(f"zerog-devnet: {exc}", file=sys.stderr)
        return 2
    print(f"installed the devnet's npm packages into {installed}")
    if target is not None:
        print(f"export ZG_DEVNET_NODE_MODULES={installed}  # only ~/.zerog/node_modules is found automatically")
    return 0


def _providers(args: argparse.Namespace) -> list[ProviderSpec]:
    if not args.upstream:
        return list(DEFAULT_PROVIDERS)
    model = args.upstream_model or "upstream-model"
    key = os.environ.get(ENV_UPSTREAM_KEY)
    return [  # the upstream serves one model: no multi-model catalog
        dataclasses.replace(s, upstream=args.upstream, model=model, upstream_api_key=key, extra_models=())
        if s.service_type == "chatbot"
        else s
        for s in DEFAULT_PROVIDERS
    ]


def _table(net: Devnet, description: Path) -> str:
    lines = [
        f"zerog devnet ready in {net.started_in:.2f}s",
        f"  RPC        {net.rpc_url} (chain id {net.chain_id})",
        f"  ledger     {net.contracts.ledger}",
        f"  inference  {net.contracts.inference}",
        f"  fine-tune  {net.contracts.fine_tuning}",
        "",
        f"  {'provider':<8} {'address':<42} {'type':<15} {'model':<30} url",
    ]
    for p in net.providers:
        lines.append(f"  {p.name:<8} {p.address:<42} {p.service_type:<15} {p.model:<30} {p.url}")
    try:
        router = net.router
    except DevnetError:
        router = None
    if router is not None:
        lines += ["", f"  router     {router.url}  (OpenAI-compatible; keys: {', '.join(router.api_keys)})"]
    lines += ["", "  users (public anvil dev keys):"]
    lines += [f"    {u.address}  {u.private_key}" for u in net.users]
    lines += ["", f"  description: {description}  (export ZG_NETWORK=devnet)", "  Ctrl-C to stop."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zerog-devnet`` command."""
    args = _parser().parse_args(argv)
    if args.command == "install-node":
        return _install_node(args.dir)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        net = Devnet.start(_providers(args), port=args.port, users=args.users, settle_interval=args.settle_interval)
    except DevnetError as exc:
        print(f"zerog-devnet: {exc}", file=sys.stderr)
        return 2
    try:
        description = net.write_description(args.file or default_description_path())
        print(_table(net, description), flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        net.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
