"""Bounds on what a provider can make the client hold or wait for: decoded size and a total deadline.

Pure code used by the runners. :class:`Budget` follows one answer: it refuses a ``Content-Length`` over the
limit, decodes ``gzip``/``deflate`` itself in small pieces (so a compression bomb is stopped after at most
``limit`` decoded bytes, never expanded whole), counts the decoded bytes and checks the deadline per read.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import DeadlineExceededError, ProviderError, ResponseTooLargeError

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
DEFAULT_DEADLINE = 300.0
ACCEPT_ENCODING = "gzip, deflate"
"""What the client asks for: the encodings it decodes with a bound (never br/zstd)."""
PIECE = 64 * 1024
"""The most decoded bytes produced from compressed input before they are counted."""


@dataclass(frozen=True)
class Deadline:
    """A total deadline: the ``time.monotonic()`` instant ``at``, set ``seconds`` after the call began."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def capped(self, seconds: float | None) -> Deadline:
        """This deadline, or an earlier one ``seconds`` from now."""
        if seconds is None or time.monotonic() + seconds >= self.at:
            return self
        return Deadline.after(seconds)


class _Inflater:
    """gzip/deflate decoding in bounded pieces (``deflate`` may come with or without its zlib header)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self.obj = zlib.decompressobj(self.wbits)
        self.started = False

    def __str__(self) -> str:
        return self.encoding

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most :data:`PIECE` bytes, produced one at a time."""
        if not self.started and data:
            self.started = True
            try:
                piece = self.obj.decompress(data, PIECE)
            except zlib.error:
                if self.wbits != zlib.MAX_WBITS:
                    raise
                self.wbits = -zlib.MAX_WBITS  # deflate without its zlib header
                self.obj = zlib.decompressobj(self.wbits)
                piece = self.obj.decompress(data, PIECE)
            data = self.obj.unconsumed_tail
            if piece:
                yield piece
        while data:
            piece = self.obj.decompress(data, PIECE)
            data = self.obj.unconsumed_tail
            if not piece:
                break
            yield piece


def _encoding(headers: Mapping[str, str]) -> str | None:
    value = ",".join(v for k, v in headers.items() if k.lower() == "content-encoding")
    names = [name.strip().lower() for name in value.split(",") if name.strip().lower() not in ("", "identity")]
    if not names:
        return None
    if len(names) == 1 and names[0] in ("gzip", "x-gzip", "deflate"):
        return names[0]
    raise ProviderError(f"the provider answered with Content-Encoding {value!r}: only {ACCEPT_ENCODING} is accepted")


class Budget:
    """The size and time budget of one answer from ``url``."""

    def __init__(self, url: str, max_bytes: int, deadline: Deadline) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.received = 0
        self._inflater: _Inflater | None = None

    def remaining(self) -> float:
        """Seconds left; raises :class:`DeadlineExceededError` when none are."""
        left = self.deadline.at - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> DeadlineExceededError:
        seconds = self.deadline.seconds
        return DeadlineExceededError(
            f"the call to {self.url} did not finish within its deadline of {seconds:g} s: pass a larger "
            "deadline= to the client (or the pool) if the provider is legitimately slow",
            deadline=seconds,
        )

    def past(self) -> bool:
        return time.monotonic() >= self.deadline.at

    def timeout(self, timeout: float | None) -> float:
        """The httpx timeout for the next operation: ``timeout`` capped by the time left."""
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    def start(self, headers: Mapping[str, str]) -> None:
        """Check the answer's headers: a declared length over the limit is refused before reading."""
        length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            raise self.too_large(f"declares {int(length)} bytes")
        encoding = _encoding(headers)
        self._inflater = _Inflater(encoding) if encoding else None

    def feed(self, raw: bytes) -> bytes:
        """Decode ``raw`` (bytes as received), count them, check the limit and the deadline."""
        decoded = []
        try:
            for piece in self._inflater.pieces(raw) if self._inflater is not None else (raw,):
                self.received += len(piece)
                if self.received > self.max_bytes:
                    raise self.too_large("sent more")
                decoded.append(piece)
        except zlib.error as exc:
            raise ProviderError(f"the answer from {self.url} is not valid {self._inflater}: {exc}") from None
        self.remaining()
        return b"".join(decoded)

    def whole(self, content: bytes) -> bytes:
        """A body that arrived already read and decoded: only its size is checked."""
        if len(content) > self.max_bytes:
            raise self.too_large("sent more")
        return content

    def too_large(self, what: str) -> ResponseTooLargeError:
        mib = self.max_bytes / (1024 * 1024)
        return ResponseTooLargeError(
            f"the answer from {self.url} {what} than the limit of {self.max_bytes} bytes ({mib:g} MiB, decoded): "
            "pass a larger max_response_bytes= to the client if it is legitimate",
            limit=self.max_bytes,
        )
