"""What the Usage page shows: the wallet's history from the usage ledger, filtered and paged, its spend per day
and per provider as charts, and the audit of the charges against the chain (run on demand: it reads chain logs).

Pure shaping: :func:`parse_query` validates the filters (the page's query string, or the reconcile form's hidden
fields), :func:`usage_view` turns the wallet's records into the page, :func:`audit_rows` a
:class:`~zerog_compute.usage.Reconciliation` into its table. The reads are the client's ``zg.usage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from ..errors import ConfigurationError
from ..services import checksum
from ..usage import Reconciliation, UsageFilter, UsageRecord, UsageTotals, group
from ..usage.model import BackendName
from .charts import bar_chart
from .views import amount

PAGE_SIZES = (25, 50, 100, 200)
"""The history's page sizes (records per page); the first page shows the newest."""
DEFAULT_PAGE_SIZE = 50
MAX_DAYS = 31
"""The spend-per-day chart shows at most this many days (the newest)."""
MAX_PROVIDERS = 12
"""The spend-per-provider chart shows this many providers (the largest); the rest are one "others" bar."""
MAX_MODEL = 200
BACKENDS: tuple[BackendName, ...] = ("direct", "router")
GOOD, BAD, UNSURE = "good", "bad", "dim"
STATUS_CLASS = {"match": GOOD, "overcharge": BAD, "never_used": BAD, "undercharge": UNSURE, "incomplete": UNSURE}


@dataclass(frozen=True)
class UsageQuery:
    """The page's filters: ``since``/``until`` are UTC days (both included); ``before`` pages to older records."""

    provider: str | None = None
    model: str | None = None
    backend: BackendName | None = None
    since: date | None = None
    until: date | None = None
    size: int = DEFAULT_PAGE_SIZE
    before: float | None = None

    def where(self) -> UsageFilter:
        """The ledger filter of every record the filters match (every page: no ``before``, no limit)."""
        return UsageFilter(
            provider=self.provider,
            model=self.model,
            backend=self.backend,
            since=None if self.since is None else _midnight(self.since),
            until=None if self.until is None else _midnight(self.until + timedelta(days=1)),
        )

    def params(self) -> list[tuple[str, str]]:
        """The filters as form fields / query parameters (``before`` aside), for links and hidden fields."""
        pairs = [
            ("provider", self.provider or ""),
            ("model", self.model or ""),
            ("backend", self.backend or ""),
            ("since", self.since.isoformat() if self.since else ""),
            ("until", self.until.isoformat() if self.until else ""),
        ]
        return [(k, v) for k, v in pairs if v] + ([("size", str(self.size))] if self.size != DEFAULT_PAGE_SIZE else [])

    def link(self, *, before: float | None = None) -> str:
        """The Usage page's address for these filters (and a page of records older than ``before``)."""
        pairs = self.params() + ([("before", repr(before))] if before is not None else [])
        return "/usage" + ("?" + urlencode(pairs) if pairs else "")


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def _one(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name) or []
    if len(values) > 1:
        raise ConfigurationError(f"give the filter {name!r} once")
    return values[0].strip() if values else ""


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a day as YYYY-MM-DD, got {text[:40]!r}") from None


def parse_query(params: Mapping[str, Sequence[str]]) -> UsageQuery:
    """The filters of the Usage page's query string or form; bad input: :class:`ConfigurationError` saying what."""
    provider = _one(params, "provider")
    model = _one(params, "model")
    backend = _one(params, "backend")
    if len(model) > MAX_MODEL:
        raise ConfigurationError(f"model is longer than {MAX_MODEL} characters")
    if backend and backend not in BACKENDS:
        raise ConfigurationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend[:40]!r}")
    size_text = _one(params, "size") or str(DEFAULT_PAGE_SIZE)
    if size_text not in {str(s) for s in PAGE_SIZES}:
        raise ConfigurationError(f"size must be one of {', '.join(map(str, PAGE_SIZES))}, got {size_text[:40]!r}")
    since, until = _day(_one(params, "since"), "since"), _day(_one(params, "until"), "until")
    if since and until and until < since:
        raise ConfigurationError(f"until ({until}) is before since ({since})")
    before_text = _one(params, "before")
    try:
        before = float(before_text) if before_text else None
    except ValueError:
        raise ConfigurationError(f"before must be a Unix time, got {before_text[:40]!r}") from None
    if before is not None and not 0 < before < 1e11:
        raise ConfigurationError(f"before must be a Unix time, got {before_text[:40]!r}")
    return UsageQuery(
        provider=checksum(provider, name="provider").lower() if provider else None,
        model=model or None,
        backend=backend or None,
        since=since,
        until=until,
        size=int(size_text),
        before=before,
    )


def short(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}" if len(address) == 42 else address or "—"


