"""The usage ledger's pure logic and its writer: comparison, event folding, paging, grouping, the write queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zerog_compute._io import Rpc
from zerog_compute.errors import ConfigurationError, RpcError
from zerog_compute.usage import SqliteUsageStore, UsageFilter, UsageLedger, UsageRecord, audit, group, open_ledger
from zerog_compute.usage.chain import BALANCE_UPDATED, SETTLEMENT_RESULT, Log, decode_log, fold, get_logs, pages
from zerog_compute.usage.model import Settlement
from zerog_compute.usage.reconcile import CLOCK_SLACK_S, audit_all, unexplained
from zerog_compute.usage.writer import UsageWriter

A, B = "0x" + "a" * 40, "0x" + "b" * 40
DAY = 86_400.0


def record(fee: int, provider: str = A, time: float = 0.0, **fields: Any) -> UsageRecord:
    base = {"id": f"{provider}-{time}-{fee}", "chain_id": 1, "wallet": "0xme", "backend": "direct", "model": "m"}
    return UsageRecord(**{**base, "time": time, "provider": provider, "fee": fee, **fields})


def settlement(amount: int | None, provider: str = A, block: int = 1, time: float | None = None) -> Settlement:
    tx = f"0x{block}"
    return Settlement(block=block, tx_hash=tx, log_index=0, provider=provider, amount=amount, status=0, time=time)


# ---------------------------------------------------------------------------------------- the comparison


def test_settled_plus_unsettled_equal_to_recorded_is_a_match() -> None:
    result = audit(A, [record(5), record(7)], [settlement(5)], unsettled=7)
    assert (result.status, result.difference, result.claimed, result.requests) == ("match", 0, 12, 2)


def test_more_settled_than_used_is_an_overcharge_with_the_difference() -> None:
    result = audit(A, [record(5)], [settlement(5), settlement(3, block=2)], unsettled=1)
    assert (result.status, result.difference) == ("overcharge", 4)
    assert "more than" in result.detail


def test_less_is_an_undercharge_and_charges_without_any_request_are_never_used() -> None:
    assert audit(A, [record(9)], [settlement(5)], unsettled=0).status == "undercharge"
    never = audit(B, [], [settlement(5, provider=B)], unsettled=2)
    assert (never.status, never.difference) == ("never_used", 7)
    assert audit(B, [], [], unsettled=0).status == "match"


def test_a_missing_figure_makes_the_audit_incomplete_never_a_verdict() -> None:
    assert audit(A, [record(5)], [settlement(None)], unsettled=0).status == "incomplete"
    unknown = audit(A, [record(5)], [settlement(5)], unsettled=None)
    assert (unknown.status, unknown.difference) == ("incomplete", None)


def test_audit_all_covers_providers_of_records_settlements_and_unsettled_fees() -> None:
    results = audit_all([record(5)], [settlement(3, provider=B)], {A: 5, B: 0})
    assert [(r.provider, r.status) for r in results] == [(A, "match"), (B, "never_used")]


def test_a_settlement_ahead_of_the_recorded_requests_is_unexplained_with_its_excess() -> None:
    later = 10 * CLOCK_SLACK_S
    records = [record(5, time=0.0), record(7, time=later)]
    honest = [settlement(5, block=1, time=1.0), settlement(7, block=2, time=later + 1)]
    assert unexplained(records, honest) == []
    early = [settlement(12, block=1, time=1.0)]  # settles the second request before it was made
    assert [(u.block, u.amount) for u in unexplained(records, early)] == [(1, 7)]
    padded = [settlement(6, block=1, time=1.0), settlement(9, block=2, time=later + 1)]  # 1 then 3 more
    assert [(u.block, u.amount) for u in unexplained(records, padded)] == [(1, 1), (2, 2)]
    assert unexplained(records, [settlement(None, time=1.0), settlement(99, block=3)]) == []  # no amount / time


# ---------------------------------------------------------------------------------------- the chain's events


def balance(block: int, index: int, provider: str, value: int, tx: str = "0xt") -> Log:
    return Log(block, f"{tx}{block}", index, False, provider=provider, balance=value)


def result(block: int, index: int, status: int = 0, unsettled: int = 0, tx: str = "0xt") -> Log:
    return Log(block, f"{tx}{block}", index, True, status=status, unsettled=unsettled)


def test_fold_pairs_each_balance_update_with_the_settlement_result_after_it() -> None:
    logs = [
        balance(1, 0, A, 100),  # a deposit
        balance(2, 4, B, 50),
        balance(3, 7, A, 90),  # settled 10 ...
        result(3, 8),  # ... this result follows it in the same transaction
        result(4, 1, status=4, unsettled=9),  # a failed settlement: nothing moved
        balance(5, 2, A, 120),  # a deposit of 30
        balance(6, 3, A, 115),
        result(6, 4, status=1, unsettled=2),  # partial: took the 5 left, 2 unsettled
    ]
    balances: dict[str, int] = {}
    found = fold(list(reversed(logs)), balances)  # order is restored from (block, log index)
    assert [(s.provider, s.amount, s.status, s.unsettled) for s in found] == [(A, 10, 0, 0), (A, 5, 1, 2)]
    assert balances == {A: 115, B: 50}


def test_a_settlement_whose_balance_before_is_outside_the_range_has_no_amount() -> None:
    balances: dict[str, int] = {}
    (only,) = fold([balance(3, 0, A, 90), result(3, 1)], balances)
    assert only.amount is None
    (later,) = fold([balance(4, 0, A, 80), result(4, 1)], balances)  # the first scan left its balance
    assert later.amount == 10


def test_decode_log_reads_both_events_and_ignores_others() -> None:
    word = "{:064x}".format
    raw = {"blockNumber": "0x5", "transactionHash": "0xAB", "logIndex": "0x2"}
    topics = [BALANCE_UPDATED, "0x" + "0" * 24 + "1" * 40, "0x" + "0" * 24 + "B" * 40]
    updated = decode_log({**raw, "topics": topics, "data": "0x" + word(77) + word(3)})
    assert updated == Log(5, "0xab", 2, False, provider=B, balance=77)
    settled = decode_log({**raw, "topics": [SETTLEMENT_RESULT, topics[1]], "data": "0x" + word(1) + word(9)})
    assert settled == Log(5, "0xab", 2, True, status=1, unsettled=9)
    assert decode_log({**raw, "topics": ["0x" + "f" * 64], "data": "0x" + word(1) + word(2)}) is None
    assert decode_log({**raw, "topics": [SETTLEMENT_RESULT], "data": "0x"}) is None
    assert decode_log({"topics": [SETTLEMENT_RESULT], "data": "0x" + word(1) + word(2)}) is None  # no block
    assert decode_log({**raw, "topics": [BALANCE_UPDATED, topics[1], topics[2]], "data": "0xzz" * 40}) is None


def test_pages_cover_the_range_exactly() -> None:
    assert list(pages(0, 9, 4)) == [(0, 3), (4, 7), (8, 9)]
    assert list(pages(5, 5, 100)) == [(5, 5)]
    assert list(pages(6, 5, 100)) == []


def drive(flow: Any, answer: Callable[[Rpc], Any]) -> Any:
    """Run a flow, answering its RPC requests with ``answer`` (an RpcError it raises is thrown into the flow)."""
    reply: Any = None
    error: RpcError | None = None
    while True:
        try:
            request = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as done:
            return done.value
        reply, error = None, None
        try:
            reply = answer(request)
        except RpcError as exc:
            error = exc


def test_get_logs_pages_and_halves_a_range_the_node_refuses() -> None:
    asked: list[tuple[int, int]] = []

    def node(request: Rpc) -> Any:
        query = request.params[0]
        start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        asked.append((start, end))
        if end - start + 1 > 3:
            raise RpcError("eth_getLogs", {"code": -32005, "message": "query returned more than 10000 results"})
        assert query["topics"][1] == "0x" + "0" * 24 + "c" * 40
        return []

    assert drive(get_logs("0xcontract", "0x" + "C" * 40, 0, 9, size=8), node) == []
    answered = [pair for pair in asked if pair[1] - pair[0] < 3]
    assert answered == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]  # halved from 8 to 4 to 2, then paged to the end


def test_get_logs_raises_other_node_errors() -> None:
    def node(request: Rpc) -> Any:
        raise RpcError("eth_getLogs", {"code": -32000, "message": "header not found"})

    with pytest.raises(RpcError, match="header not found"):
        drive(get_logs("0xcontract", A, 0, 9), node)


# ---------------------------------------------------------------------------------------- records and totals


def test_totals_per_day_and_provider() -> None:
    records = [
        record(1, A, 0.0, input_tokens=2),
        record(2, B, 10.0, output_tokens=3),
        record(4, A, DAY + 1),
    ]
    by_day = group(records, "day")
    assert [(t.day, t.requests, t.fee) for t in by_day] == [("1970-01-01", 2, 3), ("1970-01-02", 1, 4)]
    by_provider = group(records, "provider")
    assert [(t.provider, t.requests, t.fee, t.input_tokens) for t in by_provider] == [(A, 2, 5, 2), (B, 1, 2, 0)]
    assert len(group(records, "day_provider")) == 3


def test_filters_and_the_sqlite_store(tmp_path: Path) -> None:
    store = SqliteUsageStore(tmp_path / "u.db")
    store.write([record(1, A, 1.0), record(2, B, 2.0), record(3, A, 3.0, wallet="0xother")])
    assert [r.fee for r in store.query(UsageFilter(provider=A.upper().replace("0X", "0x")))] == [1, 3]
    assert [r.fee for r in store.query(UsageFilter(wallet="0xME", since=1.5))] == [2]
    assert [r.fee for r in store.query(UsageFilter(until=2.0))] == [1]
    assert [r.fee for r in store.query(UsageFilter(limit=2))] == [2, 3]


def test_usage_option_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_ledger(False) is None
    monkeypatch.setenv("ZG_USAGE", "off")
    assert open_ledger(None) is None
    path = tmp_path / "u.db"
    monkeypatch.setenv("ZG_USAGE", f"sqlite://{path}")
    ledger = open_ledger(None)
    assert ledger is not None and ledger.url == f"sqlite://{path}" and open_ledger(str(path)) is not ledger
    assert open_ledger(f"sqlite://{path}") is ledger
    with pytest.raises(ConfigurationError, match="absolute"):
        open_ledger("sqlite://relative.db")
    with pytest.raises(ConfigurationError, match="not a usage store"):
        open_ledger("postgres://x")


# ---------------------------------------------------------------------------------------- the write queue


def test_writing_is_off_the_request_path_and_close_loses_nothing(tmp_path: Path) -> None:
    store = SqliteUsageStore(tmp_path / "u.db")
    writer = UsageWriter(store.write, delay=3600.0)  # the background thread would wait an hour
    for fee in range(5):
        writer.add(record(fee, time=float(fee)))
    assert store.query(UsageFilter()) == [] and writer.pending() == 5  # add wrote nothing
    writer.close()
    assert [r.fee for r in store.query(UsageFilter())] == [0, 1, 2, 3, 4]


def test_a_full_queue_is_written_by_the_request_that_fills_it(tmp_path: Path) -> None:
    store = SqliteUsageStore(tmp_path / "u.db")
    writer = UsageWriter(store.write, delay=3600.0, max_queue=10)
    for fee in range(25):
        writer.add(record(fee, time=float(fee)))
    assert len(store.query(UsageFilter())) == 20 and writer.pending() == 5
    writer.flush()
    assert len(store.query(UsageFilter())) == 25


def test_verdicts_arrive_after_their_records_and_reads_see_queued_records(tmp_path: Path) -> None:
    ledger = UsageLedger(SqliteUsageStore(tmp_path / "u.db"))
    ledger.writer = UsageWriter(ledger.store.write, delay=3600.0)
    ledger.append(record(5, verdict="pending"))
    ledger.set_verdict(record(5).id, "verified")
    (only,) = ledger.records()  # a read sends this process's queue first
    assert only.verdict == "verified"
