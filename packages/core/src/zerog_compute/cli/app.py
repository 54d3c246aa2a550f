"""The ``zerog`` argument parser, and the runner that turns outcomes into exit codes.

The commands, exit codes and output conventions are documented in :mod:`zerog_compute.cli`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from . import _chat, _doctor, _funds, _keys, _providers, _proxy, _usage
from ._errors import Refused, UsageError, cli_message, error_type, exit_code
from ._session import DEFAULT_KEY_ENV, Session, amount_arg, provider_arg
from ._ui import UI
from ._webui import add_options as add_ui_options
from ._webui import ui

Handler = Callable[[Session], int]

EPILOG = """\
The wallet key is read from $ZG_PRIVATE_KEY (or the variable named by --key-env), never from the
command line. Commands that move funds ask for confirmation; pass --yes in scripts.

exit codes: 0 ok, 1 unexpected error, 2 usage/configuration, 3 refused or cancelled,
4 chain/ledger error, 5 provider/verification error, 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors become :class:`UsageError` so they are reported like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


def _add_globals(parser: argparse.ArgumentParser, *, root: bool) -> None:
    """Global options, accepted before and after the command: ``zerog --json account`` = ``zerog account --json``."""

    def default(value: Any) -> Any:
        return value if root else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--network",
        choices=("testnet", "mainnet", "testnet-dev", "devnet"),
        default=default(None),
        help="the 0G network (default: $ZG_NETWORK, else testnet)",
    )
    group.add_argument("--rpc", metavar="URL", default=default(None), help="JSON-RPC endpoint (default: the network's)")
    group.add_argument(
        "--key-env",
        metavar="VAR",
        default=default(DEFAULT_KEY_ENV),
        help=f"environment variable holding the wallet's private key (default: {DEFAULT_KEY_ENV})",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="print one JSON document on stdout")
    group.add_argument("-y", "--yes", action="store_true", default=default(False), help="skip confirmations")
    group.add_argument(
        "-v", "--verbose", action="count", default=default(0), help="log progress (-vv: debug); tracebacks on errors"
    )


def _command(
    subparsers: Any, name: str, handler: Handler | None, summary: str, description: str | None = None
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=summary, description=description or summary)
    _add_globals(parser, root=False)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def _doctor_command(sub: Any) -> None:
    p = _command(
        sub,
        "doctor",
        _doctor.doctor,
        "check the RPC, the contracts, your wallet and ledger, and every provider (✓/✗ per line)",
        "Check that the RPC serves the network's chain, that its contracts have code, your wallet's balance and "
        "ledger, and every provider: verifiability mode (TeeML / TeeTLS, separated), attestation and GET /v1/models "
        "latency. Each ✗ says what to do. Exit 0 when nothing failed, 4 for a chain or wallet failure, else 5.",
    )
    p.add_argument(
        "--provider", action="append", type=provider_arg, help="check only this provider (repeatable; default: all)"
    )
    p.add_argument("--spend", action="store_true", help="also send one short paid chat request: its fee and verdict")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="seconds each probe may take (default 10)"
    )


def _ledger_commands(sub: Any) -> None:
    _command(sub, "networks", _providers.networks, "list the networks: chain id, RPC and contracts")
    _command(
        sub,
        "account",
        _funds.account,
        "show the ledger and its sub-accounts",
        "Show the ledger (total, available, locked in sub-accounts) and each sub-account: balance, pending "
        "refund, and the fee the provider has not settled yet (— when the provider cannot be reached).",
    )
    p = _command(sub, "create-ledger", _funds.create_ledger, "open the ledger with AMOUNT 0G (at least 3)")
    p.add_argument("amount", metavar="AMOUNT", type=amount_arg, help="0G, e.g. 3 or 3.5")
    p = _command(sub, "deposit", _funds.deposit, "move AMOUNT 0G from the wallet into the ledger")
    p.add_argument("amount", metavar="AMOUNT", type=amount_arg, help="0G, e.g. 1.5")
    p = _command(sub, "refund", _funds.refund, "move AMOUNT 0G of the ledger's available balance back to the wallet")
    p.add_argument("amount", metavar="AMOUNT", type=amount_arg, help="0G, e.g. 1.5")
    p = _command(sub, "transfer", _funds.transfer, "move AMOUNT 0G from the ledger into the sub-account with PROVIDER")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("amount", metavar="AMOUNT", type=amount_arg, help="0G, e.g. 1 (a new sub-account needs >= 1)")
    p = _command(
        sub,
        "retrieve",
        _funds.retrieve,
        "request refunds from sub-accounts (all when no PROVIDER is given)",
        "Request refunds from sub-accounts. Funds unlock after the contract's lock time; running retrieve "
        "again after that moves them back to the ledger.",
    )
    p.add_argument("providers", metavar="PROVIDER", nargs="*", type=provider_arg, help="provider addresses")


def _provider_commands(sub: Any) -> None:
    providers = _command(sub, "providers", None, "discover providers (list, show)")
    psub = providers.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    p = _command(
        psub,
        "list",
        _providers.providers_list,
        "list the registered providers",
        "List providers: prices in 0G per 1M tokens (images: per image; speech-to-text: per second), "
        "verifiability, whether your sub-account is acknowledged (yes / no / — for no sub-account), and "
        "health (GET /v1/models answered within 2 s). Works without a private key.",
    )
    p.add_argument("--type", metavar="T", help="service type: chatbot, text-to-image, speech-to-text, embedding, ...")
    p.add_argument("--model", metavar="M", help="only providers serving M (on-chain model or multi-model catalog)")
    p.add_argument("--verifiable", action="store_true", help="only TEE-verifiable providers")
    p.add_argument("--all", action="store_true", help="include providers whose TEE signer is not acknowledged")
    p.add_argument("--no-health", action="store_true", help="skip the health checks")
    p = _command(psub, "show", _providers.providers_show, "show a provider: service, additionalInfo, model catalog")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")

    p = _command(
        sub,
        "acknowledge",
        _providers.acknowledge,
        "open/acknowledge the sub-account with PROVIDER",
        "Make sure the sub-account with PROVIDER exists and is acknowledged. Funds move only with --amount "
        "(a new sub-account needs at least 1 0G).",
    )
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("--amount", metavar="A", type=amount_arg, help="0G to transfer into the sub-account first")


