"""Usage commands: ``usage`` (totals per provider and per day) and ``usage reconcile`` (the audit on chain)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ConfigurationError
from ..usage import ProviderAudit, Reconciliation, UsageRecord, UsageTotals, group
from ._session import Session, provider_arg
from ._ui import NONE, amount_fields, zero_g

OVERCHARGE_EXIT = 5
"""``usage reconcile`` exits with the provider-error code when a provider overcharged."""


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``usage`` and ``usage reconcile`` (``command`` is the app's subcommand factory)."""
    p = command(
        sub,
        "usage",
        summary,
        "show the usage history: requests, tokens and fees per provider and per day",
        "Show this wallet's usage history from the local usage ledger (every request made with zerog-compute, "
        "$ZG_USAGE / usage=): requests, tokens and fees per provider and per day (UTC). Without a key: every "
        "wallet on the network. `zerog usage reconcile` audits the charges against the chain.",
    )
    _window(p)
    p.add_argument("--csv", action="store_true", help="print CSV rows (group,day,provider,...) instead of tables")
    usub = p.add_subparsers(dest="subcommand", required=False, metavar="SUBCOMMAND")
    r = command(
        usub,
        "reconcile",
        reconcile,
        "audit the recorded fees against the providers' settlements on chain",
        "Compare, per provider, the fees recorded in the usage ledger with the fees settled on chain "
        "(the InferenceServing contract's events, read with eth_getLogs and cached) plus the fees the provider "
        f"reports as unsettled. Exits {OVERCHARGE_EXIT} when a provider charged more than was used.",
    )
    r.add_argument("--from-block", type=int, default=0, metavar="N", help="first block to read (default 0)")
    r.add_argument("--to-block", type=int, metavar="N", help="last block to read (default: the latest)")
    r.add_argument(
        "--provider", action="append", type=provider_arg, help="audit only this provider (repeatable; default all)"
    )


def _window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=when_arg, metavar="DATE", help="from this UTC date or ISO time (inclusive)")
    p.add_argument(
        "--until", type=until_arg, metavar="DATE", help="up to this UTC date (the whole day) or ISO time (exclusive)"
    )
    p.add_argument("--provider", action="append", type=provider_arg, help="only this provider (repeatable)")


