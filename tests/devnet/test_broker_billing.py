"""Fees (provider-protocol §4.1), stream usage (§2.5), the unsettled ledger and admission (§4.2)."""

from __future__ import annotations

import threading

import pytest

from zerog_devnet.broker.billing import (
    FeeBreakdown,
    FeeLedger,
    Prices,
    admission_error,
    chat_fee,
    embedding_fee,
    format_0g,
    image_fee,
    transcription_fee,
    usage_from_sse,
)
from zerog_devnet.broker.signing import requests_hash

PRICES = Prices(input_price=3, output_price=7)
USER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0xa48f01287233509FD694a22Bf840225062E67836"


# ---------------------------------------------------------------------------------------------------------
# fees


def test_chat_fee_from_usage() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    assert chat_fee(usage, "ignored words here", PRICES) == FeeBreakdown(30, 28, 58)


def test_chat_fee_zero_usage_bills_zero() -> None:
    assert chat_fee({}, "some words", PRICES) == FeeBreakdown(0, 0, 0)


def test_chat_fee_without_usage_counts_words() -> None:
    assert chat_fee(None, "  hello\tbrave\u00a0new\nworld  ", PRICES) == FeeBreakdown(0, 28, 28)
    assert chat_fee(None, "", PRICES).total == 0
    assert chat_fee(None, "a\x1cb", PRICES).total == 7  # \x1c is not a Go space


def test_image_fee() -> None:
    assert image_fee(3, PRICES) == FeeBreakdown(0, 21, 21)


def test_embedding_fee() -> None:
    assert embedding_fee({"prompt_tokens": 9, "total_tokens": 9}, PRICES) == FeeBreakdown(27, 0, 27)
    assert embedding_fee(None, PRICES).total == 0


@pytest.mark.parametrize(
    ("usage", "expected_input"),
    [
        ({"type": "duration", "seconds": 12}, 36),
        ({"type": "duration", "seconds": 0.4}, 3),
        ({"type": "duration", "seconds": 2.5}, 9),
        ({"type": "duration", "seconds": 3.4999}, 9),
        ({"seconds": "206.34125"}, 206 * 3),
        ({"seconds": 10**9}, 356_400 * 3),
    ],
)
def test_transcription_fee_by_duration(usage: dict[str, object], expected_input: int) -> None:
    assert transcription_fee(usage, "text", PRICES) == FeeBreakdown(expected_input, 0, expected_input)


def test_transcription_fee_by_tokens() -> None:
    usage = {"type": "tokens", "input_tokens": 50, "output_tokens": 2, "total_tokens": 52, "seconds": 9}
    assert transcription_fee(usage, "x", PRICES) == FeeBreakdown(150, 14, 164)
    assert transcription_fee({"input_tokens": 5}, "x", PRICES) == FeeBreakdown(15, 0, 15)


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},
        {"type": "duration", "seconds": 0, "input_tokens": 100},
        {"type": "tokens", "seconds": 30},
        {"seconds": "abc"},
        {"seconds": "Inf"},
        {"seconds": -3},
    ],
)
def test_transcription_fee_fallback_estimates_words(usage: dict[str, object] | None) -> None:
    assert transcription_fee(usage, "one two\tthree", PRICES) == FeeBreakdown(0, 42, 42)
    assert transcription_fee(usage, " \n", PRICES) == FeeBreakdown(0, 700, 700)


# ---------------------------------------------------------------------------------------------------------
# SSE usage


def sse(*chunks: str) -> list[str]:
    return [line for chunk in chunks for line in (f"data: {chunk}\n", "\n")]


def test_usage_from_final_chunk() -> None:
    lines = sse(
        '{"choices":[{"delta":{"content":"Hel"}}]}',
        '{"choices":[{"delta":{"content":"lo"}}],"usage":{}}',
        '{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}',
        "[DONE]",
    )
    usage, text = usage_from_sse(lines)
    assert usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert text == "Hello"


def test_last_non_zero_usage_wins_and_zero_usage_is_ignored() -> None:
    lines = sse(
        '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}',
        '{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}',
        '{"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}',
    )
    assert usage_from_sse(lines)[0] == {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}


def test_comments_bad_json_bytes_and_done() -> None:
    lines: list[bytes | str] = [
        b": keep-alive\n",
        b'data: {"choices":[{"delta":{"content":"a b"}}]}\r\n',
        "data: {not json\n",
        "event: message\n",
        'data: {"choices":[{"delta":{"content":" c"}},{"delta":{}}]}',
        "data: [DONE]\n",
        'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}',
    ]
    usage, text = usage_from_sse(lines)
    assert usage is None
    assert text == "a b c"
    assert chat_fee(usage, text, PRICES).total == 21


