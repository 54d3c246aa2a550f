"""The runners: the only code that performs I/O. They drive flows (see :mod:`zerog_compute._io`).

``SyncRunner.run(flow)`` / ``await AsyncRunner.run(flow)`` drive a flow to its return value;
``SyncRunner.iterate(flow)`` / ``AsyncRunner.aiterate(flow)`` drive a streaming flow and yield every item it
emits. Leaving such an iteration early closes the flow (its ``finally`` blocks run) and the open answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Iterator
from typing import Any

import httpx
from httpx._client import UseClientDefault

from ._bounds import ACCEPT_ENCODING, DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, Budget, Deadline
from ._io import (
    Background,
    Emit,
    Flow,
    Http,
    HttpResult,
    Lane,
    OpenStream,
    PeerCertificate,
    ReadChunk,
    Rpc,
    RpcError,
    Sleep,
    StreamStart,
    T,
    TransportError,
    WaitFor,
    unreachable_type,
)
from ._tls_probe import aleaf_certificate, leaf_certificate
from ._waiting import SharedLock, task_owner
from .errors import ChainError, DeadlineExceededError, NetworkMismatchError, ProviderUnavailableError
from .untrusted_json import parse_json

BACKGROUND_WORKERS = 4


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

    def __init__(self, rpc_url: str, chain_id: int, lane: SharedLock | None) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.lane = lane if lane is not None else SharedLock()
        self.max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES
        self.deadline = DEFAULT_DEADLINE
        self.rpc_counter = RpcCounter()
        self._ids = itertools.count(1)
        self._chain_checked = False

    def _rpc_body(self, op: Rpc) -> dict[str, Any]:
        self.rpc_counter.add(op.method)
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": op.method, "params": list(op.params)}

    @staticmethod
    def _rpc_result(op: Rpc, response: httpx.Response) -> Any:
        try:
            payload = parse_json(response.content)
        except ValueError:
            raise ChainError(f"RPC {op.method} answered HTTP {response.status_code} with non-JSON") from None
        if not isinstance(payload, dict):
            raise ChainError(f"RPC {op.method} answered HTTP {response.status_code} with JSON that is not an object")
        if "error" in payload:
            raise RpcError(op.method, payload["error"])
        return payload.get("result")

    def _check_chain_id(self, reported: Any) -> None:
        actual = int(reported, 16)
        if actual != self.chain_id:
            raise NetworkMismatchError(
                f"RPC {self.rpc_url} serves chain id {actual}, but the network expects {self.chain_id}: "
                "pass the matching network= or rpc_url="
            )
        self._chain_checked = True

    def _rpc_unreachable(self, exc: Exception) -> ChainError:
        return ChainError(f"cannot reach the RPC endpoint {self.rpc_url}: {exc.__class__.__name__}: {exc}")

    def budget(self, op: Http | OpenStream) -> Budget:
        """The size and time budget of ``op``'s answer (the op's own, else this runner's defaults)."""
        max_bytes = op.max_bytes if op.max_bytes is not None else self.max_response_bytes
        return Budget(op.url, max_bytes, op.deadline or Deadline.after(self.deadline))


def unreachable(url: str, exc: Exception, budget: Budget | None = None) -> ProviderUnavailableError:
    """The error for an HTTP exchange that failed below HTTP (refused, reset, timed out…)."""
    if budget is not None and budget.past():
        return budget.expired()  # an httpx timeout cut short by the deadline
    return unreachable_type(exc)(f"provider at {url} unreachable: {exc.__class__.__name__}: {exc}")


def _stream_broke(url: str, exc: Exception, budget: Budget | None = None) -> Exception:
    """The same for a streamed answer; the streaming flow turns it into its own error (never seen by callers)."""
    if budget is not None and budget.past():
        return budget.expired()
    return TransportError(f"stream from {url} failed: {exc.__class__.__name__}: {exc}", cause=exc)


def _request(http: httpx.Client | httpx.AsyncClient, op: Http | OpenStream, budget: Budget) -> httpx.Request:
    """The request for ``op``: its timeouts capped by the deadline, only encodings decoded with a bound."""
    headers = dict(op.headers)
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = ACCEPT_ENCODING
    base = op.timeout if op.timeout else http.timeout.read
    timeout = budget.timeout(base)
    return http.build_request(op.method, op.url, headers=headers, content=op.content, timeout=timeout)


def _follow(op: Http) -> bool | UseClientDefault:
    """The request's redirect rule: its own when set, else the HTTP client's."""
    return httpx.USE_CLIENT_DEFAULT if op.follow_redirects is None else op.follow_redirects


def _read_all(response: httpx.Response, budget: Budget) -> bytes:
    """The whole decoded body of ``response``, within ``budget``."""
    budget.start(response.headers)
    body = bytearray()
    try:
        for raw in response.iter_raw():
            body += budget.feed(raw)
    except httpx.StreamConsumed:  # a response read before it reached us (a transport or hook did): decoded already
        return budget.whole(response.content)
    return bytes(body)