def record_row(record: UsageRecord) -> dict[str, Any]:
    """One row of the history table (amounts in 0G; ``fee_neuron`` exact)."""
    tokens = "—" if record.input_tokens is None and record.output_tokens is None else None
    return {
        "id": record.id,
        "time": record.at.strftime("%Y-%m-%d %H:%M:%S"),
        "provider": record.provider,
        "provider_short": short(record.provider),
        "model": record.model,
        "backend": record.backend,
        "input_tokens": tokens or (record.input_tokens or 0),
        "output_tokens": tokens or (record.output_tokens or 0),
        "fee": amount(record.fee),
        "fee_neuron": str(record.fee),
        "verdict": record.verdict,
        "verdict_class": GOOD if record.verdict == "verified" else (UNSURE if record.verdict == "pending" else BAD),
        "chat_id": record.chat_id or "",
    }


def day_chart(totals: Sequence[UsageTotals]) -> str:
    """Spend per UTC day, the newest :data:`MAX_DAYS` days, oldest on top."""
    shown = list(totals)[-MAX_DAYS:]
    return bar_chart([(t.day or "", t.fee) for t in shown], title="Spend per day (UTC)")


def provider_chart(totals: Sequence[UsageTotals]) -> str:
    """Spend per provider, the largest first; past :data:`MAX_PROVIDERS`, the rest as one "others" bar."""
    ranked = sorted(totals, key=lambda t: (-t.fee, t.provider or ""))
    items = [(short(t.provider or ""), t.fee) for t in ranked[:MAX_PROVIDERS]]
    rest = ranked[MAX_PROVIDERS:]
    if rest:
        items.append((f"{len(rest)} others", sum(t.fee for t in rest)))
    return bar_chart(items, title="Spend per provider")


@dataclass
class UsageView:
    """Everything the Usage page shows of the history (the reconciliation comes on demand)."""

    query: UsageQuery
    rows: list[dict[str, Any]]
    total: UsageTotals
    matched: int
    """Records the filters match (every page)."""
    day_chart: str
    provider_chart: str
    days: int
    providers: list[str] = field(default_factory=list)
    """Every provider and model of the wallet's history: the filters' choices."""
    models: list[str] = field(default_factory=list)
    older: str | None = None
    """The link to the next page (older records), when there is one."""
    newest: str | None = None
    """The link back to the first page, when this is not it."""
    max_days: int = MAX_DAYS

    @property
    def total_fee(self) -> str:
        return amount(self.total.fee)


def usage_view(records: Sequence[UsageRecord], query: UsageQuery) -> UsageView:
    """The page for the wallet's ``records`` (oldest first, as the ledger returns them) under ``query`` (pure)."""
    where = query.where()
    matched = [r for r in records if where.matches(r)]
    page = [r for r in matched if query.before is None or r.time < query.before][-query.size :]
    page.reverse()  # newest first
    older_exists = bool(page) and any(r.time < page[-1].time for r in matched)
    days = group(matched, "day")
    return UsageView(
        query=query,
        rows=[record_row(r) for r in page],
        total=_sum(matched),
        matched=len(matched),
        day_chart=day_chart(days),
        provider_chart=provider_chart(group(matched, "provider")),
        days=len(days),
        providers=sorted({r.provider for r in records}),
        models=sorted({r.model for r in records}),
        older=query.link(before=page[-1].time) if older_exists else None,
        newest=query.link() if query.before is not None else None,
    )


def _sum(records: Sequence[UsageRecord]) -> UsageTotals:
    totals = UsageTotals()
    for r in records:
        totals.requests += 1
        totals.input_tokens += r.input_tokens or 0
        totals.output_tokens += r.output_tokens or 0
        totals.fee += r.fee
    return totals


def _optional(neuron: int | None) -> str:
    return "unknown" if neuron is None else amount(neuron)


def audit_rows(result: Reconciliation) -> list[dict[str, Any]]:
    """One row per provider of a reconciliation: amounts in 0G, the status and how to read it."""
    rows = []
    for p in result.providers:
        difference = "—" if p.difference is None else ("+" if p.difference > 0 else "") + amount(p.difference)
        flagged = p in result.flagged
        rows.append(
            {
                "provider": p.provider,
                "status": p.status,
                "status_class": BAD if flagged else STATUS_CLASS[p.status],
                "flagged": flagged,
                "requests": p.requests,
                "recorded": amount(p.recorded),
                "settled": _optional(p.settled),
                "unsettled": _optional(p.unsettled),
                "claimed": _optional(p.claimed),
                "difference": difference,
                "settlements": p.settlements,
                "detail": p.detail,
                "unexplained": [
                    {"block": u.block, "tx_hash": u.tx_hash, "amount": amount(u.amount)} for u in p.unexplained
                ],
            }
        )
    return rows


def parse_from_block(params: Mapping[str, Sequence[str]]) -> int:
    """The reconcile form's first block (0 when empty)."""
    text = _one(params, "from_block")
    if not text:
        return 0
    if not text.isdigit() or len(text) > 12:
        raise ConfigurationError(f"from block must be a block number (0 or more), got {text[:40]!r}")
    return int(text)