def test_stream_without_done_is_still_read() -> None:
    lines = sse('{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}')
    assert usage_from_sse(lines)[0] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


# ---------------------------------------------------------------------------------------------------------
# ledger


def test_ledger_records_and_sums_case_insensitively() -> None:
    ledger = FeeLedger()
    first = ledger.record(USER, FeeBreakdown(400, 600, 1000))
    ledger.record(USER.lower(), FeeBreakdown(0, 5, 5))
    ledger.record(OTHER, FeeBreakdown(1, 1, 2))
    assert len(first) == 36 and first.count("-") == 4
    assert ledger.unsettled(USER.upper().replace("0X", "0x")) == 1005
    assert ledger.unsettled(OTHER) == 2
    assert ledger.unsettled("0x0000000000000000000000000000000000000000") == 0


def test_rows_feed_requests_hash() -> None:
    ledger = FeeLedger()
    ledger.record(USER, FeeBreakdown(400, 600, 1000))
    (row,) = ledger.pending_by_user()[USER.lower()]
    assert row.user == USER
    assert row.hash_fields == (row.request_hash, USER, "1000", "400", "600")
    assert requests_hash([row.hash_fields]) == requests_hash([(row.request_hash, USER, "1000", "400", "600")])


def test_settlement_lifecycle() -> None:
    ledger = FeeLedger()
    hashes = [ledger.record(USER, FeeBreakdown(0, n, n)) for n in (1, 2, 3)]
    ledger.record(OTHER, FeeBreakdown(0, 9, 9))
    pending = ledger.pending_by_user()
    assert [row.request_hash for row in pending[USER.lower()]] == hashes
    ledger.mark_settling(pending[USER.lower()])
    assert list(ledger.pending_by_user()) == [OTHER.lower()]
    assert ledger.unsettled(USER) == 6  # settling rows are still unsettled
    ledger.release(pending[USER.lower()][:1])
    assert [r.request_hash for r in ledger.pending_by_user()[USER.lower()]] == hashes[:1]
    ledger.settled(pending[USER.lower()][1:])
    assert ledger.unsettled(USER) == 1
    ledger.drop_user(OTHER.upper().replace("0X", "0x"))
    assert ledger.unsettled(OTHER) == 0
    ledger.clear()
    assert ledger.pending_by_user() == {}


def test_ledger_is_thread_safe() -> None:
    ledger = FeeLedger()

    def work() -> None:
        for _ in range(200):
            ledger.record(USER, FeeBreakdown(0, 1, 1))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.unsettled(USER) == 1600
    assert len(ledger.pending_by_user()[USER.lower()]) == 1600


# ---------------------------------------------------------------------------------------------------------
# admission


def test_admitted_at_exactly_the_minimum() -> None:
    assert admission_error(lock_balance=10**18 + 5, unsettled=3, estimated_fee=2, provider=PROVIDER) is None


def test_insufficient_balance_message() -> None:
    message = admission_error(lock_balance=10**18, unsettled=1_362_000_000_000_000, estimated_fee=0, provider=PROVIDER)
    assert message == (
        "insufficient balance: your locked balance is 1.000000 0G, but the required minimum is 1.001362 0G "
        "(breakdown: minimum reserve 1.000000 0G + unsettled fees 0.001362 0G + current request fee "
        "0.000000 0G). Please add more funds with: 0g-compute-cli transfer-fund --provider "
        f"{PROVIDER} --amount <amount>"
    )


def test_custom_minimum() -> None:
    message = admission_error(
        lock_balance=0, unsettled=0, estimated_fee=10**12, minimum_locked=5 * 10**18, provider="p"
    )
    assert message is not None
    assert "required minimum is 5.000001 0G (breakdown: minimum reserve 5.000000 0G" in message


@pytest.mark.parametrize(
    ("neuron", "text"),
    [
        (0, "0.000000"),
        (10**18, "1.000000"),
        (1, "0.000000"),
        (499_999_999_999, "0.000000"),
        (500_000_000_001, "0.000001"),
        (7_812_500_000_000_000, "0.007812"),  # exactly 2**-7: a decimal tie, rounded to even
        (7_812_500_000_000_001, "0.007813"),
        (23_437_500_000_000_000, "0.023438"),  # 3 * 2**-7: tie rounded up to even
        (123_456_789 * 10**18 + 10**12, "123456789.000001"),
        (-(10**18), "-1.000000"),
    ],
)
def test_format_0g(neuron: int, text: str) -> None:
    assert format_0g(neuron) == text
