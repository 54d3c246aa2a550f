"""Run provider HTTP servers and their settlement loops on one background event loop thread."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from .broker.app import build_app
from .broker.runtime import ProviderRuntime
from .broker.settlement import Settler
from .errors import PortInUse

log = logging.getLogger(__name__)
T = TypeVar("T")


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0 = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls on keep-alive
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise PortInUse(f"port {port} on 127.0.0.1 is already in use; pick another or pass 0") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ProviderHost:
    """A thread with an asyncio loop that serves several providers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="zerog-devnet-providers", daemon=True)
        self._servers: dict[str, uvicorn.Server] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._settlers: dict[str, Settler] = {}
        self._runtimes: dict[str, ProviderRuntime] = {}
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the host loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def serve(self, rt: ProviderRuntime, sock: socket.socket) -> None:
        """Start serving ``rt`` on ``sock`` and start its settlement loop."""
        self.call(self._serve(rt, sock))

    async def _serve(self, rt: ProviderRuntime, sock: socket.socket) -> None:
        config = uvicorn.Config(
            build_app(rt), lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
        )
        server = uvicorn.Server(config)
        self._servers[rt.config.name] = server
        self._runtimes[rt.config.name] = rt
        self._tasks[rt.config.name] = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
            await asyncio.sleep(0.005)
        settler = Settler(rt)
        rt.settler = settler
        settler.start()
        self._settlers[rt.config.name] = settler

    def stop_provider(self, name: str) -> None:
        """Stop one provider's server (clients then get connection refused)."""
        self.call(self._stop(name))

    async def _stop(self, name: str, *, close: bool = False) -> None:
        server, task = self._servers.pop(name, None), self._tasks.pop(name, None)
        if server is not None:
            server.should_exit = True
            server.force_exit = True
        if task is not None:
            await asyncio.wait([task], timeout=5)
        settler = self._settlers.pop(name, None)
        if settler:
            await settler.stop()
        runtime = self._runtimes.pop(name, None)
        if runtime is not None and close:
            await runtime.aclose()

    def close(self) -> None:
        """Stop every provider and the loop thread."""
        if not self._thread.is_alive():
            return
        for name in list(self._servers):
            try:
                self.call(self._stop(name, close=True))
            except Exception:
                log.exception("stopping provider %s failed", name)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
