"""Ledger commands: ``account``, ``create-ledger``, ``deposit``, ``refund``, ``transfer``, ``retrieve``."""

from __future__ import annotations

from typing import Any

from ..client import ZeroG
from ..errors import ConfigurationError, ZeroGError
from ..ledger import MIN_LEDGER, LedgerInfo, SubAccount
from ._session import Session
from ._ui import NONE, amount_fields, money, yes_no, zero_g

UNSETTLED_TIMEOUT_S = 3.0


def ledger_json(info: LedgerInfo) -> dict[str, Any]:
    return {
        "user": info.user,
        **amount_fields("total", info.total),
        **amount_fields("available", info.available),
        **amount_fields("locked", info.locked),
    }


def sub_account_json(account: SubAccount, unsettled: int | None = None) -> dict[str, Any]:
    return {
        "provider": account.provider,
        **amount_fields("balance", account.balance),
        **amount_fields("pending_refund", account.pending_refund),
        **amount_fields("usable", account.usable),
        **amount_fields("unsettled_fee", unsettled),
        "acknowledged": account.acknowledged,
        "refunds": [
            {"index": r.index, **amount_fields("amount", r.amount), "created_at": r.created_at} for r in account.refunds
        ],
    }


def _unsettled(zg: ZeroG, account: SubAccount) -> int | None:
    """The provider's unsettled fee for our sub-account; None (shown as "—") when it cannot be asked or tell."""
    if not account.acknowledged:
        return None
    try:
        return zg.ledger.unsettled_fee(account.provider, timeout=UNSETTLED_TIMEOUT_S)
    except ZeroGError:  # e.g. the provider left the registry: the rest of the listing still shows
        return None


def _show_ledger(s: Session, info: LedgerInfo, title: str = "Ledger") -> None:
    s.ui.fields(
        f"{title} of {info.user} on {s.client().network.name}",
        [("total", money(info.total)), ("available", money(info.available)), ("locked", money(info.locked))],
    )


def _sub_accounts(s: Session, title: str, accounts: list[SubAccount], unsettled: dict[str, int | None] | None) -> None:
    """The sub-account table; the unsettled-fee column only when the providers were asked (``account``)."""
    columns = ["provider", "balance (0G)", "pending refund (0G)", "acknowledged"]
    if unsettled is not None:
        columns.insert(3, "unsettled fee (0G)")
    rows = []
    for a in accounts:
        row = [a.provider, zero_g(a.balance), zero_g(a.pending_refund), yes_no(a.acknowledged)]
        if unsettled is not None:
            fee = unsettled.get(a.provider)
            row.insert(3, NONE if fee is None else zero_g(fee))
        rows.append(row)
    s.ui.table(title, columns, rows)


def account(s: Session) -> int:
    zg = s.client()
    with s.ui.working("Reading the ledger"):
        info = zg.ledger.get()
        accounts = zg.ledger.sub_accounts()
        unsettled = {a.provider: _unsettled(zg, a) for a in accounts}
    if s.ui.json:
        s.ui.emit(
            {
                "network": zg.network.name,
                "ledger": ledger_json(info),
                "sub_accounts": [sub_account_json(a, unsettled[a.provider]) for a in accounts],
            }
        )
        return 0
    _show_ledger(s, info)
    if accounts:
        s.ui.line("")
        _sub_accounts(s, "Sub-accounts", accounts, unsettled)
    else:
        s.ui.note("No sub-accounts yet: open one with `zerog acknowledge PROVIDER --amount 1`.")
    return 0


def _moved(s: Session, action: str, amount: int, info: LedgerInfo) -> int:
    if s.ui.json:
        s.ui.emit({"action": action, **amount_fields("amount", amount), "ledger": ledger_json(info)})
    else:
        _show_ledger(s, info)
    return 0


def create_ledger(s: Session) -> int:
    amount: int = s.args.amount
    if amount < MIN_LEDGER:
        raise ConfigurationError(f"a new ledger needs at least 3 0G, got {money(amount)}: pass an AMOUNT >= 3")
    zg = s.client()
    s.ui.confirm(
        "create-ledger",
        f"Create a ledger with {money(amount)} from wallet {zg.address} on {zg.network.name}.",
        ["The amount leaves the wallet and funds the ledger (plus gas)."],
    )
    with s.ui.working(f"Creating the ledger with {money(amount)}"):
        info = zg.ledger.create(amount)
    s.ui.note(f"Ledger created with {money(amount)}.", style="green")
    return _moved(s, "create-ledger", amount, info)


def deposit(s: Session) -> int:
    amount: int = s.args.amount
    zg = s.client()
    s.ui.confirm("deposit", f"Deposit {money(amount)} from wallet {zg.address} into its ledger on {zg.network.name}.")
    with s.ui.working(f"Depositing {money(amount)}"):
        info = zg.ledger.deposit(amount)
    s.ui.note(f"Deposited {money(amount)}.", style="green")
    return _moved(s, "deposit", amount, info)


def refund(s: Session) -> int:
    amount: int = s.args.amount
    zg = s.client()
    s.ui.confirm("refund", f"Refund {money(amount)} from the ledger to wallet {zg.address} on {zg.network.name}.")
    with s.ui.working(f"Refunding {money(amount)}"):
        info = zg.ledger.refund(amount)
    s.ui.note(f"Refunded {money(amount)} to the wallet.", style="green")
    return _moved(s, "refund", amount, info)


def transfer(s: Session) -> int:
    amount: int = s.args.amount
    provider: str = s.args.provider
    zg = s.client()
    s.ui.confirm(
        "transfer",
        f"Transfer {money(amount)} from the ledger to the sub-account with provider {provider} on {zg.network.name}.",
        ["The provider is paid from this sub-account; `zerog retrieve` requests the rest back."],
    )
    with s.ui.working(f"Transferring {money(amount)} to {provider}"):
        sub = zg.ledger.transfer(provider, amount)
        info = zg.ledger.get()
    if s.ui.json:
        s.ui.emit(
            {
                "action": "transfer",
                **amount_fields("amount", amount),
                "sub_account": sub_account_json(sub),
                "ledger": ledger_json(info),
            }
        )
        return 0
    s.ui.note(f"Transferred {money(amount)} to {provider}.", style="green")
    _sub_accounts(s, "Sub-account", [sub], None)
    s.ui.line("")
    _show_ledger(s, info)
    return 0


def retrieve(s: Session) -> int:
    providers: list[str] = s.args.providers
    zg = s.client()
    target = ", ".join(providers) if providers else "every sub-account"
    s.ui.confirm(
        "retrieve",
        f"Request a refund of the balances of {target} on {zg.network.name}.",
        [
            "Refunds unlock after the contract's lock time; run `zerog retrieve` again after that "
            "to move them back to the ledger.",
        ],
    )
    with s.ui.working("Requesting refunds"):
        accounts = zg.ledger.retrieve(providers or None)
        info = zg.ledger.get()
    if s.ui.json:
        s.ui.emit(
            {"action": "retrieve", "sub_accounts": [sub_account_json(a) for a in accounts], "ledger": ledger_json(info)}
        )
        return 0
    s.ui.note("Refunds requested.", style="green")
    if accounts:
        _sub_accounts(s, "Sub-accounts", accounts, None)
        s.ui.line("")
    _show_ledger(s, info)
    return 0