async def _aread_all(response: httpx.Response, budget: Budget) -> bytes:
    budget.start(response.headers)
    body = bytearray()
    try:
        async for raw in response.aiter_raw():
            body += budget.feed(raw)
    except httpx.StreamConsumed:
        return budget.whole(response.content)
    return bytes(body)


def _emitted(item: Any) -> TypeError:
    return TypeError(f"the flow emitted {item!r}: drive it with iterate()/aiterate(), not run()")


class _SyncAnswer:
    """The one answer a streaming flow has open at a time."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.response: httpx.Response | None = None
        self.chunks: Iterator[bytes] | None = None
        self.budget: Budget | None = None

    def open(self, op: OpenStream, budget: Budget) -> StreamStart:
        self.close()
        try:
            response = self.http.send(_request(self.http, op, budget), stream=True)
            try:
                if response.status_code != 200:
                    return StreamStart(response.status_code, response.headers, _read_all(response, budget))
                budget.start(response.headers)
            except BaseException:
                response.close()
                raise
        except httpx.HTTPError as exc:
            raise _stream_broke(op.url, exc, budget) from exc
        self.response, self.chunks, self.budget = response, response.iter_raw(), budget
        return StreamStart(200, response.headers)

    def read(self) -> bytes:
        """The next decoded bytes (``b""`` at the end); size and deadline checked on every read."""
        try:
            while self.chunks is not None and self.budget is not None:
                self.budget.remaining()
                raw = next(self.chunks, None)
                if raw is None:
                    break
                data = self.budget.feed(raw)
                if data:
                    return data
        except httpx.HTTPError as exc:
            url, budget = (str(self.response.url) if self.response is not None else "?"), self.budget
            self.close()
            raise _stream_broke(url, exc, budget) from exc
        self.close()
        return b""

    def close(self) -> None:
        response, self.response, self.chunks = self.response, None, None
        if response is not None:
            response.close()


class SyncRunner(_RunnerBase):
    """Drives flows with blocking I/O; background flows run on a small thread pool."""

    def __init__(
        self, rpc_url: str, chain_id: int, http: httpx.Client, rpc_http: httpx.Client, lane: SharedLock | None = None
    ) -> None:
        super().__init__(rpc_url, chain_id, lane)
        self.http = http
        self.rpc_http = rpc_http
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to completion and return its value."""
        drive = self._drive(flow, None)
        try:
            item = next(drive)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        drive.close()
        raise _emitted(item)

    def iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        """Run a streaming flow, yielding what it emits; stopping early closes the flow and its answer."""
        answer = _SyncAnswer(self.http)
        try:
            yield from self._drive(flow, answer)
        finally:
            flow.close()
            answer.close()

    def _drive(self, flow: Flow[T], answer: _SyncAnswer | None) -> Generator[Any, None, T]:
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            if isinstance(op, Emit):
                yield op.item
                continue
            try:
                result = self.execute(op, answer)
            except Exception as exc:
                error = exc

    def execute(self, op: Any, answer: _SyncAnswer | None = None) -> Any:
        """Perform one I/O request."""
        if isinstance(op, Rpc):
            return self._rpc(op)
        if isinstance(op, Http):
            return self._http(op)
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
            return None
        if isinstance(op, WaitFor):
            op.gate.wait(op.version, op.timeout)
            return None
        if isinstance(op, Lane):
            self.lane.acquire()
            try:
                return self.run(op.flow)
            finally:
                self.lane.release()
        if isinstance(op, Background):
            return self._background().submit(self.run, op.flow)
        if isinstance(op, PeerCertificate):
            return leaf_certificate(op)
        if answer is not None and isinstance(op, OpenStream):
            return answer.open(op, self.budget(op))
        if answer is not None and isinstance(op, ReadChunk):
            return answer.read()
        raise TypeError(f"unknown I/O request {op!r}")

    def _background(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=BACKGROUND_WORKERS, thread_name_prefix="zerog-background"
                )
            return self._executor

    def close(self) -> None:
        """Wait for background flows (verifications) to finish."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _rpc(self, op: Rpc) -> Any:
        if not self._chain_checked:
            self._check_chain_id(self._post_rpc(Rpc("eth_chainId")))
        return self._post_rpc(op)

    def _post_rpc(self, op: Rpc) -> Any:
        try:
            response = self.rpc_http.post(self.rpc_url, json=self._rpc_body(op))
        except httpx.HTTPError as exc:
            raise self._rpc_unreachable(exc) from exc
        return self._rpc_result(op, response)

    def _http(self, op: Http) -> HttpResult:
        budget = self.budget(op)
        try:
            response = self.http.send(_request(self.http, op, budget), stream=True, follow_redirects=_follow(op))
            try:
                content = _read_all(response, budget)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise unreachable(op.url, exc, budget) from exc
        return HttpResult(response.status_code, response.headers, content)


class _AsyncAnswer:
    """The one answer a streaming flow has open at a time (asyncio)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.response: httpx.Response | None = None
        self.chunks: AsyncIterator[bytes] | None = None
        self.budget: Budget | None = None

    async def open(self, op: OpenStream, budget: Budget) -> StreamStart:
        await self.close()
        try:
            response = await _within(budget, self.http.send(_request(self.http, op, budget), stream=True))
            try:
                if response.status_code != 200:
                    content = await _within(budget, _aread_all(response, budget))
                    return StreamStart(response.status_code, response.headers, content)
                budget.start(response.headers)
            except BaseException:
                await response.aclose()
                raise
        except httpx.HTTPError as exc:
            raise _stream_broke(op.url, exc, budget) from exc
        self.response, self.chunks, self.budget = response, response.aiter_raw(), budget
        return StreamStart(200, response.headers)

    async def read(self) -> bytes:
        """The next decoded bytes (``b""`` at the end); size and deadline checked on every read."""
        try:
            while self.chunks is not None and self.budget is not None:
                raw = await _within(self.budget, anext(self.chunks, None))
                if raw is None:
                    break
                data = self.budget.feed(raw)
                if data:
                    return data
        except httpx.HTTPError as exc:
            url, budget = (str(self.response.url) if self.response is not None else "?"), self.budget
            await self.close()
            raise _stream_broke(url, exc, budget) from exc
        await self.close()
        return b""

    async def close(self) -> None:
        response, self.response, self.chunks = self.response, None, None
        if response is not None:
            await response.aclose()


