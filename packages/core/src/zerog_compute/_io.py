"""Sans-I/O plumbing: logic is written once as generators that yield I/O requests.

A *flow* is a generator that yields :class:`Rpc`, :class:`Http`, :class:`Sleep` or :class:`Lane`
requests and receives their results. :class:`SyncRunner` and :class:`AsyncRunner` are the only
places that perform I/O (with ``httpx.Client`` / ``httpx.AsyncClient``), so every piece of
protocol logic — ledger checks, transactions, funding, verification — exists exactly once and
serves both ``ZeroG`` and ``AsyncZeroG``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from .errors import ChainError, ProviderUnavailableError, RpcError

T = TypeVar("T")


@dataclass(frozen=True)
class Rpc:
    """A JSON-RPC call to the chain; the result is the decoded ``result`` field."""

    method: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Http:
    """An HTTP request to a provider; the result is an :class:`HttpResult`."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    timeout: float | None = None


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


Flow = Generator[Any, Any, T]


MAX_JSON_DEPTH = 512
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)  # never backtracks: linear
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def loads_json(data: bytes | str) -> Any:
    """``json.loads`` for what a provider sent: nesting deeper than ``MAX_JSON_DEPTH`` is a ``ValueError``.

    ``json.loads`` recurses once per level: deep nesting raises RecursionError or, since py_ecc (under
    eth-account) raises the recursion limit to 100000, overflows the C stack and kills the process.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(raw):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(data)


def _too_deep(raw: bytes) -> bool:
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET):  # brackets outside strings
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


class RpcCounter:
    """Counts JSON-RPC calls (the bench asserts zero per warm request)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_method: dict[str, int] = {}

    def add(self, method: str) -> None:
        self.count += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1


class _RunnerBase:
    """What both runners share: JSON-RPC framing and the chain-id check on first use."""

    def __init__(self, rpc_url: str, chain_id: int) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.rpc_counter = RpcCounter()
        self._ids = itertools.count(1)
        self._chain_checked = False

    def _rpc_body(self, op: Rpc) -> dict[str, Any]:
        self.rpc_counter.add(op.method)
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": op.method, "params": list(op.params)}

    @staticmethod
    def _rpc_result(op: Rpc, response: httpx.Response) -> Any:
        try:
            payload = response.json()
        except ValueError:
            raise ChainError(f"RPC {op.method} answered HTTP {response.status_code} with non-JSON") from None
        if "error" in payload:
            raise RpcError(op.method, payload["error"])
        return payload.get("result")

    def _check_chain_id(self, reported: Any) -> None:
        from .errors import NetworkMismatchError

        actual = int(reported, 16)
        if actual != self.chain_id:
            raise NetworkMismatchError(
                f"RPC {self.rpc_url} serves chain id {actual}, but the network expects {self.chain_id}: "
                "pass the matching network= or rpc_url="
            )
        self._chain_checked = True


def _transport_error(kind: str, target: str, exc: Exception) -> Exception:
    if kind == "rpc":
        return ChainError(f"cannot reach the RPC endpoint {target}: {exc.__class__.__name__}: {exc}")
    return ProviderUnavailableError(f"provider at {target} unreachable: {exc.__class__.__name__}: {exc}")


class SyncRunner(_RunnerBase):
    """Drives flows with blocking I/O."""

    def __init__(self, rpc_url: str, chain_id: int, http: httpx.Client, rpc_http: httpx.Client) -> None:
        super().__init__(rpc_url, chain_id)
        self.http = http
        self.rpc_http = rpc_http
        self.lane = threading.RLock()

    def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to completion and return its value."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                result = self.execute(op)
            except Exception as exc:
                error = exc

    def execute(self, op: Any) -> Any:
        """Perform one I/O request."""
        if isinstance(op, Rpc):
            return self._rpc(op)
        if isinstance(op, Http):
            return self._http(op)
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
            return None
        if isinstance(op, Lane):
            with self.lane:
                return self.run(op.flow)
        raise TypeError(f"unknown I/O request {op!r}")

    def _rpc(self, op: Rpc) -> Any:
        if not self._chain_checked:
            self._check_chain_id(self._post_rpc(Rpc("eth_chainId")))
        return self._post_rpc(op)

    def _post_rpc(self, op: Rpc) -> Any:
        try:
            response = self.rpc_http.post(self.rpc_url, json=self._rpc_body(op))
        except httpx.HTTPError as exc:
            raise _transport_error("rpc", self.rpc_url, exc) from exc
        return self._rpc_result(op, response)

    def _http(self, op: Http) -> HttpResult:
        try:
            response = self.http.request(
                op.method,
                op.url,
                headers=dict(op.headers),
                content=op.content,
                timeout=op.timeout or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise _transport_error("http", op.url, exc) from exc
        return HttpResult(response.status_code, response.headers, response.content)


class AsyncRunner(_RunnerBase):
    """Drives flows with asyncio I/O."""

    def __init__(self, rpc_url: str, chain_id: int, http: httpx.AsyncClient, rpc_http: httpx.AsyncClient) -> None:
        super().__init__(rpc_url, chain_id)
        self.http = http
        self.rpc_http = rpc_http
        self._lane: asyncio.Lock | None = None
        self._lane_owner: asyncio.Task[Any] | None = None

    async def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to completion and return its value."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                result = await self.execute(op)
            except Exception as exc:
                error = exc

    async def execute(self, op: Any) -> Any:
        """Perform one I/O request."""
        if isinstance(op, Rpc):
            return await self._rpc(op)
        if isinstance(op, Http):
            return await self._http(op)
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            return None
        if isinstance(op, Lane):
            return await self._in_lane(op)
        raise TypeError(f"unknown I/O request {op!r}")

    async def _in_lane(self, op: Lane) -> Any:
        current = asyncio.current_task()
        if self._lane_owner is not None and self._lane_owner is current:
            return await self.run(op.flow)  # re-entrant, like the sync RLock
        if self._lane is None:
            self._lane = asyncio.Lock()
        async with self._lane:
            self._lane_owner = current
            try:
                return await self.run(op.flow)
            finally:
                self._lane_owner = None

    async def _rpc(self, op: Rpc) -> Any:
        if not self._chain_checked:
            self._check_chain_id(await self._post_rpc(Rpc("eth_chainId")))
        return await self._post_rpc(op)

    async def _post_rpc(self, op: Rpc) -> Any:
        try:
            response = await self.rpc_http.post(self.rpc_url, json=self._rpc_body(op))
        except httpx.HTTPError as exc:
            raise _transport_error("rpc", self.rpc_url, exc) from exc
        return self._rpc_result(op, response)

    async def _http(self, op: Http) -> HttpResult:
        try:
            response = await self.http.request(
                op.method,
                op.url,
                headers=dict(op.headers),
                content=op.content,
                timeout=op.timeout or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise _transport_error("http", op.url, exc) from exc
        return HttpResult(response.status_code, response.headers, response.content)
