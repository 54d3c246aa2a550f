"""Usage history that proves the charges: a ledger of every request, and its audit against the chain.

Every finished request (Direct or Router, streamed or not, sync or async) leaves a :class:`UsageRecord`
(time, wallet, chain, provider, model, chat id, tokens, fee, verdict, backend) in the usage ledger, written
in the background (:mod:`.writer`). It is on by default: ``usage=`` on the clients or ``$ZG_USAGE`` choose
where it lives or switch it off (:mod:`.ledger`).

Reading (what ``zerog usage`` and a UI page use)::

    ledger = open_ledger()                       # the default ledger (None when switched off)
    ledger.records(wallet=addr, since=t0)        # list[UsageRecord], filters: UsageFilter's fields
    ledger.totals("day_provider", wallet=addr)   # list[UsageTotals] per day and provider
    zg.usage.reconcile()                         # Reconciliation: per provider ProviderAudit, with settlements

The audit (:mod:`.reconcile`, :mod:`.chain`) is explained in ``docs/usage.md``.
"""

from __future__ import annotations

from .ledger import ENV, GroupBy, UsageLedger, group, open_ledger
from .model import (
    AuditStatus,
    ProviderAudit,
    Reconciliation,
    Settlement,
    UnexplainedSettlement,
    UsageFilter,
    UsageRecord,
    UsageTotals,
)
from .reconcile import audit, reconcile
from .store import RedisUsageStore, SqliteUsageStore, UsageStore

__all__ = [
    "ENV",
    "AuditStatus",
    "GroupBy",
    "ProviderAudit",
    "Reconciliation",
    "RedisUsageStore",
    "Settlement",
    "SqliteUsageStore",
    "UnexplainedSettlement",
    "UsageFilter",
    "UsageLedger",
    "UsageRecord",
    "UsageStore",
    "UsageTotals",
    "audit",
    "group",
    "open_ledger",
    "reconcile",
]
