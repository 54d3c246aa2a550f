"""Streaming chat responses, independent of I/O: bytes in, chunks out, a record at the end.

The last chunk (the provider's usage chunk) is held back until the stream ends so it can carry
the ``zerog`` record with the final fee, chat id and verification handle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from . import sse
from .errors import ProviderUnavailableError, StreamInterruptedError
from .inference import Prepared, fee_for
from .types import ChatCompletionChunk, ZeroGRecord


class ChunkStream:
    """Bytes in, chunks out: the SSE decoder and chunk accumulator behind every streamed answer.

    The last chunk is held back until the stream ends, so it can carry the record. Subclasses name
    the source (for messages) and may look at events on the way (:meth:`_observe`).
    """

    def __init__(self, source: str | None = None) -> None:
        self.decoder = sse.SSEDecoder(provider=source)
        self.accumulator = sse.ChatStreamAccumulator()
        self.raw = bytearray()
        self.headers: Mapping[str, str] = {}
        self._held: ChatCompletionChunk | None = None

    def start(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        """Chunks that are ready to hand to the caller."""
        self.raw += data
        return self._collect(self.decoder.feed(data))

    def _observe(self, event: sse.SSEEvent) -> None:
        """Hook for subclasses: see every event before it is accumulated."""

    def _collect(self, events: list[sse.SSEEvent]) -> list[ChatCompletionChunk]:
        ready = []
        for event in events:
            self._observe(event)
            chunk = self.accumulator.add(event)
            if chunk is None:
                continue
            chunk.zerog = None  # only the client writes records: a provider cannot smuggle one in
            if self._held is not None:
                ready.append(self._held)
            self._held = chunk
        return ready

    def _redact(self, text: str) -> str:
        return sse._redact(text)

    def _who(self) -> str:
        raise NotImplementedError

    def _provider(self) -> str | None:
        raise NotImplementedError

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        raise NotImplementedError

    def interrupted(self, cause: BaseException) -> ProviderUnavailableError:
        """The error for a stream that failed: unreachable before any byte, interrupted after."""
        if not self.raw:
            return self._unreachable(cause)
        received = self.accumulator.chunks_received
        return StreamInterruptedError(
            f"stream from {self._who()} broke after {received} chunks "
            f"({len(self.accumulator.content)} characters of text): {cause}. Retry the request; "
            "what was received is on the exception as .text",
            received=received,
            text=self.accumulator.content,
            provider=self._provider(),
        )

    def drain(self) -> list[ChatCompletionChunk]:
        """Flush and return the remaining chunks (the held one last); raise when the stream failed."""
        ready = self._collect(self.decoder.flush())
        if self.accumulator.provider_error is not None:
            raise self.interrupted(ConnectionError(self._redact(str(self.accumulator.provider_error))))
        if not self.accumulator.done:
            raise self.interrupted(ConnectionError("the stream ended without [DONE]"))
        if self._held is not None:
            ready.append(self._held)
            self._held = None
        return ready


class StreamState(ChunkStream):
    """A Direct-mode stream from one provider."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__()
        self.prepared = prepared

    def _who(self) -> str:
        return self.prepared.service.provider

    def _provider(self) -> str | None:
        return self.prepared.service.provider

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        return ProviderUnavailableError(
            f"provider {self.prepared.service.provider} unreachable: {cause.__class__.__name__}: {cause}",
            provider=self.prepared.service.provider,
        )

    def finish(self) -> tuple[list[ChatCompletionChunk], ZeroGRecord]:
        """Flush, build the record, and return the remaining chunks (the last carries the record)."""
        ready = self.drain()
        record = self.record()
        if ready:
            ready[-1].zerog = record
        return ready, record

    def record(self) -> ZeroGRecord:
        acc, prepared = self.accumulator, self.prepared
        usage = acc.usage.model_dump() if acc.usage is not None else {}
        return ZeroGRecord(
            provider=prepared.service.provider,
            model=prepared.model,
            chat_id=sse.chat_id(self.headers, acc.chat_id_from_body, prepared.service.service_type),
            fee=fee_for(prepared.service, prepared.route, {"usage": usage}, prepared.body),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            service_type=prepared.service.service_type,
            latency_ms=(time.perf_counter() - prepared.started) * 1000,
        )
