"""Per-request fees, usage extraction from SSE, the unsettled-fee ledger and the admission check.

All amounts are integers in neuron (1 0G = 10**18 neuron); prices come from the on-chain service.
"""

import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zerog_devnet.broker._gocompat import big_float_quo_text, fields, round_half_away

NEURON_PER_0G = 10**18
MINIMUM_LOCKED_BALANCE = 10**18
MAX_BILLABLE_SECONDS = 99 * 3600
DEFAULT_TRANSCRIPTION_TOKENS = 100
_STT_SEPARATORS = frozenset(" \n\t\r")
_USAGE_COUNTERS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass
class Prices:
    """On-chain ``inputPrice`` / ``outputPrice`` in neuron (per token, image or second)."""

    input_price: int
    output_price: int


@dataclass(frozen=True)
class FeeBreakdown:
    """A request's fee split; ``total = input_fee + output_fee``."""

    input_fee: int
    output_fee: int
    total: int


def _fee(input_fee: int, output_fee: int) -> FeeBreakdown:
    return FeeBreakdown(input_fee=input_fee, output_fee=output_fee, total=input_fee + output_fee)


def _count(usage: dict[str, Any], key: str) -> int:
    """An integer usage counter; absent or non-integer values count as 0."""
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ---------------------------------------------------------------------------------------------------------
# fee formulas


def chat_fee(usage: dict[str, Any] | None, output_text: str, prices: Prices) -> FeeBreakdown:
    """Tokens × prices; without usage, whitespace-separated words of the output × ``output_price``."""
    if usage is None:
        return _fee(0, len(fields(output_text)) * prices.output_price)
    return _fee(
        _count(usage, "prompt_tokens") * prices.input_price,
        _count(usage, "completion_tokens") * prices.output_price,
    )


def image_fee(n: int, prices: Prices) -> FeeBreakdown:
    """Images: ``output_price × n`` (no input fee)."""
    return _fee(0, prices.output_price * n)


def embedding_fee(usage: dict[str, Any] | None, prices: Prices) -> FeeBreakdown:
    """Embeddings: ``prompt_tokens × input_price``."""
    return _fee(_count(usage or {}, "prompt_tokens") * prices.input_price, 0)


def transcription_fee(usage: dict[str, Any] | None, text: str, prices: Prices) -> FeeBreakdown:
    """Speech-to-text: by duration (whisper), by tokens (gpt-4o-transcribe), else a word estimate.

    Duration: ``max(round(min(seconds, 356400)), 1) × input_price`` for positive seconds. Tokens:
    ``input_tokens × input_price + output_tokens × output_price``. Fallback: ``(words × 2, or 100 when
    there are no words) × output_price``; ``text`` is the raw response body used for that estimate.
    """
    seconds = _seconds(usage)
    if usage is None or seconds is None or not _billable(usage, seconds):
        return _fee(0, _estimated_tokens(text) * prices.output_price)
    kind = usage.get("type")
    if kind == "duration" or (kind != "tokens" and seconds > 0):
        billable = max(round_half_away(min(seconds, MAX_BILLABLE_SECONDS)), 1)
        return _fee(billable * prices.input_price, 0)
    return _fee(
        _count(usage, "input_tokens") * prices.input_price,
        _count(usage, "output_tokens") * prices.output_price,
    )


def _seconds(usage: dict[str, Any] | None) -> float | None:
    """``usage.seconds`` as a number or numeric string (None, "" → 0); None if it is unparseable."""
    value = (usage or {}).get("seconds")
    if value is None or isinstance(value, bool):
        return 0.0 if value is None else None
    if isinstance(value, str):
        value = value.strip() or "0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _billable(usage: dict[str, Any], seconds: float) -> bool:
    tokens = _count(usage, "input_tokens") > 0 or _count(usage, "output_tokens") > 0
    kind = usage.get("type")
    if kind == "duration":
        return seconds > 0
    if kind == "tokens":
        return tokens
    return seconds > 0 or tokens


def _estimated_tokens(text: str) -> int:
    """The broker's STT estimate: 2 tokens per word (split on space, \\n, \\t, \\r), default 100."""
    words = 0
    in_word = False
    for ch in text:
        if ch in _STT_SEPARATORS:
            in_word = False
        elif not in_word:
            in_word = True
            words += 1
    return words * 2 if words else DEFAULT_TRANSCRIPTION_TOKENS


# ---------------------------------------------------------------------------------------------------------
# streaming usage


def usage_from_sse(lines: Iterable[bytes | str]) -> tuple[dict[str, Any] | None, str]:
    """Scan SSE lines: the last ``data:`` chunk with a non-zero usage counter, and the delta text.

    Stops at ``data: [DONE]``; blank lines, comments and undecodable chunks are skipped. The text is the
    concatenated ``choices[].delta.content`` of chunks without usage (the word-count fallback's input).
    """
    usage: dict[str, Any] | None = None
    text: list[str] = []
    for raw in lines:
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r\n")
        if line == "data: [DONE]":
            break
        chunk = _chunk(line)
        if chunk is None:
            continue
        chunk_usage = chunk.get("usage")
        if isinstance(chunk_usage, dict) and any(_count(chunk_usage, k) for k in _USAGE_COUNTERS):
            usage = chunk_usage
            continue
        text.append(_delta_text(chunk))
    return usage, "".join(text)


