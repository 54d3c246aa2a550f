"""The vocabulary of flows: the I/O requests a flow yields, and the JSON parser for what providers send.

A *flow* is a generator that yields these requests and receives their results:

* :class:`Rpc` (a JSON-RPC call), :class:`Http` (a request whose answer is read whole), :class:`Sleep`,
  :class:`WaitFor` (sleep until something shared changes), :class:`Lane` (run a sub-flow holding the
  wallet's transaction lane), :class:`Background` (start a sub-flow and get a future), :class:`PeerCertificate`
  (the leaf certificate a TLS server presents);
* for streamed answers: :class:`OpenStream` (send, get the status and headers), :class:`ReadChunk` (the
  next bytes of the open answer) and :class:`Emit` (hand one item to whoever iterates the flow).

The runners in :mod:`zerog_compute.runners` are the only code that performs I/O, so every piece of
protocol logic is written once and serves both ``ZeroG`` and ``AsyncZeroG``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from ._bounds import Deadline
from .errors import ProviderTimeoutError, ProviderUnavailableError
from .errors import RpcError as RpcError  # re-exported: flows raise and catch it; it lives in the error tree
from .untrusted_json import parse_json

T = TypeVar("T")


@dataclass(frozen=True)
class Rpc:
    """A JSON-RPC call to the chain; the result is the decoded ``result`` field."""

    method: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _Request:
    """What is sent: ``max_bytes`` bounds the decoded answer and ``deadline`` the whole exchange;
    ``None`` takes the runner's defaults (the client's ``max_response_bytes`` and ``deadline``);
    ``follow_redirects=False`` never follows one, whatever the HTTP client was built with."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    timeout: float | None = None
    max_bytes: int | None = None
    deadline: Deadline | None = None
    follow_redirects: bool | None = None


@dataclass(frozen=True)
class Http(_Request):
    """An HTTP request to a provider whose answer is read whole; the result is an :class:`HttpResult`."""


@dataclass(frozen=True)
class HttpResult:
    """A fully read HTTP response."""

    status: int
    headers: httpx.Headers
    content: bytes


@dataclass(frozen=True)
class Sleep:
    """Wait (``time.sleep`` or ``asyncio.sleep``)."""

    seconds: float


@dataclass(frozen=True)
class Lane:
    """Run ``flow`` while holding the wallet's transaction lane (one chain write at a time)."""

    flow: Generator[Any, Any, Any]


@dataclass(frozen=True)
class WaitFor:
    """Sleep until ``gate`` (a :class:`~zerog_compute._waiting.Gate`) moves past ``version`` or ``timeout`` passes."""

    gate: Any
    version: int
    timeout: float


@dataclass(frozen=True)
class Background:
    """Start ``flow`` without waiting; the result is a ``concurrent.futures.Future`` (sync) or an ``asyncio.Task``."""

    flow: Generator[Any, Any, Any]


@dataclass(frozen=True)
class OpenStream(_Request):
    """Send a request and start reading its answer; the result is a :class:`StreamStart`.

    A 200 answer stays open for :class:`ReadChunk`; any other answer is read whole and closed. ``max_bytes``
    bounds the decoded answer (all chunks together) and ``deadline`` every read, as for :class:`Http`.
    """


@dataclass(frozen=True)
class StreamStart:
    """The status and headers of an opened answer (``content`` holds the whole body unless it is a 200)."""

    status: int
    headers: httpx.Headers
    content: bytes = b""


@dataclass(frozen=True)
class ReadChunk:
    """The next bytes of the open answer; ``b""`` once it has ended (the runner closes it then)."""


@dataclass(frozen=True)
class PeerCertificate:
    """Open a TLS connection to ``host``:``port`` and return the DER leaf certificate it presents (nothing is
    sent over it). ``public_only`` refuses any resolved address that is not globally routable (SSRF);
    ``timeout`` bounds resolving, connecting and the handshake each. Performed by :mod:`._tls_probe`."""

    host: str
    port: int
    public_only: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class Emit:
    """Hand ``item`` to the caller iterating the flow (``SyncRunner.iterate`` / ``AsyncRunner.aiterate``)."""

    item: Any


class TransportError(Exception):
    """A streamed answer (:class:`OpenStream`, :class:`ReadChunk`) failed below HTTP; ``cause`` is httpx's exception.

    Streaming flows turn it into their own error (unreachable before any byte, interrupted after); it never
    reaches callers (so it is no ``ZeroGError``). A failed :class:`Http` request raises ``ProviderUnavailableError``.
    """

    def __init__(self, message: str, *, cause: Exception) -> None:
        super().__init__(message)
        self.cause = cause


Flow = Generator[Any, Any, T]


def timed_out(cause: BaseException) -> bool:
    """Whether an exchange failed below HTTP because httpx (or asyncio) timed out connecting or reading."""
    return isinstance(cause, (httpx.TimeoutException, TimeoutError))


def unreachable_type(cause: BaseException) -> type[ProviderUnavailableError]:
    """The error class for an exchange that failed below HTTP: :class:`ProviderTimeoutError` (also a
    ``TimeoutError``) when it timed out, else :class:`ProviderUnavailableError`."""
    return ProviderTimeoutError if timed_out(cause) else ProviderUnavailableError


def loads_json(data: bytes | str) -> Any:
    """:func:`zerog_compute.untrusted_json.parse_json` (kept under this name for the flows)."""
    return parse_json(data)