def when_arg(text: str) -> float:
    """A ``YYYY-MM-DD`` or ISO 8601 time (UTC unless it says otherwise) as Unix seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def until_arg(text: str) -> float:
    """Like :func:`when_arg`; a bare date means the end of that day."""
    moment = when_arg(text)
    return moment + timedelta(days=1).total_seconds() if len(text.strip()) == 10 else moment


def _totals_json(t: UsageTotals) -> dict[str, Any]:
    return {
        "day": t.day,
        "provider": t.provider,
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        **amount_fields("fee", t.fee),
    }


def summary(s: Session) -> int:
    zg = s.client(key_required=False)
    wallet = zg.address.lower() if s.has_key else None
    args = s.args
    records = zg.usage.records(wallet=wallet, since=args.since, until=args.until)
    if args.provider:
        wanted = {p.lower() for p in args.provider}
        records = [r for r in records if r.provider in wanted]
    providers, days, total = group(records, "provider"), group(records, "day"), _total(records)
    if s.ui.json:
        s.ui.emit(
            {
                "network": zg.network.name,
                "wallet": wallet,
                "ledger": zg.usage.ledger.url,
                "providers": [_totals_json(t) for t in providers],
                "days": [_totals_json(t) for t in days],
                "total": _totals_json(total),
            }
        )
        return 0
    if args.csv:
        _csv([("provider", t) for t in providers] + [("day", t) for t in days])
        return 0
    columns = ["requests", "input tokens", "output tokens", "fees (0G)"]
    s.ui.table("Per provider", ["provider", *columns], [[t.provider or "", *_cells(t)] for t in providers])
    s.ui.table("Per day (UTC)", ["day", *columns], [[t.day or "", *_cells(t)] for t in days])
    s.ui.line(f"{total.requests} requests, {zero_g(total.fee)} 0G in fees")
    s.ui.note(f"usage ledger: {zg.usage.ledger.url}")
    return 0


def _total(records: list[UsageRecord]) -> UsageTotals:
    return UsageTotals(
        requests=len(records),
        input_tokens=sum(r.input_tokens or 0 for r in records),
        output_tokens=sum(r.output_tokens or 0 for r in records),
        fee=sum(r.fee for r in records),
    )


def _cells(t: UsageTotals) -> list[str]:
    return [str(t.requests), str(t.input_tokens), str(t.output_tokens), zero_g(t.fee)]


def _csv(rows: list[tuple[str, UsageTotals]]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["group", "day", "provider", "requests", "input_tokens", "output_tokens", "fee_0g", "fee_neuron"])
    for kind, t in rows:
        counts = [t.requests, t.input_tokens, t.output_tokens]
        out.writerow([kind, t.day or "", t.provider or "", *counts, zero_g(t.fee), t.fee])
    sys.stdout.flush()


def _audit_json(a: ProviderAudit) -> dict[str, Any]:
    return {
        "provider": a.provider,
        "status": a.status,
        "requests": a.requests,
        "settlements": a.settlements,
        **amount_fields("recorded", a.recorded),
        **amount_fields("settled", a.settled),
        **amount_fields("unsettled", a.unsettled),
        **amount_fields("difference", a.difference),
        "detail": a.detail,
        "unexplained": [
            {"block": u.block, "tx_hash": u.tx_hash, **amount_fields("amount", u.amount)} for u in a.unexplained
        ],
    }


def _signed(neuron: int | None) -> str:
    if neuron is None:
        return NONE
    return ("+" if neuron > 0 else "-" if neuron < 0 else "") + zero_g(abs(neuron))


def reconcile(s: Session) -> int:
    zg = s.client()
    args = s.args
    if args.to_block is not None and args.to_block < args.from_block:
        raise ConfigurationError(f"--to-block {args.to_block} is before --from-block {args.from_block}")
    with s.ui.working("Reading settlements from the chain"):
        result = zg.usage.reconcile(from_block=args.from_block, to_block=args.to_block, providers=args.provider)
    if s.ui.json:
        s.ui.emit(_reconciliation_json(zg.network.name, result))
    else:
        _show(s, result)
    return OVERCHARGE_EXIT if result.flagged else 0


def _reconciliation_json(network: str, result: Reconciliation) -> dict[str, Any]:
    return {
        "network": network,
        "wallet": result.wallet,
        "contract": result.contract,
        "from_block": result.from_block,
        "to_block": result.to_block,
        "blocks_read": result.blocks_read,
        "ok": result.ok,
        "providers": [_audit_json(a) for a in result.providers],
        "settlements": [
            {
                "block": x.block,
                "tx_hash": x.tx_hash,
                "provider": x.provider,
                "status": x.status,
                **amount_fields("amount", x.amount),
                **amount_fields("unsettled", x.unsettled),
            }
            for x in result.settlements
        ],
    }


def _show(s: Session, result: Reconciliation) -> None:
    rows = [
        [
            a.provider,
            str(a.requests),
            zero_g(a.recorded),
            NONE if a.settled is None else zero_g(a.settled),
            NONE if a.unsettled is None else zero_g(a.unsettled),
            _signed(a.difference),
            a.status,
        ]
        for a in result.providers
    ]
    columns = ["provider", "requests", "recorded (0G)", "settled (0G)", "unsettled (0G)", "difference (0G)", "status"]
    title = f"Reconciliation of {result.wallet}, blocks {result.from_block}-{result.to_block}"
    s.ui.table(title, columns, rows)
    for a in result.providers:
        if a.status != "match":
            s.ui.line(f"{a.provider}: {a.status}: {a.detail}", style="bold red" if a in result.flagged else None)
        for u in a.unexplained:
            s.ui.line(
                f"{a.provider}: settlement {u.tx_hash} (block {u.block}) took {zero_g(u.amount)} 0G more than the "
                "requests recorded before it",
                style="bold red",
            )
    s.ui.note(f"{len(result.settlements)} settlements; {result.blocks_read} blocks read now, the rest from the cache")
    if result.ok:
        s.ui.line("no overcharge found")
