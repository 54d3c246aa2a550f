"""A hostile provider: a raw asyncio HTTP/1.1 server on loopback whose answers each test scripts.

It never checks the session token. Every route answers with the behaviour scripted for it (by path prefix,
query ignored); unscripted chat requests get an honest little completion so a client can warm up. Each answer
closes its connection, so a behaviour may lie about lengths, trickle, or never end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import zlib
from collections.abc import Awaitable, Callable
from functools import cache

from eth_account import Account
from eth_account.messages import encode_defunct

Writer = asyncio.StreamWriter
Behaviour = Callable[[Writer], Awaitable[None]]

CHAT = "/v1/proxy/chat/completions"
IMAGES = "/v1/proxy/images/generations"
SIGNATURE = "/v1/proxy/signature/"
MiB = 1024 * 1024


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} OK", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def completion(text: str = "hi", prompt_tokens: int = 1) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-hostile",
            "object": "chat.completion",
            "created": 0,
            "model": "zerog-devnet/external",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
        }
    ).encode()


def honest(body: bytes | None = None, content_type: str = "application/json", **headers: str) -> Behaviour:
    async def run(writer: Writer) -> None:
        data = completion() if body is None else body
        fields = {"Content-Type": content_type, "Content-Length": str(len(data)), **headers}
        writer.write(head(200, fields) + data)

    return run


def signed(server: HostileProvider, key: str, text_of: Callable[[bytes], str], prefix: str = CHAT) -> Behaviour:
    """A signature answer: ``text_of(last request body under prefix)``, EIP-191-signed with ``key`` (the TEE's)."""

    async def run(writer: Writer) -> None:
        text = text_of(server.last_body(prefix))
        signature = "0x" + bytes(Account.sign_message(encode_defunct(text=text), key).signature).hex()
        await honest(json.dumps({"text": text, "signature": signature}).encode())(writer)

    return run


def sse(*events: bytes) -> Behaviour:
    """An SSE answer made of ``events`` (each sent as ``data: <event>`` and a blank line)."""
    return honest(b"".join(b"data: " + event + b"\n\n" for event in events), content_type="text/event-stream")


def redirect(location: str) -> Behaviour:
    async def run(writer: Writer) -> None:
        writer.write(head(302, {"Location": location, "Content-Length": "0"}))

    return run


@cache
def gzip_bomb(decoded: int) -> bytes:
    """``decoded`` zero bytes, gzip-compressed (1 GiB → about 1 MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    parts = [packer.compress(block) for _ in range(decoded // MiB)]
    return b"".join([*parts, packer.flush()])


def bomb(decoded: int = 1024 * MiB, content_type: str = "application/json") -> Behaviour:
    async def run(writer: Writer) -> None:
        data = gzip_bomb(decoded)
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip", "Content-Length": str(len(data))}
        writer.write(head(200, headers))
        for start in range(0, len(data), 64 * 1024):
            writer.write(data[start : start + 64 * 1024])
            await writer.drain()

    return run


def answer(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Behaviour:
    """Any status with ``body``."""

    async def run(writer: Writer) -> None:
        fields = {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        writer.write(head(status, fields) + body)

    return run


def computed(make: Callable[[], bytes], status: int = 200) -> Behaviour:
    """A JSON body made when the request arrives (``make`` runs in a worker thread: it may block)."""

    async def run(writer: Writer) -> None:
        await answer(status, await asyncio.to_thread(make))(writer)

    return run


def huge(size: int, *, declare: bool = False, content_type: str = "application/json") -> Behaviour:
    """``size`` bytes of JSON-looking junk, with or without a Content-Length."""

    async def run(writer: Writer) -> None:
        headers = {"Content-Type": content_type}
        if declare:
            headers["Content-Length"] = str(size)
        writer.write(head(200, headers) + b'{"junk": "')
        block = b"x" * MiB
        for _ in range(size // MiB):
            writer.write(block)
            await writer.drain()

    return run


def drip(prefix: bytes = b"", every: float = 0.5, stream: bool = False) -> Behaviour:
    """Headers, then one byte every ``every`` seconds, forever."""

    async def run(writer: Writer) -> None:
        kind = "text/event-stream" if stream else "application/json"
        writer.write(head(200, {"Content-Type": kind}) + prefix)
        while True:
            await writer.drain()
            await asyncio.sleep(every)
            writer.write(b" " if not stream else b":")

    return run


def keepalives(every: float = 0.001) -> Behaviour:
    """An SSE stream of comment lines only, forever (1 KiB each)."""

    async def run(writer: Writer) -> None:
        writer.write(head(200, {"Content-Type": "text/event-stream"}))
        line = b":" + b" keep-alive" * 93 + b"\n\n"
        while True:
            writer.write(line)
            await writer.drain()
            await asyncio.sleep(every)

    return run


def flood(size: int = 400 * MiB) -> Behaviour:
    """An SSE stream of valid chunks that never sends [DONE]: ``size`` bytes of them."""

    async def run(writer: Writer) -> None:
        writer.write(head(200, {"Content-Type": "text/event-stream"}))
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        event = b"data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": "x" * 900}}]}).encode()
        block = (event + b"\n\n") * 1000
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()

    return run


class HostileProvider:
    """The server (a thread with its own loop); :meth:`script` sets what a route answers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviours: dict[str, tuple[Behaviour, int]] = {}
        self.requests: list[str] = []
        self.bodies: list[bytes] = []
        """The request bodies, in the order of :attr:`requests`."""
        self.authorization = ""
        """The ``Authorization`` header of the request being answered (a behaviour may echo it)."""
        self._thread = threading.Thread(target=self._run, name="hostile-provider", daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(10)

    def script(self, path: str, behaviour: Behaviour, *, after: int = 0) -> None:
        """Answer requests under ``path`` with ``behaviour`` (the first ``after`` of them honestly)."""
        self.behaviours[path] = (behaviour, after)

    def last_body(self, prefix: str) -> bytes:
        """The body of the last request under ``prefix``."""
        pairs = zip(self.requests, self.bodies, strict=True)
        return [body for path, body in pairs if path.startswith(prefix)][-1]

    def reset(self) -> None:
        self.behaviours.clear()
        self.requests.clear()
        self.bodies.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, sock=self.sock))
        self._ready.set()
        with contextlib.suppress(RuntimeError):
            self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            path, body, self.authorization = await _read_request(reader)
            self.requests.append(path)
            self.bodies.append(body)
            await self._behaviour(path)(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: that is the point
        finally:
            writer.close()

    def _behaviour(self, path: str) -> Behaviour:
        bare = path.split("?", 1)[0]
        for prefix, (behaviour, after) in sorted(self.behaviours.items(), key=lambda kv: -len(kv[0])):
            if bare.startswith(prefix):
                if sum(p.split("?", 1)[0].startswith(prefix) for p in self.requests) > after:
                    return behaviour
                break
        if bare.startswith("/v1/proxy/"):
            return honest()
        return honest(b'{"error": "not found"}')


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes, str]:
    """The path, the body and the ``Authorization`` header of a request."""
    head_bytes = await reader.readuntil(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    length, authorization = 0, ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "authorization":
            authorization = value.strip()
    body = await reader.readexactly(length) if length else b""
    return lines[0].split(" ")[1], body, authorization