async def _within(budget: Budget, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` but no longer than the deadline: a stalled read is cut when it passes."""
    try:
        left = budget.remaining()
    except DeadlineExceededError:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise
    try:
        return await asyncio.wait_for(awaitable, left)
    except asyncio.TimeoutError:
        raise budget.expired() from None


class AsyncRunner(_RunnerBase):
    """Drives flows with asyncio I/O; background flows run as tasks on the running loop."""

    def __init__(
        self,
        rpc_url: str,
        chain_id: int,
        http: httpx.AsyncClient,
        rpc_http: httpx.AsyncClient,
        lane: SharedLock | None = None,
    ) -> None:
        super().__init__(rpc_url, chain_id, lane)
        self.http = http
        self.rpc_http = rpc_http
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to completion and return its value."""
        returned: list[T] = []
        drive = self._drive(flow, None, returned)
        async for item in drive:  # a flow that emits is a programming error
            await drive.aclose()
            raise _emitted(item)
        return returned[0]

    async def aiterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        """Run a streaming flow, yielding what it emits; stopping early closes the flow and its answer."""
        answer = _AsyncAnswer(self.http)
        try:
            async for item in self._drive(flow, answer, []):
                yield item
        finally:
            flow.close()
            await answer.close()

    async def _drive(self, flow: Flow[T], answer: _AsyncAnswer | None, returned: list[T]) -> AsyncGenerator[Any, None]:
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as stop:
                returned.append(stop.value)
                return
            result, error = None, None
            if isinstance(op, Emit):
                yield op.item
                continue
            try:
                result = await self.execute(op, answer)
            except Exception as exc:
                error = exc

    async def execute(self, op: Any, answer: _AsyncAnswer | None = None) -> Any:
        """Perform one I/O request."""
        if isinstance(op, Rpc):
            return await self._rpc(op)
        if isinstance(op, Http):
            return await self._http(op)
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            return None
        if isinstance(op, WaitFor):
            await op.gate.wait_async(op.version, op.timeout)
            return None
        if isinstance(op, Lane):
            return await self._in_lane(op)
        if isinstance(op, Background):
            return self._background(op.flow)
        if isinstance(op, PeerCertificate):
            return await aleaf_certificate(op)
        if answer is not None and isinstance(op, OpenStream):
            return await answer.open(op, self.budget(op))
        if answer is not None and isinstance(op, ReadChunk):
            return await answer.read()
        raise TypeError(f"unknown I/O request {op!r}")

    def _background(self, flow: Flow[Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self.run(flow))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def aclose(self) -> None:
        """Wait for background flows (verifications) to finish."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _in_lane(self, op: Lane) -> Any:
        owner = task_owner()
        await self.lane.acquire_async()
        try:
            return await self.run(op.flow)
        finally:
            self.lane.release(owner)

    async def _rpc(self, op: Rpc) -> Any:
        if not self._chain_checked:
            self._check_chain_id(await self._post_rpc(Rpc("eth_chainId")))
        return await self._post_rpc(op)

    async def _post_rpc(self, op: Rpc) -> Any:
        try:
            response = await self.rpc_http.post(self.rpc_url, json=self._rpc_body(op))
        except httpx.HTTPError as exc:
            raise self._rpc_unreachable(exc) from exc
        return self._rpc_result(op, response)

    async def _http(self, op: Http) -> HttpResult:
        budget = self.budget(op)
        try:
            return await _within(budget, self._http_read(op, budget))
        except httpx.HTTPError as exc:
            raise unreachable(op.url, exc, budget) from exc

    async def _http_read(self, op: Http, budget: Budget) -> HttpResult:
        response = await self.http.send(_request(self.http, op, budget), stream=True, follow_redirects=_follow(op))
        try:
            content = await _aread_all(response, budget)
        finally:
            await response.aclose()
        return HttpResult(response.status_code, response.headers, content)
