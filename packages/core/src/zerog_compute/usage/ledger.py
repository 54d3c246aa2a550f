"""The usage ledger: where it lives (``usage=`` / ``$ZG_USAGE``), how a request's record gets in, how it is read.

``usage=`` on the clients (and ``$ZG_USAGE`` when it is not given):

* ``None`` / ``True`` / ``"on"`` — on (the default): the Redis server of the wallet state when ``state=`` is
  Redis (every host sees one history), else the SQLite file ``~/.zerog/usage.db``;
* ``False`` / ``"off"`` — no ledger;
* ``"sqlite"``, ``"sqlite:///abs/path.db"`` or ``"/abs/path.db"`` — that SQLite file;
* ``"redis://host:port/db"`` — that Redis server;
* a :class:`UsageLedger` — that one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from ..errors import ConfigurationError
from ..state import StateStore
from ..types import ZeroGRecord
from ..verification import VerificationResult
from .model import BackendName, UsageFilter, UsageRecord, UsageTotals
from .store import DEFAULT_PATH, SqliteUsageStore, UsageStore, VerdictUpdate
from .writer import UsageWriter

log = logging.getLogger("zerog_compute.usage")

ENV = "ZG_USAGE"
OFF = frozenset({"off", "0", "false", "no", "none"})
ON = frozenset({"", "on", "1", "true", "yes", "default"})
GroupBy = Literal["day", "provider", "day_provider"]


class UsageLedger:
    """Usage records of every wallet that writes to one store: append (queued) and read (filtered, totalled)."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        self.writer = UsageWriter(store.write)

    @property
    def url(self) -> str:
        return self.store.url

    def append(self, record: UsageRecord) -> None:
        """Queue ``record`` (sent in the background; see :mod:`.writer`)."""
        self.writer.add(record)

    def set_verdict(self, record_id: str, verdict: str) -> None:
        self.writer.add(VerdictUpdate(record_id, verdict))

    def flush(self) -> None:
        """Send every queued record now."""
        self.writer.flush()

    def records(self, where: UsageFilter | None = None, **conditions: Any) -> list[UsageRecord]:
        """Records that pass ``where`` (or the :class:`UsageFilter` fields given as keywords), oldest first.
        This process's queued records are sent first, so a read sees every finished request."""
        self.flush()
        return self.store.query(where or UsageFilter(**conditions))

    def totals(
        self, by: GroupBy = "day_provider", where: UsageFilter | None = None, **conditions: Any
    ) -> list[UsageTotals]:
        """Requests, tokens and fees per day (UTC), per provider, or per day and provider, in key order."""
        return group(self.records(where, **conditions), by)

    def close(self) -> None:
        self.writer.close()
        self.store.close()

    def __repr__(self) -> str:
        return f"UsageLedger({self.url!r})"


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def group(records: Iterable[UsageRecord], by: GroupBy) -> list[UsageTotals]:
    """Totals of ``records`` per group (pure)."""
    groups: dict[tuple[str | None, str | None], UsageTotals] = defaultdict(UsageTotals)
    for r in records:
        day = day_of(r.time) if by in ("day", "day_provider") else None
        provider = r.provider if by in ("provider", "day_provider") else None
        totals = groups[(day, provider)]
        totals.day, totals.provider = day, provider
        totals.requests += 1
        totals.input_tokens += r.input_tokens or 0
        totals.output_tokens += r.output_tokens or 0
        totals.fee += r.fee
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0] or "", k[1] or ""))]


# ------------------------------------------------------------------------------------ opening a ledger

_LEDGERS: dict[str, UsageLedger] = {}
_LEDGERS_LOCK = threading.Lock()


