"""ASGI pieces the local servers share (``zerog proxy``, ``zerog ui``): a bounded body read, and its replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Message, Receive


class Disconnected(Exception):
    """The client went away while sending its body."""


async def read_body(receive: Receive, limit: int, too_large: Callable[[int], Exception]) -> bytes:
    """The whole body; ``too_large(limit)`` is raised as soon as it grows past ``limit`` (no more is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then listens for the disconnect."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
