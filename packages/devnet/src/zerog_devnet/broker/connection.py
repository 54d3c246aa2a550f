"""Cut a client's TCP connection from inside the app, for the drop and stream-cut faults.

Starlette has no API for this, so the outermost ASGI wrapper puts a closer into the scope, built
from the server's ``send`` (uvicorn's request cycle owns the transport). When the server is not
uvicorn the closer raises, which still ends the response abnormally.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

SCOPE_KEY = "zerog_devnet.close_connection"


class ConnectionCut(Exception):
    """Raised when the transport cannot be reached directly."""


def _closer(send: Any) -> Callable[[bool], None]:
    cycle = getattr(send, "__self__", None)

    def close(reset: bool = False) -> None:
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise ConnectionCut("connection cut by fault injection")
        if reset:
            transport.abort()
        else:
            transport.close()

    return close


class ConnectionControl:
    """ASGI wrapper that exposes ``scope[SCOPE_KEY](reset)`` to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[SCOPE_KEY] = _closer(send)
        await self.app(scope, receive, send)


def cut(scope: MutableMapping[str, Any], *, reset: bool) -> None:
    """Close (``reset=False``: after flushing) or reset the connection of this request."""
    closer = scope.get(SCOPE_KEY)
    if closer is None:
        raise ConnectionCut("connection cut by fault injection")
    closer(reset)