def _chunk(line: str) -> dict[str, Any] | None:
    if not line or line.startswith(":"):
        return None
    payload = line[len("data: ") :] if line.startswith("data: ") else line
    try:
        chunk = json.loads(payload)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return ""
    parts: list[str] = []
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------
# unsettled request rows


@dataclass(frozen=True)
class Row:
    """One unsettled request row, as the broker's ``request`` table holds it."""

    request_hash: str
    user: str
    fee: int
    input_fee: int
    output_fee: int

    @property
    def hash_fields(self) -> tuple[str, str, str, str, str]:
        """The stored strings ``requests_hash`` concatenates: requestHash, user, fee, inputFee, outputFee."""
        return (self.request_hash, self.user, str(self.fee), str(self.input_fee), str(self.output_fee))


class FeeLedger:
    """The broker's unsettled request rows, in memory, insertion-ordered and thread-safe."""

    def __init__(self) -> None:
        self._rows: dict[str, Row] = {}
        self._settling: set[str] = set()
        self._lock = threading.Lock()

    def record(self, user: str, fee: FeeBreakdown) -> str:
        """Add a row for ``user`` (kept as written in the token); return its uuid4 request hash."""
        row = Row(str(uuid.uuid4()), user, fee.total, fee.input_fee, fee.output_fee)
        with self._lock:
            self._rows[row.request_hash] = row
        return row.request_hash

    def unsettled(self, user: str) -> int:
        """Sum of fees of every row of ``user`` not yet settled (settling rows included)."""
        key = user.lower()
        with self._lock:
            return sum(row.fee for row in self._rows.values() if row.user.lower() == key)

    def pending_by_user(self) -> dict[str, list[Row]]:
        """Rows not being settled, grouped by lower-cased user address, oldest first."""
        grouped: dict[str, list[Row]] = {}
        with self._lock:
            for row in self._rows.values():
                if row.request_hash not in self._settling:
                    grouped.setdefault(row.user.lower(), []).append(row)
        return grouped

    def mark_settling(self, rows: Iterable[Row]) -> None:
        """Exclude rows from :meth:`pending_by_user` while a settlement transaction is in flight."""
        with self._lock:
            self._settling.update(row.request_hash for row in rows if row.request_hash in self._rows)

    def settled(self, rows: Iterable[Row]) -> None:
        """Delete rows that were settled on chain."""
        with self._lock:
            for row in rows:
                self._rows.pop(row.request_hash, None)
                self._settling.discard(row.request_hash)

    def release(self, rows: Iterable[Row]) -> None:
        """Return settling rows to pending (e.g. after a failed transaction)."""
        with self._lock:
            self._settling.difference_update(row.request_hash for row in rows)

    def drop_user(self, user: str) -> None:
        """Delete every row of ``user`` (the broker's answer to a permanent NO_TEE_SIGNER status)."""
        key = user.lower()
        with self._lock:
            for request_hash in [h for h, row in self._rows.items() if row.user.lower() == key]:
                del self._rows[request_hash]
                self._settling.discard(request_hash)

    def clear(self) -> None:
        """Drop every row."""
        with self._lock:
            self._rows.clear()
            self._settling.clear()


# ---------------------------------------------------------------------------------------------------------
# admission


def format_0g(neuron: int) -> str:
    """Neuron as 0G with 6 decimals, exactly like the broker's ``big.Float`` ``Text('f', 6)``."""
    if neuron < 0:
        return "-" + big_float_quo_text(-neuron, NEURON_PER_0G, 6)
    return big_float_quo_text(neuron, NEURON_PER_0G, 6)


def admission_error(
    *,
    lock_balance: int,
    unsettled: int,
    estimated_fee: int,
    minimum_locked: int = MINIMUM_LOCKED_BALANCE,
    provider: str,
) -> str | None:
    """None if ``lock_balance >= estimated_fee + unsettled + minimum_locked``, else the broker's message.

    The message ends with the literal ``--amount <amount>`` placeholder, as the broker's does.
    """
    required = estimated_fee + unsettled + minimum_locked
    if lock_balance >= required:
        return None
    return (
        f"insufficient balance: your locked balance is {format_0g(lock_balance)} 0G, "
        f"but the required minimum is {format_0g(required)} 0G "
        f"(breakdown: minimum reserve {format_0g(minimum_locked)} 0G + unsettled fees "
        f"{format_0g(unsettled)} 0G + current request fee {format_0g(estimated_fee)} 0G). "
        f"Please add more funds with: 0g-compute-cli transfer-fund --provider {provider} --amount <amount>"
    )
