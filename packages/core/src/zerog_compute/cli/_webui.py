"""``zerog ui``: serve the local Web UI (providers, account, chat) on loopback. Terminal output helpers are ``_ui``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..client import AsyncZeroG
from ..errors import ConfigurationError
from ..proxy import new_token, write_token_file
from ._session import Session

DEFAULT_PORT = 3090
DEFAULT_TOKEN_FILE = Path("~") / ".zerog" / "ui-token"


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1; anything else exposes your funds)"
    )
    p.add_argument(
        "--token-file",
        default=str(DEFAULT_TOKEN_FILE),
        help=f"write the sign-in token here, mode 0600 (default {DEFAULT_TOKEN_FILE})",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer to this Host name, e.g. with --host 0.0.0.0 (repeatable; others get 421)",
    )
    p.add_argument("--verification", choices=["off", "warn", "enforce"], default="warn")
    p.add_argument(
        "--state",
        help="share the wallet's limits and chain writes with other processes: sqlite, sqlite:///path.db or "
        "redis://host:port/db (default $ZG_STATE_URL, else this process only)",
    )


def ui(s: Session) -> int:
    """Run the Web UI in the foreground until Ctrl-C."""
    from ..webui import serve

    args = s.args
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise ConfigurationError(f"no private key: set the environment variable {args.key_env} to your wallet's key")
    s.secrets.append(key)
    zg = AsyncZeroG(
        private_key=key, network=args.network, rpc_url=args.rpc, verification=args.verification, state=args.state
    )
    token = new_token()
    s.secrets.append(token)
    path = write_token_file(token, args.token_file)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/?token={token}"
    if s.ui.json:
        s.ui.emit({"url": url, "token_file": str(path)})
    else:
        s.ui.note(f"zerog ui for {zg.address} on {zg.network.name}; Ctrl-C stops. Open (the token is also in {path}):")
        s.ui.line(url)
    serve(zg, host=args.host, port=args.port, token=token, allowed_hosts=args.allow_host or ())
    return 0