def _inference_commands(sub: Any) -> None:
    p = _command(
        sub,
        "chat",
        _chat.chat,
        "chat with PROVIDER (one question, or a session on a terminal)",
        "With MESSAGE: ask once, stream the answer to stdout, then a footer (provider, chat id, fee, "
        "verification verdict) on stderr. Without MESSAGE: a chat session on a terminal (/exit to leave, "
        "/reset to start over), or the message is read from stdin.",
    )
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("message", metavar="MESSAGE", nargs="?", help="the question (omit for a chat session)")
    p.add_argument("--model", help="model id (default: the provider's on-chain model)")
    p.add_argument("--system", metavar="TEXT", help="a system prompt")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")

    p = _command(sub, "verify", _chat.verify, "verify the TEE signature of a response by its chat id")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("chat_id", metavar="CHAT_ID", help="the chat id (ZG-Res-Key) of the response")

    keys = _command(sub, "api-key", None, "persistent API keys (create, revoke, revoke-all)")
    ksub = keys.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    p = _command(ksub, "create", _keys.create, "create an API key for PROVIDER and print it (once)")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("--token-id", metavar="N", type=int, help="key id 0-254 (default: the first free one)")
    p.add_argument("--expires-in", metavar="SECONDS", type=float, help="lifetime in seconds (default: never expires)")
    p = _command(ksub, "revoke", _keys.revoke, "revoke API key TOKEN_ID for PROVIDER (on chain)")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")
    p.add_argument("token_id", metavar="TOKEN_ID", type=int, help="key id 0-254")
    p = _command(ksub, "revoke-all", _keys.revoke_all, "revoke every API key and session token for PROVIDER")
    p.add_argument("provider", metavar="PROVIDER", type=provider_arg, help="provider address (0x...)")

    p = _command(sub, "proxy", _proxy.proxy, "serve an OpenAI-compatible API on loopback backed by 0G providers")
    p.add_argument(
        "--model",
        action="append",
        help="a model to serve (repeatable; the first is 'default'); its providers are discovered, with failover",
    )
    p.add_argument("--provider", action="append", type=provider_arg, help="use this provider (repeatable, in order)")
    p.add_argument("--port", type=int, default=8788, help="port (default 8788)")
    p.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1; anything else exposes your funds)"
    )
    p.add_argument("--verification", choices=["off", "warn", "enforce"], default="warn")
    p.add_argument("--auto-fund", action="store_true", help="top sub-accounts up from the ledger when they run low")
    p.add_argument("--fund-min", default="2", help="with --auto-fund: top up below this many 0G (default 2)")
    p.add_argument("--fund-target", default="3", help="with --auto-fund: top up to this many 0G (default 3)")
    p.add_argument(
        "--fund-budget",
        default="10",
        help="with --auto-fund: never move more than this many 0G in total (default 10; 'unlimited' for no cap)",
    )
    p.add_argument(
        "--state",
        help="share the wallet's limits, budget and chain writes with other processes: sqlite, sqlite:///path.db or "
        "redis://host:port/db (default $ZG_STATE_URL, else this process only)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=300.0,
        help="seconds a forwarded request may take in all, slow or endless answers included (default 300)",
    )
    _proxy.add_access_options(p)

    p = _command(sub, "ui", ui, "serve the local Web UI: providers, account and fund moves, chat")
    add_ui_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zerog",
        description="The 0G Compute Network from the command line: ledger, providers, chat, verification, API keys.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_globals(parser, root=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _doctor_command(sub)
    _ledger_commands(sub)
    _provider_commands(sub)
    _inference_commands(sub)
    _usage.add_commands(sub, _command)
    return parser


@contextmanager
def _logging(verbose: int) -> Iterator[None]:
    """The library's log on stderr: errors only by default (results speak for themselves), -v info, -vv debug."""
    logger = logging.getLogger("zerog_compute")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("zerog: %(levelname)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.ERROR)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _fail(exc: BaseException, *, json_mode: bool, verbose: int, secrets: Iterable[str] = ()) -> int:
    """Report ``exc`` (one line on stderr; a JSON error on stdout with --json) and return its exit code."""
    code = exit_code(exc)
    message = cli_message(exc, secrets)
    if verbose and not isinstance(exc, (UsageError, Refused, KeyboardInterrupt)):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, UsageError) and exc.usage:
        sys.stderr.write(exc.usage)
    print(f"zerog: {message}", file=sys.stderr)
    if json_mode:
        error = {"type": error_type(exc), "message": message, "exit_code": code}
        print(json.dumps({"error": error}, indent=2))
    return code


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the command, and map the outcome to the documented exit code."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc, json_mode="--json" in argv, verbose=0)
    except SystemExit as exc:  # --help / --version style exits from argparse
        return exc.code if isinstance(exc.code, int) else 0
    session = Session(args, UI(json_mode=args.json, assume_yes=args.yes))
    with _logging(args.verbose):
        try:
            return int(args.handler(session))
        except (Exception, KeyboardInterrupt) as exc:
            return _fail(exc, json_mode=args.json, verbose=args.verbose, secrets=session.secrets)
        finally:
            session.close()