def open_ledger(usage: bool | str | UsageLedger | None = None, state: StateStore | None = None) -> UsageLedger | None:
    """The ledger ``usage`` names (see the module docstring), one per location in the process; None when off."""
    if isinstance(usage, UsageLedger):
        return usage
    if usage is False:
        return None
    text = "" if usage is None or usage is True else usage
    if usage is None:
        text = os.environ.get(ENV, "")
    where = text.strip()
    if where.lower() in OFF:
        return None
    if where.lower() in ON:
        where = _default_location(state)
    with _LEDGERS_LOCK:
        ledger = _LEDGERS.get(where)
        if ledger is None:
            ledger = _LEDGERS[where] = UsageLedger(_create(where, state))
        return ledger


def _default_location(state: StateStore | None) -> str:
    if state is not None and state.url.startswith(("redis://", "rediss://", "unix://")):
        return state.url
    return "sqlite"


def _create(where: str, state: StateStore | None) -> UsageStore:
    if where == "sqlite" or where.startswith(("sqlite://", "/", "~")):
        path = where.removeprefix("sqlite://") if where != "sqlite" else str(DEFAULT_PATH)
        if not path.startswith(("/", "~")):
            raise ConfigurationError(f"usage={where!r}: a SQLite path must be absolute (sqlite:///abs/path.db)")
        return SqliteUsageStore(path)
    if where.startswith(("redis://", "rediss://", "unix://")):
        from ..state import _safe
        from .store import RedisUsageStore

        if state is not None and state.url == where and hasattr(state, "client"):
            return RedisUsageStore(state.client, _safe(where))
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                f"usage={_safe(where)!r} needs the redis client: pip install 'zerog-compute[redis]'"
            ) from None
        return RedisUsageStore(redis.Redis.from_url(where, decode_responses=True), _safe(where))
    raise ConfigurationError(
        f"usage={where!r} is not a usage store; accepted: True/'on' (default), False/'off', 'sqlite', "
        "'sqlite:///abs/path.db', 'redis://host:port/db'"
    )


# ------------------------------------------------------------------------------------ recording requests


class Recorder:
    """Turns one client's finished requests into usage records (the client's wallet and chain filled in)."""

    def __init__(self, ledger: UsageLedger | None, chain_id: int, wallet: str | None) -> None:
        self.ledger = ledger
        self.chain_id = chain_id
        self.wallet = (wallet or "").lower()

    def add(self, record: ZeroGRecord, backend: BackendName) -> None:
        """Queue ``record`` (never raises: the ledger must not break a request)."""
        ledger = self.ledger
        if ledger is None:
            return
        try:
            entry = usage_record(record, backend, self.chain_id, self.wallet)
            ledger.append(entry)
            future = record.verification_future
            if entry.verdict == "pending" and future is not None:
                future.add_done_callback(lambda done: ledger.set_verdict(entry.id, _outcome(done)))
        except Exception:
            log.warning("could not record usage of a response from %s", record.provider, exc_info=True)


def usage_record(record: ZeroGRecord, backend: BackendName, chain_id: int, wallet: str) -> UsageRecord:
    """The ledger's record of a response (pure: no secret of the request is read)."""
    extra = record.model_extra or {}
    request_id = extra.get("request_id")
    return UsageRecord(
        id=uuid.uuid4().hex,
        time=time.time(),
        chain_id=chain_id,
        wallet=wallet,
        backend=backend,
        provider=record.provider.lower(),
        model=record.model,
        service_type=record.service_type,
        chat_id=record.chat_id,
        request_id=request_id if isinstance(request_id, str) else None,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        fee=record.fee,
        verdict=_verdict(record.verification),
        latency_ms=record.latency_ms,
    )


def _verdict(result: VerificationResult | None) -> str:
    return "pending" if result is None else result.verdict.value


def _outcome(future: Any) -> str:
    """The verdict a finished background verification gives (``error`` when it raised or was cancelled)."""
    try:
        if future.cancelled() or future.exception() is not None:
            return "error"
        result = future.result()
    except Exception:
        return "error"
    return _verdict(result) if isinstance(result, VerificationResult) else "error"
